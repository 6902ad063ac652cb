/*
 * delivered.c - see delivered.h.
 *
 * Rather than one UPDATE per frame, marks are collected and written every
 * DELIVERED_FLUSH_MS in one statement, one mark per member and
 * conversation (the highest seq): under
 * fan-out a member gets several messages per window, and each row update
 * costs PostgreSQL a new row version (row updates were most of its CPU in
 * the fan-out benchmark before marks were merged).
 */
#include "delivered.h"
#include "events.h"
#include "gw.h"
#include "log.h"
#include "uuid.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DELIVERED_FLUSH_MS 500
#define DELIVERED_MAX 16384
#define MARK_BUCKETS 8192

struct mark {
    char conv[UUID_STR_LEN];
    char user[UUID_STR_LEN];
    long long seq;
    int next; /* index + 1 of the next mark in the bucket, 0 = none */
};

static struct mark marks[DELIVERED_MAX];
static int nmarks;
static int heads[MARK_BUCKETS]; /* index + 1 of the first mark, 0 = none */
static uv_timer_t flush_timer;
static bool timer_ready;

/*
 * The rows are locked in (conversation, user) order first, as send batches
 * lock theirs (common/message.h): two flushes, or a flush and a batch, that
 * share rows never wait on each other in a cycle.
 */
static const char flush_sql[] =
    "WITH v AS ("
    "  SELECT c, u, max(s) AS seq FROM unnest($1::uuid[], $2::uuid[], $3::bigint[])"
    "  AS x(c, u, s) GROUP BY c, u"
    "), lk AS MATERIALIZED ("
    "  SELECT m.conversation_id, m.user_id FROM conversation_members m"
    "  JOIN v ON m.conversation_id = v.c AND m.user_id = v.u"
    "  ORDER BY m.conversation_id, m.user_id FOR NO KEY UPDATE OF m"
    ") UPDATE conversation_members m SET delivered_seq = greatest(m.delivered_seq, v.seq)"
    " FROM v JOIN lk ON lk.conversation_id = v.c AND lk.user_id = v.u"
    " WHERE m.conversation_id = v.c AND m.user_id = v.u";

static void on_flushed(PGresult *r, enum db_err err, void *arg)
{
    (void)err;
    (void)arg;
    if (r == NULL)
        log_warn(NULL, "delivered watermarks not written (database unavailable)");
}

/* Build "{a,b,...}" from field f of every mark. */
static char *array_literal(size_t field_off, bool is_seq)
{
    size_t cap = (size_t)nmarks * 40 + 3, used = 0;
    char *s = malloc(cap);
    if (s == NULL)
        return NULL;
    s[used++] = '{';
    for (int i = 0; i < nmarks; i++) {
        const struct mark *m = &marks[i];
        if (is_seq)
            used += (size_t)snprintf(s + used, cap - used, "%s%lld", i ? "," : "", m->seq);
        else
            used += (size_t)snprintf(s + used, cap - used, "%s%s", i ? "," : "",
                                     (const char *)m + field_off);
    }
    s[used++] = '}';
    s[used] = '\0';
    return s;
}

void delivered_flush(void)
{
    char *convs, *users, *seqs;
    const char *params[3];

    if (nmarks == 0)
        return;
    convs = array_literal(offsetof(struct mark, conv), false);
    users = array_literal(offsetof(struct mark, user), false);
    seqs = array_literal(0, true);
    params[0] = convs;
    params[1] = users;
    params[2] = seqs;
    if (convs && users && seqs)
        pgq_exec(gw.bg, flush_sql, 3, params, on_flushed, NULL);
    free(convs);
    free(users);
    free(seqs);
    nmarks = 0;
    memset(heads, 0, sizeof(heads));
}

static void on_flush_timer(uv_timer_t *t)
{
    (void)t;
    delivered_flush();
}

void delivered_mark(const char *conv_id, const char *user_id, long long seq)
{
    if (!timer_ready) {
        uv_timer_init(&gw.loop, &flush_timer);
        timer_ready = true;
    }
    unsigned b = (ev_hash(conv_id) * 31u + ev_hash(user_id)) % MARK_BUCKETS;
    struct mark *m;

    for (int i = heads[b]; i != 0; i = marks[i - 1].next) {
        m = &marks[i - 1];
        if (strcmp(m->user, user_id) == 0 && strcmp(m->conv, conv_id) == 0) {
            if (seq > m->seq)
                m->seq = seq;
            return;
        }
    }
    if (nmarks == DELIVERED_MAX)
        delivered_flush();
    m = &marks[nmarks];
    snprintf(m->conv, UUID_STR_LEN, "%s", conv_id);
    snprintf(m->user, UUID_STR_LEN, "%s", user_id);
    m->seq = seq;
    m->next = heads[b];
    heads[b] = ++nmarks;
    if (!uv_is_active((uv_handle_t *)&flush_timer))
        uv_timer_start(&flush_timer, on_flush_timer, DELIVERED_FLUSH_MS, 0);
}

void delivered_stop(void)
{
    delivered_flush();
    if (timer_ready) {
        uv_timer_stop(&flush_timer);
        uv_close((uv_handle_t *)&flush_timer, NULL);
        timer_ready = false;
    }
}
