-- 005_message_events.sql - edits, deletes, reactions, replies, mentions, and one sequence of
-- durable events per conversation.
--
-- conversations.last_seq now numbers every durable event of a conversation: a message (its seq
-- is that of its creation), an edit, a delete, a reaction added or removed, a member added or
-- removed. Messages keep their row in `messages`; every other event is a row of
-- conversation_events with the same numbering, so "everything after seq N" is the union of
-- both tables over (conversation_id, seq) indexes. Counts count messages, not events:
-- messages.n is a message's ordinal in its conversation (1, 2, ...) and
-- conversations.message_count the number of messages, so the unread count of a member is
-- message_count minus the ordinal of the newest message at or before their read watermark.
-- Watermarks (last_read_seq, delivered_seq) stay seqs: every message at or before one is read
-- or delivered, whatever events lie between.

ALTER TABLE messages
    ADD COLUMN n           bigint,
    ADD COLUMN edited_at   timestamptz,
    ADD COLUMN deleted_at  timestamptz,
    ADD COLUMN reply_to_id uuid REFERENCES messages (id),
    ADD COLUMN mentions    uuid[] NOT NULL DEFAULT '{}',
    -- The reaction summary [{emoji, count, user_ids (the first 10)}], rewritten by every
    -- reaction change (chat_message_react), so reading a message costs no aggregate.
    ADD COLUMN reactions   jsonb NOT NULL DEFAULT '[]';
-- Before this migration every seq was a message.
UPDATE messages SET n = seq;
ALTER TABLE messages ALTER COLUMN n SET NOT NULL;

ALTER TABLE conversations
    ADD COLUMN message_count    bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_message_seq bigint NOT NULL DEFAULT 0;
UPDATE conversations SET message_count = last_seq, last_message_seq = last_seq;

-- Every durable event that is not a message's creation.
CREATE TABLE conversation_events (
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq             bigint NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('message_updated', 'message_deleted',
                        'reaction_added', 'reaction_removed', 'member_added', 'member_removed')),
    message_id      uuid,    -- message events
    user_id         uuid,    -- who reacted, or the member added or removed
    emoji           text,    -- reaction events
    count           integer, -- reaction events: the emoji's count on the message after it
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, seq)
);

CREATE TABLE message_reactions (
    message_id      uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    emoji           text NOT NULL,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, emoji, user_id)
);

-- Who a message mentions, for mention_count: unread messages (seq past the member's read
-- watermark) that mention them.
CREATE TABLE message_mentions (
    message_id      uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    conversation_id uuid NOT NULL,
    seq             bigint NOT NULL,
    PRIMARY KEY (message_id, user_id)
);
CREATE INDEX message_mentions_user_idx ON message_mentions (user_id, conversation_id, seq);

-- A member change takes the conversation's next seq and leaves an event. Members who join in
-- the transaction that creates the conversation (its creator, a direct pair, a group's first
-- members) are its initial state, not a change. This runs before chat_member_notify (triggers
-- fire in name order), so the announcement carries the member event's seq.
CREATE OR REPLACE FUNCTION chat_member_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_seq bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE conversations SET member_count = member_count + 1,
               last_seq = last_seq + (created_at <> now())::int
         WHERE id = NEW.conversation_id
        RETURNING CASE WHEN created_at <> now() THEN last_seq END INTO v_seq;
        IF v_seq IS NOT NULL THEN
            INSERT INTO conversation_events (conversation_id, seq, kind, user_id)
            VALUES (NEW.conversation_id, v_seq, 'member_added', NEW.user_id);
        END IF;
        RETURN NULL;
    END IF;
    UPDATE conversations SET member_count = member_count - 1, last_seq = last_seq + 1
     WHERE id = OLD.conversation_id RETURNING last_seq INTO v_seq;
    IF v_seq IS NOT NULL THEN
        INSERT INTO conversation_events (conversation_id, seq, kind, user_id)
        VALUES (OLD.conversation_id, v_seq, 'member_removed', OLD.user_id);
    END IF;
    RETURN NULL;
END
$$;

-- The mutations of a stored message. Each takes the conversation's row lock first (the order
-- a send locks in), then the message's, so concurrent changes of one message serialise and
-- take consecutive seqs; each returns r_status and, when something changed, the event's seq
-- (r_seq NULL: nothing changed, nothing to announce). Statuses: ok, not_found (no such
-- message, or the caller is not a member: never tell which), forbidden, deleted, expired,
-- limit.

CREATE FUNCTION chat_message_edit(p_mid uuid, p_uid uuid, p_content text, p_window_minutes integer,
                                  p_names text[])
RETURNS TABLE (r_status text, r_conversation_id uuid, r_seq bigint) LANGUAGE plpgsql AS $$
DECLARE
    m messages%ROWTYPE;
    v_seq bigint;
