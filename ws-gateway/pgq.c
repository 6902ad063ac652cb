/* pgq.c - see pgq.h. */
#include "pgq.h"
#include "db.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

/* A burst of connects queues an auth and a catch-up query each: room for
 * tens of thousands, yet bounded. */
#define PGQ_MAX_JOBS 65536

struct pgq_job {
    char *sql;
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
    struct pgq_job *head, *tail, *running;
    PGresult *last; /* result of the running job, delivered at its end */
    int njobs;
    int up;
};

static void job_free(struct pgq_job *j)
{
    for (int i = 0; i < j->n; i++)
        free(j->params[i]);
    free(j->sql);
    free(j);
}

static void pgq_pump(struct pgq *q);

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
        struct pgq_job *j = q->running;
        q->running = NULL;
        PQclear(q->last);
        q->last = NULL;
        j->cb(NULL, j->arg);
        job_free(j);
        q->njobs--;
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
            ExecStatusType st = q->last ? PQresultStatus(q->last) : PGRES_FATAL_ERROR;
            PGresult *res = (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) ? q->last : NULL;
            if (res == NULL && q->last != NULL)
                log_warn(NULL, "gateway query failed: %s", PQresultErrorMessage(q->last));
            q->running = NULL;
            j->cb(res, j->arg);
            PQclear(q->last);
            q->last = NULL;
            job_free(j);
            q->njobs--;
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
    while (q->head != NULL) {
        struct pgq_job *j = q->head;
        q->head = j->next;
        if (q->head == NULL)
            q->tail = NULL;
        j->cb(NULL, j->arg);
        job_free(j);
        q->njobs--;
    }
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
    j = q->head;
    q->head = j->next;
    if (q->head == NULL)
        q->tail = NULL;
    if (PQsendQueryParams(q->pg, j->sql, j->n, NULL, (const char *const *)j->params, NULL, NULL,
                          0) == 0) {
        q->running = j;
        pgq_drop(q, PQerrorMessage(q->pg));
        return;
    }
    q->running = j;
    if (PQflush(q->pg) == 1)
        uv_poll_start(q->poll, UV_READABLE | UV_WRITABLE, on_poll);
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

int pgq_exec(struct pgq *q, const char *sql, int n, const char *const *params, pgq_cb cb, void *arg)
{
    struct pgq_job *j;

    if (q->njobs >= PGQ_MAX_JOBS || n > PGQ_MAX_PARAMS)
        return -1;
    j = calloc(1, sizeof(*j));
    if (j == NULL)
        return -1;
    j->sql = strdup(sql);
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
