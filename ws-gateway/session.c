/*
 * session.c - one WebSocket connection: handshake, authorisation, the
 * client's events, and the bounded outgoing queue.
 *
 * The token is checked in LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION, reading
 * the URI with lws_hdr_copy(): libwebsockets 4.1.6 as shipped by Debian 12
 * has CVE-2025-11677 (use-after-free in lws_handshake_server) reachable
 * through LWS_CALLBACK_HTTP_CONFIRM_UPGRADE's `in`, so that callback is
 * never handled here. Membership needs the database, which is
 * asynchronous: the socket is accepted, nothing is sent or read until the
 * check passes, and it is closed with 4401/4403 when it fails.
 */
#include "events.h"
#include "gw.h"
#include "log.h"
#include "message.h"
#include "ratelimit.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define WS_PREFIX "/api/v1/ws"

/* Parse the path: "/api/v1/ws" (all conversations) or ".../conversations/{id}". */
static int parse_path(const char *uri, char conv_id[UUID_STR_LEN])
{
    const char *p;
    conv_id[0] = '\0';
    if (strncmp(uri, WS_PREFIX, strlen(WS_PREFIX)) != 0)
        return -1;
    p = uri + strlen(WS_PREFIX);
    if (*p == '\0' || strcmp(p, "/") == 0)
        return 0;
    if (strncmp(p, "/conversations/", 15) != 0)
        return -1;
    p += 15;
    if (strlen(p) < 36 || (p[36] != '\0' && strcmp(p + 36, "/") != 0))
        return -1;
    memcpy(conv_id, p, 36);
    conv_id[36] = '\0';
    return uuid_is_valid(conv_id) ? 0 : -1;
}

static int urlarg(struct lws *wsi, const char *name, char *buf, int len)
{
    const char *v = lws_get_urlarg_by_name(wsi, name, buf, len);
    if (v == NULL)
        return -1;
    memmove(buf, v, strlen(v) + 1);
    return 0;
}

/*
 * The access token of the handshake: ?token= (the seed's form) or an
 * "Authorization: Bearer" header. Browsers cannot set headers; they offer
 * the token in Sec-WebSocket-Protocol ("chat, <token>"), which our nginx
 * configuration turns into that header, because lws 4.1 drops any handshake
 * whose protocol list exceeds 127 bytes. Returns -1 when there is none; then
 * the first frame must be {"type":"auth"}.
 */
static int handshake_token(struct lws *wsi, char *buf, int len)
{
    char auth[2112];
    int n;

    if (urlarg(wsi, "token=", buf, len) == 0)
        return 0;
    n = lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n <= 7 || n - 7 >= len || strncasecmp(auth, "Bearer ", 7) != 0)
        return -1;
    memcpy(buf, auth + 7, (size_t)(n - 7) + 1);
    return 0;
}

/* Refuse the upgrade with an HTTP status (nginx passes it on as is). */
static int refuse(struct lws *wsi, unsigned int status, const char *why)
{
    log_info(NULL, "websocket refused: %s", why);
    lws_return_http_status(wsi, status, why);
    return -1;
}

/* Handshake checks that need no I/O. Returns 0 to accept. */
static int filter(struct lws *wsi)
{
    char uri[256], tok[2048], origin[256], cid[UUID_STR_LEN];
    struct token_claims claims;

    if (G.stopping)
        return refuse(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "shutting down");
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 || parse_path(uri, cid) != 0)
        return refuse(wsi, HTTP_STATUS_NOT_FOUND, "no such websocket endpoint");
    if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) > 0 &&
        !cfg_origin_allowed(&G.cfg, origin))
        return refuse(wsi, HTTP_STATUS_FORBIDDEN, "origin not allowed");
    if (handshake_token(wsi, tok, sizeof(tok)) == 0 &&
        token_verify(&G.cfg, tok, TOKEN_ACCESS, time(NULL), &claims) != TOKEN_OK)
        return refuse(wsi, HTTP_STATUS_UNAUTHORIZED, "invalid or expired token");
    return 0;
}

