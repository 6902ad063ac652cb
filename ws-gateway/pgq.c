/* pgq.c - see pgq.h. */
#include "pgq.h"
#include "stats.h"
#include "log.h"
#include "pglink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A burst of connects queues an auth and a catch-up query each: room for
 * tens of thousands, yet bounded. */
#define PGQ_MAX_JOBS 65536

/* Distinct statements prepared per connection (the gateway has fewer). */
#define PGQ_MAX_PREPARED 32

/* Jobs per batch statement at most (struct pgq_batch.max is capped there). */
#define PGQ_BATCH_MAX 256

struct pgq_job {
    const char *sql;               /* static; NULL for a batch job: batch->sql */
    const struct pgq_batch *batch; /* NULL: never batched */
    bool solo;                     /* its batch failed: runs alone */
    int n;
    char *params[PGQ_MAX_PARAMS];
    pgq_cb cb;
    void *arg;
    struct pgq_job *next;
};

/* The statement in flight: one job, or the chain of a batch. */
struct running {
    struct pgq_job *chain;
    int k;                        /* jobs in the chain */
    const char *sql;              /* what runs */
    int n;                        /* its parameters */
    char *arrays[PGQ_MAX_PARAMS]; /* a batch's parameters (else the job's are used) */
    bool preparing;               /* PQsendPrepare in flight; the statement follows */
    int slot;                     /* its prepared name "gN", -1: runs unnamed */
};

struct pgq {
    struct pglink *link;
    struct pgq_opts opts;
    char *listen_sql; /* the connection's set-up: session settings, LISTEN */
    struct pgq_job *head, *tail;
    struct running run;
    int njobs;
    const char *prepared[PGQ_MAX_PREPARED]; /* statement "gN" of this connection is prepared[N] */
    int nprepared;
};

static void pgq_pump(struct pgq *q);

static void job_free(struct pgq_job *j)
{
    for (int i = 0; i < j->n; i++)
        free(j->params[i]);
    free(j);
}

/* Hand j its result (NULL: failed with err) and forget it. */
static void job_finish(struct pgq *q, struct pgq_job *j, PGresult *res, enum db_err err)
{
    stats_db_error(res != NULL ? DB_OK : err);
    j->cb(res, res != NULL ? DB_OK : err, j->arg);
    job_free(j);
    q->njobs--;
}

/* Take the head job off the queue. */
static struct pgq_job *job_pop(struct pgq *q)
{
    struct pgq_job *j = q->head;
    q->head = j->next;
    if (q->head == NULL)
        q->tail = NULL;
    j->next = NULL;
    return j;
}

/* Forget the statement in flight; its chain is the caller's. */
static struct pgq_job *run_take(struct pgq *q, int *k)
{
    struct pgq_job *chain = q->run.chain;

    *k = q->run.k;
    for (int i = 0; i < PGQ_MAX_PARAMS; i++)
        free(q->run.arrays[i]);
    memset(&q->run, 0, sizeof(q->run));
    return chain;
}

static void fail_chain(struct pgq *q, struct pgq_job *chain, enum db_err err)
{
    while (chain != NULL) {
        struct pgq_job *j = chain;
        chain = j->next;
        job_finish(q, j, NULL, err);
    }
}

static void fail_queued(struct pgq *q)
{
    while (q->head != NULL)
        job_finish(q, job_pop(q), NULL, DB_ERR_DOWN);
}

static void on_state(void *arg, bool up)
{
    struct pgq *q = arg;
    int k;

    if (up) {
        q->nprepared = 0; /* a new connection: nothing prepared yet */
        if (q->opts.on_up != NULL)
            q->opts.on_up(q->opts.arg);
    } else {
        /* what was in flight may or may not have committed: it fails, never re-runs */
        fail_chain(q, run_take(q, &k), DB_ERR_DOWN);
        fail_queued(q);
    }
    pgq_pump(q);
}

static void on_notify(void *arg, const char *channel, const char *payload)
{
    struct pgq *q = arg;
    if (q->opts.on_notify != NULL)
        q->opts.on_notify(channel, payload, q->opts.arg);
}

/*
 * Hand each of the k chained jobs its row, or, when the statement failed
 * (and so rolled back), put them back to run alone. A statement that
 * succeeded without one row per job cannot happen; it committed, so its
 * jobs fail rather than run again (as chat-api's send_group.c does).
 */
