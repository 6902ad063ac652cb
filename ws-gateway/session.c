/*
 * session.c - see session.h.
 *
 * The token is checked in LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION, reading
 * the URI with lws_hdr_copy(): libwebsockets 4.1.6 as shipped by Debian 12
 * has CVE-2025-11677 (use-after-free in lws_handshake_server) reachable
 * through LWS_CALLBACK_HTTP_CONFIRM_UPGRADE's `in`, so that callback is
 * never handled here. Membership needs the database, which is
 * asynchronous: the socket is accepted, nothing is sent or read until the
 * check passes, and it is closed with 4401/4403 when it fails.
 */
#include "session.h"
#include "gw_stats.h"
#include "admit.h"
#include "authorize.h"
#include "client.h"
#include "conn.h"
#include "fanout.h"
#include "gw.h"
#include "handshake.h"
#include "log.h"
#include "pgq.h"
#include "presence.h"
#include "token.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The socket paths' prefix: the API prefix + "/ws". */
static const char *ws_prefix(void)
{
    static char prefix[CFG_PREFIX_MAX + 4];
    if (prefix[0] == '\0')
        snprintf(prefix, sizeof(prefix), "%s/ws", gw.cfg.api_prefix);
    return prefix;
}

/* A query argument ("name=") into buf; 0, or -1 when absent. */
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
    const char *tok;

    if (urlarg(wsi, "token=", buf, len) == 0)
        return 0;
    if (lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) <= 0 ||
        (tok = hs_bearer(auth)) == NULL || strlen(tok) >= (size_t)len)
        return -1;
    memcpy(buf, tok, strlen(tok) + 1);
    return 0;
}

/* Refuse the upgrade with an HTTP status (nginx passes it on as is). */
static int refuse(struct lws *wsi, unsigned int status, const char *why)
{
    log_info(NULL, "websocket refused: %s", why);
    lws_return_http_status(wsi, status, why);
    return -1;
}

/*
 * No Origin (not a browser) passes; one that is allowed passes. Fails
 * closed: lws_hdr_copy() returns -1 for a header longer than the buffer,
 * and an allowed origin is never that long.
 */
static bool origin_ok(struct lws *wsi, char *buf, int len)
{
    int n;

    if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
        return true;
    n = lws_hdr_copy(wsi, buf, len, WSI_TOKEN_ORIGIN);
    return n > 0 && cfg_origin_allowed(&gw.cfg, buf);
}

/*
 * The client's address: the peer's, or, when the peer is one of
 * TRUSTED_PROXIES (our nginx), the X-Real-IP it set. A value that is not a
 * plain address (too long, garbage) is not believed.
 */
static void client_address(struct lws *wsi, char out[ADMIT_ADDR_LEN])
{
    char real[ADMIT_ADDR_LEN];
    unsigned char bin[sizeof(struct in6_addr)];

    if (lws_get_peer_simple(wsi, out, ADMIT_ADDR_LEN) == NULL)
        snprintf(out, ADMIT_ADDR_LEN, "unknown");
    admit_canon_address(out);
    if (!cfg_trusted_proxy(&gw.cfg, out) ||
        lws_hdr_copy(wsi, real, sizeof(real), WSI_TOKEN_HTTP_X_REAL_IP) <= 0)
        return;
    if (inet_pton(AF_INET, real, bin) == 1 || inet_pton(AF_INET6, real, bin) == 1)
        memcpy(out, real, ADMIT_ADDR_LEN);
}

/* Handshake checks that need no I/O. Returns 0 to accept. */
static int filter(struct lws *wsi)
{
    char uri[256], tok[2048], origin[256], cid[UUID_STR_LEN], addr[ADMIT_ADDR_LEN];
    struct token_claims claims;
    bool has_token;
    enum admit_verdict v;

    if (gw.stopping)
        return refuse(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "shutting down");
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
        hs_parse_path(uri, ws_prefix(), cid) != 0)
        return refuse(wsi, HTTP_STATUS_NOT_FOUND, "no such websocket endpoint");
    if (!origin_ok(wsi, origin, sizeof(origin)))
        return refuse(wsi, HTTP_STATUS_FORBIDDEN, "origin not allowed");
    has_token = handshake_token(wsi, tok, sizeof(tok)) == 0;
    if (has_token && token_verify(&gw.cfg, tok, TOKEN_ACCESS, time(NULL), &claims) != TOKEN_OK)
        return refuse(wsi, HTTP_STATUS_UNAUTHORIZED, "invalid or expired token");
    client_address(wsi, addr);
    v = admit_handshake(addr, has_token ? claims.sub : NULL, uv_now(&gw.loop));
    if (v != ADMIT_OK) {
        mx_inc(gw_stats.refused, admit_verdict_label(v));
        log_info(NULL, "websocket from %s: %s", addr, admit_verdict_str(v));
        return refuse(wsi, 429, admit_verdict_str(v));
    }
    return 0;
}

/* Keep the all-conversations socket's ?since= list (a malformed one is ignored, like since_seq). */
static void resume_points(struct gw_conn *c, const char *value)
{
    struct hs_resume *r = calloc(HS_RESUME_MAX, sizeof(*r));
    int n = r != NULL ? hs_parse_resume(value, r, HS_RESUME_MAX) : -1;

    if (n <= 0) {
        free(r);
        return;
    }
    c->resume = r;
    c->nresume = n;
}

