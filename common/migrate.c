/* migrate.c - see migrate.h. */
#include "migrate.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>

#define MIGRATE_LOCK_KEY "7270019"

/* Run sql; on failure copy the server's message into err. */
static int exec_ok(PGconn *pg, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(err, errlen, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
    PQclear(r);
    return ok ? 0 : -1;
}

/* Columns of migrate_current()'s SELECT. */
enum { MIGRATE_CURRENT_COL_VERSION };

int migrate_current(PGconn *pg, char *err, size_t errlen)
{
    PGresult *r;
    int v = -1;

    if (exec_ok(pg,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())",
                err, errlen) != 0)
        return -1;
    r = PQexec(pg, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = atoi(PQgetvalue(r, 0, MIGRATE_CURRENT_COL_VERSION));
    else
        snprintf(err, errlen, "%s", PQerrorMessage(pg));
    PQclear(r);
    return v;
}

static int apply_one(PGconn *pg, const struct migration *m, char *err, size_t errlen)
{
    char ver[16];
    const char *params[2] = {ver, m->name};
    PGresult *r;
    int rc = -1;

    snprintf(ver, sizeof(ver), "%d", m->version);
    if (exec_ok(pg, "BEGIN", err, errlen) != 0)
        return -1;
    if (exec_ok(pg, m->sql, err, errlen) != 0)
        goto out;
    r = PQexecParams(pg, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, NULL,
                     params, NULL, NULL, 0);
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "%s", PQerrorMessage(pg));
        PQclear(r);
        goto out;
    }
    PQclear(r);
    rc = exec_ok(pg, "COMMIT", err, errlen);
out:
    if (rc != 0) {
        char ignore[8];
        exec_ok(pg, "ROLLBACK", ignore, sizeof(ignore));
    }
    return rc;
}

int migrate_run(PGconn *pg, char *err, size_t errlen)
{
    int current, applied = 0, known = 0;
    char ignore[8];

    for (int i = 0; i < migrate_count; i++)
        if (migrate_list[i].version > known)
            known = migrate_list[i].version;
    if (exec_ok(pg, "SET client_min_messages = warning", err, errlen) != 0 ||
        exec_ok(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, errlen) != 0)
        return -1;
    current = migrate_current(pg, err, errlen);
    if (current < 0) {
        applied = -1;
        goto out;
    }
    if (current > known) {
        snprintf(err, errlen,
                 "database schema version %d is newer than this binary knows (%d): refusing",
                 current, known);
        applied = -1;
        goto out;
    }
    for (int i = 0; i < migrate_count; i++) {
        const struct migration *m = &migrate_list[i];
        if (m->version <= current)
            continue;
        if (apply_one(pg, m, err, errlen) != 0) {
            char msg[512];
            snprintf(msg, sizeof(msg), "migration %s failed: %s", m->name, err);
            snprintf(err, errlen, "%s", msg);
            applied = -1;
            goto out;
        }
        log_info(NULL, "applied migration %s", m->name);
        applied++;
    }
out:
    exec_ok(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", ignore, sizeof(ignore));
    return applied;
}
