/*
 * routes_rooms.c - the seed's legacy chat rooms.
 *
 * A room is a conversation of type "room": same members table, same
 * messages, same WebSocket fan-out. Rights: the owner or an admin member
 * updates the room, adds members and removes others; any member may
 * remove themself; the owner cannot be removed. A non-member sees 404 for
 * every room call, a member without the right gets 403.
 */
#include "conversations.h"
#include "message.h"
#include "messages.h"
#include "routes.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * The columns of a room for its caller, in the order of enum room_col: the
 * first CONV_MEMBERS_SHOWN members (all of them: GET .../members, paged).
 */
/* clang-format off */
#define ROOM_COLS                                                                                  \
    "c.id, c.name, c.description, c.created_by, " MSG_TS("c.created_at") ","                       \
    " (SELECT json_agg(json_build_object('user_id', x.id, 'username', x.username,"                 \
    "                                    'role', x.role) ORDER BY x.joined_at, x.id)"              \
    "    FROM (SELECT u.id, u.username, p.role, p.joined_at"                                       \
    "            FROM conversation_members p JOIN users u ON u.id = p.user_id"                     \
    "           WHERE p.conversation_id = c.id"                                                    \
    "           ORDER BY p.joined_at, p.user_id LIMIT " CONV_MEMBERS_SHOWN_STR ") x),"             \
    " c.member_count, me.role"
/* clang-format on */
enum room_col {
    ROOM_COL_ID,
    ROOM_COL_NAME,
    ROOM_COL_DESCRIPTION,
    ROOM_COL_CREATED_BY,
    ROOM_COL_CREATED_AT,
    ROOM_COL_MEMBERS, /* json */
    ROOM_COL_MEMBER_COUNT,
    ROOM_COL_MY_ROLE,
    ROOM_NCOLS
};

static struct db_stmt room_one_stmt = {
    .name = "room_one",
    .sql = "SELECT " ROOM_COLS " FROM conversations c JOIN conversation_members me"
           " ON me.conversation_id = c.id AND me.user_id = $1"
           " WHERE c.id = $2 AND c.type = 'room'",
};

/* The caller's rooms, newest first, after the room $2 (a cursor, or NULL), $3 of them. */
static struct db_stmt room_list_stmt = {
    .name = "room_list",
    .sql = "SELECT " ROOM_COLS " FROM conversations c JOIN conversation_members me"
           " ON me.conversation_id = c.id AND me.user_id = $1"
           " WHERE c.type = 'room' AND ($2::uuid IS NULL OR (c.created_at, c.id) <"
           "   (SELECT created_at, id FROM conversations WHERE id = $2))"
           " ORDER BY c.created_at DESC, c.id DESC LIMIT $3",
};

/*
 * Creates the room with the creator as owner and the valid listed users,
 * unless the creator has created MAX_ROOMS_PER_USER ($6) rooms: the count
 * is on the creator's row, which the statement locks, so concurrent
 * creates cannot pass it together.
 * Columns: every listed user exists (bool), created (bool).
 */
static struct db_stmt room_create_stmt = {
    .name = "room_create",
    .sql = "WITH ids AS ("
           "  SELECT DISTINCT unnest($4::uuid[]) AS id"
           "), found AS ("
           "  SELECT u.id FROM users u JOIN ids ON ids.id = u.id"
           "  WHERE u.deleted_at IS NULL AND u.id <> $5"
           "), ok AS ("
           "  SELECT (SELECT count(*) FROM found) = (SELECT count(*) FROM ids"
           "          WHERE id <> $5) AS ok"
           "), quota AS ("
           "  UPDATE users SET rooms_created = rooms_created + 1"
           "  WHERE id = $5 AND rooms_created < $6 AND (SELECT ok FROM ok) RETURNING id"
           "), c AS ("
           "  INSERT INTO conversations (id, type, name, description, created_by)"
           "  SELECT $1, 'room', $2, $3, $5 FROM quota RETURNING id"
           "), m AS ("
           "  INSERT INTO conversation_members (conversation_id, user_id, role)"
           "  SELECT c.id, $5, 'owner' FROM c"
           "  UNION ALL SELECT c.id, f.id, 'member' FROM c, found f"
           ") SELECT ok, EXISTS (SELECT 1 FROM quota) FROM ok",
};
enum { ROOM_CREATE_COL_OK, ROOM_CREATE_COL_CREATED };

