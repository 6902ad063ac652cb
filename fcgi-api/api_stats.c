/* api_stats.c - see api_stats.h. */
#include "api_stats.h"
#include "stats.h"

#include <stdio.h>
#include <string.h>

struct api_stats api_stats;

/* Seconds: from a cached page (~1 ms) to a request that waited on a hung dependency. */
static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,   0.25,   0.5,   1,    2.5};
static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64};

void api_stats_init(mx_collect_fn pool, void *arg)
{
    stats_init("chat_api");
    api_stats.requests = mx_counter("chat_api_requests_total",
                                    "Requests answered, by route template, method and status");
    api_stats.duration = mx_histogram("chat_api_request_duration_seconds",
                                      "Time from the request's arrival to its answer, by route",
                                      latency_bounds, sizeof(latency_bounds) / sizeof(double));
    mx_gauge_fn("chat_api_backends", "Backends (a PostgreSQL and a Redis connection) by state",
                pool, arg);
    api_stats.backend_waits =
        mx_counter("chat_api_backend_waits_total", "Requests that had to wait for a free backend");
    api_stats.backend_busy = mx_counter("chat_api_backend_timeouts_total",
                                        "Requests answered 503 because no backend came free");
    api_stats.batch_size =
        mx_histogram("chat_api_send_batch_size", "Messages stored by one statement (group commit)",
                     batch_bounds, sizeof(batch_bounds) / sizeof(double));
}

/* A method as a label: one of the few the router serves, else "other". */
static const char *method_label(const char *m)
{
    static const char *known[] = {"GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (m != NULL && strcmp(m, known[i]) == 0)
            return known[i];
    return "other";
}

void api_stats_request(const char *route, const char *method, int status, double seconds)
{
    char labels[256];
    const char *r = route != NULL ? route : "unmatched";

    snprintf(labels, sizeof(labels), "route=\"%s\",method=\"%s\",status=\"%d\"", r,
             method_label(method), status);
    mx_inc(api_stats.requests, labels);
    snprintf(labels, sizeof(labels), "route=\"%s\"", r);
    mx_observe(api_stats.duration, labels, seconds);
}