BEGIN
    SELECT * INTO m FROM messages WHERE id = p_mid;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM conversation_members cm
                                 WHERE cm.conversation_id = m.conversation_id
                                   AND cm.user_id = p_uid) THEN
        RETURN QUERY SELECT 'not_found', NULL::uuid, NULL::bigint;
        RETURN;
    END IF;
    PERFORM 1 FROM conversations c WHERE c.id = m.conversation_id FOR NO KEY UPDATE;
    SELECT * INTO m FROM messages WHERE id = p_mid FOR UPDATE;
    IF m.sender_id IS DISTINCT FROM p_uid THEN
        RETURN QUERY SELECT 'forbidden', m.conversation_id, NULL::bigint;
    ELSIF m.deleted_at IS NOT NULL THEN
        RETURN QUERY SELECT 'deleted', m.conversation_id, NULL::bigint;
    ELSIF p_window_minutes > 0 AND m.created_at < now() - make_interval(mins => p_window_minutes) THEN
        RETURN QUERY SELECT 'expired', m.conversation_id, NULL::bigint;
    ELSIF m.content = p_content THEN
        RETURN QUERY SELECT 'ok', m.conversation_id, NULL::bigint;
    ELSE
        UPDATE conversations c SET last_seq = c.last_seq + 1, updated_at = now()
         WHERE c.id = m.conversation_id RETURNING c.last_seq INTO v_seq;
        -- An edit may add mentions (members named by @username), never takes one back.
        WITH added AS (
            INSERT INTO message_mentions (message_id, user_id, conversation_id, seq)
            SELECT p_mid, cm.user_id, m.conversation_id, m.seq
              FROM conversation_members cm JOIN users u ON u.id = cm.user_id
             WHERE cm.conversation_id = m.conversation_id AND cm.user_id <> p_uid
               AND lower(u.username) = ANY (p_names)
            ON CONFLICT DO NOTHING RETURNING user_id)
        UPDATE messages SET content = p_content, edited_at = now(),
               mentions = mentions || coalesce((SELECT array_agg(user_id ORDER BY user_id)
                                                  FROM added), '{}')
         WHERE id = p_mid;
        INSERT INTO conversation_events (conversation_id, seq, kind, message_id, user_id)
        VALUES (m.conversation_id, v_seq, 'message_updated', p_mid, p_uid);
        RETURN QUERY SELECT 'ok', m.conversation_id, v_seq;
    END IF;
END
$$;

-- Delete: the sender, or an owner/admin of a group or room. The content, mentions and
-- reactions are erased; the row stays as the tombstone (its seq and n keep history and counts
-- consistent). Deleting a deleted message is ok with nothing to announce.
CREATE FUNCTION chat_message_delete(p_mid uuid, p_uid uuid)
RETURNS TABLE (r_status text, r_conversation_id uuid, r_seq bigint) LANGUAGE plpgsql AS $$
DECLARE
    m messages%ROWTYPE;
    v_role text;
    v_type text;
    v_seq bigint;
BEGIN
    SELECT * INTO m FROM messages WHERE id = p_mid;
    IF FOUND THEN
        SELECT cm.role, c.type INTO v_role, v_type
          FROM conversation_members cm JOIN conversations c ON c.id = cm.conversation_id
         WHERE cm.conversation_id = m.conversation_id AND cm.user_id = p_uid;
    END IF;
    IF v_role IS NULL THEN
        RETURN QUERY SELECT 'not_found', NULL::uuid, NULL::bigint;
        RETURN;
    END IF;
    PERFORM 1 FROM conversations c WHERE c.id = m.conversation_id FOR NO KEY UPDATE;
    SELECT * INTO m FROM messages WHERE id = p_mid FOR UPDATE;
    IF m.sender_id IS DISTINCT FROM p_uid
       AND NOT (v_type IN ('group', 'room') AND v_role IN ('owner', 'admin')) THEN
        RETURN QUERY SELECT 'forbidden', m.conversation_id, NULL::bigint;
    ELSIF m.deleted_at IS NOT NULL THEN
        RETURN QUERY SELECT 'ok', m.conversation_id, NULL::bigint;
    ELSE
        UPDATE conversations c SET last_seq = c.last_seq + 1, updated_at = now()
         WHERE c.id = m.conversation_id RETURNING c.last_seq INTO v_seq;
        DELETE FROM message_reactions WHERE message_id = p_mid;
        DELETE FROM message_mentions WHERE message_id = p_mid;
        UPDATE messages SET content = '', deleted_at = now(), mentions = '{}', reactions = '[]'
         WHERE id = p_mid;
        INSERT INTO conversation_events (conversation_id, seq, kind, message_id, user_id)
        VALUES (m.conversation_id, v_seq, 'message_deleted', p_mid, p_uid);
        RETURN QUERY SELECT 'ok', m.conversation_id, v_seq;
    END IF;
