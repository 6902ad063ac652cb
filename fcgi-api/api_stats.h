/*
 * api_stats.h - chat-api's own metrics (beside common/stats.h): requests
 * by route template, method and status, their latency, the backend pool,
 * group-commit batch sizes. Served by GET /metrics (routes_metrics.c).
 */
#ifndef CHAT_API_STATS_H
#define CHAT_API_STATS_H

#include "metrics.h"

struct api_stats {
    struct mx_family *requests;      /* {route,method,status} */
    struct mx_family *duration;      /* {route} histogram, seconds */
    struct mx_family *backend_waits; /* requests that waited for a backend */
    struct mx_family *backend_busy;  /* ... and got none in DB_POOL_WAIT_MS (503) */
    struct mx_family *batch_size;    /* sends stored per statement (histogram) */
};

extern struct api_stats api_stats;

/* Declare every family; pool: a collect callback for the pool's gauges (in use, open). */
void api_stats_init(mx_collect_fn pool, void *arg);

/* One answered request; route NULL when no route matched (one series for all such). */
void api_stats_request(const char *route, const char *method, int status, double seconds);

#endif
