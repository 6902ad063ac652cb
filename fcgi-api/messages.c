/*
 * messages.c - see messages.h.
 *
 * History pages come from PostgreSQL in one round trip (membership,
 * watermarks, cursor position and the page in a single statement), or,
 * for a first page with use_cache=true, from the Redis cache of the last
 * 50 messages when that cache provably holds exactly the rows the database
 * would return: its version (the seq of the last event it reflects, kept
 * by the scripts of common/events.c) must be the conversation's last_seq
 * read in the same round trip as the membership check, and it must hold
 * min(50, message_count) entries. Anything else falls back to the database
 * and refills the cache with that statement's snapshot.
 */
#include "messages.h"
#include "auth.h"
#include "events.h"
#include "log.h"
#include "message.h"
#include "ratelimit.h"
#include "validate.h"
#include "send.h"
#include "send_group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_DEFAULT 50

/*
 * Meta row + page. Columns: member (bool), cursor seq (NULL if the cursor
 * is unknown), last_seq, the lowest read watermark with its holder and the
 * second lowest (NULL for a one-member conversation), the same for the
 * delivered watermark, the caller's own reactions on the page's messages
 * ({message_id: [emoji]}, NULL when none; only messages that carry
 * reactions are looked up), then the message columns (PAGE_COL_*, NULL
 * when the page is empty or $5 is false: the cache will answer).
 */
/* clang-format off */
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
        "    (SELECT message_count FROM conversations WHERE id = $1) AS message_count"
        "), wm AS ("
        "  SELECT (array_agg(user_id ORDER BY rd, user_id))[1] AS ru,"
        "    (array_agg(rd ORDER BY rd, user_id))[1] AS r1,"
        "    (array_agg(rd ORDER BY rd, user_id))[2] AS r2,"
        "    (array_agg(user_id ORDER BY dv, user_id))[1] AS du,"
        "    (array_agg(dv ORDER BY dv, user_id))[1] AS d1,"
        "    (array_agg(dv ORDER BY dv, user_id))[2] AS d2"
        "  FROM (SELECT user_id, last_read_seq AS rd,"
        "               greatest(delivered_seq, last_read_seq) AS dv"
        "        FROM conversation_members WHERE conversation_id = $1) x"
        "), own AS ("
        "  SELECT json_object_agg(o.id, o.emojis) AS own FROM ("
        "    SELECT pm.id, json_agg(r.emoji ORDER BY r.created_at, r.emoji) AS emojis"
        "    FROM meta, LATERAL (SELECT id, reactions FROM messages"
        "                        WHERE meta.member AND conversation_id = $1 AND seq < meta.cseq"
        "                        ORDER BY seq DESC LIMIT $4) pm"
        "    JOIN message_reactions r ON r.message_id = pm.id AND r.user_id = $2"
        "    WHERE pm.reactions <> '[]' GROUP BY pm.id) o"
        ") SELECT meta.member, meta.cseq, meta.last_seq, meta.message_count,"
        "   wm.ru, wm.r1, wm.r2, wm.du, wm.d1, wm.d2, own.own, p.*"
        " FROM meta CROSS JOIN wm CROSS JOIN own LEFT JOIN LATERAL ("
        "   SELECT " MSG_COLS " FROM " MSG_FROM
        "   WHERE meta.member AND $5::bool AND m.conversation_id = $1 AND m.seq < meta.cseq"
        "   ORDER BY m.seq DESC LIMIT $4"
        " ) p ON true",
};
/* clang-format on */
enum {
    PAGE_COL_MEMBER,
    PAGE_COL_CURSOR_SEQ,
    PAGE_COL_LAST_SEQ,
    PAGE_COL_MESSAGE_COUNT,
    PAGE_COL_READ_USER,
    PAGE_COL_READ_MIN,
    PAGE_COL_READ_NEXT,
    PAGE_COL_DLV_USER,
    PAGE_COL_DLV_MIN,
    PAGE_COL_DLV_NEXT,
    PAGE_COL_OWN,
    PAGE_COL_MSG /* then MSG_COLS */
};

