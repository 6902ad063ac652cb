/* db.c - see db.h. */
#include "db.h"
#include "log.h"

#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A refused connect costs microseconds: retry soon, but not on every call. */
#define DB_RETRY_MS 100

static atomic_int next_slot = 1;

int db_init(struct db_conn *c, const char *conninfo, bool echo)
{
    memset(c, 0, sizeof(*c));
    c->conninfo = strdup(conninfo);
    c->echo = echo;
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

/*
 * Every statement is a lookup by key on an index, so the generic plan is
 * the custom plan; with the default mode the server kept re-planning the
 * CTE-heavy statements on each execution (half of PostgreSQL's CPU in the
 * history benchmark was the planner).
 */
const char db_session_sql[] = "SET plan_cache_mode = force_generic_plan";

void db_session_setup(PGconn *pg)
{
    /* Best effort: a server without the setting still works. */
    PGresult *r = PQexec(pg, db_session_sql);
    PQclear(r);
}

int db_ensure(struct db_conn *c)
{
    int64_t now = now_ms();

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
    c->pg = PQconnectdb(c->conninfo);
    if (PQstatus(c->pg) != CONNECTION_OK) {
        snprintf(c->last_error, sizeof(c->last_error), "%s", PQerrorMessage(c->pg));
        log_warn(NULL, "postgresql connect failed: %s", c->last_error);
        db_drop(c);
        c->retry_after = now + DB_RETRY_MS;
        return -1;
    }
    c->retry_after = 0;
    db_session_setup(c->pg);
    return 0;
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

static int stmt_prepare(struct db_conn *c, struct db_stmt *st, enum db_err *err)
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
    r = PQprepare(c->pg, st->name, st->sql, 0, NULL);
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
        *err = db_fail(c, r, st->name);
        return -1;
    }
    PQclear(r);
    c->prepared[slot / 64] |= 1ull << (slot % 64);
    return 0;
}

PGresult *db_exec(struct db_conn *c, struct db_stmt *st, int nparams, const char *const *params,
                  enum db_err *err)
{
    PGresult *r;
    ExecStatusType s;

    *err = DB_OK;
    if (db_ensure(c) != 0) {
        *err = DB_ERR_DOWN;
        return NULL;
    }
    if (stmt_prepare(c, st, err) != 0)
        return NULL;
    if (c->echo)
        log_debug(NULL, "sql %s", st->name);
    r = PQexecPrepared(c->pg, st->name, nparams, params, NULL, NULL, 0);
    s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
        *err = db_fail(c, r, st->name);
        return NULL;
    }
    return r;
}

enum db_err db_simple(struct db_conn *c, const char *sql)
{
    PGresult *r;

    if (db_ensure(c) != 0)
        return DB_ERR_DOWN;
    r = PQexec(c->pg, sql);
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK)
        return db_fail(c, r, sql);
    PQclear(r);
    return DB_OK;
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
