/* conversations.c - see conversations.h. */
#include "conversations.h"
#include "events.h"
#include "message.h"
#include "validate.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Columns: the conversation's type (no row: not a member). */
static struct db_stmt member_stmt = {
    .name = "conv_member",
    .sql = "SELECT c.type FROM conversation_members m JOIN conversations c"
           " ON c.id = m.conversation_id WHERE m.conversation_id = $1 AND m.user_id = $2",
};
enum { CONV_MEMBER_COL_TYPE };

/*
 * The conversation object in one round trip, in the order of enum
 * conv_col: the conversation, the caller's unread count, participants
 * (json), the last message (MSG_COLS_OF, all NULL when there is none) and
 * everyone's watermarks (json [user_id, last_read_seq, delivered_seq]).
 */
enum conv_col {
    CONV_COL_ID,
    CONV_COL_TYPE,
    CONV_COL_NAME,
    CONV_COL_DESCRIPTION,
    CONV_COL_CREATED_BY,
    CONV_COL_CREATED_AT,
    CONV_COL_UNREAD,
    CONV_COL_PARTICIPANTS,
    CONV_COL_LAST_MSG, /* MSG_NCOLS columns, in the order of enum msg_col */
    CONV_COL_WATERMARKS = CONV_COL_LAST_MSG + MSG_NCOLS,
    CONV_COL_PARTICIPANT_COUNT,
    CONV_COL_MENTIONS,
    CONV_NCOLS
};

/* clang-format off */
#define CONV_SELECT                                                                                \
    "SELECT c.id, c.type, c.name, c.description, c.created_by,"                                    \
    "       " MSG_TS("c.created_at") ","                                                           \
    "       greatest(c.message_count - coalesce((SELECT r.n FROM messages r"                        \
    "          WHERE r.conversation_id = c.id AND r.seq <= cm.last_read_seq"                     \
    "          ORDER BY r.seq DESC LIMIT 1), 0), 0),"                                              \
    "       (SELECT json_agg(json_build_object('user_id', x.id, 'username', x.username,"           \
    "                                          'display_name', x.display_name,"                    \
    "                                          'role', x.role) ORDER BY x.joined_at, x.id)"        \
    "          FROM (SELECT u.id, u.username, u.display_name, p.role, p.joined_at"                 \
    "                  FROM conversation_members p JOIN users u ON u.id = p.user_id"               \
    "                 WHERE p.conversation_id = c.id"                                              \
    "                 ORDER BY p.joined_at, p.user_id LIMIT " CONV_MEMBERS_SHOWN_STR ") x),"     \
    "       " MSG_COLS_OF("lm", "lu") ","                                                          \
    "       (SELECT json_agg(json_build_array(w.user_id, w.last_read_seq,"                         \
    "                                         greatest(w.delivered_seq, w.last_read_seq)))"        \
    "          FROM conversation_members w WHERE w.conversation_id = c.id),"                       \
    "       c.member_count,"                                                                       \
    "       (SELECT count(*) FROM message_mentions mm WHERE mm.user_id = cm.user_id"               \
    "           AND mm.conversation_id = c.id AND mm.seq > cm.last_read_seq)"                      \
    "  FROM conversation_members cm JOIN conversations c ON c.id = cm.conversation_id"             \
    "  LEFT JOIN messages lm ON lm.conversation_id = c.id AND lm.seq = c.last_message_seq"                 \
    "  LEFT JOIN users lu ON lu.id = lm.sender_id"
/* clang-format on */

struct db_stmt conv_one_stmt = {
    .name = "conv_one",
    .sql = CONV_SELECT " WHERE cm.user_id = $1 AND cm.conversation_id = $2",
};

struct db_stmt conv_list_stmt = {
    .name = "conv_list",
    .sql = CONV_SELECT " WHERE cm.user_id = $1 AND c.type IN ('direct', 'group')"
                       " ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id DESC"
                       " LIMIT 500",
};