/*
 * What the caller sees beside the rows. read_status of a message is the
 * lowest watermark among the members other than its sender: keeping the
 * lowest, who holds it and the second lowest makes that one comparison per
 * message instead of a scan of the members. own: the caller's reactions
 * ({message_id: [emoji]}, owned; NULL when none), as own_reactions.
 */
struct page_view {
    char read_user[UUID_STR_LEN], dlv_user[UUID_STR_LEN];
    long long read_min, read_next, dlv_min, dlv_next; /* _next < 0: nobody else */
    json_t *own;
};

static void page_view_load(const PGresult *r, struct page_view *wm)
{
    const char *v = db_get(r, 0, PAGE_COL_OWN);

    wm->own = v != NULL ? json_loads(v, 0, NULL) : NULL;
    snprintf(wm->read_user, sizeof(wm->read_user), "%s", PQgetvalue(r, 0, PAGE_COL_READ_USER));
    wm->read_min = atoll(PQgetvalue(r, 0, PAGE_COL_READ_MIN));
    v = db_get(r, 0, PAGE_COL_READ_NEXT);
    wm->read_next = v != NULL ? atoll(v) : -1;
    snprintf(wm->dlv_user, sizeof(wm->dlv_user), "%s", PQgetvalue(r, 0, PAGE_COL_DLV_USER));
    wm->dlv_min = atoll(PQgetvalue(r, 0, PAGE_COL_DLV_MIN));
    v = db_get(r, 0, PAGE_COL_DLV_NEXT);
    wm->dlv_next = v != NULL ? atoll(v) : -1;
}

static long long lowest_but(const char *holder, long long min, long long next, const char *sender)
{
    if (sender == NULL || strcmp(holder, sender) != 0)
        return min;
    return next < 0 ? 0 : next; /* nobody else: nothing read or delivered */
}

static void page_view_free(struct page_view *wm)
{
    json_decref(wm->own);
    wm->own = NULL;
}

/* The caller's own reactions on message id: a new reference to a JSON array. */
static json_t *page_own(const struct page_view *wm, const char *id)
{
    json_t *a = json_object_get(wm->own, id);
    return json_is_array(a) ? json_incref(a) : json_array();
}

static const char *page_status(const struct page_view *wm, long long seq, const char *sender)
{
    return msg_read_status(seq, lowest_but(wm->read_user, wm->read_min, wm->read_next, sender),
                           lowest_but(wm->dlv_user, wm->dlv_min, wm->dlv_next, sender));
}

bool msg_query_flag(const char *value)
{
    return strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0;
}

static bool query_true(struct http_req *req, const char *name)
{
    char buf[16];
    return http_query(req, name, buf, sizeof(buf)) && msg_query_flag(buf);
}

static json_t *page_body(json_t *msgs, bool has_more)
{
    json_t *last = json_array_get(msgs, json_array_size(msgs) - 1);
    const char *cursor = has_more && last ? json_string_value(json_object_get(last, "id")) : NULL;
    return json_pack("{s:o, s:s?, s:b}", "messages", msgs, "next_cursor", cursor, "has_more",
                     has_more);
}

/* Append n bytes at *at; the caller sized the buffer. */
static void put(char **at, const char *s, size_t n)
{
    memcpy(*at, s, n);
    *at += n;
}

/* One cached entry of a page: what the splice adds to it. */
struct page_entry {
    char id[UUID_STR_LEN], sender[UUID_STR_LEN];
    const char *status;
    char *own; /* own_reactions as JSON text (malloc'd), NULL for "[]" */
};

/*
 * The page as text from the cached entries r->element[2 ..] (newest
 * first), each with read_status and own_reactions added before its closing
 * brace: the entries are already JSON, so the page is spliced instead of
 * parsed and dumped again. Returns a malloc'd body, or NULL when an entry
 * is not in the shape msg_text_scan() expects, the seqs do not descend, or
 * memory ran out.
 */