static void batch_done(struct pgq *q, struct pgq_job *chain, int k, const PGresult *res)
{
    PGresult *rows[PGQ_BATCH_MAX];

    if (res == NULL) {
        struct pgq_job *last = chain;
        for (struct pgq_job *j = chain; j != NULL; j = j->next) {
            j->solo = true;
            last = j;
        }
        last->next = q->head;
        q->head = chain;
        if (q->tail == NULL)
            q->tail = last;
        return;
    }
    db_batch_split(res, k, rows);
    for (int i = 0; chain != NULL; i++) {
        struct pgq_job *j = chain;
        chain = j->next;
        job_finish(q, j, rows[i], DB_ERR_DOWN);
        PQclear(rows[i]);
    }
}

/* Send the statement in flight (prepared as "gN", or unnamed). */
static void run_send(struct pgq *q)
{
    struct running *r = &q->run;
    const char *const *params =
        r->k > 1 ? (const char *const *)r->arrays : (const char *const *)r->chain->params;
    PGconn *pg = pglink_pg(q->link);
    char name[16];

    if (r->slot < 0) {
        pglink_sent(q->link, PQsendQueryParams(pg, r->sql, r->n, NULL, params, NULL, NULL, 0));
        return;
    }
    snprintf(name, sizeof(name), "g%d", r->slot);
    pglink_sent(q->link, PQsendQueryPrepared(pg, name, r->n, params, NULL, NULL, 0));
}

/* The prepare in flight ended: remember it and run the statement (unnamed if it failed). */
static void prepare_done(struct pgq *q, const PGresult *last)
{
    struct running *r = &q->run;

    r->preparing = false;
    if (last != NULL && PQresultStatus(last) == PGRES_COMMAND_OK)
        q->prepared[q->nprepared++] = r->sql;
    else
        r->slot = -1; /* unnamed, so a statement error reaches its job as its result */
    run_send(q);
}

static void on_done(void *arg, const PGresult *last)
{
    struct pgq *q = arg;
    ExecStatusType st = last ? PQresultStatus(last) : PGRES_FATAL_ERROR;
    PGresult *res = (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) ? (PGresult *)last : NULL;
    enum db_err err = res != NULL ? DB_OK : db_err_of_result(last);
    struct pgq_job *chain;
    int k;

    if (q->run.preparing) {
        prepare_done(q, last);
        return;
    }
    if (res == NULL && last != NULL)
        log_warn(NULL, "gateway query failed: %s", PQresultErrorMessage(last));
    chain = run_take(q, &k);
    if (k > 1)
        batch_done(q, chain, k, res);
    else
        job_finish(q, chain, res, err);
    pgq_pump(q);
}

/*
 * Start sql for chain (k jobs taken off the queue) on the idle link. Every
 * gateway statement is parsed and planned once per connection rather than
 * per execution (the batch statement's planning was most of a send's cost
 * in PostgreSQL): prepared on its first use (a round trip of its own, on
 * the loop like any other), unnamed when the table is full or it does not
 * prepare.
 */
static void run_start(struct pgq *q, struct pgq_job *chain, int k, const char *sql, int n)
{
    struct running *r = &q->run;
    int i = 0;
    char name[16];

    r->chain = chain;
    r->k = k;
    r->sql = sql;
    r->n = n;
    while (i < q->nprepared && q->prepared[i] != sql)
        i++;
    r->slot = i < PGQ_MAX_PREPARED ? i : -1;
    if (r->slot < 0 || i < q->nprepared) {
        run_send(q);
        return;
    }
    r->preparing = true;
    snprintf(name, sizeof(name), "g%d", i);
    pglink_sent(q->link, PQsendPrepare(pglink_pg(q->link), name, sql, 0, NULL));
}

/*
 * Start the queued jobs of the head's batch as one statement when there
 * are two or more. Returns true when it started something.
 */
