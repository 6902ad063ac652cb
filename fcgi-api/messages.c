/*
 * messages.c - see messages.h.
 *
 * History pages come from PostgreSQL in one round trip (membership,
 * watermarks, cursor position and the page in a single statement), or,
 * for a first page with use_cache=true, from the Redis cache of the last
 * 50 messages when that cache provably holds exactly the rows the database
 * would return: the entries must be the contiguous seq range ending at the
 * conversation's last_seq read in the same round trip as the membership
 * check. Anything else falls back to the database and refills the cache.
 */
#include "messages.h"
#include "conversations.h"
#include "events.h"
#include "log.h"
#include "message.h"
#include "ratelimit.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_DEFAULT 50
#define PAGE_MAX 100

/*
 * Meta row + page. Columns: member (bool), cursor seq (NULL if the cursor
 * is unknown), last_seq, watermarks json, then the message columns
 * (NULL when the page is empty).
 */
static struct db_stmt page_stmt = {
    .name = "msg_page",
    .sql =
        "WITH meta AS ("
        "  SELECT EXISTS (SELECT 1 FROM conversation_members"
        "                 WHERE conversation_id = $1 AND user_id = $2) AS member,"
        "    CASE WHEN $3::uuid IS NULL THEN 9223372036854775807"
        "         ELSE (SELECT seq FROM messages WHERE id = $3::uuid"
        "               AND conversation_id = $1) END AS cseq,"
        "    (SELECT last_seq FROM conversations WHERE id = $1) AS last_seq,"
        "    (SELECT json_agg(json_build_array(w.user_id, w.last_read_seq,"
        "            greatest(w.delivered_seq, w.last_read_seq)))"
        "       FROM conversation_members w WHERE w.conversation_id = $1) AS wm"
        ") SELECT meta.member, meta.cseq, meta.last_seq, meta.wm,"
        "   p.id, p.seq, p.sender_id, p.username, p.content, p.ts, p.client_message_id"
        " FROM meta LEFT JOIN LATERAL ("
        "   SELECT m.id, m.seq, m.sender_id,"
        "          CASE WHEN u.deleted_at IS NULL THEN u.username END AS username,"
        "          m.content, " MSG_TS(
            "m.created_at") " AS ts, m.client_message_id"
                            "   FROM messages m LEFT JOIN users u ON u.id = m.sender_id"
                            "   WHERE meta.member AND m.conversation_id = $1 AND m.seq < meta.cseq"
                            "   ORDER BY m.seq DESC LIMIT $4"
                            " ) p ON true",
};

static int page_limit(struct http_req *req, int *limit)
{
    char buf[32], *end;
    long n;
    *limit = PAGE_DEFAULT;
    if (!http_query(req, "limit", buf, sizeof(buf)))
        return 0;
    n = strtol(buf, &end, 10);
    if (end == buf || *end != '\0' || n < 1 || n > PAGE_MAX) {
        http_error(req, 422, "validation_error", "limit: must be an integer from 1 to %d",
                   PAGE_MAX);
        return -1;
    }
    *limit = (int)n;
    return 0;
}

static bool query_true(struct http_req *req, const char *name)
{
    char buf[16];
    return http_query(req, name, buf, sizeof(buf)) &&
           (strcmp(buf, "true") == 0 || strcmp(buf, "1") == 0 || strcmp(buf, "yes") == 0);
}

/* Set read_status on message m (sender's view) from the watermarks. */
static void set_status(json_t *m, const json_t *wm)
{
    long long mr, md;
    const char *sender = json_string_value(json_object_get(m, "sender_id"));
    long long seq = json_integer_value(json_object_get(m, "seq"));
    conv_min_watermarks(wm, sender, &mr, &md);
    json_object_set_new(m, "read_status", json_string(msg_read_status(seq, mr, md)));
}

static json_t *page_body(json_t *msgs, bool has_more)
{
    json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    const char *cursor = has_more && last ? json_string_value(json_object_get(last, "id")) : NULL;
    return json_pack("{s:o, s:s?, s:b}", "messages", msgs, "next_cursor", cursor, "has_more",
                     has_more);
}

/*
 * Serve the first page from the cache when it holds exactly seqs
 * (last_seq - n + 1 .. last_seq), n = min(limit, last_seq). Returns the
 * body, or NULL when the cache cannot be trusted.
 */
