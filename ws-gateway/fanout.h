/*
 * fanout.h - subscriptions, and delivery of stream events to them.
 *
 * A connection subscribes to the conversations it may read; every event
 * read from the Redis streams (stream.c) goes to the subscriptions of its
 * conversation, durable events (messages, their changes, member events) in
 * seq order with catch-ups from PostgreSQL for any gap. Membership changes
 * (member.c) add or drop subscriptions (or close a per-conversation
 * socket).
 */
#ifndef GW_FANOUT_H
#define GW_FANOUT_H

#include "conn.h"

#include <libpq-fe.h>

#include <stdbool.h>
#include <stddef.h>

/* One event's JSON text (len bytes) from a stream: to the local subscribers it concerns. */
void fanout_dispatch(const char *payload, size_t len);

/* How a subscription starts. */
enum fanout_start {
    FANOUT_LIVE,    /* from the next message after last_seq */
    FANOUT_OFFLINE, /* the connect's: first the newest OFFLINE_MESSAGES_MAX unread after last_seq */
    FANOUT_RESUME   /* the client's resume point: first every message after last_seq */
};

/* Subscribe c to conv_id, delivered up to last_seq (-1: from the next event). */
void fanout_subscribe(struct gw_conn *c, const char *conv_id, long long last_seq,
                      enum fanout_start start);
void fanout_unsubscribe(struct gw_conn *c, const char *conv_id); /* any letter case */
void fanout_unsubscribe_all(struct gw_conn *c);

/* One durable event of a conversation, as a subscriber gets it. */
struct fanout_event {
    long long seq;
    bool creation;      /* a message's creation: marked delivered for recipients but its sender */
    const char *sender; /* creation: the sender (borrowed; NULL for a deleted sender) */
    size_t len;         /* the frame text's length */
};

/*
 * Durable event e of cid to cid's local subscribers, in seq order: the
 * frame text (borrowed; NULL when it could not be rendered: the seq is
 * taken all the same) is sent to those at seq - 1, skipped by those past
 * it, and a catch-up from PostgreSQL starts for those with a gap.
 */
void fanout_deliver(const char *cid, const struct fanout_event *e, const char *text);

/* fanout_deliver() of event ev (borrowed) at seq, dumped only when cid has local subscribers. */
void fanout_deliver_event(const char *cid, long long seq, const json_t *ev);

/* Whether cid has any local subscription. */
bool fanout_has_subscribers(const char *cid);

/* Read s's missing events from PostgreSQL (initial: the connect's offline delivery). */
struct gw_sub;
void fanout_catchup(struct gw_sub *s, bool initial);
#define FANOUT_CATCHUP_ROWS 500
#define FANOUT_CATCHUP_BATCH "500" /* events per catch-up statement */

/*
 * Row `row` of a sync_sql / sync_offline_sql result (common/sync.h) as a
 * frame: a creation as the flat "message" frame ("offline_message" for the
 * connect's offline delivery), any other event as its event object.
 * Fills *e; returns the frame text (malloc'd), or NULL when the row could
 * not be rendered.
 */
char *fanout_sync_frame(const PGresult *r, int row, const char *cid, bool offline,
                        struct fanout_event *e);

/*
 * Whether c is subscribed to conv_id (any letter case); *canonical, when
 * not NULL, gets the subscription's own spelling (borrowed from c).
 */
bool fanout_has(const struct gw_conn *c, const char *conv_id, const char **canonical);

/* The conversation ids of c's subscriptions (malloc'd into *ids): their count, or -1. */
int fanout_conv_ids(const struct gw_conn *c, char (**ids)[UUID_STR_LEN]);

/*
 * The "message" frame from a message's compact JSON text (the text
 * ev_message_text() wraps, len bytes ending in '}'): its keys, then type
 * and read_status, with no tree built. malloc'd, its length in *n.
 */
char *fanout_message_frame(const char *msg, size_t len, size_t *n);

#endif