static char *page_splice(const redisReply *r, size_t n, bool has_more, const struct page_view *wm,
                         size_t *len)
{
    static const char head[] = "{\"messages\":[", status[] = ",\"read_status\":\"",
                      own[] = "\",\"own_reactions\":";
    struct page_entry e[EV_CACHE_SIZE];
    size_t cap = sizeof(head) + 64 + UUID_STR_LEN, done = 0;
    char *body = NULL, *at;
    long long seq, prev = -1;

    if (n > EV_CACHE_SIZE)
        return NULL;
    for (; done < n; done++) {
        const redisReply *v = r->element[2 + done];
        json_t *mine;
        if (v->type != REDIS_REPLY_STRING ||
            msg_text_scan(v->str, v->len, e[done].id, &seq, e[done].sender) != 0 ||
            (prev >= 0 && seq >= prev))
            goto out;
        prev = seq;
        e[done].status = page_status(wm, seq, e[done].sender[0] != '\0' ? e[done].sender : NULL);
        /* Most entries carry none of the caller's reactions: no dump for those. */
        mine = json_object_get(wm->own, e[done].id);
        e[done].own = NULL;
        if (json_array_size(mine) > 0 && (e[done].own = json_dumps(mine, JSON_COMPACT)) == NULL)
            goto out;
        cap += v->len + sizeof(status) + 16 + sizeof(own) + (e[done].own ? strlen(e[done].own) : 2);
    }
    if ((body = malloc(cap)) == NULL)
        goto out;
    at = body;
    put(&at, head, sizeof(head) - 1);
    for (size_t i = 0; i < n; i++) {
        const redisReply *v = r->element[2 + i];
        if (i > 0)
            put(&at, ",", 1);
        put(&at, v->str, v->len - 1);
        put(&at, status, sizeof(status) - 1);
        put(&at, e[i].status, strlen(e[i].status));
        put(&at, own, sizeof(own) - 1);
        put(&at, e[i].own ? e[i].own : "[]", e[i].own ? strlen(e[i].own) : 2);
        put(&at, "}", 1);
    }
    /* The oldest entry's id is the cursor of the next page. */
    at += has_more && n > 0
              ? sprintf(at, "],\"next_cursor\":\"%s\",\"has_more\":true}", e[n - 1].id)
              : sprintf(at, "],\"next_cursor\":null,\"has_more\":false}");
    *len = (size_t)(at - body);
out:
    while (done-- > 0)
        free(e[done].own);
    return body;
}

/*
 * Answer the first page from the cache when its version is last_seq and it
 * holds min(EV_CACHE_SIZE, count) entries. Returns 0 when answered, -1 when
 * the cache cannot be trusted (nothing sent).
 */
static int page_from_cache(struct http_req *req, const char *cid, int limit, long long last_seq,
                           long long count, const struct page_view *wm)
{
    long long held = count < EV_CACHE_SIZE ? count : EV_CACHE_SIZE;
    size_t n = (size_t)(held < limit ? held : limit);
    char key[EV_KEY_MAX], vkey[EV_KEY_MAX], lim[16], *body = NULL;
    const char *args[3] = {key, vkey, lim};
    redisReply *r;
    size_t len;

    if (limit > EV_CACHE_SIZE)
        return -1;
    ev_cache_key(cid, key);
    ev_cache_version_key(cid, vkey);
    snprintf(lim, sizeof(lim), "%d", limit);
    r = rds_eval(&req->be->rds, &ev_cache_read_script, 2, 3, args);
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 + n &&
        r->element[0]->type == REDIS_REPLY_STRING && atoll(r->element[0]->str) == last_seq &&
        r->element[1]->type == REDIS_REPLY_INTEGER && r->element[1]->integer == held)
        body = page_splice(r, n, count > (long long)n, wm, &len);
    if (r != NULL)
        freeReplyObject(r);
    if (body == NULL)
        return -1;
    http_header(req, "X-Cache: hit");
    http_reply_raw(req, 200, "application/json; charset=utf-8", body, len);
    free(body);
    return 0;
}

