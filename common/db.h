/*
 * db.h - one PostgreSQL connection with lazily prepared statements, and
 * what both binaries share about statements: error classes and the
 * batching of many single-row statements into one.
 *
 * A struct db_conn is used by one thread at a time (chat-api lends its
 * backends from a pool; see fcgi-api/main.c): no locks here. Statements
 * are declared once as static struct db_stmt and prepared on a
 * connection the first time they run there. A dropped connection is
 * noticed, reported as DB_ERR_DOWN (the caller answers 503), and re-opened
 * on the next call. A statement is never retried after it was sent: we
 * cannot know whether it committed.
 *
 * Every wait is bounded on our side, not only by the server's
 * statement_timeout (a stopped or partitioned server never answers, and
 * tcp_user_timeout does not apply to unix sockets): a connect by
 * DB_CONNECT_TIMEOUT_SECS, a statement by DB_STATEMENT_TIMEOUT_MS plus
 * DB_WAIT_MARGIN_MS. On expiry the connection is dropped and the call
 * reports DB_ERR_DOWN; reconnects then wait DB_HUNG_RETRY_MS.
 */
#ifndef CHAT_DB_H
#define CHAT_DB_H

#include "config.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define DB_MAX_STMTS 256
/* Past the server's statement_timeout, time for its cancel to reach us. */
#define DB_WAIT_MARGIN_MS 500

enum db_err {
    DB_OK = 0,
    DB_ERR_DOWN,     /* no connection, or it broke during the call */
    DB_ERR_UNIQUE,   /* 23505 unique_violation */
    DB_ERR_FK,       /* 23503 foreign_key_violation */
    DB_ERR_CHECK,    /* 23514 check_violation, 22xxx data exceptions */
    DB_ERR_CONFLICT, /* 40001 serialization failure, 40P01 deadlock */
    DB_ERR_OTHER     /* anything else: a bug on our side */
};

struct db_stmt {
    const char *name;
    const char *sql;
    int slot; /* assigned on first use; 0 = not yet (zero-initialise) */
};

struct db_conn {
    PGconn *pg;
    char *conninfo;
    bool echo;
    int connect_ms;      /* bound on a connect, session set-up included */
    int wait_ms;         /* bound on one db_exec/db_simple once connected */
    int64_t retry_after; /* monotonic ms; throttles reconnects while the DB is down */
    uint64_t prepared[DB_MAX_STMTS / 64];
    char last_error[256];
};

/*
 * Remember cfg's conninfo, echo flag and timeouts (cfg is not kept); the
 * connection is made on first use. Returns 0/-1.
 */
int db_init(struct db_conn *c, const struct chat_config *cfg);
void db_close(struct db_conn *c);

/* Connect if needed. Returns 0 when a usable connection exists. */
int db_ensure(struct db_conn *c);

/*
 * Session settings every connection of ours gets (chat-api and gateway):
 * db.c's connects send them within their deadline, the gateway's pglink.c
 * as its set-up.
 */
extern const char db_session_sql[];

/*
 * /health's probe: connect if needed and run st, all within budget_ms
 * (shorter than the usual bounds, so a hung server is reported quickly).
 * True when st ran.
 */
bool db_ping(struct db_conn *c, struct db_stmt *st, int budget_ms);

/*
 * Run a prepared statement with text parameters (NULL = SQL NULL). Returns
 * the result (caller PQclear()s) with *err = DB_OK, or NULL with *err set.
 */
PGresult *db_exec(struct db_conn *c, struct db_stmt *st, int nparams, const char *const *params,
                  enum db_err *err);

/* Run a parameterless utility statement (BEGIN, COMMIT, ROLLBACK). */
enum db_err db_simple(struct db_conn *c, const char *sql);

/* Convenience: true if result has at least one row. */
static inline bool db_has_row(const PGresult *r)
{
    return r != NULL && PQntuples(r) > 0;
}

/* Field as string; NULL when SQL NULL. Borrowed from the result. */
const char *db_get(const PGresult *r, int row, int col);

/* Parameter text per batched statement, at most (both batchers stop there). */
#define DB_BATCH_BYTES (1 << 20)

/*
 * Batches pass one parameter per column: the array literal {"v1",NULL,...}
 * of k text values (NULL = SQL NULL). malloc'd; NULL when out of memory.
 */
char *db_text_array(const char *const *vals, int k);

/*
 * Row i of a batch result as a result of its own, shaped like the
 * single-row statement's: no row when the row's first column is NULL.
 * The caller PQclear()s it; NULL when out of memory.
 */
PGresult *db_result_row(const PGresult *res, int i);

/* Map a SQLSTATE to our error class. */
enum db_err db_err_from_sqlstate(const char *sqlstate);

/* The class of a failed result (NULL: no result, the connection failed). */
enum db_err db_err_of_result(const PGresult *r);

/*
 * How a client is told about err: the one table for REST (status, code,
 * message) and the gateway's error frames (code, message). Static strings.
 */
struct db_err_answer {
    int status;
    const char *code;
    const char *message;
};
const struct db_err_answer *db_err_answer(enum db_err err);

/*
 * Batching (chat-api's send_group.c, the gateway's pgq.c): k single-row
 * statements of n parameters each run as one statement whose parameter i
 * is the array literal of the k statements' parameters i.
 * db_batch_arrays() fills out[0..n) from rows[0..k) (each n parameters):
 * malloc'd, all freed and -1 returned when out of memory.
 * db_batch_split() gives each of the k statements its row of res as a
 * result of its own (db_result_row), or returns -1, with rows[] all NULL,
 * when res does not have k rows (it committed all the same: never run
 * them again).
 */
int db_batch_arrays(const char *const *const *rows, int k, int n, char **out);
int db_batch_split(const PGresult *res, int k, PGresult **rows);

#endif