/* Take the head frame off c's queue (the caller frees it). */
static struct gw_frame *queue_pop(struct gw_conn *c)
{
    struct gw_frame *f = c->qhead;
    c->qhead = f->next;
    if (c->qhead == NULL)
        c->qtail = NULL;
    c->qlen--;
    return f;
}

static void queue_drop(struct gw_conn *c)
{
    while (c->qhead != NULL)
        free(queue_pop(c));
}

void gw_conn_unref(struct gw_conn *c)
{
    if (--c->refs > 0)
        return;
    queue_drop(c);
    for (int i = 0; i < c->nearly; i++)
        free(c->early[i]);
    free(c->rx);
    free(c);
}

/*
 * A burst (one XREAD, an offline batch) can queue many frames at once for a
 * healthy client, and frames leave one per writable callback. So a full
 * queue closes the socket only when nothing has left it for a second, and
 * four times the limit closes it in any case (memory stays bounded).
 */
static bool queue_stalled(const struct gw_conn *c)
{
    if (c->qlen < G.cfg.ws_queue_max)
        return false;
    return c->qlen >= 4 * G.cfg.ws_queue_max || uv_now(&G.loop) - c->progress_ms >= 1000;
}

/* Put c on the list written before the loop sleeps (see on_flush). */
static void post(struct gw_conn *c)
{
    if (c->posted)
        return;
    c->posted = true;
    c->refs++; /* the flush list's reference */
    c->next_posted = G.posted;
    G.posted = c;
}

void gw_conn_send_text(struct gw_conn *c, const char *text, size_t n)
{
    struct gw_frame *f;

    if (c->wsi == NULL || c->close_code != 0)
        return;
    if (c->qlen == 0)
        c->progress_ms = uv_now(&G.loop);
    else if (queue_stalled(c)) {
        /*
         * A client that does not read is closed rather than buffered
         * forever. What it has not taken is dropped so that the close frame
         * is next in line; it catches up by since_seq when it reconnects.
         */
        log_warn(NULL, "closing slow websocket of user %s (%d frames queued)", c->user_id, c->qlen);
        queue_drop(c);
        gw_conn_close(c, 1008);
        return;
    }
    f = malloc(sizeof(*f) + LWS_PRE + n);
    if (f == NULL)
        return;
    f->next = NULL;
    f->len = n;
    memcpy(f->data + LWS_PRE, text, n);
    if (c->qtail)
        c->qtail->next = f;
    else
        c->qhead = f;
    c->qtail = f;
    c->qlen++;
    post(c);
}

void gw_conn_send(struct gw_conn *c, json_t *msg)
{
    char *text;

    if (msg == NULL)
        return;
    text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (text != NULL)
        gw_conn_send_text(c, text, strlen(text));
    free(text);
}

void gw_conn_close(struct gw_conn *c, int code)
{
    if (c->wsi == NULL || c->close_code != 0)
        return;
    c->close_code = code;
    lws_callback_on_writable(c->wsi);
    /* A peer that never lets the close frame out is cut off. */
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, 5);
}

void gw_close_all(int code)
{
    for (struct gw_conn *c = G.conns; c != NULL; c = c->next)
        gw_conn_close(c, code);
}

static void send_error(struct gw_conn *c, const char *code, const char *msg, int retry_after)
{
    json_t *e = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", msg);
    if (e != NULL && retry_after > 0)
        json_object_set_new(e, "retry_after", json_integer(retry_after));
    gw_conn_send(c, e);
}

static void client_event(struct gw_conn *c, const char *text, size_t len);

/* ---- authorisation after the handshake ---- */

