/* rlink.c - see rlink.h. */
#include "rlink.h"
#include "stats.h"
#include "log.h"

#include <hiredis/adapters/libuv.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RLINK_RETRY_MS 300

struct rlink {
    uv_loop_t *loop;
    const struct chat_config *cfg;
    char name[16];
    int timeout_ms;
    redisAsyncContext *ac;
    int up, closing;
    int freeing; /* inside redisAsyncFree(): callbacks must not send on it */
    int pending;
    uint64_t last_activity;
    uint64_t connect_started;
    uv_timer_t retry, watchdog;
    int timers_open;
    rlink_state_cb on_state;
    void *arg;
};

struct rlink_call {
    struct rlink *l;
    rlink_reply_cb cb;
    void *arg;
};

static void rlink_connect(struct rlink *l);

/* The link is freed once closing, with its timers closed and no context. */
static void maybe_free(struct rlink *l)
{
    if (l->closing && l->timers_open == 0 && l->ac == NULL)
        free(l);
}

static void on_retry(uv_timer_t *t)
{
    rlink_connect(t->data);
}

static void schedule_retry(struct rlink *l)
{
    if (!l->closing)
        uv_timer_start(&l->retry, on_retry, RLINK_RETRY_MS, 0);
}

/*
 * The server answered the first PING: the link is up. A connect alone
 * proves little: a hung server's kernel still accepts connections.
 */
static void on_hello(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct rlink *l = privdata;
    redisReply *r = reply;

    (void)ac;
    if (r == NULL || r->type == REDIS_REPLY_ERROR || l->ac == NULL || l->closing)
        return; /* freed meanwhile, or refused (AUTH): the watchdog retries */
    l->up = 1;
    l->pending = 0;
    stats_redis_connect(true);
    l->last_activity = uv_now(l->loop);
    log_info(NULL, "redis link %s up", l->name);
    if (l->on_state)
        l->on_state(1, l->arg);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct rlink *l = ac->data;
    if (status != REDIS_OK) {
        stats_redis_connect(false);
        l->ac = NULL; /* hiredis frees a context that failed to connect */
        if (l->closing)
            maybe_free(l);
        else
            schedule_retry(l);
        return;
    }
    redisAsyncCommand((redisAsyncContext *)ac, on_hello, l, "PING");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct rlink *l = ac->data;
    (void)status;
    l->ac = NULL;
    if (l->closing) {
        maybe_free(l);
        return;
    }
    if (l->up) {
        l->up = 0;
        log_warn(NULL, "redis link %s down", l->name);
        if (l->on_state)
            l->on_state(0, l->arg);
    }
    schedule_retry(l);
}

static void rlink_connect(struct rlink *l)
{
    const struct chat_config *cfg = l->cfg;
    redisAsyncContext *ac;

    if (l->closing || l->ac != NULL)
        return;
    ac = cfg->redis_socket ? redisAsyncConnectUnix(cfg->redis_socket)
                           : redisAsyncConnect(cfg->redis_host, cfg->redis_port);
    if (ac == NULL || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(l);
        return;
    }
    ac->data = l;
    l->ac = ac;
    l->connect_started = uv_now(l->loop);
    redisLibuvAttach(ac, l->loop);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* Queued before the connection is up; hiredis sends them first. */
    if (cfg->redis_password)
        redisAsyncCommand(ac, NULL, NULL, "AUTH %s", cfg->redis_password);
    if (cfg->redis_db)
        redisAsyncCommand(ac, NULL, NULL, "SELECT %d", cfg->redis_db);
}

/*
 * Drop a link whose oldest command waited too long (hung Redis), and a
 * connection attempt that never finished (no PING answer within a
 * second): hiredis 0.14's libuv adapter ignores poll errors, so a refused
 * connect would otherwise hang forever.
 */
static void on_watchdog(uv_timer_t *t)
{
    struct rlink *l = t->data;
    if (l->ac != NULL && !l->up && uv_now(l->loop) - l->connect_started > 1000) {
        redisAsyncContext *ac = l->ac;
        l->ac = NULL;
        redisAsyncFree(ac);
        schedule_retry(l);
        return;
    }
    if (l->ac != NULL && l->up && l->pending > 0 &&
        uv_now(l->loop) - l->last_activity > (uint64_t)l->timeout_ms) {
        /*
         * Freed, not disconnected: with replies pending, hiredis 0.14's
         * redisAsyncDisconnect() only sets a flag and waits for them, so a
         * hung server (SIGSTOP, partition) kept the link "up" for ever.
         * redisAsyncFree() answers every pending callback with NULL and
         * runs on_disconnect, which schedules the new connection.
         */
        log_warn(NULL, "redis link %s: no reply for %d ms, reconnecting", l->name, l->timeout_ms);
        l->freeing = 1;
        redisAsyncFree(l->ac);
        l->freeing = 0;
    }
}

