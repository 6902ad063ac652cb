/* rds.c - see rds.h. */
#include "rds.h"
#include "stats.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * A command that timed out means a hung Redis (a refused connect is
 * instant): each backend tries it again once a second, not on every call,
 * so requests are not each held for a whole timeout.
 */
#define RDS_HUNG_RETRY_MS 1000

int64_t rds_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rds_init(struct rds_conn *c, const struct chat_config *cfg)
{
    memset(c, 0, sizeof(*c));
    c->cfg = cfg;
}

void rds_close(struct rds_conn *c)
{
    if (c->ctx != NULL)
        redisFree(c->ctx);
    c->ctx = NULL;
}

static struct timeval timeval_of_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/*
 * hiredis 0.14 reports a socket timeout (SO_RCVTIMEO/SO_SNDTIMEO) as an I/O
 * error with errno EAGAIN; call right after the failed command.
 */
static bool rds_timed_out(const struct rds_conn *c)
{
    return c->ctx != NULL && c->ctx->err == REDIS_ERR_IO &&
           (errno == EAGAIN || errno == EWOULDBLOCK);
}

static void rds_drop(struct rds_conn *c, const char *why)
{
    bool hung = rds_timed_out(c);

    if (c->ctx != NULL) {
        log_warn(NULL, "redis connection lost: %s", why);
        redisFree(c->ctx);
    }
    c->ctx = NULL;
    c->retry_at_ms = rds_now_ms() + (hung ? RDS_HUNG_RETRY_MS : RDS_RETRY_MS);
}

/* AUTH and SELECT on a fresh connection. Returns 0 or -1. */
static int rds_handshake(struct rds_conn *c)
{
    redisReply *r;
    if (c->cfg->redis_password != NULL) {
        r = redisCommand(c->ctx, "AUTH %s", c->cfg->redis_password);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            log_error(NULL, "redis AUTH failed: %s", r ? r->str : c->ctx->errstr);
            if (r)
                freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    }
    if (c->cfg->redis_db != 0) {
        r = redisCommand(c->ctx, "SELECT %d", c->cfg->redis_db);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            if (r)
                freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    }
    return 0;
}

static redisReply *rds_checked(struct rds_conn *c, void *reply)
{
    if (reply == NULL) {
        stats_redis_error();
        rds_drop(c, c->ctx->errstr[0] ? c->ctx->errstr : "no reply");
        return NULL;
    }
    return reply;
}

/* Connect if needed, each step (connect, AUTH, SELECT) bounded by ms. */
static int rds_ensure_within(struct rds_conn *c, int ms)
{
    struct timeval tv = timeval_of_ms(ms);

    if (c->ctx != NULL && c->ctx->err == 0) {
        /*
         * Nothing is pending on an idle connection, so a readable socket
         * means the server closed it (a Redis restart): reconnect now
         * instead of failing the next command on it.
         */
        struct pollfd p = {.fd = c->ctx->fd, .events = POLLIN};
        if (poll(&p, 1, 0) == 0)
            return 0;
        log_warn(NULL, "redis connection closed by the server; reconnecting");
        redisFree(c->ctx);
        c->ctx = NULL;
    } else if (c->ctx != NULL) {
        rds_drop(c, c->ctx->errstr);
    }
    if (rds_now_ms() < c->retry_at_ms)
        return -1;
    if (c->cfg->redis_socket != NULL)
        c->ctx = redisConnectUnixWithTimeout(c->cfg->redis_socket, tv);
    else
        c->ctx = redisConnectWithTimeout(c->cfg->redis_host, c->cfg->redis_port, tv);
    if (c->ctx == NULL || c->ctx->err != 0) {
        if (c->ctx != NULL)
            redisFree(c->ctx);
        c->ctx = NULL;
        c->retry_at_ms = rds_now_ms() + RDS_RETRY_MS;
        stats_redis_connect(false);
        return -1;
    }
    if (redisSetTimeout(c->ctx, tv) != REDIS_OK || rds_handshake(c) != 0) {
        rds_drop(c, "handshake failed");
        stats_redis_connect(false);
        return -1;
    }
    stats_redis_connect(true);
    return 0;
}

int rds_ensure(struct rds_conn *c)
{
    return rds_ensure_within(c, c->cfg->redis_timeout_ms);
}

