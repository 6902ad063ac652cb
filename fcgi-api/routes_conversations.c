/*
 * routes_conversations.c - listing, direct get-or-create, groups, read
 * watermarks, typing and online users.
 */
#include "conversations.h"
#include "message.h"
#include "events.h"
#include "routes.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * Get-or-create in one statement. The unique (direct_low, direct_high)
 * constraint decides races: the loser's INSERT does nothing, and since its
 * snapshot predates the winner's commit it sees no row either; running the
 * statement again then finds the winner's conversation.
 * Columns: id, created (bool), other user exists (bool).
 */
static struct db_stmt direct_stmt = {
    .name = "conv_direct",
    .sql = "WITH other AS ("
           "  SELECT id FROM users WHERE id = $2 AND deleted_at IS NULL"
           "), ins AS ("
           "  INSERT INTO conversations (id, type, created_by, direct_low, direct_high)"
           "  SELECT $3, 'direct', $1, least($1::uuid, $2::uuid), greatest($1::uuid, $2::uuid)"
           "  FROM other ON CONFLICT (direct_low, direct_high) DO NOTHING RETURNING id"
           "), mem AS ("
           "  INSERT INTO conversation_members (conversation_id, user_id)"
           "  SELECT ins.id, u FROM ins, unnest(ARRAY[$1::uuid, $2::uuid]) u"
           ") "
           "SELECT x.id, coalesce(x.created, false), EXISTS (SELECT 1 FROM other)"
           " FROM (SELECT 1) one LEFT JOIN ("
           "   SELECT id, true AS created FROM ins"
           "   UNION ALL SELECT c.id, false FROM conversations c"
           "   WHERE c.direct_low = least($1::uuid, $2::uuid)"
           "     AND c.direct_high = greatest($1::uuid, $2::uuid)"
           " ) x ON true",
};
enum { CONV_DIRECT_COL_ID, CONV_DIRECT_COL_CREATED, CONV_DIRECT_COL_OTHER_EXISTS };

/* Columns: all participants exist (bool). Creates nothing when one is unknown. */
static struct db_stmt group_stmt = {
    .name = "conv_group",
    .sql = "WITH ids AS ("
           "  SELECT DISTINCT unnest($3::uuid[] || ARRAY[$4::uuid]) AS id"
           "), found AS ("
           "  SELECT u.id FROM users u JOIN ids ON ids.id = u.id WHERE u.deleted_at IS NULL"
           "), ok AS ("
           "  SELECT (SELECT count(*) FROM found) = (SELECT count(*) FROM ids) AS ok"
           "), c AS ("
           "  INSERT INTO conversations (id, type, name, created_by)"
           "  SELECT $1, 'group', $2, $4 FROM ok WHERE ok.ok RETURNING id"
           "), m AS ("
           "  INSERT INTO conversation_members (conversation_id, user_id, role)"
           "  SELECT c.id, f.id, CASE WHEN f.id = $4::uuid THEN 'owner' ELSE 'member' END"
           "  FROM c, found f"
           ") SELECT ok FROM ok",
};
enum { CONV_GROUP_COL_OK };

void route_conv_list(struct http_req *req)
{
    conv_reply_list(req, &conv_list_stmt, "conversations", conv_from_row);
}

/*
 * Of the online users ($2, from Redis), those who share a conversation with
 * the caller ($1), and the caller: presence is not for strangers.
 */
static struct db_stmt online_stmt = {
    .name = "conv_online",
    .sql = "SELECT o.id FROM unnest($2::uuid[]) o(id)"
           " WHERE o.id = $1 OR EXISTS (SELECT 1 FROM conversation_members mine"
           "   JOIN conversation_members theirs ON theirs.conversation_id = mine.conversation_id"
           "   WHERE mine.user_id = $1 AND theirs.user_id = o.id)",
};
enum { CONV_ONLINE_COL_ID };

/* The online set as a PostgreSQL array literal (malloc'ed), or NULL when Redis is down. */
static char *online_array(struct http_req *req)
{
    char min[32];
    redisReply *r;
    char *arr = NULL;
    size_t n = 0;

    snprintf(min, sizeof(min), "%lld", (long long)ev_epoch_ms());
    r = rds_cmd(&req->be->rds, "ZRANGEBYSCORE %s %s +inf LIMIT 0 10000", EV_ONLINE_KEY, min);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        goto out;
    if ((arr = malloc(r->elements * (UUID_STR_LEN + 1) + 3)) == NULL)
        goto out;
    arr[n++] = '{';
    for (size_t i = 0; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING || !uuid_is_valid(r->element[i]->str))
            continue;
        if (n > 1)
            arr[n++] = ',';
        memcpy(arr + n, r->element[i]->str, UUID_STR_LEN - 1);
        n += UUID_STR_LEN - 1;
    }
    arr[n++] = '}';
    arr[n] = '\0';
