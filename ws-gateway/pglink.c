/* pglink.c - see pglink.h. */
#include "pglink.h"
#include "stats.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PGLINK_RETRY_MS 1000

enum link_state { LINK_DOWN, LINK_CONNECTING, LINK_SETUP, LINK_IDLE, LINK_BUSY };

struct pglink {
    uv_loop_t *loop;
    struct pglink_opts opts; /* strings owned */
    const struct pglink_handler *h;
    void *arg;
    enum link_state state;
    PGconn *pg;
    uv_poll_t *poll; /* per connection: closing is asynchronous */
    int fd;
    PGresult *last; /* last result of the command in flight */
    uv_timer_t deadline, retry;
    int timers_open;
    bool closing;
    bool failing; /* connects fail: said once */
};

static void on_poll(uv_poll_t *p, int status, int events);

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void poll_close(struct pglink *l)
{
    if (l->poll == NULL)
        return;
    uv_poll_stop(l->poll);
    uv_close((uv_handle_t *)l->poll, free_handle);
    l->poll = NULL;
    l->fd = -1;
}

/* Watch the connection's socket (it may change while connecting) for events. */
static int poll_watch(struct pglink *l, int events)
{
    int fd = PQsocket(l->pg);

    if (fd < 0)
        return -1;
    if (fd != l->fd)
        poll_close(l);
    if (l->poll == NULL) {
        if ((l->poll = malloc(sizeof(*l->poll))) == NULL)
            return -1;
        if (uv_poll_init_socket(l->loop, l->poll, fd) != 0) {
            free(l->poll);
            l->poll = NULL;
            return -1;
        }
        l->poll->data = l;
        l->fd = fd;
    }
    return uv_poll_start(l->poll, events, on_poll) == 0 ? 0 : -1;
}

static void arm(struct pglink *l, int ms, uv_timer_cb cb)
{
    uv_timer_start(&l->deadline, cb, (uint64_t)ms, 0);
}

static void on_retry(uv_timer_t *t);

/*
 * Lose the connection (and the command in flight): the owner hears of it,
 * and a new connection is tried in PGLINK_RETRY_MS.
 */
static void drop(struct pglink *l, const char *why)
{
    bool was_up = l->state == LINK_IDLE || l->state == LINK_BUSY || l->state == LINK_SETUP;

    /* once per outage, not once per attempt */
    if (was_up || (l->state == LINK_CONNECTING && !l->failing))
        log_warn(NULL, "postgresql link %s: %s", l->opts.name, why);
    l->failing = !was_up;
    if (!was_up)
        stats_db_connect(false);
    uv_timer_stop(&l->deadline);
    poll_close(l);
    PQfinish(l->pg);
    l->pg = NULL;
    PQclear(l->last);
    l->last = NULL;
    l->state = LINK_DOWN;
    if (l->closing)
        return;
    uv_timer_start(&l->retry, on_retry, PGLINK_RETRY_MS, 0);
    l->h->state(l->arg, false);
}

static void on_deadline(uv_timer_t *t)
{
    struct pglink *l = t->data;
    drop(l, l->state == LINK_BUSY ? "no answer in time (hung?)" : "connect timed out");
}

static void connect_start(struct pglink *l);

static void on_retry(uv_timer_t *t)
{
    struct pglink *l = t->data;
    if (l->state == LINK_DOWN && !l->closing)
        connect_start(l);
}

/* One step of the non-blocking connect. */
static void connect_step(struct pglink *l)
{
    switch (PQconnectPoll(l->pg)) {
    case PGRES_POLLING_READING:
        if (poll_watch(l, UV_READABLE) != 0)
            drop(l, "cannot watch the socket");
        return;
    case PGRES_POLLING_WRITING:
        if (poll_watch(l, UV_WRITABLE) != 0)
            drop(l, "cannot watch the socket");
        return;
    case PGRES_POLLING_OK:
        break;
    default:
        drop(l, PQerrorMessage(l->pg));
        return;
    }
    PQsetnonblocking(l->pg, 1);
    if (l->opts.setup_sql == NULL) {
        l->state = LINK_IDLE;
        uv_timer_stop(&l->deadline);
        poll_watch(l, UV_READABLE);
        stats_db_connect(true);
        log_info(NULL, "postgresql link %s up", l->opts.name);
        l->h->state(l->arg, true);
        return;
    }
    l->state = LINK_SETUP;
    pglink_sent(l, PQsendQuery(l->pg, l->opts.setup_sql));
}

static void connect_start(struct pglink *l)
{
    l->pg = PQconnectStart(l->opts.conninfo);
    l->fd = -1;
    if (l->pg == NULL || PQstatus(l->pg) == CONNECTION_BAD) {
        l->state = LINK_CONNECTING; /* so that drop() logs why */
        drop(l, l->pg ? PQerrorMessage(l->pg) : "out of memory");
        return;
    }
    l->state = LINK_CONNECTING;
    arm(l, l->opts.connect_timeout_ms, on_deadline);
    connect_step(l);
}