static int on_established(struct lws *wsi, struct gw_conn **slot)
{
    /* lws copies every query fragment into the buffer while searching, so
     * each buffer must hold the longest one (the token). */
    char uri[256], tok[2048], since[8192], addr[ADMIT_ADDR_LEN];
    struct gw_conn *c = conn_new(wsi);

    if (c == NULL)
        return -1;
    *slot = c;
    client_address(wsi, addr);
    admit_open(&c->admit, addr);
    lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
    hs_parse_path(uri, ws_prefix(), c->conv_id);
    if (urlarg(wsi, "since_seq=", since, sizeof(since)) == 0)
        c->has_since = hs_parse_since(since, &c->since_seq) == 0;
    if (c->conv_id[0] == '\0' && urlarg(wsi, "since=", since, sizeof(since)) == 0)
        resume_points(c, since);
    if (handshake_token(wsi, tok, sizeof(tok)) == 0)
        authorize_socket(c, tok);
    /* else: the first frame must be {"type":"auth","token":...} */
    return 0;
}

static void on_closed(struct gw_conn *c)
{
    if (c == NULL)
        return;
    client_closed(c);
    if (c->authorized)
        presence_leave(c); /* needs the subscriptions: before dropping them */
    fanout_unsubscribe_all(c);
    admit_close(&c->admit);
    c->authorized = false;
    conn_closed(c);
}

static int on_receive(struct gw_conn *c, const void *in, size_t len)
{
    const char *frame;
    size_t n;
    int rc;

    conn_heard(c);
    if ((rc = conn_receive(c, in, len, &frame, &n)) > 0)
        client_frame(c, frame, n);
    return rc < 0 ? -1 : 0;
}

/* An HTTP answer of type with a body of n bytes. */
static int reply_http(struct lws *wsi, unsigned int status, const char *type, const char *body,
                      int n)
{
    unsigned char buf[LWS_PRE + 512], *start = &buf[LWS_PRE], *p = start,
                                      *end = &buf[sizeof(buf) - 1];

    if (lws_add_http_common_headers(wsi, status, type, (lws_filepos_t)n, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return 1;
    if (lws_write(wsi, (unsigned char *)body, (size_t)n, LWS_WRITE_HTTP_FINAL) != n)
        return 1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int reply_json(struct lws *wsi, unsigned int status, const char *body, int n)
{
    return reply_http(wsi, status, "application/json", body, n);
}

/* GET /metrics, to peers in METRICS_ALLOW (the peer itself: never a forwarded address). */
static int reply_metrics(struct lws *wsi)
{
    static const char none[] = "{\"error\":{\"code\":\"not_found\",\"message\":\"no such path\"}}";
    char peer[ADMIT_ADDR_LEN];
    size_t len;
    char *text;
    int rc;

    if (lws_get_peer_simple(wsi, peer, sizeof(peer)) == NULL)
        peer[0] = '\0';
    admit_canon_address(peer);
    if (!cfg_metrics_allowed(&gw.cfg, peer))
        return reply_json(wsi, HTTP_STATUS_NOT_FOUND, none, (int)sizeof(none) - 1);
    if ((text = mx_render(&len)) == NULL)
        return -1;
    rc = reply_http(wsi, HTTP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8", text,
                    (int)len);
    free(text);
    return rc;
}

/*
 * /health (and /readyz, for load balancers): 200 while PostgreSQL and
 * Redis answer (the links' probes) and the gateway is not stopping;
 * /healthz (liveness): 200 whenever the loop answers at all.
 */
static int reply_health(struct lws *wsi, const char *path)
{
    char body[256];
    bool db = gw_pg_up(), redis = rlink_is_up(gw.cmd) && rlink_is_up(gw.sub);
    bool ready = db && redis && !gw.stopping, readyz = strcmp(path, "/readyz") == 0;
    int n;

    if (strcmp(path, "/healthz") == 0) {
        n = snprintf(body, sizeof(body), "{\"status\":\"alive\",\"gateway_id\":\"%s\"}",
                     gw.cfg.gateway_id);
        return reply_json(wsi, HTTP_STATUS_OK, body, n);
    }
    n = snprintf(body, sizeof(body),
                 "{\"status\":\"%s\",\"gateway_id\":\"%s\",\"connections\":%d,"
                 "\"database\":\"%s\",\"redis\":\"%s\"}",
                 ready ? (readyz ? "ready" : "ok") : (readyz ? "not_ready" : "unavailable"),
                 gw.cfg.gateway_id, conn_count(), db ? "ok" : "unavailable",
                 redis ? "ok" : "unavailable");
    return reply_json(wsi, ready ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE, body, n);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct gw_conn **slot = user;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        if (strcmp((const char *)in, "/health") == 0 || strcmp((const char *)in, "/healthz") == 0 ||
            strcmp((const char *)in, "/readyz") == 0)
            return reply_health(wsi, (const char *)in);
        if (strcmp((const char *)in, "/metrics") == 0)
            return reply_metrics(wsi);
        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
        return -1;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return filter(wsi);
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(wsi, slot);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return *slot ? conn_writeable(*slot) : 0;
    case LWS_CALLBACK_RECEIVE:
        return *slot ? on_receive(*slot, in, len) : -1;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (*slot)
            conn_heard(*slot);
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

const struct lws_protocols session_protocols[] = {
    /* tx_packet_size: a coalesced write leaves in one send (lws cuts writes at rx_buffer_size
       otherwise) */
    {"chat", callback, sizeof(struct gw_conn *), 4096, 0, NULL, CONN_COALESCE_BYTES + LWS_PRE},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};
