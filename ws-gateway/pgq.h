/*
 * pgq.h - PostgreSQL queries on the gateway's event loop.
 *
 * One connection (pglink.c: non-blocking connect and set-up, bounded waits,
 * a reconnect at most once per second) with a FIFO of queries that run one
 * at a time. Each job's callback receives the result, or NULL with the
 * error's class (DB_ERR_DOWN when the connection was lost, timed out or is
 * down), and must not PQclear it. While the connection is down, jobs fail
 * at once rather than wait; while it is being made, they wait for it
 * (at most the connect timeout).
 */
#ifndef GW_PGQ_H
#define GW_PGQ_H

#include "db.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <uv.h>

#define PGQ_MAX_PARAMS 8

typedef void (*pgq_cb)(PGresult *res, enum db_err err, void *arg);

struct pgq;

struct pgq_opts {
    const char *conninfo;
    const char *name; /* for the log */
    int connect_timeout_ms;
    int statement_timeout_ms; /* the client side's: the server's statement_timeout plus a margin */
    /*
     * LISTEN on each channel of listen (NULL-terminated; NULL: none) on
     * every connection; on_notify gets each notification, on_up each time a
     * connection is up again (what was said while it was down is lost:
     * reconcile there). Channel names are ours, never input.
     */
    const char *const *listen;
    void (*on_notify)(const char *channel, const char *payload, void *arg);
    void (*on_up)(void *arg);
    void *arg;
};

struct pgq *pgq_new(uv_loop_t *loop, const struct pgq_opts *opts);
/* Fail every job; the memory goes with the loop's close callbacks. */
void pgq_free(struct pgq *q);

/*
 * Queue sql with text params (copied). sql must be a static string: it is
 * prepared once per connection and recognised by its address. Returns 0,
 * or -1 when the queue is full.
 */
int pgq_exec(struct pgq *q, const char *sql, int n, const char *const *params, pgq_cb cb,
             void *arg);

/*
 * A statement whose queued jobs may run together. A job runs alone as sql;
 * two or more consecutive queued jobs of the same batch run as many_sql,
 * whose parameter i is the array literal of the jobs' parameters i and
 * which returns one row per job in job order (the job's row; a NULL first
 * column stands for "no row"). Each job's callback still gets its own
 * result with sql's columns. When many_sql fails (and so rolls back), the
 * jobs run again one by one, so a batch never turns one bad job into
 * several failures.
 * Batches form by themselves: jobs that queue behind a running statement
 * leave together in the next one, so one commit serves many.
 */
struct pgq_batch {
    const char *sql;
    const char *many_sql;
    int max; /* jobs per statement */
};

int pgq_exec_batched(struct pgq *q, const struct pgq_batch *b, int n, const char *const *params,
                     pgq_cb cb, void *arg);

/* True while the connection is up. */
bool pgq_is_up(const struct pgq *q);

#endif
