/* message.c - see message.h. */
#include "message.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/*
 * The mentioned members of one send: $1 conversation, $3 sender, $7 names,
 * $8 ids (see msg_send_stmt). A one-time filter on the parameters skips the
 * scan for the usual send that mentions nobody.
 */
#define MSG_MENTIONS_OF(cid, sender, names, ids)                                                   \
    "(SELECT coalesce(array_agg(cm.user_id ORDER BY cm.user_id), '{}')"                            \
    "   FROM conversation_members cm JOIN users mu ON mu.id = cm.user_id"                          \
    "  WHERE (" names " IS NOT NULL OR " ids " IS NOT NULL)"                                      \
    "    AND cm.conversation_id = " cid " AND cm.user_id <> " sender                              \
    "    AND (lower(mu.username) = ANY (string_to_array(" names ", ' '))"                          \
    "         OR cm.user_id = ANY (string_to_array(" ids ", ' ')::uuid[])))"

/* clang-format off */
const char msg_send_sql[] =
    "WITH mem AS ("
    "  SELECT 1 FROM conversation_members WHERE conversation_id = $1 AND user_id = $3"
    "), prior AS ("
    "  SELECT m.id, m.seq, m.created_at, m.client_message_id, m.content, m.edited_at,"
    "         m.deleted_at, m.reactions, m.mentions, m.reply_to_id FROM messages m"
    "  WHERE $5::text IS NOT NULL AND m.conversation_id = $1 AND m.sender_id = $3"
    "    AND m.client_message_id = $5::text"
    "), bad AS ("
    "  SELECT EXISTS (SELECT 1 FROM mem) AND NOT EXISTS (SELECT 1 FROM prior)"
    "     AND $6::uuid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM messages r"
    "         WHERE r.id = $6::uuid AND r.conversation_id = $1) AS reply"
    "), bump AS ("
    "  UPDATE conversations SET last_seq = last_seq + 1, message_count = message_count + 1,"
    "         last_message_seq = last_seq + 1, last_message_at = now(), updated_at = now()"
    "  WHERE id = $1 AND EXISTS (SELECT 1 FROM mem) AND NOT EXISTS (SELECT 1 FROM prior)"
    "    AND NOT (SELECT reply FROM bad)"
    "  RETURNING last_seq, message_count"
    "), ins AS ("
    "  INSERT INTO messages (id, conversation_id, seq, n, sender_id, content,"
    "                        client_message_id, reply_to_id, mentions)"
    "  SELECT $2, $1, bump.last_seq, bump.message_count, $3, $4, $5::text, $6::uuid,"
    "         " MSG_MENTIONS_OF("$1", "$3", "$7::text", "$8::text") " FROM bump"
    "  RETURNING id, seq, created_at, client_message_id, content, edited_at, deleted_at,"
    "            reactions, mentions, reply_to_id"
    "), men AS ("
    "  INSERT INTO message_mentions (message_id, user_id, conversation_id, seq)"
    "  SELECT ins.id, unnest(ins.mentions), $1, ins.seq FROM ins"
    "), own AS ("
    /* Sending implies having read the conversation up to one's own message. */
    "  UPDATE conversation_members SET"
    "    last_read_seq = greatest(last_read_seq, bump.last_seq), last_read_at = now(),"
    "    delivered_seq = greatest(delivered_seq, bump.last_seq)"
    "  FROM bump WHERE conversation_id = $1 AND user_id = $3"
    ") "
    "SELECT " MSG_COLS ", m.fresh, bad.reply "
    "FROM bad LEFT JOIN (SELECT ins.*, $3::uuid AS sender_id, true AS fresh FROM ins"
    "      UNION ALL SELECT prior.*, $3::uuid, false FROM prior) m ON true"
    " LEFT JOIN users u ON u.id = $3 AND m.id IS NOT NULL";
/* clang-format on */

struct db_stmt msg_send_stmt = {.name = "msg_send", .sql = msg_send_sql};

