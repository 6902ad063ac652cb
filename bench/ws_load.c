/*
 * ws_load.c - the WebSocket scenarios.
 *
 * ws-fanout: clients in groups of S (one conversation per group, user k of
 * every group is users[k]); member 0 of each group sends, every member
 * counts deliveries and the send->receive latency from the timestamp in
 * the content (same host, same monotonic clock).
 * ws-ingest: every client sends its next message when the ack of the last
 * one is in (ack = stored), so acks/s is the persisted rate.
 * ws-idle: many sockets opened and held; the gateway's RSS per socket and
 * the connect+auth rate (auth is done when a ping gets its pong).
 *
 * --protocol: "chat" is this server's (a ping's pong says the socket is
 * authorised, an ack says a send is stored); "seed" is the seed's (neither:
 * a socket is ready when its handshake succeeded, and a sender's own
 * message, echoed back, stands for its ack). "auto" starts as chat and
 * takes a socket that got no pong within SEED_AFTER_US for a seed one.
 */
#include "bench.h"
#include "ws_client.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED_AFTER_US 2000000

/* Set once any socket was taken for a seed one (any worker thread). */
static atomic_bool seed_seen;

struct wclient {
    struct wsconn *ws;
    struct worker *w;
    int index;
    bool open, sender, waiting;
    double credit;
    uint64_t sent_at;
    uint64_t opened_at; /* handshake done (0: not yet) */
};

struct wstate {
    struct wclient *clients;
    int *senders; /* indexes into clients */
    int n, opened, failed, nsenders, total_senders;
    bool ingest;
    uint64_t last_tick;
};

const char *ws_protocol_seen(void)
{
    if (strcmp(B.o.protocol, "auto") != 0)
        return B.o.protocol;
    return atomic_load(&seed_seen) ? "seed" : "chat";
}

static void ready(struct wclient *c)
{
    struct wstate *s = c->w->scenario_state;
    if (!c->open) {
        c->open = true;
        s->opened++;
    }
}

/* Ready once a ping has its pong (the server answers only after the auth), or at once (seed). */
static void on_open(struct wsconn *ws, void *ud)
{
    struct wclient *c = ud;

    c->opened_at = now_us();
    if (strcmp(B.o.protocol, "seed") == 0)
        ready(c);
    else
        ws_send_text(ws, "{\"type\":\"ping\"}", 15);
}

/* auto: sockets open SEED_AFTER_US without a pong are a seed server's. */
static void promote_silent(struct wstate *s, uint64_t now)
{
    if (strcmp(B.o.protocol, "auto") != 0 || s->opened + s->failed >= s->n)
        return;
    for (int i = 0; i < s->n; i++) {
        struct wclient *c = &s->clients[i];
        if (!c->open && c->ws != NULL && c->opened_at && now - c->opened_at > SEED_AFTER_US) {
            atomic_store(&seed_seen, true);
            ready(c);
        }
    }
}

static void send_message(struct wclient *c);

/* A send is done: stored (ack), or, on a seed server, echoed back to its sender. */
static void send_done(struct wclient *c)
{
    struct worker *w = c->w;
    struct wstate *s = w->scenario_state;

    c->waiting = false;
    if (s->ingest && w->running) {
        w->st.ops++;
        hist_add(&w->st.lat, now_us() - c->sent_at);
    }
    if (B.o.rate <= 0 && !w->stopped && (s->ingest || c->sender) && w->running)
        send_message(c);
}

static void send_message(struct wclient *c)
{
    char msg[96];
    int n;
    c->sent_at = now_us();
    n = snprintf(msg, sizeof(msg), "{\"type\":\"message\",\"content\":\"f %llu\"}",
                 (unsigned long long)c->sent_at);
    if (ws_send_text(c->ws, msg, (size_t)n) != 0) {
        c->w->st.errors++;
        return;
    }
    c->waiting = true;
    if (c->w->running)
        c->w->st.sent++;
}

static void on_text(struct wsconn *ws, char *text, size_t len, void *ud)
{
    struct wclient *c = ud;
    struct worker *w = c->w;
    struct wstate *s = w->scenario_state;
    char *p;
    (void)ws;
    (void)len;

    if (strstr(text, "\"type\":\"message\"") != NULL) {
        uint64_t ts = 0;
        if ((p = strstr(text, "\"content\":\"f ")) != NULL)
            ts = strtoull(p + 13, NULL, 10);
        if (!s->ingest && ts && w->running) {
            w->st.delivered++;
            w->st.ops++;
            hist_add(&w->st.lat, now_us() - ts);
        }
        if (ts && ts == c->sent_at && c->waiting && strcmp(ws_protocol_seen(), "seed") == 0)
            send_done(c); /* the seed echoes a send to its sender and has no ack */
    } else if (strstr(text, "\"type\":\"ack\"") != NULL) {
        send_done(c);
    } else if (strstr(text, "\"type\":\"pong\"") != NULL) {
        ready(c);
    } else if (strstr(text, "\"type\":\"error\"") != NULL) {
        w->st.errors++;
        if (w->st.errors <= 3)
            fprintf(stderr, "chat-bench: %s: %s\n", B.o.scenario, text);
        c->waiting = false;
    }
}

