/*
 * conn.c - see conn.h.
 *
 * Frames queued during a loop iteration are written directly before the
 * loop sleeps (a uv_prepare handle, as Redis writes its clients' replies
 * in beforeSleep), several coalesced into one write; the writable
 * callback takes over only for what the kernel did not take.
 */
#include "conn.h"
#include "gw_stats.h"
#include "gw.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static struct {
    struct gw_conn *all; /* every open connection */
    int n;
    struct gw_conn *posted; /* connections with frames to write before the loop sleeps */
    uv_prepare_t flush;
    uv_timer_t liveness;
} conns;

struct gw_conn *conn_new(struct lws *wsi)
{
    struct gw_conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->wsi = wsi;
    c->refs = 1;
    c->rx_ms = c->ping_ms = c->open_ms = uv_now(&gw.loop);
    c->next = conns.all;
    if (conns.all)
        conns.all->prev = c;
    conns.all = c;
    conns.n++;
    if (gw.cfg.ws_sndbuf > 0) {
        /* Fixed kernel buffer: bounds what a stalled client pins (no autotuning). */
        int fd = (int)lws_get_socket_fd(wsi);
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &gw.cfg.ws_sndbuf, sizeof(gw.cfg.ws_sndbuf));
    }
    return c;
}

void conn_closed(struct gw_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        conns.all = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    conns.n--;
    c->wsi = NULL;
    conn_unref(c);
}

struct gw_conn *conn_first(void)
{
    return conns.all;
}

int conn_count(void)
{
    return conns.n;
}

/* Whether c counts as a connection of its user (see conn_has_user). */
static bool is_users(const struct gw_conn *c, bool any)
{
    return c->authorized || (any && c->user_id[0] != '\0');
}

bool conn_has_user(const char *user_id, bool any)
{
    for (struct gw_conn *c = conns.all; c != NULL; c = c->next)
        if (is_users(c, any) && strcmp(c->user_id, user_id) == 0)
            return true;
    return false;
}