bool rds_ping(struct rds_conn *c, int budget_ms)
{
    redisReply *r = NULL;
    bool ok;

    /* The command timeout is per context: shortened for this PING only. */
    if (rds_ensure_within(c, budget_ms) == 0 &&
        redisSetTimeout(c->ctx, timeval_of_ms(budget_ms)) == REDIS_OK) {
        r = rds_checked(c, redisCommand(c->ctx, "PING"));
        if (c->ctx != NULL &&
            redisSetTimeout(c->ctx, timeval_of_ms(c->cfg->redis_timeout_ms)) != REDIS_OK)
            rds_drop(c, "cannot restore the command timeout");
    }
    ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (r != NULL)
        freeReplyObject(r);
    return ok;
}

redisReply *rds_cmd(struct rds_conn *c, const char *fmt, ...)
{
    va_list ap;
    void *reply;

    if (rds_ensure(c) != 0)
        return NULL;
    va_start(ap, fmt);
    reply = redisvCommand(c->ctx, fmt, ap);
    va_end(ap);
    return rds_checked(c, reply);
}

redisReply *rds_cmd_argv(struct rds_conn *c, int argc, const char **argv, const size_t *lens)
{
    if (rds_ensure(c) != 0)
        return NULL;
    return rds_checked(c, redisCommandArgv(c->ctx, argc, argv, lens));
}

int rds_append_argv(struct rds_conn *c, int argc, const char **argv, const size_t *lens)
{
    if (rds_ensure(c) != 0)
        return -1;
    return redisAppendCommandArgv(c->ctx, argc, argv, lens) == REDIS_OK ? 0 : -1;
}

int rds_collect(struct rds_conn *c, int n, redisReply **replies)
{
    int i;
    for (i = 0; i < n; i++)
        replies[i] = NULL;
    if (c->ctx == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        void *r = NULL;
        if (redisGetReply(c->ctx, &r) != REDIS_OK || r == NULL) {
            for (int j = 0; j < i; j++) {
                freeReplyObject(replies[j]);
                replies[j] = NULL;
            }
            rds_drop(c, c->ctx->errstr[0] ? c->ctx->errstr : "pipeline failed");
            return -1;
        }
        replies[i] = r;
    }
    return 0;
}

static pthread_mutex_t script_lock = PTHREAD_MUTEX_INITIALIZER;

/* SCRIPT LOAD and remember the SHA. Returns 0 or -1. */
static int rds_script_load(struct rds_conn *c, struct rds_script *s, char sha[41])
{
    redisReply *r = rds_cmd(c, "SCRIPT LOAD %s", s->src);
    int rc = -1;
    if (r != NULL && r->type == REDIS_REPLY_STRING && r->len == 40) {
        memcpy(sha, r->str, 41);
        pthread_mutex_lock(&script_lock);
        memcpy(s->sha, sha, 41);
        pthread_mutex_unlock(&script_lock);
        rc = 0;
    }
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

int rds_script_sha(struct rds_conn *c, struct rds_script *s, char sha[41])
{
    pthread_mutex_lock(&script_lock);
    memcpy(sha, s->sha, 41);
    pthread_mutex_unlock(&script_lock);
    return sha[0] != '\0' ? 0 : rds_script_load(c, s, sha);
}

void rds_script_forget(struct rds_script *s)
{
    pthread_mutex_lock(&script_lock);
    s->sha[0] = '\0';
    pthread_mutex_unlock(&script_lock);
}

redisReply *rds_eval(struct rds_conn *c, struct rds_script *s, int nkeys, int nargs,
                     const char **args)
{
    const char *argv[RDS_EVAL_MAX_ARGS + 3];
    char nk[16], sha[41];
    redisReply *r = NULL;

    if (nargs > RDS_EVAL_MAX_ARGS)
        return NULL;
    pthread_mutex_lock(&script_lock);
    memcpy(sha, s->sha, sizeof(sha));
    pthread_mutex_unlock(&script_lock);
    if (sha[0] == '\0' && rds_script_load(c, s, sha) != 0)
        return NULL;
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[0] = "EVALSHA";
    argv[1] = sha;
    argv[2] = nk;
    for (int i = 0; i < nargs; i++)
        argv[3 + i] = args[i];
    for (int attempt = 0; attempt < 2; attempt++) {
        r = rds_cmd_argv(c, nargs + 3, argv, NULL);
        if (r == NULL || r->type != REDIS_REPLY_ERROR || strncmp(r->str, "NOSCRIPT", 8) != 0)
            break;
        freeReplyObject(r);
        r = NULL;
        if (rds_script_load(c, s, sha) != 0)
            break;
    }
    return r;
}