/* clang-format off */
const char msg_send_many_sql[] =
    "WITH input AS ("
    "  SELECT t.cid, t.id, t.sender, t.content, t.cmid, t.reply, t.names, t.ids, t.ord"
    "  FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::uuid[],"
    "              $7::text[], $8::text[])"
    "       WITH ORDINALITY AS t(cid, id, sender, content, cmid, reply, names, ids, ord)"
    "), ok AS ("
    "  SELECT i.* FROM input i WHERE EXISTS (SELECT 1 FROM conversation_members m"
    "    WHERE m.conversation_id = i.cid AND m.user_id = i.sender)"
    "), prior AS ("
    "  SELECT o.ord, m.id, m.seq, m.created_at, m.client_message_id, m.content, m.edited_at,"
    "         m.deleted_at, m.reactions, m.mentions, m.reply_to_id"
    "  FROM ok o JOIN messages m ON m.conversation_id = o.cid AND m.sender_id = o.sender"
    "   AND m.client_message_id = o.cmid"
    "), bad AS ("
    "  SELECT o.ord FROM ok o WHERE o.reply IS NOT NULL"
    "   AND NOT EXISTS (SELECT 1 FROM prior p WHERE p.ord = o.ord)"
    "   AND NOT EXISTS (SELECT 1 FROM messages r WHERE r.id = o.reply AND r.conversation_id = o.cid)"
    "), fresh AS ("
    "  SELECT o.*, row_number() OVER (PARTITION BY o.cid ORDER BY o.ord) AS k"
    "  FROM ok o WHERE NOT EXISTS (SELECT 1 FROM prior p WHERE p.ord = o.ord)"
    "   AND NOT EXISTS (SELECT 1 FROM bad b WHERE b.ord = o.ord)"
    "), counts AS ("
    "  SELECT cid, count(*) AS n FROM fresh GROUP BY cid"
    "), lk AS MATERIALIZED ("
    /*
     * Rows are locked in one order, conversations by id, then member rows
     * by (conversation, user), at the level the UPDATEs take anyway: no two
     * writers (batches, single sends, watermark writes) wait on each other
     * in a cycle.
     */
    "  SELECT c.id FROM conversations c WHERE c.id IN (SELECT cid FROM counts)"
    "  ORDER BY c.id FOR NO KEY UPDATE"
    "), bump AS ("
    "  UPDATE conversations c SET last_seq = c.last_seq + counts.n,"
    "         message_count = c.message_count + counts.n,"
    "         last_message_seq = c.last_seq + counts.n, last_message_at = now(),"
    "         updated_at = now()"
    "  FROM counts JOIN lk ON lk.id = counts.cid WHERE c.id = counts.cid"
    "  RETURNING c.id, c.last_seq - counts.n AS base, c.message_count - counts.n AS nbase"
    "), ins AS ("
    "  INSERT INTO messages (id, conversation_id, seq, n, sender_id, content, client_message_id,"
    "                        reply_to_id, mentions)"
    "  SELECT f.id, f.cid, b.base + f.k, b.nbase + f.k, f.sender, f.content, f.cmid, f.reply,"
    "         " MSG_MENTIONS_OF("f.cid", "f.sender", "f.names", "f.ids")
    "  FROM fresh f JOIN bump b ON b.id = f.cid"
    "  RETURNING id, conversation_id, seq, created_at, client_message_id, content, edited_at,"
    "            deleted_at, reactions, mentions, reply_to_id"
    "), men AS ("
    "  INSERT INTO message_mentions (message_id, user_id, conversation_id, seq)"
    "  SELECT ins.id, unnest(ins.mentions), ins.conversation_id, ins.seq FROM ins"
    "), mine AS ("
    "  SELECT f.cid, f.sender, max(b.base + f.k) AS seq"
    "  FROM fresh f JOIN bump b ON b.id = f.cid GROUP BY f.cid, f.sender"
    "), mlk AS MATERIALIZED ("
    "  SELECT m.conversation_id, m.user_id FROM conversation_members m"
    "  JOIN mine s ON m.conversation_id = s.cid AND m.user_id = s.sender"
    "  ORDER BY m.conversation_id, m.user_id FOR NO KEY UPDATE OF m"
    "), own AS ("
    "  UPDATE conversation_members m SET"
    "    last_read_seq = greatest(m.last_read_seq, s.seq), last_read_at = now(),"
    "    delivered_seq = greatest(m.delivered_seq, s.seq)"
    "  FROM mine s JOIN mlk ON mlk.conversation_id = s.cid AND mlk.user_id = s.sender"
    "  WHERE m.conversation_id = s.cid AND m.user_id = s.sender"
    ") "
    "SELECT " MSG_COLS ", m.fresh, b.ord IS NOT NULL "
    "FROM input i LEFT JOIN ("
    "  SELECT f.ord, ins.id, ins.seq, f.sender AS sender_id, ins.created_at,"
    "         ins.client_message_id, ins.content, ins.edited_at, ins.deleted_at, ins.reactions,"
    "         ins.mentions, ins.reply_to_id, true AS fresh"
    "  FROM fresh f JOIN ins ON ins.id = f.id"
    "  UNION ALL SELECT p.ord, p.id, p.seq, o.sender, p.created_at, p.client_message_id,"
    "         p.content, p.edited_at, p.deleted_at, p.reactions, p.mentions, p.reply_to_id, false"
    "  FROM prior p JOIN ok o ON o.ord = p.ord) m ON m.ord = i.ord"
    " LEFT JOIN bad b ON b.ord = i.ord"
    " LEFT JOIN users u ON u.id = i.sender AND m.id IS NOT NULL"
    " ORDER BY i.ord";