int conn_user_ids(const char **ids, bool any)
{
    int n = 0;

    for (struct gw_conn *c = conns.all; c != NULL; c = c->next)
        if (is_users(c, any))
            ids[n++] = c->user_id;
    return n;
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

void conn_ref(struct gw_conn *c)
{
    c->refs++;
}

void conn_unref(struct gw_conn *c)
{
    if (--c->refs > 0)
        return;
    queue_drop(c);
    free(c->rx);
    free(c->resume);
    free(c);
}

/*
 * A burst (one XREAD, an offline batch) can queue many frames at once for a
 * healthy client, and a write takes at most CONN_COALESCE_BYTES. So a full
 * queue closes the socket only when nothing has left it for a second, and
 * four times the limit closes it in any case (memory stays bounded).
 */
bool conn_queue_stalled(int qlen, int max, uint64_t now_ms, uint64_t progress_ms)
{
    if (qlen < max)
        return false;
    return qlen >= 4 * max || now_ms - progress_ms >= 1000;
}

/* Put c on the list written before the loop sleeps (see on_flush). */
static void post(struct gw_conn *c)
{
    if (c->posted)
        return;
    c->posted = true;
    conn_ref(c); /* the flush list's reference */
    c->next_posted = conns.posted;
    conns.posted = c;
}

void conn_send_text(struct gw_conn *c, const char *text, size_t n)
{
    uint64_t now = uv_now(&gw.loop);
    struct gw_frame *f;

    if (c->wsi == NULL || c->close_code != 0)
        return;
    if (c->qlen == 0)
        c->progress_ms = now;
    else if (conn_queue_stalled(c->qlen, gw.cfg.ws_queue_max, now, c->progress_ms)) {
        /*
         * A client that does not read is closed rather than buffered
         * forever. What it has not taken is dropped so that the close frame
         * is next in line; it catches up by since_seq when it reconnects.
         */
        log_warn(NULL, "closing slow websocket of user %s (%d frames queued)", c->user_id, c->qlen);
        queue_drop(c);
        conn_close(c, 1008);
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

void conn_send(struct gw_conn *c, json_t *msg)
{
    char *text;

    if (msg == NULL)
        return;
    text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (text != NULL)
        conn_send_text(c, text, strlen(text));
    free(text);
}

void conn_send_error(struct gw_conn *c, const char *code, const char *message, int retry_after)
{
    json_t *e = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", message);
    if (e != NULL && retry_after > 0)
        json_object_set_new(e, "retry_after", json_integer(retry_after));
    conn_send(c, e);
}

void conn_close(struct gw_conn *c, int code)
{
    if (c->wsi != NULL && c->close_code == 0)
        gw_stats_closed(code);
    if (c->wsi == NULL || c->close_code != 0)
        return;
    c->close_code = code;
    lws_callback_on_writable(c->wsi);
    /* A peer that never lets the close frame out is cut off. */
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, 5);
}

void conn_close_all(int code)
{
    for (struct gw_conn *c = conns.all; c != NULL; c = c->next)
        conn_close(c, code);
}

size_t conn_frame_header(unsigned char *h, size_t n)
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
 * how many frames went, 0 when there is only one or no memory, -1 when
 * the write failed.
 */
static int write_batch(struct gw_conn *c)
{
    size_t total = 0, at = LWS_PRE;
    unsigned char *buf;
    int n = 0;

    for (struct gw_frame *f = c->qhead; f != NULL && total + f->len + 10 <= CONN_COALESCE_BYTES;
         f = f->next, n++)
        total += f->len + 10;
    if (n < 2 || (buf = malloc(LWS_PRE + total)) == NULL)
        return 0;
    for (int i = 0; i < n; i++) {
        struct gw_frame *f = queue_pop(c);
        at += conn_frame_header(buf + at, f->len);
        memcpy(buf + at, f->data + LWS_PRE, f->len);
        at += f->len;
        free(f);
    }
    n = lws_write(c->wsi, buf + LWS_PRE, at - LWS_PRE, LWS_WRITE_HTTP) < (int)(at - LWS_PRE) ? -1
                                                                                             : n;
    free(buf);
    return n;
}

/* One write of the head of c's queue (coalesced when several): 0, or -1 when the socket failed. */
static int write_queued(struct gw_conn *c)
{
    struct gw_frame *f;
    int sent = write_batch(c);

    if (sent < 0)
        return -1;
    if (sent == 0) {
        if ((f = c->qhead) == NULL)
            return 0;
        if (lws_write(c->wsi, f->data + LWS_PRE, f->len, LWS_WRITE_TEXT) < (int)f->len)
            return -1;
        free(queue_pop(c));
    }
    c->progress_ms = uv_now(&gw.loop);
    return 0;
}

/*
 * The ping carries a payload: lws 4.1 does not report a pong with an empty
 * payload to the protocol callback (LWS_CALLBACK_RECEIVE_PONG), so an
 * answering client would look silent.
 */
static int write_ping(struct gw_conn *c)
{
    unsigned char frame[LWS_PRE + 4] = {0};

    if (!c->ping_due)
        return 0;
    c->ping_due = false;
    c->ping_ms = uv_now(&gw.loop);
    memcpy(frame + LWS_PRE, "live", 4);
    return lws_write(c->wsi, frame + LWS_PRE, 4, LWS_WRITE_PING) < 4 ? -1 : 0;
}

int conn_writeable(struct gw_conn *c)
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
        lws_write(c->wsi, frame + LWS_PRE, 2, (enum lws_write_protocol)4 /* LWS_WRITE_CLOSE */);
        return -1;
    }
    /* One write per callback: the callback may come unasked (library notes). */
    if (c->ping_due) {
        if (write_ping(c) != 0)
            return -1;
    } else if (write_queued(c) != 0) {
        return -1;
    }
    if (c->qhead != NULL || c->close_code != 0)
        lws_callback_on_writable(c->wsi);
    return 0;
}

/*
 * Before the loop sleeps, every connection that had frames queued in this
 * iteration gets one direct write. Going through lws_callback_on_writable()
 * for each instead cost two epoll_ctl calls per delivery, a fifth of the
 * gateway's CPU under fan-out. The writable callback still takes over when
 * the kernel buffer is full (lws holds the unsent rest and asks for it
 * itself), when more than one write's worth is queued, and for the close
 * frame.
 */
