/*
 * pgq.h - PostgreSQL queries on the gateway's event loop.
 *
 * One non-blocking libpq connection driven by a uv_poll; queries wait in a
 * FIFO and run one at a time. Each job's callback receives the result (or
 * NULL when the query failed or the connection was lost) and must not
 * PQclear it. The connection is re-made after a failure, at most once per
 * second; jobs queued meanwhile fail fast rather than wait unboundedly.
 */
#ifndef GW_PGQ_H
#define GW_PGQ_H

#include <libpq-fe.h>
#include <uv.h>

#define PGQ_MAX_PARAMS 8

typedef void (*pgq_cb)(PGresult *res, void *arg);

struct pgq;

struct pgq *pgq_new(uv_loop_t *loop, const char *conninfo);
void pgq_free(struct pgq *q);

/* Queue sql with text params (copied). Returns 0, or -1 when the queue is full. */
int pgq_exec(struct pgq *q, const char *sql, int n, const char *const *params, pgq_cb cb,
             void *arg);

/* True when the database answered last time we tried. */
int pgq_is_up(const struct pgq *q);

#endif