static void on_auth(PGresult *r, void *arg)
{
    struct gw_conn *c = arg;
    int n = r ? PQntuples(r) : 0;

    if (c->wsi == NULL)
        goto out;
    if (r == NULL) {
        gw_conn_close(c, 1011);
        goto out;
    }
    if (n == 0) {
        gw_conn_close(c, 4401); /* deleted user */
        goto out;
    }
    snprintf(c->username, sizeof(c->username), "%s", PQgetvalue(r, 0, 0));
    if (c->conv_id[0] != '\0' && PQgetisnull(r, 0, 1)) {
        gw_conn_close(c, 4403); /* not a member, or no such conversation */
        goto out;
    }
    c->authorized = true;
    for (int i = 0; i < n; i++) {
        if (PQgetisnull(r, i, 1))
            continue;
        gw_sub_add(c, PQgetvalue(r, i, 1), c->has_since ? c->since_seq : atoll(PQgetvalue(r, i, 2)),
                   true);
    }
    gw_presence_join(c); /* announces to the conversations just subscribed */
    for (int i = 0; i < c->nearly; i++) {
        client_event(c, c->early[i], strlen(c->early[i]));
        free(c->early[i]);
    }
    c->nearly = 0;
out:
    gw_conn_unref(c);
}

static void authorize(struct gw_conn *c, const char *token)
{
    struct token_claims claims;
    const char *params[2];
    static const char one_sql[] =
        "SELECT u.username, m.conversation_id, m.last_read_seq FROM users u"
        " LEFT JOIN conversation_members m ON m.user_id = u.id AND m.conversation_id = $2"
        " WHERE u.id = $1 AND u.deleted_at IS NULL";
    static const char all_sql[] =
        "SELECT u.username, m.conversation_id, m.last_read_seq FROM users u"
        " LEFT JOIN conversation_members m ON m.user_id = u.id"
        " WHERE u.id = $1 AND u.deleted_at IS NULL";

    if (token_verify(&G.cfg, token, TOKEN_ACCESS, time(NULL), &claims) != TOKEN_OK) {
        gw_conn_close(c, 4401);
        return;
    }
    snprintf(c->user_id, sizeof(c->user_id), "%s", claims.sub);
    params[0] = c->user_id;
    params[1] = c->conv_id;
    c->refs++;
    if (pgq_exec(gw_pg(NULL), c->conv_id[0] ? one_sql : all_sql, c->conv_id[0] ? 2 : 1, params,
                 on_auth, c) != 0) {
        c->refs--;
        gw_conn_close(c, 1013);
    }
}

/* ---- client events ---- */

struct send_ctx {
    struct gw_conn *c;
    char conv_id[UUID_STR_LEN];
    char id[UUID_STR_LEN];
    char *content;
    char *client_id;
    int attempt;
};

static void send_ctx_free(struct send_ctx *s)
{
    free(s->content);
    free(s->client_id);
    free(s);
}

static void send_insert(struct send_ctx *s);

static void on_sent(PGresult *r, void *arg)
{
    struct send_ctx *s = arg;
    struct gw_conn *c = s->c;
    json_t *msg, *ack;

    if (r == NULL) {
        /* A concurrent duplicate client id rolls back; one retry finds it. */
        if (s->attempt++ < 1 && s->client_id != NULL) {
            send_insert(s);
            gw_conn_unref(c);
            return;
        }
        send_error(c, "unavailable", "the message could not be stored, retry", 0);
        goto out;
    }
    if (PQntuples(r) == 0) {
        send_error(c, "not_found", "conversation not found", 0);
        goto out;
    }
    {
        struct msg_row m;
        msg_row_from_result(r, 0, 0, s->conv_id, &m);
        bool fresh = PQgetvalue(r, 0, MSG_SEND_COL_FRESH)[0] == 't';
        ack = json_pack("{s:s, s:s, s:s, s:I, s:s?}", "type", "ack", "conversation_id", s->conv_id,
                        "id", m.id, "seq", (json_int_t)m.seq, "client_message_id", s->client_id);
        gw_conn_send(c, ack);
        msg = msg_row_to_json(&m);
        if (msg != NULL && fresh)
            gw_publish_message(s->conv_id, m.seq, msg);
        json_decref(msg);
    }
out:
    gw_conn_unref(c);
    send_ctx_free(s);
}