static void flush_one(struct gw_conn *c)
{
    if (c->wsi == NULL || (c->qhead == NULL && !c->ping_due))
        return;
    if (c->close_code != 0 || lws_partial_buffered(c->wsi)) {
        lws_callback_on_writable(c->wsi);
        return;
    }
    if (write_ping(c) != 0 || write_queued(c) != 0) {
        /* the writable callback fails the same way and closes it (see the sweep) */
        conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
        return;
    }
    if (c->qhead != NULL)
        lws_callback_on_writable(c->wsi);
}

static void on_flush(uv_prepare_t *h)
{
    (void)h;
    while (conns.posted != NULL) {
        struct gw_conn *c = conns.posted;
        conns.posted = c->next_posted;
        c->posted = false;
        flush_one(c);
        conn_unref(c);
    }
}

/*
 * Application-level liveness: a socket quiet (no frame, no pong) for
 * WS_PING_SECS is pinged, one quiet for WS_IDLE_TIMEOUT_SECS is dropped (and
 * one still unauthorised after WS_AUTH_TIMEOUT_SECS closed with 4401), so
 * half-open connections behind NATs and proxies do not hold presence and
 * memory for hours. A sweep every second rather than lws' idle policy: lws
 * 4.1 keeps every socket's timer in one sorted list and inserts by walking
 * it from the head, which made each connect O(sockets) (three quarters of
 * the gateway's CPU in a 19,000-socket connect storm).
 */
static void on_liveness(uv_timer_t *t)
{
    uint64_t now = uv_now(&gw.loop);
    uint64_t ping_ms = (uint64_t)gw.cfg.ws_ping_secs * 1000;
    uint64_t idle_ms = (uint64_t)gw.cfg.ws_idle_secs * 1000;
    uint64_t auth_ms = (uint64_t)gw.cfg.ws_auth_secs * 1000;
    long long wall = (long long)time(NULL);

    (void)t;
    for (struct gw_conn *c = conns.all; c != NULL; c = c->next) {
        uint64_t quiet = now - c->rx_ms;
        if (c->wsi == NULL || c->close_code != 0)
            continue;
        if ((!c->authorized && now - c->open_ms >= auth_ms) ||
            (c->token_exp > 0 && wall >= c->token_exp)) {
            /* a socket that never proves who it is (no token, no auth frame, or a
             * check that never ends) holds memory and a connection for nothing;
             * one whose token expired has no right any more (clients refresh over
             * REST and send {"type":"auth"} with the new token before exp) */
            conn_close(c, 4401);
        } else if (quiet >= idle_ms) {
            log_info(NULL, "closing a websocket of user %s silent for %llu s", c->user_id,
                     (unsigned long long)(quiet / 1000));
            /* through the writable callback: lws_set_timeout(LWS_TO_KILL_ASYNC)
             * from this timer left the socket open with lws 4.1 on libuv
             * (the sweep found it again every second) */
            conn_close(c, LWS_CLOSE_STATUS_GOINGAWAY);
        } else if (quiet >= ping_ms && now - c->ping_ms >= ping_ms) {
            c->ping_due = true;
            post(c);
        }
    }
}

void conn_heard(struct gw_conn *c)
{
    c->rx_ms = uv_now(&gw.loop);
}

int conn_receive(struct gw_conn *c, const void *in, size_t len, const char **frame, size_t *n)
{
    char *nb;

    if (c->rx_len + len > gw.cfg.ws_max_frame) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
        return -1;
    }
    nb = realloc(c->rx, c->rx_len + len + 1);
    if (nb == NULL)
        return -1;
    c->rx = nb;
    memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    if (!lws_is_final_fragment(c->wsi))
        return 0;
    c->rx[c->rx_len] = '\0';
    *frame = c->rx;
    *n = c->rx_len;
    c->rx_len = 0;
    return 1;
}

void conn_start(void)
{
    uv_prepare_init(&gw.loop, &conns.flush);
    uv_prepare_start(&conns.flush, on_flush);
    uv_timer_init(&gw.loop, &conns.liveness);
    uv_timer_start(&conns.liveness, on_liveness, 1000, 1000);
}

void conn_stop(void)
{
    on_flush(&conns.flush); /* drop the list's references */
    uv_prepare_stop(&conns.flush);
    uv_close((uv_handle_t *)&conns.flush, NULL);
    uv_timer_stop(&conns.liveness);
    uv_close((uv_handle_t *)&conns.liveness, NULL);
}