static bool batch_start(struct pgq *q)
{
    struct pgq_job *first = q->head, *last = first;
    const char *const *rows[PGQ_BATCH_MAX];
    int max = first->batch ? first->batch->max : 0, k = 0, n = first->n;
    size_t bytes = 0;

    if (first->batch == NULL || first->solo)
        return false;
    if (max > PGQ_BATCH_MAX)
        max = PGQ_BATCH_MAX;
    for (struct pgq_job *j = first;
         j != NULL && j->batch == first->batch && !j->solo && k < max && bytes < DB_BATCH_BYTES;
         j = j->next) {
        for (int i = 0; i < j->n; i++)
            bytes += j->params[i] ? strlen(j->params[i]) : 0;
        rows[k++] = (const char *const *)j->params;
        last = j;
    }
    if (k < 2 || db_batch_arrays(rows, k, n, q->run.arrays) != 0)
        return false; /* one job, or out of memory: the head runs alone this time */
    q->head = last->next;
    if (q->head == NULL)
        q->tail = NULL;
    last->next = NULL;
    run_start(q, first, k, first->batch->many_sql, n);
    return true;
}

/* Start the next job if the connection is idle; fail them all while it is down. */
static void pgq_pump(struct pgq *q)
{
    struct pgq_job *j;

    if (q->head == NULL || q->run.chain != NULL)
        return;
    if (pglink_is_down(q->link)) {
        fail_queued(q);
        return;
    }
    if (!pglink_is_idle(q->link) || batch_start(q))
        return;
    j = job_pop(q);
    run_start(q, j, 1, j->sql ? j->sql : j->batch->sql, j->n);
}

static const struct pglink_handler handler = {
    .state = on_state,
    .done = on_done,
    .notify = on_notify,
};

struct pgq *pgq_new(uv_loop_t *loop, const struct pgq_opts *opts)
{
    struct pgq *q = calloc(1, sizeof(*q));
    struct pglink_opts lo = {
        .conninfo = opts->conninfo,
        .connect_timeout_ms = opts->connect_timeout_ms,
        .command_timeout_ms = opts->statement_timeout_ms,
        .name = opts->name,
    };
    size_t n;

    if (q == NULL)
        return NULL;
    q->opts = *opts;
    n = strlen(db_session_sql) + 1;
    for (const char *const *c = opts->listen; c != NULL && *c != NULL; c++)
        n += strlen(*c) + 10;
    if ((q->listen_sql = malloc(n)) == NULL) {
        free(q);
        return NULL;
    }
    snprintf(q->listen_sql, n, "%s", db_session_sql);
    for (const char *const *c = opts->listen; c != NULL && *c != NULL; c++) {
        size_t at = strlen(q->listen_sql);
        snprintf(q->listen_sql + at, n - at, "; LISTEN %s", *c);
    }
    lo.setup_sql = q->listen_sql;
    if ((q->link = pglink_new(loop, &lo, &handler, q)) == NULL) {
        free(q->listen_sql);
        free(q);
        return NULL;
    }
    return q;
}

bool pgq_is_up(const struct pgq *q)
{
    return pglink_is_up(q->link);
}

/* Fill j (sql already set by the caller), append it and start it if idle. */
static int enqueue(struct pgq *q, struct pgq_job *j, int n, const char *const *params, pgq_cb cb,
                   void *arg)
{
    j->n = n;
    for (int i = 0; i < n; i++)
        j->params[i] = params[i] ? strdup(params[i]) : NULL;
    j->cb = cb;
    j->arg = arg;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->njobs++;
    pgq_pump(q);
    return 0;
}

/* A new job, or NULL when the queue is full or n is too large. */
static struct pgq_job *job_new(const struct pgq *q, int n)
{
    if (q->njobs >= PGQ_MAX_JOBS || n > PGQ_MAX_PARAMS)
        return NULL;
    return calloc(1, sizeof(struct pgq_job));
}

int pgq_exec(struct pgq *q, const char *sql, int n, const char *const *params, pgq_cb cb, void *arg)
{
    struct pgq_job *j = job_new(q, n);

    if (j == NULL)
        return -1;
    j->sql = sql;
    return enqueue(q, j, n, params, cb, arg);
}

int pgq_exec_batched(struct pgq *q, const struct pgq_batch *b, int n, const char *const *params,
                     pgq_cb cb, void *arg)
{
    struct pgq_job *j = job_new(q, n);

    if (j == NULL)
        return -1;
    j->batch = b;
    return enqueue(q, j, n, params, cb, arg);
}

void pgq_free(struct pgq *q)
{
    int k;

    if (q == NULL)
        return;
    fail_chain(q, run_take(q, &k), DB_ERR_DOWN);
    fail_queued(q);
    pglink_close(q->link);
    free(q->listen_sql);
    free(q);
}