/*
 * Sends queued behind a running statement on their connection are stored
 * together: one transaction, one commit for up to 256 messages (the
 * database's per-commit cost bounded WebSocket ingest and fan-out). Each
 * is still acknowledged only after that commit.
 */
static const struct pgq_batch send_batch = {
    .sql = msg_send_sql,
    .many_sql = msg_send_many_sql,
    .max = 256,
};

static void send_insert(struct send_ctx *s)
{
    const char *params[5] = {s->conv_id, s->id, s->c->user_id, s->content, s->client_id};
    s->c->refs++;
    if (pgq_exec_batched(gw_pg(s->conv_id), &send_batch, 5, params, on_sent, s) != 0) {
        s->c->refs--;
        send_error(s->c, "unavailable", "the gateway is overloaded, retry", 1);
        send_ctx_free(s);
    }
}

static void on_rate(void *reply, void *arg)
{
    struct send_ctx *s = arg;
    struct gw_conn *c = s->c; /* send_insert() may free s */
    struct rl_result rl;

    if (rl_result_from_reply(reply, G.cfg.rl_messages_per_minute, 0, &rl) == 0 && !rl.allowed) {
        send_error(c, "rate_limited", "too many messages", rl.retry_after);
        send_ctx_free(s);
    } else {
        send_insert(s);
    }
    gw_conn_unref(c);
}