out:
    if (r != NULL)
        freeReplyObject(r);
    return arr;
}

void route_conv_online(struct http_req *req)
{
    char *arr = online_array(req);
    const char *params[2] = {req->user_id, arr};
    enum db_err err;
    PGresult *r;
    json_t *ids;

    if (arr == NULL) {
        http_error(req, 503, "redis_unavailable", "presence is unavailable, retry later");
        return;
    }
    r = db_exec(&req->be->db, &online_stmt, 2, params, &err);
    free(arr);
    if (r == NULL) {
        http_db_error(req, err);
        return;
    }
    ids = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(ids, json_string(PQgetvalue(r, i, CONV_ONLINE_COL_ID)));
    PQclear(r);
    http_reply(req, 200, json_pack("{s:O, s:o}", "online_user_ids", ids, "user_ids", ids));
}

void route_conv_direct(struct http_req *req)
{
    char other[HTTP_PARAM_LEN], id[UUID_STR_LEN];
    const char *other_id = NULL, *params[3];
    enum db_err err;

    if (strcmp(req->method, "GET") == 0) {
        if (!http_query(req, "other_user_id", other, sizeof(other))) {
            http_error(req, 422, "validation_error", "other_user_id: query parameter required");
            return;
        }
        if (!uuid_canon(other)) {
            http_error(req, 422, "validation_error", "other_user_id: must be a UUID");
            return;
        }
        other_id = other;
    } else if (v_uuid(req, "other_user_id", true, &other_id) != 0) {
        return;
    }
    if (strcasecmp(other_id, req->user_id) == 0) {
        http_error(req, 422, "validation_error",
                   "other_user_id: cannot open a direct conversation with yourself");
        return;
    }
    uuid_v7_string(id);
    params[0] = req->user_id;
    params[1] = other_id;
    params[2] = id;
    for (int attempt = 0; attempt < 3; attempt++) {
        PGresult *r = db_exec(&req->be->db, &direct_stmt, 3, params, &err);
        if (r == NULL) {
            if (err == DB_ERR_UNIQUE)
                continue; /* lost the race inside the statement: look again */
            http_db_error(req, err);
            return;
        }
        if (db_get(r, 0, CONV_DIRECT_COL_ID) != NULL) {
            char cid[UUID_STR_LEN];
            bool created = PQgetvalue(r, 0, CONV_DIRECT_COL_CREATED)[0] == 't';
            snprintf(cid, sizeof(cid), "%s", PQgetvalue(r, 0, CONV_DIRECT_COL_ID));
            PQclear(r);
            conv_reply(req, cid, created ? 201 : 200);
            return;
        }
        if (PQgetvalue(r, 0, CONV_DIRECT_COL_OTHER_EXISTS)[0] != 't') {
            PQclear(r);
            http_error(req, 404, "not_found", "user not found");
            return;
        }
        PQclear(r);
    }
    http_error(req, 503, "busy", "could not create the conversation, retry");
}

void route_conv_group(struct http_req *req)
{
    const char *name, *type, *params[4];
    char id[UUID_STR_LEN], *arr;
    enum db_err err;
    PGresult *r;

    if (v_string(req, "type", 1, 16, false, &type) || v_string(req, "name", 1, 100, true, &name))
        return;
    if (type != NULL && strcmp(type, "group") != 0) {
        http_error(req, 422, "validation_error", "type: must be \"group\"");
        return;
    }
    if (v_uuid_array(req, "participant_ids", 1, (size_t)req->cfg->max_group_members - 1, &arr) !=
        0)
        return;
    uuid_v7_string(id);
    params[0] = id;
    params[1] = name;
    params[2] = arr;
    params[3] = req->user_id;
    r = db_exec(&req->be->db, &group_stmt, 4, params, &err);
    free(arr);
    if (r == NULL) {
        http_db_error(req, err);
        return;
    }
    if (PQgetvalue(r, 0, CONV_GROUP_COL_OK)[0] != 't') {
        PQclear(r);
        http_error(req, 422, "validation_error", "participant_ids: unknown user id");
        return;
    }
    PQclear(r);
    conv_reply(req, id, 201);
}

void route_conv_members(struct http_req *req)
{
    const char *cid;
    if (v_path_uuid(req, 0, &cid) == 0 && conv_require_member(req, cid, NULL) == 0)
        conv_members_reply(req, cid);
}

