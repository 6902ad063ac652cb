/*
 * subs.h - the subscription table: which local connection listens to
 * which conversation, and how far each has been delivered.
 *
 * A subscription is on two lists: its conversation's hash bucket (for
 * delivery: every subscriber of a conversation) and its connection's (for
 * the connection's own walk and its close). The table is the data; the
 * modules that deliver (fanout.c) and reconcile (reconcile.c) read and
 * move the seq fields; only this module links and unlinks.
 */
#ifndef GW_SUBS_H
#define GW_SUBS_H

#include "conn.h"

#include <stdbool.h>

struct gw_sub {
    char conv_id[UUID_STR_LEN];
    long long last_seq; /* last seq delivered; -1 = take the next event as base */
    long long seen_max; /* highest seq announced while catching up */
    long long behind;   /* the conversation's last_seq a reconcile saw ahead of last_seq */
    bool catching_up;
    struct gw_conn *conn;
    struct gw_sub *next_in_bucket, *next_of_conn;
};

#define SUBS_BUCKETS 16384

/* A new subscription of c (NULL: no memory). */
struct gw_sub *subs_add(struct gw_conn *c, const char *conv_id, long long last_seq);

/* Unlink and free s. */
void subs_remove(struct gw_sub *s);

/* The first subscription of conv_id's bucket: walk with next_in_bucket, match conv_id. */
struct gw_sub *subs_bucket(const char *conv_id);

/* Bucket i (0 <= i < SUBS_BUCKETS), for a walk over the whole table. */
struct gw_sub *subs_bucket_at(int i);

/* c's subscription of conv_id (any letter case), or NULL. */
struct gw_sub *subs_find(const struct gw_conn *c, const char *conv_id);

/* Whether s is still one of c's subscriptions (s may have been freed: compared only). */
bool subs_is_live(const struct gw_conn *c, const struct gw_sub *s);

#endif
