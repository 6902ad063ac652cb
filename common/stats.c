/* stats.c - see stats.h. */
#include "stats.h"

#include <stdio.h>

struct chat_stats stats;

void stats_init(const char *binary)
{
    static char name[64];
    struct mx_family *info;

    snprintf(name, sizeof(name), "%s_build_info", binary);
    info = mx_gauge(name, "Build of this process (value 1)");
    mx_set(info, "version=\"" CHAT_VERSION "\"", 1);
    stats.rate_limited = mx_counter("chat_rate_limited_total",
                                    "Requests and frames refused by a rate limit, by limit");
    stats.pg_errors =
        mx_counter("chat_postgres_errors_total", "PostgreSQL statements that failed, by class");
    stats.pg_connects =
        mx_counter("chat_postgres_connects_total", "PostgreSQL connection attempts, by result");
    stats.redis_errors =
        mx_counter("chat_redis_errors_total",
                   "Redis commands that failed (no answer, error reply, link down)");
    stats.redis_connects =
        mx_counter("chat_redis_connects_total", "Redis connection attempts, by result");
}

void stats_rate_limited(const char *scope)
{
    char labels[64];

    snprintf(labels, sizeof(labels), "scope=\"%s\"", scope);
    mx_inc(stats.rate_limited, labels);
}

void stats_db_error(enum db_err err)
{
    static const char *classes[] = {
        [DB_OK] = "ok",
        [DB_ERR_DOWN] = "down",
        [DB_ERR_UNIQUE] = "unique",
        [DB_ERR_FK] = "foreign_key",
        [DB_ERR_CHECK] = "check",
        [DB_ERR_CONFLICT] = "conflict",
        [DB_ERR_OTHER] = "other",
    };
    char labels[48];

    if (err == DB_OK || (unsigned)err >= sizeof(classes) / sizeof(classes[0]))
        return;
    snprintf(labels, sizeof(labels), "class=\"%s\"", classes[err]);
    mx_inc(stats.pg_errors, labels);
}

void stats_db_connect(bool ok)
{
    mx_inc(stats.pg_connects, ok ? "result=\"ok\"" : "result=\"failed\"");
}

void stats_redis_connect(bool ok)
{
    mx_inc(stats.redis_connects, ok ? "result=\"ok\"" : "result=\"failed\"");
}

void stats_redis_error(void)
{
    mx_inc(stats.redis_errors, NULL);
}