/*
 * Put the newest messages of r (the page statement's rows, newest first,
 * at most EV_CACHE_SIZE) into the cache at version last_seq: the state of
 * that one statement's snapshot. Best effort.
 */
static void cache_fill(struct http_req *req, const char *cid, const PGresult *r, int rows,
                       long long last_seq)
{
    char key[EV_KEY_MAX], vkey[EV_KEY_MAX], version[24], scores[EV_CACHE_SIZE][24];
    char *texts[EV_CACHE_SIZE];
    const char *args[3 + 2 * EV_CACHE_SIZE];
    int n = 0;
    redisReply *rep;

    ev_cache_key(cid, key);
    ev_cache_version_key(cid, vkey);
    snprintf(version, sizeof(version), "%lld", last_seq);
    args[0] = key;
    args[1] = vkey;
    args[2] = version;
    for (int i = 0; i < rows && n < EV_CACHE_SIZE; i++) {
        struct msg_row m;
        json_t *o;

        msg_row_from_result(r, i, PAGE_COL_MSG, cid, &m);
        o = msg_row_to_json(&m);
        texts[n] = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (texts[n] == NULL)
            goto out; /* a partial cache would not be trusted anyway */
        snprintf(scores[n], sizeof(scores[n]), "%lld", m.seq);
        args[3 + 2 * n] = scores[n];
        args[4 + 2 * n] = texts[n];
        n++;
    }
    rep = rds_eval(&req->be->rds, &ev_cache_fill_script, 2, 3 + 2 * n, args);
    if (rep != NULL)
        freeReplyObject(rep);
out:
    while (n-- > 0)
        free(texts[n]);
}

/* Run the page statement; answers and returns NULL on error or non-member. */
static PGresult *page_query(struct http_req *req, const char *cid, const char *cursor, int limit,
                            bool rows)
{
    char lim[16];
    const char *params[5];
    enum db_err err;
    PGresult *r;

    snprintf(lim, sizeof(lim), "%d", limit + 1);
    params[0] = cid;
    params[1] = req->user_id;
    params[2] = cursor;
    params[3] = lim;
    params[4] = rows ? "true" : "false";
    r = db_exec(&req->be->db, &page_stmt, 5, params, &err);
    if (r == NULL) {
        http_db_error(req, err);
        return NULL;
    }
    if (PQgetvalue(r, 0, PAGE_COL_MEMBER)[0] != 't') {
        PQclear(r);
        auth_not_found(req, "conversation");
        return NULL;
    }
    if (db_get(r, 0, PAGE_COL_CURSOR_SEQ) == NULL) {
        PQclear(r);
        http_error(req, 422, "validation_error", "cursor: not a message of this conversation");
        return NULL;
    }
    return r;
}