int conv_require_member(struct http_req *req, const char *cid, const char *type)
{
    const char *params[2] = {cid, req->user_id};
    enum db_err err;
    PGresult *r = db_exec(&req->be->db, &member_stmt, 2, params, &err);
    int rc = -1;

    if (r == NULL) {
        http_db_error(req, err);
        return -1;
    }
    if (db_has_row(r) &&
        (type == NULL || strcmp(PQgetvalue(r, 0, CONV_MEMBER_COL_TYPE), type) == 0))
        rc = 0;
    else
        http_error(req, 404, "not_found", "%s not found",
                   type && strcmp(type, "room") == 0 ? "room" : "conversation");
    PQclear(r);
    return rc;
}

/*
 * Lowest watermarks of members other than user_id, from a JSON array of
 * [user_id, last_read_seq, delivered_seq] triples (as the queries return).
 */
static void conv_min_watermarks(const json_t *wm, const char *user_id, long long *min_read,
                                long long *min_delivered)
{
    size_t i;
    json_t *t;
    bool any = false;

    *min_read = 0;
    *min_delivered = 0;
    json_array_foreach(wm, i, t)
    {
        const char *uid = json_string_value(json_array_get(t, 0));
        long long rd = json_integer_value(json_array_get(t, 1));
        long long dv = json_integer_value(json_array_get(t, 2));
        if (uid == NULL || (user_id != NULL && strcmp(uid, user_id) == 0))
            continue;
        if (!any || rd < *min_read)
            *min_read = rd;
        if (!any || dv < *min_delivered)
            *min_delivered = dv;
        any = true;
    }
    if (!any) {
        /* Nobody else in the conversation: nothing can be read or delivered. */
        *min_read = 0;
        *min_delivered = 0;
    }
}

static json_t *json_column(const PGresult *r, int row, int col)
{
    const char *v = db_get(r, row, col);
    json_t *j = v ? json_loads(v, 0, NULL) : NULL;
    return j ? j : json_array();
}

json_t *conv_from_row(const PGresult *r, int i)
{
    const char *cid = db_get(r, i, CONV_COL_ID);
    json_t *o, *last = json_null(), *wm = json_column(r, i, CONV_COL_WATERMARKS);

    if (db_get(r, i, CONV_COL_LAST_MSG + MSG_COL_ID) != NULL) {
        struct msg_row m;
        long long mr, md;
        msg_row_from_result(r, i, CONV_COL_LAST_MSG, cid, &m);
        json_decref(last);
        last = msg_row_to_json(&m);
        conv_min_watermarks(wm, m.sender_id, &mr, &md);
        if (last != NULL)
            json_object_set_new(last, "read_status", json_string(msg_read_status(m.seq, mr, md)));
    }
    o = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s, s:I, s:I, s:o, s:I, s:o*}", "id", cid, "type",
                  db_get(r, i, CONV_COL_TYPE), "name", db_get(r, i, CONV_COL_NAME), "description",
                  db_get(r, i, CONV_COL_DESCRIPTION), "created_by",
                  db_get(r, i, CONV_COL_CREATED_BY), "created_at",
                  db_get(r, i, CONV_COL_CREATED_AT), "unread_count",
                  (json_int_t)atoll(PQgetvalue(r, i, CONV_COL_UNREAD)), "mention_count",
                  (json_int_t)atoll(PQgetvalue(r, i, CONV_COL_MENTIONS)), "participants",
                  json_column(r, i, CONV_COL_PARTICIPANTS), "participant_count",
                  (json_int_t)atoll(PQgetvalue(r, i, CONV_COL_PARTICIPANT_COUNT)), "last_message",
                  last);
    json_decref(wm);
    return o;
}

json_t *conv_fetch(struct http_req *req, const char *cid)
{
    const char *params[2] = {req->user_id, cid};
    enum db_err err;
    PGresult *r = db_exec(&req->be->db, &conv_one_stmt, 2, params, &err);
    json_t *o = NULL;

    if (r == NULL) {
        http_db_error(req, err);
        return NULL;
    }
    if (!db_has_row(r))
        http_error(req, 404, "not_found", "conversation not found");
    else if ((o = conv_from_row(r, 0)) == NULL)
        http_error(req, 503, "unavailable", "out of memory");
    PQclear(r);
    return o;
}

void conv_reply_list(struct http_req *req, struct db_stmt *st, const char *key,
                     json_t *(*row)(const PGresult *r, int i))
{
    const char *params[1] = {req->user_id};
    enum db_err err;
    PGresult *r = db_exec(&req->be->db, st, 1, params, &err);
    json_t *list;

    if (r == NULL) {
        http_db_error(req, err);
        return;
    }
    list = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(list, row(r, i));
    PQclear(r);
    http_reply(req, 200, json_pack("{s:o}", key, list));
}

