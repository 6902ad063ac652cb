/*
 * rds.h - one synchronous Redis connection (hiredis) with timeouts.
 *
 * hiredis 0.14 has no timeouts unless asked: every connection here bounds
 * its connect and each command by REDIS_TIMEOUT_MS, so a hung Redis cannot
 * hang a worker. On any I/O error, a timeout included, the context is
 * freed (a hiredis context cannot be reused after an error) and the next
 * call reconnects, at most once per RDS_RETRY_MS while Redis stays down
 * (once a second after a timeout: a hung Redis would hold every call). Callers treat NULL replies
 * as "Redis unavailable": Redis is cache and fan-out, never the record.
 */
#ifndef CHAT_RDS_H
#define CHAT_RDS_H

#include "config.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>

#define RDS_RETRY_MS 250

struct rds_conn {
    redisContext *ctx;
    const struct chat_config *cfg; /* borrowed */
    int64_t retry_at_ms;
};

void rds_init(struct rds_conn *c, const struct chat_config *cfg);
void rds_close(struct rds_conn *c);

/* Connect (AUTH, SELECT) if needed. Returns 0 when connected. */
int rds_ensure(struct rds_conn *c);

/* /health's probe: PING, connect included, each step within budget_ms. */
bool rds_ping(struct rds_conn *c, int budget_ms);

/*
 * Run one command. Returns the reply (caller freeReplyObject()s) or NULL
 * when Redis is unavailable. Error replies are returned as
 * REDIS_REPLY_ERROR replies.
 */
redisReply *rds_cmd(struct rds_conn *c, const char *fmt, ...);
redisReply *rds_cmd_argv(struct rds_conn *c, int argc, const char **argv, const size_t *lens);

/*
 * Pipelining: append n commands with rds_append*(), then collect them with
 * rds_collect(). On failure every reply slot is NULL and -1 is returned.
 */
int rds_append_argv(struct rds_conn *c, int argc, const char **argv, const size_t *lens);
int rds_collect(struct rds_conn *c, int n, redisReply **replies);

/* A Lua script; declare as static with .src set, the SHA is learnt once. */
struct rds_script {
    const char *src;
    char sha[41]; /* "" until learnt */
    int loading;  /* the gateway's async client: a SCRIPT LOAD is in flight */
};

/*
 * Run script by SHA (EVALSHA), loading it with SCRIPT LOAD first time and
 * again after NOSCRIPT (Redis restarted). args are nkeys keys then values.
 * Returns the reply or NULL when Redis is unavailable.
 */
#define RDS_EVAL_MAX_ARGS 128 /* keys and values of one rds_eval() */
redisReply *rds_eval(struct rds_conn *c, struct rds_script *s, int nkeys, int nargs,
                     const char **args);

/*
 * The SHA of s into sha, loading the script first when it is not known yet
 * (for callers that pipeline EVALSHA themselves). Returns 0, or -1 when
 * Redis is unavailable. rds_script_forget(): the server answered NOSCRIPT
 * (it restarted), learn it again next time.
 */
int rds_script_sha(struct rds_conn *c, struct rds_script *s, char sha[41]);
void rds_script_forget(struct rds_script *s);

int64_t rds_now_ms(void);

#endif
