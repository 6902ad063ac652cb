-- Sockets follow the account. Revoking refresh tokens (logout, the reuse of a rotated token,
-- a password change, account deletion) moves the user's sessions_valid_after to now: an access
-- token issued before that second no longer opens a WebSocket, and every gateway closes the
-- user's open sockets (4401) when PostgreSQL announces the change at commit, on channel
-- chat_account ("<user>"). Access tokens keep working over REST until they expire (minutes),
-- as before; refresh tokens are what is revoked.
ALTER TABLE users ADD COLUMN sessions_valid_after timestamptz;

CREATE FUNCTION chat_sessions_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users SET sessions_valid_after = now()
     WHERE id = NEW.user_id
       AND (sessions_valid_after IS NULL OR sessions_valid_after < now());
    RETURN NULL;
END
$$;

CREATE TRIGGER refresh_tokens_revoked
    AFTER UPDATE OF revoked_at ON refresh_tokens
    FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION chat_sessions_revoked();

CREATE FUNCTION chat_account_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('chat_account', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER users_sessions_changed
    AFTER UPDATE OF sessions_valid_after, deleted_at ON users
    FOR EACH ROW WHEN (NEW.sessions_valid_after IS DISTINCT FROM OLD.sessions_valid_after
                       OR (NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL))
    EXECUTE FUNCTION chat_account_notify();

-- A new password ends the sessions opened with the old one, even when no refresh token was
-- left to revoke.
CREATE FUNCTION chat_password_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.sessions_valid_after := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER users_password_changed
    BEFORE UPDATE OF password_hash ON users
    FOR EACH ROW WHEN (NEW.password_hash IS DISTINCT FROM OLD.password_hash)
    EXECUTE FUNCTION chat_password_changed();