/* clang-format on */

struct db_stmt msg_read_upto_stmt = {
    .name = "conv_read",
    .sql = "WITH target AS ("
           "  SELECT coalesce((SELECT seq FROM messages WHERE id = $3::uuid"
           "                   AND conversation_id = $1), c.last_seq) AS seq,"
           "         $3::uuid IS NOT NULL AND NOT EXISTS (SELECT 1 FROM messages"
           "            WHERE id = $3::uuid AND conversation_id = $1) AS bad_id"
           "  FROM conversations c WHERE c.id = $1"
           "), upd AS ("
           "  UPDATE conversation_members m SET"
           "    last_read_seq = greatest(m.last_read_seq, t.seq), last_read_at = now(),"
           "    delivered_seq = greatest(m.delivered_seq, t.seq)"
           "  FROM target t WHERE m.conversation_id = $1 AND m.user_id = $2 AND NOT t.bad_id"
           "  RETURNING m.last_read_seq"
           ") SELECT t.bad_id, u.last_read_seq,"
           "   (SELECT id FROM messages WHERE conversation_id = $1 AND seq = u.last_read_seq)"
           " FROM target t LEFT JOIN upd u ON true"
           " WHERE EXISTS (SELECT 1 FROM conversation_members"
           "               WHERE conversation_id = $1 AND user_id = $2)",
};