static json_t *page_from_cache(struct http_req *req, const char *cid, int limit, long long last_seq,
                               const json_t *wm)
{
    long long n = last_seq < limit ? last_seq : limit, lo = last_seq - n + 1;
    char key[EV_KEY_MAX], min[24], max[24];
    redisReply *r;
    json_t *msgs = NULL;

    if (n == 0 || limit > EV_CACHE_SIZE)
        return NULL;
    ev_cache_key(cid, key);
    snprintf(min, sizeof(min), "%lld", lo);
    snprintf(max, sizeof(max), "%lld", last_seq);
    r = rds_cmd(&req->w->rds, "ZREVRANGEBYSCORE %s %s %s WITHSCORES", key, max, min);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)n * 2)
        goto out;
    msgs = json_array();
    for (long long i = 0; i < n; i++) {
        redisReply *v = r->element[2 * i], *s = r->element[2 * i + 1];
        json_t *m;
        if (v->type != REDIS_REPLY_STRING || s->type != REDIS_REPLY_STRING ||
            atoll(s->str) != last_seq - i)
            goto bad;
        m = json_loadb(v->str, v->len, 0, NULL);
        if (m == NULL || json_integer_value(json_object_get(m, "seq")) != last_seq - i) {
            json_decref(m);
            goto bad;
        }
        set_status(m, wm);
        json_array_append_new(msgs, m);
    }
    freeReplyObject(r);
    return page_body(msgs, lo > 1);
bad:
    json_decref(msgs);
    msgs = NULL;
out:
    if (r != NULL)
        freeReplyObject(r);
    return NULL;
}

/* Put the newest page (messages newest first) into the cache; best effort. */
static void cache_fill(struct http_req *req, const char *cid, const json_t *msgs)
{
    char key[EV_KEY_MAX], score[24], trim[16];
    size_t i, n = json_array_size(msgs);
    int appended = 0;
    json_t *m;

    if (n == 0)
        return;
    ev_cache_key(cid, key);
    json_array_foreach(msgs, i, m)
    {
        json_t *copy;
        char *text;
        if (i >= EV_CACHE_SIZE)
            break;
        copy = json_deep_copy(m);
        json_object_del(copy, "read_status");
        text = json_dumps(copy, JSON_COMPACT);
        json_decref(copy);
        if (text == NULL)
            continue;
        snprintf(score, sizeof(score), "%lld",
                 (long long)json_integer_value(json_object_get(m, "seq")));
        {
            const char *argv[] = {"ZADD", key, score, text};
            if (rds_append_argv(&req->w->rds, 4, argv, NULL) == 0)
                appended++;
        }
        free(text);
    }
    snprintf(trim, sizeof(trim), "%d", -(EV_CACHE_SIZE + 1));
    {
        const char *t[] = {"ZREMRANGEBYRANK", key, "0", trim};
        const char *e[] = {"EXPIRE", key, EV_CACHE_TTL_SECONDS};
        if (appended > 0 && rds_append_argv(&req->w->rds, 4, t, NULL) == 0 &&
            rds_append_argv(&req->w->rds, 3, e, NULL) == 0)
            appended += 2;
    }
    while (appended-- > 0) {
        redisReply *rep;
        if (rds_collect(&req->w->rds, 1, &rep) != 0)
            break;
        freeReplyObject(rep);
    }
}

void msg_page_reply(struct http_req *req, const char *cid)
{
    char cursor[HTTP_PARAM_LEN], lim[16];
    const char *params[4];
    bool has_cursor = http_query(req, "cursor", cursor, sizeof(cursor)) && cursor[0] != '\0';
    bool use_cache = query_true(req, "use_cache");
    int limit, n;
    long long last_seq;
    enum db_err err;
    json_t *wm, *msgs, *body;
    PGresult *r;

    if (page_limit(req, &limit) != 0)
        return;
    if (has_cursor && !uuid_is_valid(cursor)) {
        http_error(req, 422, "validation_error", "cursor: must be a message id (UUID)");
        return;
    }
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    params[0] = cid;
    params[1] = req->user_id;
    params[2] = has_cursor ? cursor : NULL;
    params[3] = lim;
    r = db_exec(&req->w->db, &page_stmt, 4, params, &err);
    if (r == NULL) {
        http_db_error(req, err);
        return;
    }
    if (PQgetvalue(r, 0, 0)[0] != 't') {
        PQclear(r);
        http_error(req, 404, "not_found", "conversation not found");
        return;
    }
    if (db_get(r, 0, 1) == NULL) {
        PQclear(r);
        http_error(req, 422, "validation_error", "cursor: not a message of this conversation");
        return;
    }
    last_seq = atoll(PQgetvalue(r, 0, 2));
    wm = json_loads(PQgetvalue(r, 0, 3), 0, NULL);
    if (wm == NULL)
        wm = json_array();
    if (use_cache && !has_cursor) {
        body = page_from_cache(req, cid, limit, last_seq, wm);
        if (body != NULL) {
            http_header(req, "X-Cache: hit");
            json_decref(wm);
            PQclear(r);
            http_reply(req, 200, body);
            return;
        }
        http_header(req, "X-Cache: miss");
    }
    msgs = json_array();
    n = db_get(r, 0, 4) == NULL ? 0 : PQntuples(r);
    for (int i = 0; i < n && i < limit; i++) {
        struct msg_row m = {
            .id = db_get(r, i, 4),
            .conversation_id = cid,
            .seq = atoll(PQgetvalue(r, i, 5)),
            .sender_id = db_get(r, i, 6),
            .sender_username = db_get(r, i, 7),
            .content = db_get(r, i, 8),
            .created_at = db_get(r, i, 9),
            .client_message_id = db_get(r, i, 10),
        };
        json_t *o = msg_row_to_json(&m);
        if (o != NULL) {
            set_status(o, wm);
            json_array_append_new(msgs, o);
        }
    }
    PQclear(r);
    json_decref(wm);
    if (use_cache && !has_cursor)
        cache_fill(req, cid, msgs);
    http_reply(req, 200, page_body(msgs, n > limit));
}

