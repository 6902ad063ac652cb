/*
 * stats.h - the metrics both binaries keep (metrics.h writes them): rate
 * limit refusals, PostgreSQL and Redis errors and connects, build info.
 * Each binary adds its own families (fcgi-api/api_stats.c,
 * ws-gateway/gw_stats.c) after stats_init().
 */
#ifndef CHAT_STATS_H
#define CHAT_STATS_H

#include "db.h"
#include "metrics.h"

#include <stdbool.h>

#ifndef CHAT_VERSION
#define CHAT_VERSION "dev"
#endif

struct chat_stats {
    struct mx_family *rate_limited;   /* {scope} */
    struct mx_family *pg_errors;      /* {class} */
    struct mx_family *pg_connects;    /* {result} */
    struct mx_family *redis_errors;   /* no labels */
    struct mx_family *redis_connects; /* {result} */
};

extern struct chat_stats stats;

/* Declare the shared families and <binary>_build_info (e.g. "chat_api"). */
void stats_init(const char *binary);

/* Count a refusal of scope's limit. */
void stats_rate_limited(const char *scope);

/* Count a failed statement by its class (DB_OK counts nothing). */
void stats_db_error(enum db_err err);

/* Count a Redis command that got no answer (or the link's loss under it). */
void stats_redis_error(void);

/* Count a connect attempt to PostgreSQL or Redis. */
void stats_db_connect(bool ok);
void stats_redis_connect(bool ok);

#endif
