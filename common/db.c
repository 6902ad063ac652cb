/* db.c - see db.h. */
#include "db.h"
#include "stats.h"
#include "log.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A refused connect costs microseconds: retry soon, but not on every call. */
#define DB_RETRY_MS 100
/*
 * A server that let a connect or a statement time out is likely hung: while
 * it stays so, each backend tries it once a second (each try holds the
 * request for a whole timeout) and answers 503 at once in between.
 */
#define DB_HUNG_RETRY_MS 1000

static atomic_int next_slot = 1;

int db_init(struct db_conn *c, const struct chat_config *cfg)
{
    memset(c, 0, sizeof(*c));
    c->conninfo = strdup(cfg->database_url);
    c->echo = cfg->db_echo;
    c->connect_ms = cfg->db_connect_timeout_secs * 1000;
    c->wait_ms = cfg->db_statement_timeout_ms + DB_WAIT_MARGIN_MS;
    return c->conninfo != NULL ? 0 : -1;
}

void db_close(struct db_conn *c)
{
    if (c->pg != NULL)
        PQfinish(c->pg);
    c->pg = NULL;
    free(c->conninfo);
    c->conninfo = NULL;
}

static void db_drop(struct db_conn *c)
{
    if (c->pg != NULL)
        PQfinish(c->pg);
    c->pg = NULL;
    memset(c->prepared, 0, sizeof(c->prepared));
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t earlier(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Poll pg's socket for events until deadline: 1 ready, 0 timed out, -1 error. */
static int wait_socket(PGconn *pg, short events, int64_t deadline)
{
    struct pollfd pfd = {.fd = PQsocket(pg), .events = events};

    for (;;) {
        int64_t left = deadline - now_ms();
        int n;
        if (left <= 0)
            return 0;
        n = poll(&pfd, 1, (int)left);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

enum wait_rc { WAIT_DONE, WAIT_TIMEOUT, WAIT_BROKEN };

static enum wait_rc wait_rc_of(int polled)
{
    return polled == 0 ? WAIT_TIMEOUT : WAIT_BROKEN;
}

/*
 * Send what libpq has queued (the connection is non-blocking, so a large
 * batch does not block on a full socket) and read until a whole result is
 * in, or deadline passes.
 */
static enum wait_rc wait_result(PGconn *pg, int64_t deadline)
{
    int f, w;

    while ((f = PQflush(pg)) == 1) {
        if ((w = wait_socket(pg, POLLIN | POLLOUT, deadline)) <= 0)
            return wait_rc_of(w);
        if (PQconsumeInput(pg) == 0)
            return WAIT_BROKEN;
    }
    if (f < 0)
        return WAIT_BROKEN;
    while (PQisBusy(pg)) {
        if ((w = wait_socket(pg, POLLIN, deadline)) <= 0)
            return wait_rc_of(w);
        if (PQconsumeInput(pg) == 0)
            return WAIT_BROKEN;
    }
    return WAIT_DONE;
}

/*
 * The last result of what was sent on c (one statement: its only one), or
 * NULL when the connection broke or, *timed_out, deadline passed.
 */
static PGresult *db_collect(struct db_conn *c, int64_t deadline, bool *timed_out)
{
    PGresult *last = NULL, *r;
    enum wait_rc w;

    while ((w = wait_result(c->pg, deadline)) == WAIT_DONE && (r = PQgetResult(c->pg)) != NULL) {
        PQclear(last);
        last = r;
    }
    *timed_out = w == WAIT_TIMEOUT;
    if (w != WAIT_DONE) {
        PQclear(last);
        last = NULL;
    }
    return last;
}

/*
 * The server did not answer in time. The statement may or may not have
 * run (and committed): the connection is dropped, as for a broken one, and
 * the caller never retries it.
 */
static enum db_err db_timed_out(struct db_conn *c, const char *what)
{
    snprintf(c->last_error, sizeof(c->last_error), "no answer in time");
    log_emit(LOG_WARN, NULL, json_pack("{s:s}", "statement", what),
             "postgresql did not answer in time; connection dropped");
    db_drop(c);
    c->retry_after = now_ms() + DB_HUNG_RETRY_MS;
    return DB_ERR_DOWN;
}

/*
 * Every statement is a lookup by key on an index, so the generic plan is
 * the custom plan; with the default mode the server kept re-planning the
 * CTE-heavy statements on each execution (half of PostgreSQL's CPU in the
 * history benchmark was the planner).
 */
const char db_session_sql[] = "SET plan_cache_mode = force_generic_plan";


enum connect_rc { CONNECT_OK, CONNECT_FAILED, CONNECT_TIMEOUT };

/*
 * Connect without blocking past deadline: libpq's connect_timeout applies
 * only to its blocking connect, so PQconnectPoll is driven here. Then the
 * session settings (db_session_sql), best effort but within deadline.
 */
static enum connect_rc db_connect(struct db_conn *c, int64_t deadline)
{
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    bool timed_out = false;

    c->pg = PQconnectStart(c->conninfo);
    if (c->pg == NULL || PQstatus(c->pg) == CONNECTION_BAD)
        return CONNECT_FAILED;
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        int w = wait_socket(c->pg, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
        if (w <= 0)
            return w == 0 ? CONNECT_TIMEOUT : CONNECT_FAILED;
        st = PQconnectPoll(c->pg);
    }
    if (st == PGRES_POLLING_FAILED || PQsetnonblocking(c->pg, 1) != 0 ||
        PQsendQuery(c->pg, db_session_sql) == 0)
        return CONNECT_FAILED;
    PQclear(db_collect(c, deadline, &timed_out));
    if (timed_out)
        return CONNECT_TIMEOUT;
    return PQstatus(c->pg) == CONNECTION_OK ? CONNECT_OK : CONNECT_FAILED;
}

/* Connect if needed, giving up at deadline. Returns 0 when connected. */
static int db_ensure_by(struct db_conn *c, int64_t deadline)
{
    int64_t now = now_ms();
    enum connect_rc rc;

    /*
     * An idle connection whose server restarted still says CONNECTION_OK.
     * An idle session is never sent anything by the server but its
     * termination notice, so a readable socket means: reconnect now rather
     * than fail the request that would have used it.
     */
    if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK &&
        PQtransactionStatus(c->pg) == PQTRANS_IDLE) {
        struct pollfd pfd = {.fd = PQsocket(c->pg), .events = POLLIN};
        if (poll(&pfd, 1, 0) == 0)
            return 0;
    }
    if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK &&
        PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        return 0; /* inside a transaction: the caller's statement will tell */
    db_drop(c);
    if (now < c->retry_after)
        return -1;
    rc = db_connect(c, deadline);
    stats_db_connect(rc == CONNECT_OK);
    if (rc != CONNECT_OK) {
        snprintf(c->last_error, sizeof(c->last_error), "%s",
                 rc == CONNECT_TIMEOUT ? "connect timed out" : PQerrorMessage(c->pg));
        log_warn(NULL, "postgresql connect failed: %s", c->last_error);
        db_drop(c);
        c->retry_after = now_ms() + (rc == CONNECT_TIMEOUT ? DB_HUNG_RETRY_MS : DB_RETRY_MS);
        return -1;
    }
    c->retry_after = 0;
    return 0;
}

int db_ensure(struct db_conn *c)
{
    return db_ensure_by(c, now_ms() + c->connect_ms);
}

enum db_err db_err_from_sqlstate(const char *s)
{
    if (s == NULL)
        return DB_ERR_DOWN;
    if (strcmp(s, "23505") == 0)
        return DB_ERR_UNIQUE;
    if (strcmp(s, "23503") == 0)
        return DB_ERR_FK;
    if (strcmp(s, "23514") == 0 || strncmp(s, "22", 2) == 0)
        return DB_ERR_CHECK;
    if (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0)
        return DB_ERR_CONFLICT;
    /* 08xxx connection, 57P0x shutdown: the server is going away. */
    if (strncmp(s, "08", 2) == 0 || strncmp(s, "57P", 3) == 0)
        return DB_ERR_DOWN;
    return DB_ERR_OTHER;
}

enum db_err db_err_of_result(const PGresult *r)
{
    return db_err_from_sqlstate(r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL);
}

const struct db_err_answer *db_err_answer(enum db_err err)
{
    static const struct db_err_answer answers[] = {
        [DB_OK] = {503, "unavailable", "the service could not complete the request"},
        [DB_ERR_DOWN] = {503, "database_unavailable", "the database is unavailable, retry later"},
        [DB_ERR_UNIQUE] = {409, "conflict", "the resource already exists"},
        [DB_ERR_FK] = {422, "validation_error", "a referenced resource does not exist"},
        [DB_ERR_CHECK] = {422, "validation_error", "a value is out of range"},
        [DB_ERR_CONFLICT] = {503, "busy", "the request conflicted with another one, retry"},
        [DB_ERR_OTHER] = {503, "unavailable", "the service could not complete the request"},
    };
    if ((unsigned)err >= sizeof(answers) / sizeof(answers[0]))
        err = DB_ERR_OTHER;
    return &answers[err];
}

int db_batch_arrays(const char *const *const *rows, int k, int n, char **out)
{
    const char **vals = malloc(sizeof(*vals) * (size_t)(k > 0 ? k : 1));
    int i = 0;

    for (; vals != NULL && i < n; i++) {
        for (int m = 0; m < k; m++)
            vals[m] = rows[m][i];
        if ((out[i] = db_text_array(vals, k)) == NULL)
            break;
    }
    free(vals);
    if (i == n)
        return 0;
    while (i-- > 0) {
        free(out[i]);
        out[i] = NULL;
    }
    return -1;
}

int db_batch_split(const PGresult *res, int k, PGresult **rows)
{
    bool shaped = PQntuples(res) == k && PQnfields(res) >= 1;

    if (!shaped)
        log_error(NULL, "a batch of %d statements returned %d rows", k, PQntuples(res));
    for (int m = 0; m < k; m++)
        rows[m] = shaped ? db_result_row(res, m) : NULL;
    return shaped ? 0 : -1;
}

/* Classify a failed result; drops the connection when it is gone. */
static enum db_err db_fail(struct db_conn *c, PGresult *r, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    enum db_err e;

    if (PQstatus(c->pg) != CONNECTION_OK) {
        e = DB_ERR_DOWN;
    } else {
        e = db_err_from_sqlstate(state);
    }
    snprintf(c->last_error, sizeof(c->last_error), "%s",
             r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg));
    if (e == DB_ERR_OTHER || e == DB_ERR_DOWN)
        log_emit(LOG_WARN, NULL,
                 json_pack("{s:s, s:s}", "statement", what, "sqlstate", state ? state : ""),
                 "postgresql error: %s", c->last_error);
    if (r != NULL)
        PQclear(r);
    if (e == DB_ERR_DOWN)
        db_drop(c);
    return e;
}

static int stmt_slot(struct db_stmt *st)
{
    int s = __atomic_load_n(&st->slot, __ATOMIC_ACQUIRE);
    if (s == 0) {
        int fresh = atomic_fetch_add(&next_slot, 1);
        int expected = 0;
        if (__atomic_compare_exchange_n(&st->slot, &expected, fresh, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            s = fresh;
        else
            s = expected;
    }
    return s;
}

/*
 * The answer to what was just sent (sent: the PQsend* call's return) by
 * deadline: a result (caller PQclear()s) with *err = DB_OK, or NULL.
 */
static PGresult *db_await(struct db_conn *c, int sent, int64_t deadline, const char *what,
                          enum db_err *err)
{
    bool timed_out = false;
    PGresult *r = sent ? db_collect(c, deadline, &timed_out) : NULL;
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

    *err = DB_OK;
    if (timed_out)
        *err = db_timed_out(c, what);
    else if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK)
        *err = db_fail(c, r, what);
    return *err == DB_OK ? r : NULL;
}

static int stmt_prepare(struct db_conn *c, struct db_stmt *st, int64_t deadline, enum db_err *err)
{
    int slot = stmt_slot(st);
    PGresult *r;

    if (slot >= DB_MAX_STMTS) {
        log_error(NULL, "too many prepared statements (raise DB_MAX_STMTS)");
        *err = DB_ERR_OTHER;
        return -1;
    }
    if (c->prepared[slot / 64] & (1ull << (slot % 64)))
        return 0;
    r = db_await(c, PQsendPrepare(c->pg, st->name, st->sql, 0, NULL), deadline, st->name, err);
    if (r == NULL)
        return -1;
    PQclear(r);
    c->prepared[slot / 64] |= 1ull << (slot % 64);
    return 0;
}

/* Prepare st if needed and run it, on a connected c, all by deadline. */
static PGresult *db_exec_by(struct db_conn *c, struct db_stmt *st, int nparams,
                            const char *const *params, int64_t deadline, enum db_err *err)
{
    int sent;

    if (stmt_prepare(c, st, deadline, err) != 0)
        return NULL;
    if (c->echo)
        log_debug(NULL, "sql %s", st->name);
    sent = PQsendQueryPrepared(c->pg, st->name, nparams, params, NULL, NULL, 0);
    return db_await(c, sent, deadline, st->name, err);
}

PGresult *db_exec(struct db_conn *c, struct db_stmt *st, int nparams, const char *const *params,
                  enum db_err *err)
{
    PGresult *r = NULL;

    *err = DB_OK;
    if (db_ensure(c) != 0)
        *err = DB_ERR_DOWN;
    else
        r = db_exec_by(c, st, nparams, params, now_ms() + c->wait_ms, err);
    stats_db_error(*err);
    return r;
}

bool db_ping(struct db_conn *c, struct db_stmt *st, int budget_ms)
{
    int64_t deadline = now_ms() + budget_ms;
    enum db_err err = DB_ERR_DOWN;
    PGresult *r = NULL;

    if (db_ensure_by(c, earlier(deadline, now_ms() + c->connect_ms)) == 0)
        r = db_exec_by(c, st, 0, NULL, deadline, &err);
    PQclear(r);
    return err == DB_OK;
}

enum db_err db_simple(struct db_conn *c, const char *sql)
{
    enum db_err err;
    PGresult *r;

    if (db_ensure(c) != 0)
        return DB_ERR_DOWN;
    r = db_await(c, PQsendQuery(c->pg, sql), now_ms() + c->wait_ms, sql, &err);
    PQclear(r);
    return err;
}

const char *db_get(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return NULL;
    return PQgetvalue(r, row, col);
}

char *db_text_array(const char *const *vals, int k)
{
    size_t cap = 3, at = 0;
    char *s;

    for (int m = 0; m < k; m++)
        cap += (vals[m] ? 2 * strlen(vals[m]) + 2 : 4) + 1;
    if ((s = malloc(cap)) == NULL)
        return NULL;
    s[at++] = '{';
    for (int m = 0; m < k; m++) {
        const char *v = vals[m];
        if (m > 0)
            s[at++] = ',';
        if (v == NULL) {
            memcpy(s + at, "NULL", 4);
            at += 4;
            continue;
        }
        s[at++] = '"';
        for (; *v; v++) {
            if (*v == '"' || *v == '\\')
                s[at++] = '\\';
            s[at++] = *v;
        }
        s[at++] = '"';
    }
    s[at++] = '}';
    s[at] = '\0';
    return s;
}

PGresult *db_result_row(const PGresult *res, int i)
{
    PGresult *one = PQcopyResult(res, PG_COPYRES_ATTRS);
    if (one == NULL || PQgetisnull(res, i, 0))
        return one;
    for (int c = 0; c < PQnfields(res); c++) {
        bool null = PQgetisnull(res, i, c);
        if (!PQsetvalue(one, 0, c, null ? NULL : PQgetvalue(res, i, c),
                        null ? -1 : PQgetlength(res, i, c))) {
            PQclear(one);
            return NULL;
        }
    }
    return one;
}
