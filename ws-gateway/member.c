/* member.c - see member.h. */
#include "member.h"
#include "conn.h"
#include "events.h"
#include "fanout.h"
#include "gw.h"
#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int member_parse(const char *payload, char conv_id[37], char user_id[37], int *added,
                 long long *seq)
{
    char action[16], extra;
    long long v = -1;
    int n = sscanf(payload, "%36s %36s %15s %lld %c", conv_id, user_id, action, &v, &extra);

    if (n < 3 || n > 4 || !uuid_canon(conv_id) || !uuid_canon(user_id))
        return -1;
    if (n == 4 && v < 0)
        return -1;
    if (strcmp(action, "added") == 0 && n == 4)
        *added = 1;
    else if (strcmp(action, "removed") == 0) /* with its seq since 005, without before */
        *added = 0;
    else
        return -1;
    *seq = v;
    return 0;
}

/*
 * Make user's local sockets agree with the truth about conv: member (seq:
 * where a new subscription starts) or not.
 */
static void apply(const char *conv, const char *user, bool member, long long seq)
{
    for (struct gw_conn *c = conn_first(); c != NULL; c = c->next) {
        if (!c->authorized || strcasecmp(c->user_id, user) != 0)
            continue;
        if (c->conv_id[0] != '\0') {
            if (!member && strcasecmp(c->conv_id, conv) == 0)
                conn_close(c, 4403);
        } else if (!member) {
            fanout_unsubscribe(c, conv);
        } else if (!fanout_has(c, conv, NULL)) {
            fanout_subscribe(c, conv, seq, FANOUT_LIVE);
        }
    }
}

/* clang-format off */
/* Columns: VERIFY_COL_*. */
static const char verify_sql[] =
    "SELECT EXISTS (SELECT 1 FROM conversation_members"
    "               WHERE conversation_id = $1::uuid AND user_id = $2::uuid),"
    " (SELECT last_seq FROM conversations WHERE id = $1::uuid)";
/* clang-format on */
enum { VERIFY_COL_MEMBER, VERIFY_COL_LAST_SEQ };

struct verify {
    char conv[UUID_STR_LEN], user[UUID_STR_LEN];
    long long seq; /* the announcement's; -1: none */
};

static void on_verified(PGresult *r, enum db_err err, void *arg)
{
    struct verify *v = arg;
    bool member;

    (void)err;
    if (r == NULL || PQntuples(r) != 1) {
        /* unknown: the next listener reconnect, or the socket's own, checks again */
        log_warn(NULL, "membership of %s in %s not checked (database unavailable)", v->user,
                 v->conv);
        goto out;
    }
    member = PQgetvalue(r, 0, VERIFY_COL_MEMBER)[0] == 't';
    apply(v->conv, v->user, member,
          v->seq >= 0 ? v->seq : atoll(PQgetvalue(r, 0, VERIFY_COL_LAST_SEQ)));
out:
    free(v);
}

/*
 * The member event to the conversation's local subscribers, in seq order
 * like any durable event (so the remaining members see it; a removed
 * member's own sockets see it before they are dropped, an added member's
 * subscription starts after it). An addition in the transaction that
 * created the conversation took no seq (0, or nothing new): a later
 * event's seq, or the catch-up, is never replaced by it because the event
 * at or below a subscription's last_seq is skipped.
 */
static void deliver_member_event(const char *conv, const char *user, int added, long long seq)
{
    json_t *ev;

    if (seq <= 0 || !fanout_has_subscribers(conv))
        return;
    ev = ev_member(added ? "member_added" : "member_removed", conv, seq, user);
    if (ev != NULL)
        fanout_deliver_event(conv, seq, ev);
    json_decref(ev);
}