void msg_page_reply(struct http_req *req, const char *cid)
{
    char cursor[HTTP_PARAM_LEN];
    bool has_cursor = http_query(req, "cursor", cursor, sizeof(cursor)) && cursor[0] != '\0';
    bool try_cache = query_true(req, "use_cache") && !has_cursor;
    struct page_view wm;
    int limit, fetch, n;
    json_t *msgs;
    PGresult *r;

    if (v_query_limit(req, PAGE_DEFAULT, MSG_PAGE_MAX, &limit) != 0)
        return;
    if (has_cursor && !uuid_canon(cursor)) {
        http_error(req, 422, "validation_error", "cursor: must be a message id (UUID)");
        return;
    }
    try_cache = try_cache && limit <= EV_CACHE_SIZE;
    /* With the cache, ask for the meta row only; the rows only on a miss. */
    r = page_query(req, cid, has_cursor ? cursor : NULL, limit, !try_cache);
    if (r == NULL)
        return;
    fetch = limit;
    if (try_cache) {
        page_view_load(r, &wm);
        if (page_from_cache(req, cid, limit, atoll(PQgetvalue(r, 0, PAGE_COL_LAST_SEQ)),
                            atoll(PQgetvalue(r, 0, PAGE_COL_MESSAGE_COUNT)), &wm) == 0) {
            page_view_free(&wm);
            PQclear(r);
            return;
        }
        page_view_free(&wm);
        PQclear(r);
        http_header(req, "X-Cache: miss");
        fetch = EV_CACHE_SIZE; /* the whole cache's worth, to fill it */
        r = page_query(req, cid, NULL, fetch, true);
        if (r == NULL)
            return;
    }
    page_view_load(r, &wm);
    msgs = json_array();
    n = db_get(r, 0, PAGE_COL_MSG) == NULL ? 0 : PQntuples(r);
    for (int i = 0; i < n && i < limit; i++) {
        struct msg_row m;
        json_t *o;

        msg_row_from_result(r, i, PAGE_COL_MSG, cid, &m);
        o = msg_row_to_json(&m);
        if (o != NULL) {
            json_object_set_new(o, "read_status",
                                json_string(page_status(&wm, m.seq, m.sender_id)));
            json_object_set_new(o, "own_reactions", page_own(&wm, m.id));
            json_array_append_new(msgs, o);
        }
    }
    if (try_cache)
        cache_fill(req, cid, r, n < fetch ? n : fetch, atoll(PQgetvalue(r, 0, PAGE_COL_LAST_SEQ)));
    page_view_free(&wm);
    PQclear(r);
    http_reply(req, 200, page_body(msgs, n > limit));
}

/* Answer a refused send: the same code and message the gateway's error frame carries. */
static void send_refused(struct http_req *req, const struct send_error *err)
{
    if (err->retry_after > 0)
        http_header(req, "Retry-After: %d", err->retry_after);
    http_error(req, err->status, err->code, "%s", err->message);
}

void msg_send_reply(struct http_req *req, const char *cid)
{
    const char *params[MSG_SEND_NPARAMS];
    char id[UUID_STR_LEN];
    struct send_input in;
    struct send_error serr;
    struct rl_result rl;
    enum db_err err = DB_OK;
    PGresult *r = NULL;
    struct msg_row m;
    json_t *msg;
    bool fresh;

    if (send_validate(req->json, cid, http_env(req, "HTTP_IDEMPOTENCY_KEY"),
                      req->cfg->max_message_chars, &in, &serr) != 0) {
        send_refused(req, &serr);
        return;
    }
    rl_hit(&req->be->rds, "msg", req->user_id, req->cfg->rl_messages_per_minute, 0, &rl);
    if (!rl.allowed) {
        send_rate_limited(&rl, &serr);
        send_refused(req, &serr);
        return;
    }
    uuid_v7_string(id);
    send_params(cid, id, req->user_id, &in, params);
    for (int attempt = 0;; attempt++) {
        r = send_group_store(&req->be->db, params, &err);
        if (r != NULL || !send_should_retry(err, attempt))
            break;
    }
    if (r == NULL) {
        send_db_error(err, &serr);
        send_refused(req, &serr);
        return;
    }
    if (send_result(r, cid, &m, &fresh, &serr) != 0) {
        PQclear(r);
        if (serr.status == 404)
            auth_not_found(req, "conversation"); /* 401 instead when the caller was deleted */
        else
            send_refused(req, &serr);
        return;
    }
    msg = msg_row_to_json(&m);
    if (msg != NULL && fresh &&
        ev_publish_message(&req->be->rds, req->cfg->stream_shards, cid, m.seq, msg) != 0)
        log_warn(req->request_id, "message %s stored but not published (redis down)", m.id);
    PQclear(r);
    if (msg == NULL) {
        http_error(req, 503, "unavailable", "out of memory");
        return;
    }
    json_object_set_new(msg, "read_status", json_string("sent"));
    if (fresh) /* a replay's reactions may have changed since: its history page has them */
        json_object_set_new(msg, "own_reactions", json_array());
    if (!fresh)
        http_header(req, "Idempotent-Replayed: true");
    http_reply(req, fresh ? 201 : 200, msg);
}