static void client_message(struct gw_conn *c, json_t *m, const char *cid)
{
    json_t *content = json_object_get(m, "content");
    const char *cmid = json_string_value(json_object_get(m, "client_message_id"));
    const char *problem;
    struct send_ctx *s;
    char km[128], kh[128];
    const char *argv[] = {"EVAL", rl_script.src, "1", km};

    if (!json_is_string(content)) {
        send_error(c, "validation_error", "content: field required (string)", 0);
        return;
    }
    problem = msg_content_problem(json_string_value(content), json_string_length(content),
                                  G.cfg.max_message_chars);
    if (problem != NULL) {
        send_error(c, "validation_error", problem, 0);
        return;
    }
    if (cmid != NULL && !msg_client_id_valid(cmid)) {
        send_error(c, "validation_error", "client_message_id: 1 to 128 printable characters", 0);
        return;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return;
    s->c = c;
    snprintf(s->conv_id, sizeof(s->conv_id), "%s", cid);
    uuid_v7_string(s->id);
    s->content = strdup(json_string_value(content));
    s->client_id = cmid ? strdup(cmid) : NULL;
    rl_keys("msg", c->user_id, km, kh);
    c->refs++;
    /* Redis down: no limit to enforce (fail open, like the REST API). */
    if (rlink_cmd(G.cmd, on_rate, s, 4, argv, NULL) != 0)
        on_rate(NULL, s);
}

/* Record (or clear) user's typing entry in conversation cid and tell the members. */
static void client_typing(struct gw_conn *c, json_t *m, const char *cid)
{
    json_t *v = json_object_get(m, "is_typing");

    if (!json_is_boolean(v)) {
        send_error(c, "validation_error", "is_typing: must be true or false", 0);
        return;
    }
    gw_publish_typing(cid, c->user_id, json_is_true(v));
    if (json_is_true(v)) {
        snprintf(c->typing_conv, sizeof(c->typing_conv), "%s", cid);
        c->typing_until_ms = uv_now(&G.loop) + EV_TYPING_TTL_MS;
    } else if (strcmp(c->typing_conv, cid) == 0) {
        c->typing_conv[0] = '\0';
    }
}

/*
 * A client that vanishes while typing (tab closed, network gone) never
 * says it stopped: its socket's close does, so the others' indicator
 * clears now instead of after the TTL. Only the last conversation the
 * socket typed in is tracked; an earlier one still expires by the TTL.
 */
static void typing_stop_on_close(struct gw_conn *c)
{
    if (c->typing_conv[0] != '\0' && uv_now(&G.loop) < c->typing_until_ms)
        gw_publish_typing(c->typing_conv, c->user_id, false);
    c->typing_conv[0] = '\0';
}

struct read_ctx {
    struct gw_conn *c;
    char conv_id[UUID_STR_LEN];
};

static void on_read(PGresult *r, void *arg)
{
    struct read_ctx *x = arg;
    if (r == NULL)
        send_error(x->c, "unavailable", "read state could not be stored, retry", 0);
    else if (PQntuples(r) == 0)
        send_error(x->c, "not_found", "conversation not found", 0);
    else if (PQgetvalue(r, 0, 0)[0] == 't')
        send_error(x->c, "validation_error", "message_id: not a message of this conversation", 0);
    else
        gw_publish(x->conv_id,
                   ev_read(x->conv_id, x->c->user_id, atoll(PQgetvalue(r, 0, 1)),
                           PQgetisnull(r, 0, 2) ? NULL : PQgetvalue(r, 0, 2)));
    gw_conn_unref(x->c);
    free(x);
}

/* {"type":"read","message_id"?}: the REST read, over the socket. */
static void client_read(struct gw_conn *c, json_t *m, const char *cid)
{
    const char *mid = json_string_value(json_object_get(m, "message_id"));
    const char *params[3] = {cid, c->user_id, mid};
    struct read_ctx *x;

    if (mid != NULL && !uuid_is_valid(mid)) {
        send_error(c, "validation_error", "message_id: must be a UUID", 0);
        return;
    }
    if ((x = malloc(sizeof(*x))) == NULL)
        return;
    x->c = c;
    snprintf(x->conv_id, sizeof(x->conv_id), "%s", cid);
    c->refs++;
    if (pgq_exec(gw_pg(NULL), msg_read_upto_stmt.sql, 3, params, on_read, x) != 0) {
        c->refs--;
        free(x);
        send_error(c, "unavailable", "the gateway is overloaded, retry", 1);
    }
}

/* The conversation an event is about: the socket's own, or the one named. */
static const char *event_conv(struct gw_conn *c, json_t *m)
{
    const char *cid = json_string_value(json_object_get(m, "conversation_id"));
    if (c->conv_id[0] != '\0')
        return c->conv_id;
    if (cid == NULL || !uuid_is_valid(cid)) {
        send_error(c, "validation_error", "conversation_id: required on this socket", 0);
        return NULL;
    }
    for (struct gw_sub *s = c->subs; s != NULL; s = s->next_of_conn)
        if (strcasecmp(s->conv_id, cid) == 0)
            return s->conv_id;
    send_error(c, "not_found", "conversation not found", 0);
    return NULL;
}

static void client_event(struct gw_conn *c, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *m = json_loadb(text, len, JSON_ALLOW_NUL, &jerr);
    const char *type = json_string_value(json_object_get(m, "type")), *cid;

    if (m == NULL || !json_is_object(m)) {
        send_error(c, "invalid_json", "frames must be JSON objects", 0);
        goto out;
    }
    if (type == NULL) {
        send_error(c, "validation_error", "type: field required", 0);
        goto out;
    }
    if (!c->authorized) {
        if (strcmp(type, "auth") == 0 && c->user_id[0] == '\0' &&
            json_is_string(json_object_get(m, "token")))
            authorize(c, json_string_value(json_object_get(m, "token")));
        else if (c->user_id[0] != '\0' && c->nearly < 8)
            c->early[c->nearly++] = strndup(text, len); /* replayed once authorised */
        else
            send_error(c, "unauthorized", "not authorised yet", 0);
        goto out;
    }
    if (strcmp(type, "ping") == 0) {
        gw_conn_send(c, json_pack("{s:s}", "type", "pong"));
    } else if (strcmp(type, "message") == 0) {
        if ((cid = event_conv(c, m)) != NULL)
            client_message(c, m, cid);
    } else if (strcmp(type, "typing") == 0) {
        if ((cid = event_conv(c, m)) != NULL)
            client_typing(c, m, cid);
    } else if (strcmp(type, "read") == 0) {
        if ((cid = event_conv(c, m)) != NULL)
            client_read(c, m, cid);
    } else {
        send_error(c, "unknown_type", "unknown event type", 0);
    }
out:
    json_decref(m);
}

/* ---- the libwebsockets callback ---- */

static int on_established(struct lws *wsi, struct gw_conn **slot)
{
    /* lws copies every query fragment into the buffer while searching, so
     * each buffer must hold the longest one (the token). */
    char uri[256], tok[2048], since[2048];
    struct gw_conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return -1;
    c->wsi = wsi;
    c->refs = 1;
    c->rx_ms = c->ping_ms = uv_now(&G.loop);
    *slot = c;
    c->next = G.conns;
    if (G.conns)
        G.conns->prev = c;
    G.conns = c;
    G.nconns++;
    if (G.cfg.ws_sndbuf > 0) {
        /* Fixed kernel buffer: bounds what a stalled client pins (no autotuning). */
        int fd = (int)lws_get_socket_fd(wsi);
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &G.cfg.ws_sndbuf, sizeof(G.cfg.ws_sndbuf));
    }
    lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
    parse_path(uri, c->conv_id);
    if (urlarg(wsi, "since_seq=", since, sizeof(since)) == 0) {
        char *end;
        c->since_seq = strtoll(since, &end, 10);
        c->has_since = *end == '\0' && c->since_seq >= 0;
    }
    if (handshake_token(wsi, tok, sizeof(tok)) == 0)
        authorize(c, tok);
    /* else: the first frame must be {"type":"auth","token":...} */
    return 0;
}