static struct db_stmt room_update_stmt = {
    .name = "room_update",
    .sql = "UPDATE conversations SET name = coalesce($2, name),"
           " description = CASE WHEN $3::boolean THEN $4 ELSE description END,"
           " updated_at = now() WHERE id = $1 AND type = 'room'",
};

/*
 * Adds the user unless the room holds MAX_GROUP_MEMBERS ($4): the room's
 * row is locked with that condition first, and PostgreSQL re-checks it on
 * the newest version after a concurrent add commits.
 * Columns: inserted (bool), user exists (bool), already a member (bool).
 */
static struct db_stmt room_add_stmt = {
    .name = "room_add",
    .sql = "WITH u AS (SELECT id FROM users WHERE id = $2 AND deleted_at IS NULL),"
           " slot AS (SELECT id FROM conversations WHERE id = $1 AND member_count < $4"
           "   FOR UPDATE),"
           " ins AS (INSERT INTO conversation_members (conversation_id, user_id, role)"
           "   SELECT slot.id, u.id, $3 FROM u, slot ON CONFLICT DO NOTHING RETURNING 1)"
           " SELECT EXISTS (SELECT 1 FROM ins), EXISTS (SELECT 1 FROM u),"
           "  EXISTS (SELECT 1 FROM conversation_members WHERE conversation_id = $1"
           "          AND user_id = $2)",
};
enum { ROOM_ADD_COL_INSERTED, ROOM_ADD_COL_USER_EXISTS, ROOM_ADD_COL_ALREADY };

/*
 * Columns: removed member's role (no row: was not a member). Never the
 * owner. The room's row is locked first, in the order a send locks
 * (conversation, then member), so a removal racing the member's own send
 * cannot deadlock with it.
 */
static struct db_stmt room_remove_stmt = {
    .name = "room_remove",
    .sql = "WITH lock AS (SELECT id FROM conversations WHERE id = $1 FOR UPDATE)"
           " DELETE FROM conversation_members WHERE conversation_id = (SELECT id FROM lock)"
           " AND user_id = $2 AND role <> 'owner' RETURNING role",
};

/* Columns: the member's role (no row: not a member). */
static struct db_stmt room_role_stmt = {
    .name = "room_role",
    .sql = "SELECT role FROM conversation_members WHERE conversation_id = $1 AND user_id = $2",
};
enum { ROOM_ROLE_COL_ROLE };

static json_t *room_from_row(const PGresult *r, int i)
{
    const char *members = db_get(r, i, ROOM_COL_MEMBERS);
    json_t *m = members ? json_loads(members, 0, NULL) : NULL;
    return json_pack("{s:s, s:s?, s:s?, s:s?, s:s, s:o, s:I, s:s}", "id",
                     db_get(r, i, ROOM_COL_ID), "name", db_get(r, i, ROOM_COL_NAME), "description",
                     db_get(r, i, ROOM_COL_DESCRIPTION), "created_by",
                     db_get(r, i, ROOM_COL_CREATED_BY), "created_at",
                     db_get(r, i, ROOM_COL_CREATED_AT), "members", m ? m : json_array(),
                     "member_count", (json_int_t)atoll(PQgetvalue(r, i, ROOM_COL_MEMBER_COUNT)),
                     "my_role", db_get(r, i, ROOM_COL_MY_ROLE));
}

/*
 * Fetch room rid for the caller. Returns the result (caller PQclear()s) or
 * NULL after answering 404/503.
 */
static PGresult *room_fetch(struct http_req *req, const char *rid)
{
    const char *params[2] = {req->user_id, rid};
    enum db_err err;
    PGresult *r = db_exec(&req->be->db, &room_one_stmt, 2, params, &err);
    if (r == NULL) {
        http_db_error(req, err);
        return NULL;
    }
    if (!db_has_row(r)) {
        PQclear(r);
        http_error(req, 404, "not_found", "room not found");
        return NULL;
    }
    return r;
}