static void notifications(struct pglink *l)
{
    PGnotify *n;

    while ((n = PQnotifies(l->pg)) != NULL) {
        if (l->h->notify != NULL)
            l->h->notify(l->arg, n->relname, n->extra);
        PQfreemem(n);
        if (l->pg == NULL)
            return; /* the handler dropped the link */
    }
}

/* The command in flight (or the set-up) ended: tell the owner. */
static void command_done(struct pglink *l)
{
    PGresult *last = l->last;

    l->last = NULL;
    uv_timer_stop(&l->deadline);
    if (l->state == LINK_SETUP) {
        ExecStatusType st = last ? PQresultStatus(last) : PGRES_FATAL_ERROR;
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
            log_warn(NULL, "postgresql link %s: set-up failed: %s", l->opts.name,
                     last ? PQresultErrorMessage(last) : "no result");
        PQclear(last);
        l->state = LINK_IDLE;
        stats_db_connect(true);
        log_info(NULL, "postgresql link %s up", l->opts.name);
        l->h->state(l->arg, true);
        return;
    }
    l->state = LINK_IDLE;
    l->h->done(l->arg, last);
    PQclear(last);
}

static void read_input(struct pglink *l)
{
    if (PQconsumeInput(l->pg) == 0) {
        drop(l, PQerrorMessage(l->pg));
        return;
    }
    notifications(l);
    while (l->pg != NULL && (l->state == LINK_BUSY || l->state == LINK_SETUP) && !PQisBusy(l->pg)) {
        PGresult *r = PQgetResult(l->pg);
        if (r != NULL) {
            PQclear(l->last);
            l->last = r;
            continue;
        }
        command_done(l);
    }
    if (l->pg != NULL && PQstatus(l->pg) != CONNECTION_OK)
        drop(l, "connection closed");
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct pglink *l = p->data;

    if (status < 0) {
        drop(l, uv_strerror(status));
        return;
    }
    if (l->state == LINK_CONNECTING) {
        connect_step(l);
        return;
    }
    if (events & UV_WRITABLE) {
        int f = PQflush(l->pg);
        if (f < 0) {
            drop(l, PQerrorMessage(l->pg));
            return;
        }
        if (f == 0)
            poll_watch(l, UV_READABLE);
    }
    if (events & UV_READABLE)
        read_input(l);
}

struct pglink *pglink_new(uv_loop_t *loop, const struct pglink_opts *opts,
                          const struct pglink_handler *h, void *arg)
{
    struct pglink *l = calloc(1, sizeof(*l));

    if (l == NULL)
        return NULL;
    l->loop = loop;
    l->h = h;
    l->arg = arg;
    l->fd = -1;
    l->opts = *opts;
    l->opts.conninfo = strdup(opts->conninfo);
    l->opts.setup_sql = opts->setup_sql ? strdup(opts->setup_sql) : NULL;
    l->opts.name = strdup(opts->name ? opts->name : "db");
    uv_timer_init(loop, &l->deadline);
    uv_timer_init(loop, &l->retry);
    l->deadline.data = l->retry.data = l;
    l->timers_open = 2;
    if (l->opts.conninfo == NULL || l->opts.name == NULL ||
        (opts->setup_sql && l->opts.setup_sql == NULL)) {
        pglink_close(l);
        return NULL;
    }
    connect_start(l);
    return l;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct pglink *l = h->data;
    if (--l->timers_open > 0)
        return;
    free((char *)l->opts.conninfo);
    free((char *)l->opts.setup_sql);
    free((char *)l->opts.name);
    free(l);
}

void pglink_close(struct pglink *l)
{
    if (l == NULL)
        return;
    l->closing = true;
    drop(l, "closed");
    uv_timer_stop(&l->retry);
    uv_close((uv_handle_t *)&l->deadline, on_timer_closed);
    uv_close((uv_handle_t *)&l->retry, on_timer_closed);
}

bool pglink_is_up(const struct pglink *l)
{
    return l->state == LINK_IDLE || l->state == LINK_BUSY;
}

bool pglink_is_idle(const struct pglink *l)
{
    return l->state == LINK_IDLE;
}

bool pglink_is_down(const struct pglink *l)
{
    return l->state == LINK_DOWN;
}

PGconn *pglink_pg(struct pglink *l)
{
    return l->pg;
}

void pglink_sent(struct pglink *l, int sent)
{
    int f;

    if (!sent) {
        drop(l, PQerrorMessage(l->pg));
        return;
    }
    if (l->state == LINK_IDLE)
        l->state = LINK_BUSY;
    arm(l, l->state == LINK_SETUP ? l->opts.connect_timeout_ms : l->opts.command_timeout_ms,
        on_deadline);
    f = PQflush(l->pg);
    if (f < 0)
        drop(l, PQerrorMessage(l->pg));
    else if (poll_watch(l, f == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE) != 0)
        drop(l, "cannot watch the socket");
}