static void on_close(struct wsconn *ws, int code, int http_status, void *ud)
{
    struct wclient *c = ud;
    struct wstate *s = c->w->scenario_state;
    (void)ws;
    if (!c->w->stopped) {
        c->w->st.errors++;
        s->failed++;
        fprintf(stderr, "chat-bench: socket closed: code %d, HTTP %d\n", code, http_status);
    }
    c->ws = NULL;
}

static const struct ws_handlers handlers = {on_open, on_text, on_close};

static void connect_client(struct wclient *c, const char *user_token, const char *conv)
{
    char path[1400];
    snprintf(path, sizeof(path), "/api/v1/ws/conversations/%s?token=%s", conv, user_token);
    c->ws = ws_open(&c->w->loop, &B.ws[c->index % B.nws], path, NULL, &handlers, c);
    if (c->ws == NULL)
        c->w->st.errors++;
}

/*
 * The tick drives senders at a fixed rate, or starts the open loop. Each
 * sender's credit starts at its own phase (see start()), so R messages/s
 * leave spread over the second, not as one burst of every sender at once
 * (a burst measures how long the server takes to drain it, not latency).
 */
static void on_tick(uv_timer_t *t)
{
    struct worker *w = t->data;
    struct wstate *s = w->scenario_state;
    uint64_t now = now_us();
    double dt = s->last_tick ? (double)(now - s->last_tick) / 1e6 : 0;

    s->last_tick = now;
    promote_silent(s, now);
    if (!w->running || w->stopped)
        return;
    for (int i = 0; i < s->nsenders; i++) {
        struct wclient *c = &s->clients[s->senders[i]];
        if (!c->open || c->ws == NULL)
            continue;
        if (B.o.rate > 0) {
            c->credit += B.o.rate / s->total_senders * dt;
            for (; c->credit >= 1; c->credit -= 1)
                send_message(c);
        } else if (!c->waiting) {
            send_message(c);
        }
    }
}

static void start(struct worker *w, bool ingest)
{
    struct wstate *s = calloc(1, sizeof(*s));
    int per = worker_share(w);
    int size = B.o.group_size < B.nusers ? B.o.group_size : B.nusers;

    w->scenario_state = s;
    if (s == NULL || (s->clients = calloc((size_t)per, sizeof(*s->clients))) == NULL ||
        (s->senders = calloc((size_t)per, sizeof(*s->senders))) == NULL)
        return;
    s->n = per;
    s->ingest = ingest;
    s->total_senders = ingest ? B.o.connections : B.nconvs;
    for (int i = 0; i < per; i++) {
        struct wclient *c = &s->clients[i];
        int g = i * B.nworkers + w->index; /* global index */
        int member = ingest ? g % B.nusers : g % size;
        c->w = w;
        c->index = g;
        c->sender = !ingest && member == 0;
        if (c->sender || ingest) {
            /* sender k of T fires first after (1 - k/T) of its period */
            c->credit = (double)(ingest ? g : g / size) / s->total_senders;
            s->senders[s->nsenders++] = i;
        }
        connect_client(c, B.users[member].token,
                       B.convs[ingest ? g % B.nconvs : (g / size) % B.nconvs]);
    }
    w->tick_timer.data = w;
    uv_timer_start(&w->tick_timer, on_tick, 1, 1);
}

void ws_fanout_start(struct worker *w)
{
    start(w, false);
}

void ws_ingest_start(struct worker *w)
{
    start(w, true);
}

bool ws_ready(struct worker *w)
{
    struct wstate *s = w->scenario_state;
    return s == NULL || s->opened + s->failed >= s->n;
}

void ws_stop(struct worker *w)
{
    struct wstate *s = w->scenario_state;
    if (s == NULL)
        return;
    for (int i = 0; i < s->n; i++)
        ws_free(s->clients[i].ws);
}

void ws_state_free(struct worker *w)
{
    struct wstate *s = w->scenario_state;
    if (s) {
        free(s->clients);
        free(s->senders);
    }
    free(s);
    w->scenario_state = NULL;
}
