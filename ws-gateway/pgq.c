/* pgq.c - see pgq.h. */
#include "pgq.h"
#include "db.h"
#include "log.h"

#include <stdbool.h>
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

struct pgq {
    uv_loop_t *loop;
    char *conninfo;
    PGconn *pg;
    uv_poll_t *poll; /* per connection: closing is asynchronous */
    uv_timer_t retry;
    struct pgq_job *head, *tail;
    struct pgq_job *running; /* the job, or the chain of a batch, in flight */
    int nrunning;
    PGresult *last; /* result of the running job, delivered at its end */
    int njobs;
    int up;
    const char *prepared[PGQ_MAX_PREPARED]; /* statement "gN" of this connection is prepared[N] */
    int nprepared;
};

static void job_free(struct pgq_job *j)
{
    for (int i = 0; i < j->n; i++)
        free(j->params[i]);
    free(j);
}

static void pgq_pump(struct pgq *q);

/* Hand j its result (NULL: failed with err) and forget it. */
static void job_finish(struct pgq *q, struct pgq_job *j, PGresult *res, enum db_err err)
{
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

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void pgq_drop(struct pgq *q, const char *why)
{
    if (q->pg != NULL) {
        log_warn(NULL, "postgresql connection lost: %s", why);
        if (q->poll != NULL) {
            uv_poll_stop(q->poll);
            uv_close((uv_handle_t *)q->poll, free_handle);
            q->poll = NULL;
        }
        PQfinish(q->pg);
        q->pg = NULL;
    }
    q->up = 0;
    if (q->running != NULL) {
        struct pgq_job *chain = q->running;
        q->running = NULL;
        q->nrunning = 0;
        PQclear(q->last);
        q->last = NULL;
        while (chain != NULL) {
            struct pgq_job *j = chain;
            chain = j->next;
            job_finish(q, j, NULL, DB_ERR_DOWN);
        }
    }
}

static void on_poll(uv_poll_t *h, int status, int events);

static int pgq_connect(struct pgq *q)
{
    q->pg = PQconnectdb(q->conninfo);
    if (PQstatus(q->pg) != CONNECTION_OK) {
        PQfinish(q->pg);
        q->pg = NULL;
        q->up = 0;
        return -1;
    }
    db_session_setup(q->pg);
    q->nprepared = 0;
    PQsetnonblocking(q->pg, 1);
    q->poll = malloc(sizeof(*q->poll));
    if (q->poll == NULL || uv_poll_init_socket(q->loop, q->poll, PQsocket(q->pg)) != 0) {
        free(q->poll);
        q->poll = NULL;
        PQfinish(q->pg);
        q->pg = NULL;
        return -1;
    }
    q->poll->data = q;
    uv_poll_start(q->poll, UV_READABLE, on_poll);
    q->up = 1;
    return 0;
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

/* Deliver the running job's result once libpq has no more. */
static void pgq_read(struct pgq *q)
{
    if (PQconsumeInput(q->pg) == 0) {
        pgq_drop(q, PQerrorMessage(q->pg));
        return;
    }
    while (q->running != NULL && !PQisBusy(q->pg)) {
        PGresult *r = PQgetResult(q->pg);
        if (r != NULL) {
            PQclear(q->last);
            q->last = r;
            continue;
        }
        {
            struct pgq_job *j = q->running;
            int k = q->nrunning;
            ExecStatusType st = q->last ? PQresultStatus(q->last) : PGRES_FATAL_ERROR;
            PGresult *res = (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) ? q->last : NULL;
            enum db_err err = res != NULL ? DB_OK : db_err_of_result(q->last);
            if (res == NULL && q->last != NULL)
                log_warn(NULL, "gateway query failed: %s", PQresultErrorMessage(q->last));
            q->running = NULL;
            q->nrunning = 0;
            if (k > 1) {
                batch_done(q, j, k, res);
            } else {
                job_finish(q, j, res, err);
            }
            PQclear(q->last);
            q->last = NULL;
        }
    }
    if (PQstatus(q->pg) != CONNECTION_OK)
        pgq_drop(q, "connection closed");
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct pgq *q = h->data;
    (void)events;
    if (status < 0) {
        pgq_drop(q, uv_strerror(status));
        return;
    }
    if (q->pg == NULL)
        return;
    if (events & UV_WRITABLE) {
        int f = PQflush(q->pg);
        if (f == 0)
            uv_poll_start(q->poll, UV_READABLE, on_poll);
        else if (f < 0) {
            pgq_drop(q, PQerrorMessage(q->pg));
            return;
        }
    }
    if (events & UV_READABLE)
        pgq_read(q);
    pgq_pump(q);
}

static void on_retry(uv_timer_t *t)
{
    struct pgq *q = t->data;
    /* While down, try again every second so health reflects reality. */
    if (q->pg == NULL && pgq_connect(q) == 0)
        log_info(NULL, "postgresql connection restored");
    pgq_pump(q);
}

/* Fail every queued job (database unreachable). */
static void pgq_fail_queued(struct pgq *q)
{
    while (q->head != NULL)
        job_finish(q, job_pop(q), NULL, DB_ERR_DOWN);
}

/*
 * Send sql with its parameters as a prepared statement of this connection.
 * Every gateway statement is parsed and planned once per connection rather
 * than per execution (the batch statement's planning was most of a send's
 * cost in PostgreSQL). A statement is prepared on its first use, with a
 * blocking round trip like the connect itself, once per connection; when
 * the table is full or the statement does not prepare, it runs unnamed.
 * Returns libpq's 1 or 0.
 */
static int send_prepared(struct pgq *q, const char *sql, int n, const char *const *params)
{
    char name[16];
    int i = 0;

    while (i < q->nprepared && q->prepared[i] != sql)
        i++;
    if (i == q->nprepared) {
        PGresult *r;
        if (i == PGQ_MAX_PREPARED)
            return PQsendQueryParams(q->pg, sql, n, NULL, params, NULL, NULL, 0);
        snprintf(name, sizeof(name), "g%d", i);
        r = PQprepare(q->pg, name, sql, 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            /* unnamed, so a statement error reaches its job as its result */
            PQclear(r);
            if (PQstatus(q->pg) != CONNECTION_OK)
                return 0;
            return PQsendQueryParams(q->pg, sql, n, NULL, params, NULL, NULL, 0);
        }
        PQclear(r);
        q->prepared[q->nprepared++] = sql;
    }
    snprintf(name, sizeof(name), "g%d", i);
    return PQsendQueryPrepared(q->pg, name, n, params, NULL, NULL, 0);
}

/* Send sql for chain (k jobs taken off the queue), which becomes the running statement. */
static void run(struct pgq *q, struct pgq_job *chain, int k, const char *sql, int n,
                const char *const *params)
{
    q->running = chain;
    q->nrunning = k;
    if (send_prepared(q, sql, n, params) == 0) {
        pgq_drop(q, PQerrorMessage(q->pg));
        return;
    }
    if (PQflush(q->pg) == 1)
        uv_poll_start(q->poll, UV_READABLE | UV_WRITABLE, on_poll);
}

/*
 * Start the queued jobs of the head's batch as one statement when there
 * are two or more. Returns true when it started (or dropped) something.
 */
static bool batch_start(struct pgq *q)
{
    struct pgq_job *first = q->head, *last = first;
    const char *const *rows[PGQ_BATCH_MAX];
    char *arrays[PGQ_MAX_PARAMS];
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
    if (k < 2 || db_batch_arrays(rows, k, n, arrays) != 0)
        return false; /* one job, or out of memory: the head runs alone this time */
    q->head = last->next;
    if (q->head == NULL)
        q->tail = NULL;
    last->next = NULL;
    run(q, first, k, first->batch->many_sql, n, (const char *const *)arrays);
    for (int i = 0; i < n; i++)
        free(arrays[i]);
    return true;
}

/* Start the next job if the connection is idle. */
static void pgq_pump(struct pgq *q)
{
    struct pgq_job *j;

    if (q->running != NULL || q->head == NULL)
        return;
    if (q->pg == NULL && pgq_connect(q) != 0) {
        pgq_fail_queued(q);
        return;
    }
    if (batch_start(q))
        return;
    j = job_pop(q);
    run(q, j, 1, j->sql ? j->sql : j->batch->sql, j->n, (const char *const *)j->params);
}

struct pgq *pgq_new(uv_loop_t *loop, const char *conninfo)
{
    struct pgq *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return NULL;
    q->loop = loop;
    q->conninfo = strdup(conninfo);
    uv_timer_init(loop, &q->retry);
    q->retry.data = q;
    uv_timer_start(&q->retry, on_retry, 1000, 1000);
    if (pgq_connect(q) != 0)
        log_warn(NULL, "postgresql is not reachable yet; will retry on demand");
    return q;
}

int pgq_is_up(const struct pgq *q)
{
    return q->up;
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
    if (q == NULL)
        return;
    pgq_fail_queued(q);
    pgq_drop(q, "shutdown");
    uv_timer_stop(&q->retry);
    uv_close((uv_handle_t *)&q->retry, NULL);
    free(q->conninfo);
    /* q itself is released by the caller after the loop closed the handles. */
}
