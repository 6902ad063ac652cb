/*
 * fanout.h - subscriptions, and delivery of stream events to them.
 *
 * A connection subscribes to the conversations it may read; every event
 * read from the Redis streams (stream.c) goes to the subscriptions of its
 * conversation, messages in seq order with catch-ups from PostgreSQL for
 * any gap. Member events add or drop subscriptions (or close a
 * per-conversation socket).
 */
#ifndef GW_FANOUT_H
#define GW_FANOUT_H

#include "conn.h"

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

/*
 * Message seq of cid to cid's local subscribers, in order: delivered to
 * those at seq - 1, skipped by those past it, a catch-up for those with a
 * gap. The frame comes from msg, or from msg_text when msg is NULL.
 * sender: NULL for a deleted sender.
 */
void fanout_deliver_message(const char *cid, long long seq, const char *sender, const json_t *msg,
                            const char *msg_text, size_t msg_len);

/* Read s's missing messages from PostgreSQL (initial: the connect's offline delivery). */
struct gw_sub;
void fanout_catchup(struct gw_sub *s, bool initial);

/* Messages of $1 after seq $2, oldest first, at most $3 (MSG_COLS). */
extern const char fanout_catchup_sql[];
#define FANOUT_CATCHUP_BATCH "500"

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
