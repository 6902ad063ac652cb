/*
 * rlink.h - one asynchronous Redis connection (hiredis + libuv) that comes
 * back by itself.
 *
 * hiredis 0.14 has no command timeouts and a context cannot be reused
 * after a disconnect (library notes): a watchdog timer drops the
 * connection when a command has waited longer than its timeout, and a new
 * context is made after a short delay. Callbacks get reply NULL when the
 * link went down before the answer came. on_state tells the owner when the
 * link is (re)established, so it can re-issue what it had in flight.
 */
#ifndef GW_RLINK_H
#define GW_RLINK_H

#include "config.h"
#include "rds.h"

#include <hiredis/async.h>
#include <uv.h>

struct rlink;
typedef void (*rlink_reply_cb)(void *reply, void *arg);
typedef void (*rlink_state_cb)(int up, void *arg);

/* timeout_ms: longest a command may wait for its reply. */
struct rlink *rlink_new(uv_loop_t *loop, const struct chat_config *cfg, const char *name,
                        int timeout_ms, rlink_state_cb on_state, void *arg);

/* Send a command; 0, or -1 (cb not called) when the link is down. */
int rlink_cmd(struct rlink *l, rlink_reply_cb cb, void *arg, int argc, const char **argv,
              const size_t *lens);

/*
 * Run script s with nkeys keys then the rest of its nargs arguments
 * (copied): EVALSHA, as rds_eval() does on a blocking connection. The SHA
 * is learnt once per process with SCRIPT LOAD; until it is known, and once
 * after a NOSCRIPT reply (Redis restarted or flushed its scripts), the
 * command carries the source (EVAL, which also caches it). cb gets the
 * script's reply, or NULL when the link went down. Returns 0, or -1 (cb
 * not called) when the link is down.
 */
int rlink_eval(struct rlink *l, struct rds_script *s, int nkeys, int nargs, const char **args,
               rlink_reply_cb cb, void *arg);

int rlink_is_up(const struct rlink *l);

/* Close; callbacks of pending commands run with NULL. Freed by the loop. */
void rlink_close(struct rlink *l);

#endif
