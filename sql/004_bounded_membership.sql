-- Bounded membership (MAX_GROUP_MEMBERS, MAX_ROOMS_PER_USER). The counts live on the rows that
-- statements lock, so that the caps hold under concurrency: an insert of a member first locks
-- its conversation's row with a condition on member_count, and PostgreSQL re-checks that
-- condition on the newest version of the row after waiting for a concurrent insert's commit.
-- member_count is kept by a trigger, whatever statement changes the members; rooms_created by
-- the room-create statement (rooms are never deleted).
ALTER TABLE conversations ADD COLUMN member_count integer NOT NULL DEFAULT 0;
UPDATE conversations c
   SET member_count = (SELECT count(*) FROM conversation_members m WHERE m.conversation_id = c.id);

ALTER TABLE users ADD COLUMN rooms_created integer NOT NULL DEFAULT 0;
UPDATE users u
   SET rooms_created = (SELECT count(*) FROM conversations c
                         WHERE c.created_by = u.id AND c.type = 'room');

CREATE FUNCTION chat_member_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE conversations SET member_count = member_count + 1 WHERE id = NEW.conversation_id;
    ELSE
        UPDATE conversations SET member_count = member_count - 1 WHERE id = OLD.conversation_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER conversation_members_count
    AFTER INSERT OR DELETE ON conversation_members
    FOR EACH ROW EXECUTE FUNCTION chat_member_count();

-- Member lists are paged in join order.
CREATE INDEX conversation_members_joined_idx
    ON conversation_members (conversation_id, joined_at, user_id);
