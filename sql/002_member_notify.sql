-- Every membership change is announced at its commit, on channel chat_member, to every
-- gateway that LISTENs: "<conversation> <user> added <last_seq at the insert>" or
-- "<conversation> <user> removed". NOTIFY is transactional: what commits is announced, even
-- when the process that made the change dies right after COMMIT, and what rolls back is not.
-- Gateways verify the membership against the table before acting on a notification, so the
-- order in which notifications of one member arrive does not matter.
CREATE FUNCTION chat_member_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('chat_member', NEW.conversation_id::text || ' ' || NEW.user_id::text
            || ' added ' || coalesce((SELECT last_seq FROM conversations
                                      WHERE id = NEW.conversation_id), 0)::text);
        RETURN NEW;
    END IF;
    PERFORM pg_notify('chat_member', OLD.conversation_id::text || ' ' || OLD.user_id::text
        || ' removed');
    RETURN OLD;
END
$$;

CREATE TRIGGER conversation_members_notify
    AFTER INSERT OR DELETE ON conversation_members
    FOR EACH ROW EXECUTE FUNCTION chat_member_notify();