static void on_closed(struct gw_conn *c)
{
    if (c == NULL)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        G.conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    G.nconns--;
    c->wsi = NULL;
    if (c->authorized) {
        typing_stop_on_close(c);
        gw_presence_leave(c); /* needs the subscriptions: before dropping them */
    }
    gw_subs_drop(c);
    c->authorized = false;
    gw_conn_unref(c);
}

/* Bytes of a server (unmasked) text frame header for a payload of n bytes. */
static size_t frame_header(unsigned char *h, size_t n)
{
    h[0] = 0x81; /* FIN, text */
    if (n < 126) {
        h[1] = (unsigned char)n;
        return 2;
    }
    if (n <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
    return 10;
}

/*
 * Several queued frames leave in one write: one send and one poll re-arm
 * for the lot instead of per frame, which is what bounded fan-out (the
 * kernel side of the profile). The frames are framed here and written as
 * raw bytes; lws passes LWS_WRITE_HTTP through on a websocket untouched
 * (no extension is negotiated, so frames need no transformation). Returns
 * how many frames went, 0 when there is only one or no memory.
 */
#define COALESCE_BYTES 65536
static int write_batch(struct lws *wsi, struct gw_conn *c)
{
    size_t total = 0, at = LWS_PRE;
    unsigned char *buf;
    int n = 0;

    for (struct gw_frame *f = c->qhead; f != NULL && total + f->len + 10 <= COALESCE_BYTES;
         f = f->next, n++)
        total += f->len + 10;
    if (n < 2 || (buf = malloc(LWS_PRE + total)) == NULL)
        return 0;
    for (int i = 0; i < n; i++) {
        struct gw_frame *f = queue_pop(c);
        at += frame_header(buf + at, f->len);
        memcpy(buf + at, f->data + LWS_PRE, f->len);
        at += f->len;
        free(f);
    }
    n = lws_write(wsi, buf + LWS_PRE, at - LWS_PRE, LWS_WRITE_HTTP) < (int)(at - LWS_PRE) ? -1 : n;
    free(buf);
    return n;
}

/* One write of the head of c's queue (coalesced when several): 0, or -1 when the socket failed. */
static int write_queued(struct lws *wsi, struct gw_conn *c)
{
    struct gw_frame *f;
    int sent = write_batch(wsi, c);

    if (sent < 0)
        return -1;
    if (sent == 0) {
        if ((f = c->qhead) == NULL)
            return 0;
        if (lws_write(wsi, f->data + LWS_PRE, f->len, LWS_WRITE_TEXT) < (int)f->len)
            return -1;
        free(queue_pop(c));
    }
    c->progress_ms = uv_now(&G.loop);
    return 0;
}

/*
 * The ping carries a payload: lws 4.1 does not report a pong with an empty
 * payload to the protocol callback (LWS_CALLBACK_RECEIVE_PONG), so an
 * answering client would look silent.
 */
static int write_ping(struct lws *wsi, struct gw_conn *c)
{
    unsigned char frame[LWS_PRE + 4] = {0};

    if (!c->ping_due)
        return 0;
    c->ping_due = false;
    c->ping_ms = uv_now(&G.loop);
    memcpy(frame + LWS_PRE, "live", 4);
    return lws_write(wsi, frame + LWS_PRE, 4, LWS_WRITE_PING) < 4 ? -1 : 0;
}

static int on_writeable(struct lws *wsi, struct gw_conn *c)
{
    if (c->qhead == NULL && c->close_code != 0) {
        /*
         * Write the close frame ourselves: on the libuv event loop, 4.1.6
         * drops the connection without the frame set by lws_close_reason()
         * when the callback returns -1 (the client would see 1006).
         */
        unsigned char frame[LWS_PRE + 2];
        frame[LWS_PRE] = (unsigned char)(c->close_code >> 8);
        frame[LWS_PRE + 1] = (unsigned char)(c->close_code & 0xff);
        lws_write(wsi, frame + LWS_PRE, 2, (enum lws_write_protocol)4 /* LWS_WRITE_CLOSE */);
        return -1;
    }
    /* One write per callback: the callback may come unasked (library notes). */
    if (c->ping_due) {
        if (write_ping(wsi, c) != 0)
            return -1;
    } else if (write_queued(wsi, c) != 0) {
        return -1;
    }
    if (c->qhead != NULL || c->close_code != 0)
        lws_callback_on_writable(wsi);
    return 0;
}

/*
 * Before the loop sleeps, every connection that had frames queued in this
 * iteration gets one direct write (what Redis does for its clients before
 * sleeping). Going through lws_callback_on_writable() for each instead
 * cost two epoll_ctl calls per delivery, a fifth of the gateway's CPU under
 * fan-out. The writable callback still takes over when the kernel buffer is
 * full (lws holds the unsent rest and asks for it itself), when more than
 * one write's worth is queued, and for the close frame.
 */
static void flush_one(struct gw_conn *c)
{
    struct lws *wsi = c->wsi;

    if (wsi == NULL || (c->qhead == NULL && !c->ping_due))
        return;
    if (c->close_code != 0 || lws_partial_buffered(wsi)) {
        lws_callback_on_writable(wsi);
        return;
    }
    if (write_ping(wsi, c) != 0 || write_queued(wsi, c) != 0) {
        /* the writable callback fails the same way and closes it (see the sweep) */
        gw_conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
        return;
    }
    if (c->qhead != NULL)
        lws_callback_on_writable(wsi);
}

static void on_flush(uv_prepare_t *h)
{
    (void)h;
    while (G.posted != NULL) {
        struct gw_conn *c = G.posted;
        G.posted = c->next_posted;
        c->posted = false;
        flush_one(c);
        gw_conn_unref(c);
    }
}

void gw_flush_init(void)
{
    uv_prepare_init(&G.loop, &G.flush);
    uv_prepare_start(&G.flush, on_flush);
}

/*
 * Application-level liveness: a socket quiet (no frame, no pong) for
 * WS_PING_SECS is pinged, one quiet for WS_IDLE_TIMEOUT_SECS is dropped, so
 * half-open connections behind NATs and proxies do not hold presence and
 * memory for hours. A sweep every second rather than lws' idle policy: lws
 * 4.1 keeps every socket's timer in one sorted list and inserts by walking
 * it from the head, which made each connect O(sockets) (three quarters of
 * the gateway's CPU in a 19,000-socket connect storm).
 */
void gw_liveness_sweep(uv_timer_t *t)
{
    uint64_t now = uv_now(&G.loop);
    uint64_t ping_ms = (uint64_t)G.cfg.ws_ping_secs * 1000;
    uint64_t idle_ms = (uint64_t)G.cfg.ws_idle_secs * 1000;

    (void)t;
    for (struct gw_conn *c = G.conns; c != NULL; c = c->next) {
        uint64_t quiet = now - c->rx_ms;
        if (c->wsi == NULL || c->close_code != 0)
            continue;
        if (quiet >= idle_ms) {
            log_info(NULL, "closing a websocket of user %s silent for %llu s", c->user_id,
                     (unsigned long long)(quiet / 1000));
            /* through the writable callback: lws_set_timeout(LWS_TO_KILL_ASYNC)
             * from this timer left the socket open with lws 4.1 on libuv
             * (the sweep found it again every second) */
            gw_conn_close(c, LWS_CLOSE_STATUS_GOINGAWAY);
        } else if (quiet >= ping_ms && now - c->ping_ms >= ping_ms) {
            c->ping_due = true;
            post(c);
        }
    }
}

void gw_flush_close(void)
{
    on_flush(&G.flush); /* drop the list's references */
    uv_prepare_stop(&G.flush);
    uv_close((uv_handle_t *)&G.flush, NULL);
}

static int on_receive(struct lws *wsi, struct gw_conn *c, const void *in, size_t len)
{
    char *nb;
    if (c->rx_len + len > G.cfg.ws_max_frame) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
        return -1;
    }
    nb = realloc(c->rx, c->rx_len + len + 1);
    if (nb == NULL)
        return -1;
    c->rx = nb;
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    if (!lws_is_final_fragment(wsi))
        return 0;
    c->rx[c->rx_len] = '\0';
    client_event(c, c->rx, c->rx_len);
    c->rx_len = 0;
    return 0;
}