struct rlink *rlink_new(uv_loop_t *loop, const struct chat_config *cfg, const char *name,
                        int timeout_ms, rlink_state_cb on_state, void *arg)
{
    struct rlink *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->loop = loop;
    l->cfg = cfg;
    snprintf(l->name, sizeof(l->name), "%s", name);
    l->timeout_ms = timeout_ms;
    l->on_state = on_state;
    l->arg = arg;
    uv_timer_init(loop, &l->retry);
    uv_timer_init(loop, &l->watchdog);
    l->retry.data = l;
    l->watchdog.data = l;
    l->timers_open = 2;
    uv_timer_start(&l->watchdog, on_watchdog, 250, 250);
    rlink_connect(l);
    return l;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct rlink_call *c = privdata;
    (void)ac;
    if (c->l->pending > 0)
        c->l->pending--;
    c->l->last_activity = uv_now(c->l->loop);
    if (c->cb)
        c->cb(reply, c->arg);
    free(c);
}

int rlink_cmd(struct rlink *l, rlink_reply_cb cb, void *arg, int argc, const char **argv,
              const size_t *lens)
{
    struct rlink_call *c;
    if (!l->up || l->ac == NULL || l->freeing)
        return -1;
    c = malloc(sizeof(*c));
    if (c == NULL)
        return -1;
    c->l = l;
    c->cb = cb;
    c->arg = arg;
    if (l->pending == 0)
        l->last_activity = uv_now(l->loop);
    if (redisAsyncCommandArgv(l->ac, on_reply, c, argc, argv, lens) != REDIS_OK) {
        free(c);
        return -1;
    }
    l->pending++;
    return 0;
}

#define EVAL_MAX_ARGS 8

struct eval_call {
    struct rlink *l;
    struct rds_script *s;
    rlink_reply_cb cb;
    void *arg;
    bool by_source; /* sent with EVAL: a NOSCRIPT reply cannot come */
    int nargs;
    char nkeys[12];
    char *args[EVAL_MAX_ARGS];
};

static void eval_free(struct eval_call *e)
{
    for (int i = 0; i < e->nargs; i++)
        free(e->args[i]);
    free(e);
}

static void on_script_loaded(void *reply, void *arg)
{
    struct rds_script *s = arg;
    redisReply *r = reply;

    s->loading = 0;
    if (r != NULL && r->type == REDIS_REPLY_STRING && r->len == 40)
        memcpy(s->sha, r->str, 41);
}

static int eval_send(struct eval_call *e);

static void on_eval(void *reply, void *arg)
{
    struct eval_call *e = arg;
    redisReply *r = reply;

    if (r != NULL && r->type == REDIS_REPLY_ERROR && !e->by_source &&
        strncmp(r->str, "NOSCRIPT", 8) == 0) {
        e->s->sha[0] = '\0'; /* learnt again; this call goes with the source */
        if (eval_send(e) == 0)
            return;
        r = NULL;
    }
    e->cb(r, e->arg);
    eval_free(e);
}

/* Send e as EVALSHA when the SHA is known, else as EVAL (and learn the SHA). */
static int eval_send(struct eval_call *e)
{
    const char *argv[3 + EVAL_MAX_ARGS];
    struct rds_script *s = e->s;

    e->by_source = s->sha[0] == '\0';
    if (e->by_source && !s->loading) {
        const char *load[] = {"SCRIPT", "LOAD", s->src};
        s->loading = rlink_cmd(e->l, on_script_loaded, s, 3, load, NULL) == 0;
    }
    argv[0] = e->by_source ? "EVAL" : "EVALSHA";
    argv[1] = e->by_source ? s->src : s->sha;
    argv[2] = e->nkeys;
    for (int i = 0; i < e->nargs; i++)
        argv[3 + i] = e->args[i];
    return rlink_cmd(e->l, on_eval, e, 3 + e->nargs, argv, NULL);
}

int rlink_eval(struct rlink *l, struct rds_script *s, int nkeys, int nargs, const char **args,
               rlink_reply_cb cb, void *arg)
{
    struct eval_call *e;

    if (nargs > EVAL_MAX_ARGS || !l->up || l->freeing || (e = calloc(1, sizeof(*e))) == NULL)
        return -1;
    e->l = l;
    e->s = s;
    e->cb = cb;
    e->arg = arg;
    snprintf(e->nkeys, sizeof(e->nkeys), "%d", nkeys);
    for (; e->nargs < nargs; e->nargs++)
        if ((e->args[e->nargs] = strdup(args[e->nargs])) == NULL) {
            eval_free(e);
            return -1;
        }
    if (eval_send(e) != 0) {
        eval_free(e);
        return -1;
    }
    return 0;
}

int rlink_is_up(const struct rlink *l)
{
    return l->up;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct rlink *l = h->data;
    l->timers_open--;
    maybe_free(l);
}

void rlink_close(struct rlink *l)
{
    if (l == NULL)
        return;
    l->closing = 1;
    l->on_state = NULL;
    if (l->ac != NULL)
        redisAsyncDisconnect(l->ac);
    uv_timer_stop(&l->retry);
    uv_timer_stop(&l->watchdog);
    uv_close((uv_handle_t *)&l->retry, on_timer_closed);
    uv_close((uv_handle_t *)&l->watchdog, on_timer_closed);
}