static void room_reply(struct http_req *req, const char *rid, int status)
{
    PGresult *r = room_fetch(req, rid);
    if (r == NULL)
        return;
    http_reply(req, status, room_from_row(r, 0));
    PQclear(r);
}

/* The caller's role in room rid, answering 404 when not a member. */
static int room_role(struct http_req *req, const char *rid, char role[16])
{
    PGresult *r = room_fetch(req, rid);
    if (r == NULL)
        return -1;
    snprintf(role, 16, "%s", PQgetvalue(r, 0, ROOM_COL_MY_ROLE));
    PQclear(r);
    return 0;
}

static bool is_manager(const char *role)
{
    return strcmp(role, "owner") == 0 || strcmp(role, "admin") == 0;
}

void route_room_create(struct http_req *req)
{
    const char *name, *desc, *params[6];
    char id[UUID_STR_LEN], quota[16], *arr;
    enum db_err err;
    PGresult *r;
    bool ok, created;

    if (v_string(req, "name", 1, 100, true, &name) ||
        v_string(req, "description", 0, 1000, false, &desc) ||
        v_uuid_array(req, "member_ids", 0, (size_t)req->cfg->max_group_members - 1, &arr))
        return;
    uuid_v7_string(id);
    snprintf(quota, sizeof(quota), "%d", req->cfg->max_rooms_per_user);
    params[0] = id;
    params[1] = name;
    params[2] = desc;
    params[3] = arr;
    params[4] = req->user_id;
    params[5] = quota;
    r = db_exec(&req->be->db, &room_create_stmt, 6, params, &err);
    free(arr);
    if (r == NULL) {
        http_db_error(req, err);
        return;
    }
    ok = PQgetvalue(r, 0, ROOM_CREATE_COL_OK)[0] == 't';
    created = PQgetvalue(r, 0, ROOM_CREATE_COL_CREATED)[0] == 't';
    PQclear(r);
    if (!ok)
        http_error(req, 422, "validation_error", "member_ids: unknown user id");
    else if (!created)
        http_error(req, 409, "limit_exceeded", "a user may create at most %d rooms",
                   req->cfg->max_rooms_per_user);
    else
        room_reply(req, id, 201);
}

void route_room_list(struct http_req *req)
{
    char cursor[UUID_STR_LEN], lim[16];
    const char *params[3] = {req->user_id, NULL, lim};
    bool has_cursor;
    int limit;
    enum db_err err;
    PGresult *r;

    if (v_query_limit(req, CONV_PAGE_DEFAULT, CONV_PAGE_MAX, &limit) ||
        v_query_uuid(req, "cursor", "a room id", cursor, &has_cursor))
        return;
    params[1] = has_cursor ? cursor : NULL;
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    r = db_exec(&req->be->db, &room_list_stmt, 3, params, &err);
    if (r == NULL) {
        http_db_error(req, err);
        return;
    }
    http_reply(req, 200, conv_page(r, limit, "rooms", room_from_row, ROOM_COL_ID));
    PQclear(r);
}

void route_room_members(struct http_req *req)
{
    const char *rid;
    if (v_path_uuid(req, 0, &rid) == 0 && conv_require_member(req, rid, "room") == 0)
        conv_members_reply(req, rid);
}

void route_room_get(struct http_req *req)
{
    const char *rid;
    if (v_path_uuid(req, 0, &rid) == 0)
        room_reply(req, rid, 200);
}

void route_room_update(struct http_req *req)
{
    const char *rid, *name, *desc, *params[4];
    bool set_desc = json_object_get(req->json, "description") != NULL;
    char role[16];
    enum db_err err;
    PGresult *r;

    if (v_path_uuid(req, 0, &rid) || v_string(req, "name", 1, 100, false, &name) ||
        v_string(req, "description", 0, 1000, false, &desc) || room_role(req, rid, role))
        return;
    if (!is_manager(role)) {
        http_error(req, 403, "forbidden", "only the room owner or an admin can update the room");
        return;
    }
    params[0] = rid;
    params[1] = name;
    params[2] = set_desc ? "true" : "false";
    params[3] = desc;
    r = db_exec(&req->be->db, &room_update_stmt, 4, params, &err);
    if (r == NULL) {
        http_db_error(req, err);
        return;
    }
    PQclear(r);
    room_reply(req, rid, 200);
}