/* Length of the UTF-8 sequence starting at s, or 0 if invalid (RFC 3629). */
static size_t utf8_seq_len(const unsigned char *s, size_t left)
{
    size_t n;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

const char *msg_content_problem(const char *content, size_t len, int max_chars)
{
    const unsigned char *s = (const unsigned char *)content;
    size_t i = 0;
    long chars = 0;
    bool blank = true;

    while (i < len) {
        size_t n = utf8_seq_len(s + i, len - i);
        if (n == 0)
            return "content must be valid UTF-8";
        if (s[i] == 0)
            return "content must not contain NUL characters";
        if (n > 1 || (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r'))
            blank = false;
        i += n;
        chars++;
    }
    if (blank)
        return "content must not be empty";
    if (chars > max_chars)
        return "content is too long";
    return NULL;
}

bool msg_client_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > MSG_CLIENT_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (id[i] < 0x21 || id[i] > 0x7e)
            return false;
    return true;
}

void msg_row_from_result(const PGresult *r, int row, int col0, const char *conversation_id,
                         struct msg_row *m)
{
    m->id = db_get(r, row, col0 + MSG_COL_ID);
    m->conversation_id = conversation_id;
    m->seq = atoll(PQgetvalue(r, row, col0 + MSG_COL_SEQ));
    m->sender_id = db_get(r, row, col0 + MSG_COL_SENDER_ID);
    m->sender_username = db_get(r, row, col0 + MSG_COL_USERNAME);
    m->content = db_get(r, row, col0 + MSG_COL_CONTENT);
    m->created_at = db_get(r, row, col0 + MSG_COL_CREATED);
    m->client_message_id = db_get(r, row, col0 + MSG_COL_CLIENT_ID);
    m->edited_at = db_get(r, row, col0 + MSG_COL_EDITED);
    m->deleted = PQgetvalue(r, row, col0 + MSG_COL_DELETED)[0] == 't';
    m->reactions = db_get(r, row, col0 + MSG_COL_REACTIONS);
    m->mentions = db_get(r, row, col0 + MSG_COL_MENTIONS);
    m->reply_to = db_get(r, row, col0 + MSG_COL_REPLY_TO);
}

/* A JSON text column as a value: empty arrays without a parse; `fallback` when NULL or bad. */
static json_t *json_column(const char *text, json_t *fallback)
{
    json_t *v;

    if (text == NULL || strcmp(text, "[]") == 0)
        return fallback;
    v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (v == NULL)
        return fallback;
    json_decref(fallback);
    return v;
}

json_t *msg_row_to_json(const struct msg_row *m)
{
    json_t *sender, *o;

    if (m->sender_id != NULL)
        sender = json_pack("{s:s, s:s}", "id", m->sender_id, "username",
                           m->sender_username ? m->sender_username : "deleted user");
    else
        sender = json_pack("{s:n, s:s}", "id", "username", "deleted user");
    o = json_pack("{s:s, s:s, s:I, s:s?, s:s?, s:s, s:s, s:o*}", "id", m->id, "conversation_id",
                  m->conversation_id, "seq", (json_int_t)m->seq, "sender_id", m->sender_id,
                  "content", m->deleted ? NULL : m->content, "timestamp", m->created_at,
                  "created_at", m->created_at, "sender", sender);
    if (o == NULL)
        return NULL;
    if (m->client_message_id != NULL)
        json_object_set_new(o, "client_message_id", json_string(m->client_message_id));
    json_object_set_new(o, "edited_at", m->edited_at ? json_string(m->edited_at) : json_null());
    json_object_set_new(o, "deleted", json_boolean(m->deleted));
    json_object_set_new(o, "reply_to", m->deleted ? json_null() : json_column(m->reply_to, json_null()));
    json_object_set_new(o, "mentions", m->deleted ? json_array() : json_column(m->mentions, json_array()));
    json_object_set_new(o, "reactions", m->deleted ? json_array() : json_column(m->reactions, json_array()));
    return o;
}

bool msg_take(const char **p, const char *end, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(end - *p) < n || memcmp(*p, s, n) != 0)
        return false;
    *p += n;
    return true;
}

bool msg_take_seq(const char **p, const char *end, long long *out)
{
    long long v = 0;
    const char *q = *p;

    if (q == end || *q < '0' || *q > '9')
        return false;
    for (; q < end && *q >= '0' && *q <= '9'; q++) {
        if (v > (LLONG_MAX - (*q - '0')) / 10)
            return false;
        v = v * 10 + (*q - '0');
    }
    *out = v;
    *p = q;
    return true;
}

static bool take_uuid(const char **p, const char *end, char out[UUID_STR_LEN])
{
    if (end - *p < UUID_STR_LEN - 1)
        return false;
    memcpy(out, *p, UUID_STR_LEN - 1);
    out[UUID_STR_LEN - 1] = '\0';
    if (!uuid_is_valid(out))
        return false;
    *p += UUID_STR_LEN - 1;
    return true;
}

int msg_text_scan(const char *text, size_t len, char id[UUID_STR_LEN], long long *seq,
                  char sender[UUID_STR_LEN])
{
    const char *p = text, *end = text + len;
    char cid[UUID_STR_LEN];

    if (len < 2 || text[len - 1] != '}' || !msg_take(&p, end, "{\"id\":\"") ||
        !take_uuid(&p, end, id) || !msg_take(&p, end, "\",\"conversation_id\":\"") ||
        !take_uuid(&p, end, cid) || !msg_take(&p, end, "\",\"seq\":") ||
        !msg_take_seq(&p, end, seq) || !msg_take(&p, end, ",\"sender_id\":"))
        return -1;
    if (msg_take(&p, end, "null")) {
        sender[0] = '\0';
        return 0;
    }
    if (!msg_take(&p, end, "\"") || !take_uuid(&p, end, sender) || !msg_take(&p, end, "\""))
        return -1;
    return 0;
}

const char *msg_read_status(long long seq, long long min_read_seq, long long min_delivered_seq)
{
    if (min_read_seq >= seq)
        return "read";
    if (min_delivered_seq >= seq)
        return "delivered";
    return "sent";
}