void route_conv_get(struct http_req *req)
{
    const char *cid;
    if (v_path_uuid(req, 0, &cid) == 0)
        conv_reply(req, cid, 200);
}

void route_conv_read(struct http_req *req)
{
    const char *cid, *mid, *params[3];
    enum db_err err;
    PGresult *r;
    json_t *ev;

    if (v_path_uuid(req, 0, &cid) || v_uuid(req, "message_id", false, &mid) ||
        http_limit(req, "read", req->user_id, req->cfg->rl_read_per_minute, "read marks"))
        return;
    params[0] = cid;
    params[1] = req->user_id;
    params[2] = mid;
    r = db_exec(&req->be->db, &msg_read_upto_stmt, 3, params, &err);
    if (r == NULL) {
        http_db_error(req, err);
        return;
    }
    if (!db_has_row(r)) {
        PQclear(r);
        http_error(req, 404, "not_found", "conversation not found");
        return;
    }
    if (PQgetvalue(r, 0, MSG_UPTO_COL_BAD_ID)[0] == 't') {
        PQclear(r);
        http_error(req, 422, "validation_error", "message_id: not a message of this conversation");
        return;
    }
    ev = ev_read(cid, req->user_id, atoll(PQgetvalue(r, 0, MSG_UPTO_COL_LAST_READ)),
                 db_get(r, 0, MSG_UPTO_COL_MESSAGE_ID));
    if (ev != NULL)
        ev_publish(&req->be->rds, req->cfg->stream_shards, cid, ev);
    json_decref(ev);
    http_reply(req, 200,
               json_pack("{s:s, s:s, s:I, s:s?}", "conversation_id", cid, "user_id", req->user_id,
                         "last_read_seq",
                         (json_int_t)atoll(PQgetvalue(r, 0, MSG_UPTO_COL_LAST_READ)),
                         "last_read_message_id", db_get(r, 0, MSG_UPTO_COL_MESSAGE_ID)));
    PQclear(r);
}

/* Current typers of cid, dropping expired entries on the way. NULL if Redis is down. */
static json_t *typing_users(struct http_req *req, const char *cid)
{
    char key[EV_KEY_MAX], now[32];
    const char *zrem[] = {"ZREMRANGEBYSCORE", key, "-inf", now};
    const char *zget[] = {"ZRANGEBYSCORE", key, "(", "+inf"};
    char excl[40];
    redisReply *rep[2];
    json_t *ids = NULL;

    ev_typing_key(cid, key);
    snprintf(now, sizeof(now), "%lld", (long long)ev_epoch_ms());
    snprintf(excl, sizeof(excl), "(%s", now);
    zget[2] = excl;
    if (rds_append_argv(&req->be->rds, 4, zrem, NULL) != 0 ||
        rds_append_argv(&req->be->rds, 4, zget, NULL) != 0 ||
        rds_collect(&req->be->rds, 2, rep) != 0)
        return NULL;
    if (rep[1]->type == REDIS_REPLY_ARRAY) {
        ids = json_array();
        for (size_t i = 0; i < rep[1]->elements; i++)
            json_array_append_new(ids, json_string(rep[1]->element[i]->str));
    }
    freeReplyObject(rep[0]);
    freeReplyObject(rep[1]);
    return ids;
}

void route_typing_set(struct http_req *req)
{
    const char *cid;
    bool is_typing, present;
    json_t *users;

    if (v_path_uuid(req, 0, &cid) || v_bool(req, "is_typing", true, &is_typing, &present) ||
        conv_require_member(req, cid, NULL) ||
        http_limit(req, "typing", req->user_id, req->cfg->rl_typing_per_minute, "typing signals"))
        return;
    if (ev_publish_typing(&req->be->rds, req->cfg->stream_shards, cid, req->user_id, is_typing) !=
        0) {
        http_error(req, 503, "redis_unavailable", "typing state is unavailable, retry later");
        return;
    }
    users = typing_users(req, cid);
    http_reply(req, 200,
               json_pack("{s:s, s:b, s:o}", "conversation_id", cid, "is_typing", is_typing,
                         "typing_users", users ? users : json_array()));
}

void route_typing_get(struct http_req *req)
{
    const char *cid;
    json_t *users;

    if (v_path_uuid(req, 0, &cid) || conv_require_member(req, cid, NULL))
        return;
    users = typing_users(req, cid);
    if (users == NULL) {
        http_error(req, 503, "redis_unavailable", "typing state is unavailable, retry later");
        return;
    }
    http_reply(req, 200, json_pack("{s:s, s:o}", "conversation_id", cid, "typing_users", users));
}