END
$$;

-- Add (p_on) or remove a reaction. r_count is the emoji's count after it. Adding one that is
-- there, or removing one that is not, is ok with nothing to announce. A message takes at most
-- p_max_emojis distinct emoji (limit).
CREATE FUNCTION chat_message_react(p_mid uuid, p_uid uuid, p_emoji text, p_on boolean,
                                   p_max_emojis integer)
RETURNS TABLE (r_status text, r_conversation_id uuid, r_seq bigint, r_count integer)
LANGUAGE plpgsql AS $$
DECLARE
    m messages%ROWTYPE;
    v_seq bigint;
    v_count integer;
    v_changed boolean;
BEGIN
    SELECT * INTO m FROM messages WHERE id = p_mid;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM conversation_members cm
                                 WHERE cm.conversation_id = m.conversation_id
                                   AND cm.user_id = p_uid) THEN
        RETURN QUERY SELECT 'not_found', NULL::uuid, NULL::bigint, NULL::integer;
        RETURN;
    END IF;
    PERFORM 1 FROM conversations c WHERE c.id = m.conversation_id FOR NO KEY UPDATE;
    SELECT * INTO m FROM messages WHERE id = p_mid FOR UPDATE;
    IF m.deleted_at IS NOT NULL THEN
        RETURN QUERY SELECT 'deleted', m.conversation_id, NULL::bigint, NULL::integer;
        RETURN;
    END IF;
    IF p_on THEN
        IF NOT EXISTS (SELECT 1 FROM message_reactions WHERE message_id = p_mid AND emoji = p_emoji)
           AND (SELECT count(DISTINCT emoji) FROM message_reactions
                 WHERE message_id = p_mid) >= p_max_emojis THEN
            RETURN QUERY SELECT 'limit', m.conversation_id, NULL::bigint, NULL::integer;
            RETURN;
        END IF;
        INSERT INTO message_reactions (message_id, emoji, user_id) VALUES (p_mid, p_emoji, p_uid)
        ON CONFLICT DO NOTHING;
        v_changed := FOUND;
    ELSE
        DELETE FROM message_reactions WHERE message_id = p_mid AND emoji = p_emoji
           AND user_id = p_uid;
        v_changed := FOUND;
    END IF;
    SELECT count(*) INTO v_count FROM message_reactions WHERE message_id = p_mid AND emoji = p_emoji;
    IF NOT v_changed THEN
        RETURN QUERY SELECT 'ok', m.conversation_id, NULL::bigint, v_count;
        RETURN;
    END IF;
    UPDATE conversations c SET last_seq = c.last_seq + 1, updated_at = now()
     WHERE c.id = m.conversation_id RETURNING c.last_seq INTO v_seq;
    UPDATE messages SET reactions = coalesce((
        SELECT jsonb_agg(jsonb_build_object('emoji', x.emoji, 'count', x.n, 'user_ids', x.ids)
                         ORDER BY x.first, x.emoji)
          FROM (SELECT r.emoji, count(*) AS n, min(r.created_at) AS first,
                       (array_agg(r.user_id ORDER BY r.created_at, r.user_id))[1:10] AS ids
                  FROM message_reactions r WHERE r.message_id = p_mid GROUP BY r.emoji) x), '[]')
     WHERE id = p_mid;
    INSERT INTO conversation_events (conversation_id, seq, kind, message_id, user_id, emoji, count)
    VALUES (m.conversation_id, v_seq, CASE WHEN p_on THEN 'reaction_added' ELSE 'reaction_removed' END,
            p_mid, p_uid, p_emoji, v_count);
    RETURN QUERY SELECT 'ok', m.conversation_id, v_seq, v_count;
END
$$;

-- A removal takes a seq too (chat_member_count, which runs first, took it), so its announcement
-- carries it like an addition's: "<conversation> <user> removed <seq>" (no seq when the
-- conversation itself is going away). Gateways deliver the member event to the remaining
-- members' sockets at that seq.
CREATE OR REPLACE FUNCTION chat_member_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('chat_member', NEW.conversation_id::text || ' ' || NEW.user_id::text
            || ' added ' || coalesce((SELECT last_seq FROM conversations
                                      WHERE id = NEW.conversation_id), 0)::text);
        RETURN NEW;
    END IF;
    PERFORM pg_notify('chat_member', OLD.conversation_id::text || ' ' || OLD.user_id::text
        || ' removed' || coalesce(' ' || (SELECT last_seq FROM conversations
                                          WHERE id = OLD.conversation_id)::text, ''));
    RETURN OLD;
END
$$;