void route_room_member_add(struct http_req *req)
{
    const char *rid, *uid, *new_role, *params[4];
    char role[16], cap[16];
    enum db_err err;
    PGresult *r;
    bool inserted, already;

    if (v_path_uuid(req, 0, &rid) || v_path_uuid(req, 1, &uid) ||
        v_string(req, "role", 1, 16, false, &new_role) || room_role(req, rid, role))
        return;
    if (new_role == NULL)
        new_role = "member";
    if (strcmp(new_role, "member") != 0 && strcmp(new_role, "admin") != 0) {
        http_error(req, 422, "validation_error", "role: must be \"member\" or \"admin\"");
        return;
    }
    if (!is_manager(role) || (strcmp(new_role, "admin") == 0 && strcmp(role, "owner") != 0)) {
        http_error(req, 403, "forbidden", "only the room owner or an admin can add members");
        return;
    }
    snprintf(cap, sizeof(cap), "%d", req->cfg->max_group_members);
    params[0] = rid;
    params[1] = uid;
    params[2] = new_role;
    params[3] = cap;
    r = db_exec(&req->be->db, &room_add_stmt, 4, params, &err);
    if (r == NULL) {
        http_db_error(req, err);
        return;
    }
    inserted = PQgetvalue(r, 0, ROOM_ADD_COL_INSERTED)[0] == 't';
    already = PQgetvalue(r, 0, ROOM_ADD_COL_ALREADY)[0] == 't';
    if (PQgetvalue(r, 0, ROOM_ADD_COL_USER_EXISTS)[0] != 't') {
        PQclear(r);
        http_error(req, 404, "not_found", "user not found");
        return;
    }
    PQclear(r);
    if (!inserted && !already)
        http_error(req, 409, "limit_exceeded", "a room has at most %d members",
                   req->cfg->max_group_members);
    else
        room_reply(req, rid, inserted ? 201 : 200);
}

void route_room_member_remove(struct http_req *req)
{
    const char *rid, *uid, *params[2];
    bool self;
    char role[16];
    enum db_err err;
    PGresult *r;

    if (v_path_uuid(req, 0, &rid) || v_path_uuid(req, 1, &uid) || room_role(req, rid, role))
        return;
    self = strcasecmp(uid, req->user_id) == 0;
    if (!self && !is_manager(role)) {
        http_error(req, 403, "forbidden", "only the room owner or an admin can remove others");
        return;
    }
    params[0] = rid;
    params[1] = uid;
    r = db_exec(&req->be->db, &room_role_stmt, 2, params, &err);
    if (r == NULL) {
        http_db_error(req, err);
        return;
    }
    if (!db_has_row(r)) {
        PQclear(r);
        http_error(req, 404, "not_found", "user is not a member of this room");
        return;
    }
    if (strcmp(PQgetvalue(r, 0, ROOM_ROLE_COL_ROLE), "owner") == 0 ||
        (!self && strcmp(PQgetvalue(r, 0, ROOM_ROLE_COL_ROLE), "admin") == 0 &&
         strcmp(role, "owner") != 0)) {
        PQclear(r);
        http_error(req, 403, "forbidden", "%s",
                   self ? "the owner cannot leave the room" : "this member cannot be removed");
        return;
    }
    PQclear(r);
    r = db_exec(&req->be->db, &room_remove_stmt, 2, params, &err);
    if (r == NULL) {
        http_db_error(req, err);
        return;
    }
    PQclear(r);
    http_reply(req, 204, NULL);
}

void route_room_messages(struct http_req *req)
{
    const char *rid;
    if (v_path_uuid(req, 0, &rid) || conv_require_member(req, rid, "room"))
        return;
    msg_page_reply(req, rid);
}

void route_room_send(struct http_req *req)
{
    const char *rid;
    if (v_uuid(req, "room_id", true, &rid) || conv_require_member(req, rid, "room"))
        return;
    msg_send_reply(req, rid);
}