void member_changed(const char *payload)
{
    struct verify *v;
    int added;
    const char *params[2];

    if ((v = calloc(1, sizeof(*v))) == NULL)
        return;
    if (member_parse(payload, v->conv, v->user, &added, &v->seq) != 0) {
        log_warn(NULL, "unreadable membership announcement: %.80s", payload);
        free(v);
        return;
    }
    deliver_member_event(v->conv, v->user, added, v->seq);
    if (!added)
        v->seq = -1;                      /* a removal's seq is not where anything starts */
    if (!conn_has_user(v->user, false)) { /* only authorised sockets have subscriptions */
        free(v);
        return;
    }
    params[0] = v->conv;
    params[1] = v->user;
    /* one link, so checks run in the order of the announcements */
    if (pgq_exec(gw.listen, verify_sql, 2, params, on_verified, v) != 0)
        free(v);
}

/* clang-format off */
/* Memberships of the users $1, by user: MEMBERS_COL_*. */
static const char members_sql[] =
    "SELECT m.user_id::text, m.conversation_id::text, m.last_read_seq"
    " FROM conversation_members m WHERE m.user_id = ANY($1::uuid[])"
    " ORDER BY m.user_id";
/* clang-format on */
enum { MEMBERS_COL_USER, MEMBERS_COL_CONV, MEMBERS_COL_LAST_READ };

/* Rows [*lo, *hi) of r are user's (r is sorted by user). */
static void user_rows(const PGresult *r, const char *user, int *lo, int *hi)
{
    int a = 0, b = PQntuples(r);

    while (a < b) {
        int m = (a + b) / 2;
        if (strcasecmp(PQgetvalue(r, m, MEMBERS_COL_USER), user) < 0)
            a = m + 1;
        else
            b = m;
    }
    *lo = a;
    while (a < PQntuples(r) && strcasecmp(PQgetvalue(r, a, MEMBERS_COL_USER), user) == 0)
        a++;
    *hi = a;
}

static bool rows_have(const PGresult *r, int lo, int hi, const char *conv)
{
    for (int i = lo; i < hi; i++)
        if (strcasecmp(PQgetvalue(r, i, MEMBERS_COL_CONV), conv) == 0)
            return true;
    return false;
}

/* c's subscriptions and socket made to agree with its user's memberships, rows [lo, hi) of r. */
static void recheck_conn(struct gw_conn *c, const PGresult *r, int lo, int hi)
{
    char(*ids)[UUID_STR_LEN] = NULL;
    int n;

    if (c->conv_id[0] != '\0') {
        if (!rows_have(r, lo, hi, c->conv_id))
            conn_close(c, 4403);
        return;
    }
    if ((n = fanout_conv_ids(c, &ids)) >= 0)
        for (int i = 0; i < n; i++)
            if (!rows_have(r, lo, hi, ids[i]))
                fanout_unsubscribe(c, ids[i]);
    free(ids);
    for (int i = lo; i < hi; i++)
        if (!fanout_has(c, PQgetvalue(r, i, MEMBERS_COL_CONV), NULL))
            fanout_subscribe(c, PQgetvalue(r, i, MEMBERS_COL_CONV),
                             atoll(PQgetvalue(r, i, MEMBERS_COL_LAST_READ)), FANOUT_LIVE);
}

static void on_members(PGresult *r, enum db_err err, void *arg)
{
    (void)err;
    (void)arg;
    if (r == NULL) {
        log_warn(NULL, "memberships not re-checked after the listener reconnected");
        return;
    }
    for (struct gw_conn *c = conn_first(); c != NULL; c = c->next) {
        int lo, hi;
        if (!c->authorized)
            continue;
        user_rows(r, c->user_id, &lo, &hi);
        recheck_conn(c, r, lo, hi);
    }
}

void member_recheck_all(void)
{
    const char **users;
    char *list;
    int n;

    if ((users = malloc(sizeof(*users) * (size_t)(conn_count() + 1))) == NULL)
        return;
    n = conn_user_ids(users, false); /* a user twice is harmless: ANY() */
    if (n > 0 && (list = db_text_array(users, n)) != NULL) {
        const char *params[1] = {list};
        pgq_exec(gw.listen, members_sql, 1, params, on_members, NULL);
        free(list);
    }
    free(users);
}