json_t *conv_page(const PGresult *r, int limit, const char *key,
                  json_t *(*row)(const PGresult *r, int i), int id_col)
{
    int n = PQntuples(r) > limit ? limit : PQntuples(r);
    bool has_more = PQntuples(r) > limit;
    json_t *list = json_array();

    for (int i = 0; i < n; i++)
        json_array_append_new(list, row(r, i));
    return json_pack("{s:o, s:s?, s:b}", key, list, "next_cursor",
                     has_more ? PQgetvalue(r, n - 1, id_col) : NULL, "has_more", has_more);
}

/*
 * A page of members of $1 in join order after the member $2 (a cursor, or
 * NULL), $3 of them. Columns: enum member_col.
 */
static struct db_stmt members_stmt = {
    .name = "conv_members",
    .sql = "SELECT u.id, u.username, u.display_name, p.role, " MSG_TS("p.joined_at")
           " FROM conversation_members p JOIN users u ON u.id = p.user_id"
           " WHERE p.conversation_id = $1 AND ($2::uuid IS NULL OR (p.joined_at, p.user_id) >"
           "   (SELECT joined_at, user_id FROM conversation_members"
           "     WHERE conversation_id = $1 AND user_id = $2))"
           " ORDER BY p.joined_at, p.user_id LIMIT $3",
};
enum { MEMBER_COL_ID, MEMBER_COL_USERNAME, MEMBER_COL_DISPLAY_NAME, MEMBER_COL_ROLE,
       MEMBER_COL_JOINED_AT };

/* Whether $2 is a member of $1 (a cursor that left). */
static struct db_stmt is_member_stmt = {
    .name = "conv_is_member",
    .sql = "SELECT 1 FROM conversation_members WHERE conversation_id = $1 AND user_id = $2",
};

static json_t *member_from_row(const PGresult *r, int i)
{
    return json_pack("{s:s, s:s, s:s?, s:s, s:s}", "user_id", PQgetvalue(r, i, MEMBER_COL_ID),
                     "username", PQgetvalue(r, i, MEMBER_COL_USERNAME), "display_name",
                     db_get(r, i, MEMBER_COL_DISPLAY_NAME), "role",
                     PQgetvalue(r, i, MEMBER_COL_ROLE), "joined_at",
                     PQgetvalue(r, i, MEMBER_COL_JOINED_AT));
}

/* 0 when the cursor member is (still) in cid; else answers 422/503. */
static int cursor_member(struct http_req *req, const char *cid, const char *cursor)
{
    const char *params[2] = {cid, cursor};
    enum db_err err;
    PGresult *r = db_exec(&req->be->db, &is_member_stmt, 2, params, &err);
    bool ok = r != NULL && db_has_row(r);

    if (r == NULL)
        http_db_error(req, err);
    else if (!ok)
        http_error(req, 422, "validation_error", "cursor: not a member of this conversation");
    if (r != NULL)
        PQclear(r);
    return ok ? 0 : -1;
}

void conv_members_reply(struct http_req *req, const char *cid)
{
    char cursor[UUID_STR_LEN], lim[16];
    const char *params[3] = {cid, NULL, lim};
    bool has_cursor;
    int limit;
    enum db_err err;
    PGresult *r;

    if (v_query_limit(req, CONV_PAGE_DEFAULT, CONV_PAGE_MAX, &limit) ||
        v_query_uuid(req, "cursor", "a member's user id", cursor, &has_cursor) ||
        (has_cursor && cursor_member(req, cid, cursor)))
        return;
    params[1] = has_cursor ? cursor : NULL;
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    if ((r = db_exec(&req->be->db, &members_stmt, 3, params, &err)) == NULL) {
        http_db_error(req, err);
        return;
    }
    http_reply(req, 200, conv_page(r, limit, "members", member_from_row, MEMBER_COL_ID));
    PQclear(r);
}

void conv_reply(struct http_req *req, const char *cid, int status)
{
    json_t *o = conv_fetch(req, cid);
    if (o != NULL)
        http_reply(req, status, o);
}