static int reply_health(struct lws *wsi)
{
    unsigned char buf[LWS_PRE + 512], *start = &buf[LWS_PRE], *p = start,
                                      *end = &buf[sizeof(buf) - 1];
    char body[256];
    bool ok = pgq_is_up(G.pg) && rlink_is_up(G.cmd) && rlink_is_up(G.sub);
    int n = snprintf(body, sizeof(body),
                     "{\"status\":\"%s\",\"gateway_id\":\"%s\",\"connections\":%d,"
                     "\"database\":\"%s\",\"redis\":\"%s\"}",
                     ok ? "ok" : "unavailable", G.cfg.gateway_id, G.nconns,
                     pgq_is_up(G.pg) ? "ok" : "unavailable",
                     rlink_is_up(G.cmd) && rlink_is_up(G.sub) ? "ok" : "unavailable");

    if (lws_add_http_common_headers(wsi, ok ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE,
                                    "application/json", (lws_filepos_t)n, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return 1;
    if (lws_write(wsi, (unsigned char *)body, (size_t)n, LWS_WRITE_HTTP_FINAL) != n)
        return 1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct gw_conn **slot = user;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        if (strcmp((const char *)in, "/health") == 0)
            return reply_health(wsi);
        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
        return -1;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return filter(wsi);
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(wsi, slot);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return *slot ? on_writeable(wsi, *slot) : 0;
    case LWS_CALLBACK_RECEIVE:
        if (*slot)
            (*slot)->rx_ms = uv_now(&G.loop);
        return *slot ? on_receive(wsi, *slot, in, len) : -1;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (*slot)
            (*slot)->rx_ms = uv_now(&G.loop);
        return 0;
    case LWS_CALLBACK_CLOSED:
        on_closed(*slot);
        *slot = NULL;
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

const struct lws_protocols gw_protocols[] = {
    /* tx_packet_size: a coalesced write leaves in one send (lws cuts writes at rx_buffer_size otherwise) */
    {"chat", callback, sizeof(struct gw_conn *), 4096, 0, NULL, COALESCE_BYTES + LWS_PRE},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};
