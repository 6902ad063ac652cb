/*
 * migrate.h - schema migrations from sql/NNN_name.sql, embedded at build.
 *
 * Each migration runs in its own transaction and is recorded in
 * schema_migrations; an advisory lock serialises concurrent runs (several
 * hosts starting at once). Running twice is a no-op. A database whose
 * newest applied version is above what this binary knows is refused.
 */
#ifndef CHAT_MIGRATE_H
#define CHAT_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

struct migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct migration migrate_list[];
extern const int migrate_count;

/*
 * Apply pending migrations on pg. Returns the number applied (>= 0) or -1
 * with err set.
 */
int migrate_run(PGconn *pg, char *err, size_t errlen);

/* Newest version applied in the database (0 if none), or -1 on error. */
int migrate_current(PGconn *pg, char *err, size_t errlen);

#endif
