/* gw_stats.c - see gw_stats.h. */
#include "gw_stats.h"
#include "conn.h"
#include "events.h"
#include "stats.h"
#include "subs.h"

#include <stdio.h>

struct gw_stats gw_stats;

/* Sockets by state, counted at scrape time. */
static void collect_connections(struct mx_family *f, void *arg)
{
    int authed = 0, all = 0;

    (void)arg;
    for (struct gw_conn *c = conn_first(); c != NULL; c = c->next, all++)
        authed += c->authorized;
    mx_emit(f, "state=\"authenticated\"", authed);
    mx_emit(f, "state=\"unauthenticated\"", all - authed);
}

static void collect_subscriptions(struct mx_family *f, void *arg)
{
    int n = 0;

    (void)arg;
    for (struct gw_conn *c = conn_first(); c != NULL; c = c->next)
        for (struct gw_sub *s = c->subs; s != NULL; s = s->next_of_conn)
            n++;
    mx_emit(f, NULL, n);
}

void gw_stats_init(void)
{
    stats_init("chat_gateway");
    mx_gauge_fn("chat_gateway_connections", "Open WebSockets by state", collect_connections, NULL);
    mx_gauge_fn("chat_gateway_subscriptions", "Subscriptions of open sockets to conversations",
                collect_subscriptions, NULL);
    gw_stats.deliveries =
        mx_counter("chat_gateway_deliveries_total", "Message frames queued to sockets");
    gw_stats.catchups = mx_counter("chat_gateway_catchups_total",
                                   "Reads of missed messages from PostgreSQL, by kind");
    gw_stats.closed = mx_counter("chat_gateway_sockets_closed_total",
                                 "Sockets the gateway closed, by WebSocket close code");
    gw_stats.refused = mx_counter("chat_gateway_handshakes_refused_total",
                                  "Handshakes refused by admission, by reason");
    gw_stats.stream_events =
        mx_counter("chat_gateway_stream_events_total", "Events read from the Redis streams");
    gw_stats.stream_lag = mx_gauge("chat_gateway_stream_lag_seconds",
                                   "Age of the last event read from the streams when it was read");
}

void gw_stats_closed(int code)
{
    char labels[32];

    snprintf(labels, sizeof(labels), "code=\"%d\"", code);
    mx_inc(gw_stats.closed, labels);
}

void gw_stats_stream_event(long long added_ms)
{
    long long lag = ev_epoch_ms() - added_ms;

    mx_inc(gw_stats.stream_events, NULL);
    mx_set(gw_stats.stream_lag, NULL, lag > 0 ? (double)lag / 1000.0 : 0);
}
