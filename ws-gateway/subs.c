/* subs.c - see subs.h. */
#include "subs.h"
#include "events.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static struct gw_sub *buckets[SUBS_BUCKETS];

static struct gw_sub **bucket(const char *conv_id)
{
    return &buckets[ev_hash(conv_id) % SUBS_BUCKETS];
}

struct gw_sub *subs_add(struct gw_conn *c, const char *conv_id, long long last_seq)
{
    struct gw_sub *s = calloc(1, sizeof(*s)), **b;

    if (s == NULL)
        return NULL;
    snprintf(s->conv_id, sizeof(s->conv_id), "%s", conv_id);
    s->last_seq = last_seq;
    s->seen_max = last_seq;
    s->conn = c;
    b = bucket(conv_id);
    s->next_in_bucket = *b;
    *b = s;
    s->next_of_conn = c->subs;
    c->subs = s;
    return s;
}

void subs_remove(struct gw_sub *s)
{
    struct gw_sub **pb = bucket(s->conv_id), **pc = &s->conn->subs;

    while (*pb != NULL && *pb != s)
        pb = &(*pb)->next_in_bucket;
    if (*pb == s)
        *pb = s->next_in_bucket;
    while (*pc != NULL && *pc != s)
        pc = &(*pc)->next_of_conn;
    if (*pc == s)
        *pc = s->next_of_conn;
    free(s);
}

struct gw_sub *subs_bucket(const char *conv_id)
{
    return *bucket(conv_id);
}

struct gw_sub *subs_bucket_at(int i)
{
    return buckets[i];
}

struct gw_sub *subs_find(const struct gw_conn *c, const char *conv_id)
{
    for (struct gw_sub *s = c->subs; s != NULL; s = s->next_of_conn)
        if (strcasecmp(s->conv_id, conv_id) == 0)
            return s;
    return NULL;
}

bool subs_is_live(const struct gw_conn *c, const struct gw_sub *s)
{
    for (const struct gw_sub *x = c->subs; x != NULL; x = x->next_of_conn)
        if (x == s)
            return true;
    return false;
}
