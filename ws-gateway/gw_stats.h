/*
 * gw_stats.h - the gateway's own metrics (beside common/stats.h): sockets,
 * subscriptions, deliveries, catch-ups, closes by code (1008: a client
 * that does not read; frames refused by a rate limit are in common/stats.h),
 * admission refusals, the stream's events and lag. Served on the gateway's
 * own port at GET /metrics (session.c), to METRICS_ALLOW peers only.
 */
#ifndef GW_GW_STATS_H
#define GW_GW_STATS_H

#include "metrics.h"

struct gw_stats {
    struct mx_family *deliveries;    /* message frames queued to sockets */
    struct mx_family *catchups;      /* {kind}: reads of missed messages from PostgreSQL */
    struct mx_family *closed;        /* {code}: sockets the gateway closed */
    struct mx_family *refused;       /* {reason}: handshakes refused by admission */
    struct mx_family *stream_events; /* events read from the streams */
    struct mx_family *stream_lag;    /* seconds between an event's XADD and its read */
};

extern struct gw_stats gw_stats;

void gw_stats_init(void);

/* Count a close with code (as a label). */
void gw_stats_closed(int code);

/* Count one event read whose stream id says it was added at added_ms (epoch). */
void gw_stats_stream_event(long long added_ms);

#endif
