/*
 * reconcile.c - see reconcile.h.
 *
 * Every RECONCILE_MS the conversations with local subscribers are compared
 * with PostgreSQL's last_seq; a subscription still behind a seq seen at
 * the previous round gets the missing events from the database, read
 * once per conversation and delivered as if they came from the stream. So
 * an event whose publication was lost (Redis down or restarted, its
 * publisher killed after COMMIT) reaches open sockets within two rounds,
 * with no later message needed, while one merely in flight on the stream
 * costs nothing but its share of one indexed lookup per conversation.
 */
#include "reconcile.h"
#include "gw_stats.h"
#include "fanout.h"
#include "gw.h"
#include "message.h"
#include "subs.h"
#include "sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECONCILE_MS 1000
#define RECONCILE_CHUNK 5000 /* conversations per statement */

static struct {
    uv_timer_t timer;
    int inflight; /* reconcile statements in flight */
    bool again;   /* an immediate round was asked for while some were in flight */
} recon;

/* clang-format off */
/* The conversations ($1, as the subscriptions spell them) whose last_seq is past $2. */
static const char reconcile_sql[] =
    "SELECT s.id, c.last_seq FROM unnest($1::text[], $2::bigint[]) AS s(id, seq)"
    " JOIN conversations c ON c.id = s.id::uuid WHERE c.last_seq > s.seq";
/* clang-format on */

/* The events a reconcile found missing, as if they came from the stream. */
static void on_replay(PGresult *r, enum db_err err, void *arg)
{
    char *cid = arg;
    (void)err;
    for (int i = 0; r != NULL && i < PQntuples(r); i++) {
        struct fanout_event e;
        char *text = fanout_sync_frame(r, i, cid, false, &e);
        fanout_deliver(cid, &e, text);
        free(text);
    }
    free(cid);
}

/*
 * cid's conversation is at last_seq: read what a subscription missed for a
 * whole round (or at once, when immediate), once for all of them.
 */
static void replay_if_behind(const char *cid, long long last_seq, bool immediate)
{
    long long from = -1;
    char seq[24], *arg;
    const char *params[3] = {cid, seq, FANOUT_CATCHUP_BATCH};

    for (struct gw_sub *s = subs_bucket(cid); s != NULL; s = s->next_in_bucket) {
        if (strcmp(s->conv_id, cid) != 0 || !s->conn->authorized || s->catching_up ||
            s->last_seq < 0 || s->last_seq >= last_seq)
            continue;
        if (immediate || s->behind > s->last_seq) {
            from = from < 0 || s->last_seq < from ? s->last_seq : from;
            s->behind = 0;
        } else {
            s->behind = last_seq;
        }
    }
    if (from < 0 || (arg = strdup(cid)) == NULL)
        return;
    snprintf(seq, sizeof(seq), "%lld", from);
    mx_inc(gw_stats.catchups, "kind=\"reconcile\"");
    if (pgq_exec(gw_pg(cid), sync_sql, 3, params, on_replay, arg) != 0)
        free(arg);
}

static void on_reconciled(PGresult *r, enum db_err err, void *arg)
{
    bool immediate = arg != NULL;

    (void)err;
    recon.inflight--;
    for (int i = 0; r != NULL && i < PQntuples(r); i++)
        replay_if_behind(PQgetvalue(r, i, 0), atoll(PQgetvalue(r, i, 1)), immediate);
    if (recon.inflight == 0 && recon.again) {
        recon.again = false;
        reconcile_now(true);
    }
}

/* The lowest last_seq among the local subscriptions of s's conversation, s the first of them. */
static long long lowest_seq(const struct gw_sub *s)
{
    long long low = s->last_seq;
    for (const struct gw_sub *t = s->next_in_bucket; t != NULL; t = t->next_in_bucket)
        if (strcmp(t->conv_id, s->conv_id) == 0 && t->last_seq >= 0 && t->last_seq < low)
            low = t->last_seq;
    return low;
}

/* Whether s is the first subscription of its conversation in its bucket. */
static bool first_of_conv(const struct gw_sub *s, const struct gw_sub *head)
{
    for (const struct gw_sub *t = head; t != s; t = t->next_in_bucket)
        if (strcmp(t->conv_id, s->conv_id) == 0)
            return false;
    return true;
}

/* Send one reconcile statement for k conversations; resets the arrays. */
static void reconcile_send(const char **ids, const char **seqs, int k, bool immediate)
{
    char *a = db_text_array(ids, k), *b = db_text_array(seqs, k);
    const char *params[2] = {a, b};

    if (a != NULL && b != NULL &&
        pgq_exec(gw_pg(NULL), reconcile_sql, 2, params, on_reconciled, immediate ? &recon : NULL) ==
            0)
        recon.inflight++;
    free(a);
    free(b);
}

void reconcile_now(bool immediate)
{
    const char **ids = malloc(sizeof(*ids) * RECONCILE_CHUNK);
    const char **seqs = malloc(sizeof(*seqs) * RECONCILE_CHUNK);
    char(*nums)[24] = malloc(sizeof(*nums) * RECONCILE_CHUNK);
    int k = 0;

    if (recon.inflight > 0) { /* the last round is not over: no pile-up behind a slow database */
        recon.again = recon.again || immediate;
        goto out;
    }
    for (int b = 0; ids != NULL && seqs != NULL && nums != NULL && b < SUBS_BUCKETS; b++)
        for (struct gw_sub *s = subs_bucket_at(b); s != NULL; s = s->next_in_bucket) {
            if (s->last_seq < 0 || !first_of_conv(s, subs_bucket_at(b)))
                continue;
            snprintf(nums[k], sizeof(nums[k]), "%lld", lowest_seq(s));
            ids[k] = s->conv_id;
            seqs[k] = nums[k];
            if (++k == RECONCILE_CHUNK) {
                reconcile_send(ids, seqs, k, immediate);
                k = 0;
            }
        }
    if (k > 0)
        reconcile_send(ids, seqs, k, immediate);
out:
    free(ids);
    free(seqs);
    free(nums);
}

static void on_reconcile_timer(uv_timer_t *t)
{
    (void)t;
    reconcile_now(false);
}

void reconcile_start(void)
{
    uv_timer_init(&gw.loop, &recon.timer);
    uv_timer_start(&recon.timer, on_reconcile_timer, RECONCILE_MS, RECONCILE_MS);
}

void reconcile_stop(void)
{
    uv_timer_stop(&recon.timer);
    uv_close((uv_handle_t *)&recon.timer, NULL);
}