/* The client id from the body or the Idempotency-Key header; answers on error. */
static int client_id(struct http_req *req, const char **out)
{
    if (v_string(req, "client_message_id", 1, MSG_CLIENT_ID_MAX, false, out) != 0)
        return -1;
    if (*out == NULL)
        *out = http_env(req, "HTTP_IDEMPOTENCY_KEY");
    if (*out != NULL && !msg_client_id_valid(*out)) {
        http_error(req, 422, "validation_error",
                   "client_message_id: 1 to %d printable ASCII characters", MSG_CLIENT_ID_MAX);
        return -1;
    }
    return 0;
}

void msg_send_reply(struct http_req *req, const char *cid)
{
    json_t *content = json_object_get(req->json, "content");
    const char *problem, *cmid, *body_cid, *params[5];
    char id[UUID_STR_LEN];
    struct rl_result rl;
    enum db_err err = DB_OK;
    PGresult *r = NULL;
    json_t *msg;
    bool fresh;

    if (!json_is_string(content)) {
        http_error(req, 422, "validation_error", "content: field required (string)");
        return;
    }
    problem = msg_content_problem(json_string_value(content), json_string_length(content),
                                  req->cfg->max_message_chars);
    if (problem != NULL) {
        http_error(req, 422, "validation_error", "content: %s (at most %d characters)", problem,
                   req->cfg->max_message_chars);
        return;
    }
    if (client_id(req, &cmid) != 0 || v_string(req, "conversation_id", 1, 64, false, &body_cid))
        return;
    if (body_cid != NULL && strcasecmp(body_cid, cid) != 0) {
        http_error(req, 422, "validation_error",
                   "conversation_id: does not match the conversation in the path");
        return;
    }
    rl_hit(&req->w->rds, "msg", req->user_id, req->cfg->rl_messages_per_minute, 0, &rl);
    if (!rl.allowed) {
        http_rate_limited(req, rl.retry_after, "messages");
        return;
    }
    uuid_v7_string(id);
    params[0] = cid;
    params[1] = id;
    params[2] = req->user_id;
    params[3] = json_string_value(content);
    params[4] = cmid;
    /* A concurrent duplicate client id rolls the whole statement back: run it again. */
    for (int attempt = 0; attempt < 3; attempt++) {
        r = db_exec(&req->w->db, &msg_send_stmt, 5, params, &err);
        if (r != NULL || err != DB_ERR_UNIQUE)
            break;
    }
    if (r == NULL) {
        http_db_error(req, err);
        return;
    }
    if (!db_has_row(r)) {
        PQclear(r);
        http_error(req, 404, "not_found", "conversation not found");
        return;
    }
    {
        struct msg_row m = {
            .id = PQgetvalue(r, 0, MSG_SEND_COL_ID),
            .conversation_id = cid,
            .seq = atoll(PQgetvalue(r, 0, MSG_SEND_COL_SEQ)),
            .sender_id = req->user_id,
            .sender_username = PQgetvalue(r, 0, MSG_SEND_COL_USERNAME),
            .content = PQgetvalue(r, 0, MSG_SEND_COL_CONTENT),
            .created_at = PQgetvalue(r, 0, MSG_SEND_COL_CREATED),
            .client_message_id = db_get(r, 0, MSG_SEND_COL_CLIENT_ID),
        };
        fresh = PQgetvalue(r, 0, MSG_SEND_COL_FRESH)[0] == 't';
        msg = msg_row_to_json(&m);
        if (msg != NULL && fresh &&
            ev_publish_message(&req->w->rds, req->cfg->stream_shards, cid, m.seq, msg) != 0)
            log_warn(req->request_id, "message %s stored but not published (redis down)", m.id);
    }
    PQclear(r);
    if (msg == NULL) {
        http_error(req, 503, "unavailable", "out of memory");
        return;
    }
    json_object_set_new(msg, "read_status", json_string("sent"));
    if (!fresh)
        http_header(req, "Idempotent-Replayed: true");
    http_reply(req, fresh ? 201 : 200, msg);
}
