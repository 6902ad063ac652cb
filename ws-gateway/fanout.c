/*
 * fanout.c - from stream events to local sockets, in sequence order.
 *
 * stream.c reads the events; each goes to the local subscriptions of its
 * conversation. Every durable event (a message, an edit, a delete, a
 * reaction, a member change: ev_type_is_durable) takes the conversation's
 * next seq and goes the same way. A subscription remembers the last seq it
 * delivered; an event that skips ahead (Redis restarted, stream trimmed, a
 * publish lost) starts a catch-up from PostgreSQL (common/sync.c, rendered
 * from the current state), during which live events only raise the
 * target, so nothing is delivered twice or out of order. An event that
 * never comes at all (no later one to show the gap) is found by the
 * reconciliation with PostgreSQL (RECONCILE_MS). Typing, read and
 * presence events take no seq and are relayed as they come.
 */
#include "fanout.h"
#include "gw_stats.h"
#include "delivered.h"
#include "events.h"
#include "gw.h"
#include "log.h"
#include "message.h"
#include "subs.h"
#include "sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A message frame for a subscriber: the message object plus its type. */
static json_t *message_frame(const json_t *msg, const char *type)
{
    json_t *f = json_deep_copy(msg);
    if (f == NULL)
        return NULL;
    json_object_set_new(f, "type", json_string(type));
    if (json_object_get(f, "read_status") == NULL)
        json_object_set_new(f, "read_status", json_string("sent"));
    return f;
}

/* ev's compact text (malloc'd, its length in *n), or NULL. */
static char *frame_text(const json_t *ev, size_t *n)
{
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;

    *n = text ? strlen(text) : 0;
    return text;
}

char *fanout_sync_frame(const PGresult *r, int row, const char *cid, bool offline,
                        struct fanout_event *e)
{
    const char *sender;
    json_t *ev = sync_row_event(r, row, cid, NULL, &e->seq, &sender), *f = NULL;
    char *text;

    e->creation = strcmp(PQgetvalue(r, row, SYNC_COL_KIND), "message") == 0;
    e->sender = sender;
    if (ev != NULL && e->creation) /* on the socket a creation is the flat message frame */
        f = message_frame(json_object_get(ev, "message"), offline ? "offline_message" : "message");
    text = frame_text(e->creation ? f : ev, &e->len);
    json_decref(f);
    json_decref(ev);
    return text;
}

struct catchup {
    struct gw_sub *sub;
    struct gw_conn *conn;
    bool initial;
};

static void on_catchup(PGresult *r, enum db_err err, void *arg)
{
    struct catchup *cu = arg;
    struct gw_conn *c = cu->conn;
    struct gw_sub *s = cu->sub;
    int n = r ? PQntuples(r) : 0;

    (void)err; /* any failure closes the socket: the client resumes by since_seq */
    if (c->wsi == NULL || !c->authorized ||
        !subs_is_live(c, s)) /* closed or unsubscribed meanwhile */
        goto out;
    s->catching_up = false;
    if (r == NULL) {
        conn_close(c, 1011);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        struct fanout_event e;
        char *text = fanout_sync_frame(r, i, s->conv_id, cu->initial, &e);

        /* a row that could not be rendered still takes its seq: no hole, no stall */
        if (e.seq > s->last_seq) {
            if (text != NULL) {
                conn_send_text(c, text, e.len);
                mx_inc(gw_stats.deliveries, NULL);
            }
            s->last_seq = e.seq;
            if (e.creation && (e.sender == NULL || strcmp(e.sender, c->user_id) != 0))
                delivered_mark(s->conv_id, c->user_id, e.seq);
        }
        free(text);
    }
    /* more known to exist, or a full batch (there may be more) */
    if ((s->seen_max > s->last_seq && (cu->initial || n > 0)) || n >= FANOUT_CATCHUP_ROWS)
        fanout_catchup(s, false);
out:
    conn_unref(c);
    free(cu);
}

void fanout_catchup(struct gw_sub *s, bool initial)
{
    struct catchup *cu = malloc(sizeof(*cu));
    char seq[24], cap[16];
    const char *params[4] = {s->conv_id, seq, initial ? cap : FANOUT_CATCHUP_BATCH,
                             FANOUT_CATCHUP_BATCH};

    if (cu == NULL)
        return;
    snprintf(seq, sizeof(seq), "%lld", s->last_seq < 0 ? 0 : s->last_seq);
    snprintf(cap, sizeof(cap), "%d", gw.cfg.offline_max);
    cu->sub = s;
    cu->conn = s->conn;
    cu->initial = initial;
    mx_inc(gw_stats.catchups, initial ? "kind=\"offline\"" : "kind=\"gap\"");
    s->catching_up = true;
    conn_ref(s->conn);
    if (pgq_exec(gw_pg(NULL), initial ? sync_offline_sql : sync_sql, initial ? 4 : 3, params,
                 on_catchup, cu) != 0) {
        s->catching_up = false;
        conn_unref(s->conn);
        free(cu);
        conn_close(s->conn, 1013);
    }
}

void fanout_subscribe(struct gw_conn *c, const char *conv_id, long long last_seq,
                      enum fanout_start start)
{
    struct gw_sub *s = subs_add(c, conv_id, last_seq);

    if (s != NULL && start != FANOUT_LIVE)
        fanout_catchup(s, start == FANOUT_OFFLINE);
}

void fanout_unsubscribe_all(struct gw_conn *c)
{
    while (c->subs != NULL)
        subs_remove(c->subs);
}

void fanout_unsubscribe(struct gw_conn *c, const char *conv_id)
{
    struct gw_sub *s = subs_find(c, conv_id);
    if (s != NULL)
        subs_remove(s);
}

char *fanout_message_frame(const char *msg, size_t len, size_t *n)
{
    static const char tail[] = ",\"type\":\"message\",\"read_status\":\"sent\"}";
    char *f = malloc(len - 1 + sizeof(tail));

    if (f == NULL)
        return NULL;
    memcpy(f, msg, len - 1); /* without its closing brace */
    memcpy(f + len - 1, tail, sizeof(tail));
    *n = len - 1 + sizeof(tail) - 1;
    return f;
}

bool fanout_has_subscribers(const char *cid)
{
    for (struct gw_sub *s = subs_bucket(cid); s != NULL; s = s->next_in_bucket)
        if (strcmp(s->conv_id, cid) == 0)
            return true;
    return false;
}

void fanout_deliver(const char *cid, const struct fanout_event *e, const char *text)
{
    for (struct gw_sub *s = subs_bucket(cid); s != NULL; s = s->next_in_bucket) {
        if (strcmp(s->conv_id, cid) != 0 || !s->conn->authorized)
            continue;
        if (s->last_seq < 0)
            s->last_seq = e->seq - 1;
        if (e->seq <= s->last_seq)
            continue;
        if (s->seen_max < e->seq)
            s->seen_max = e->seq;
        if (s->catching_up)
            continue;
        if (e->seq == s->last_seq + 1) {
            if (text != NULL) {
                conn_send_text(s->conn, text, e->len);
                mx_inc(gw_stats.deliveries, NULL);
            }
            s->last_seq = e->seq;
            if (e->creation && (e->sender == NULL || strcmp(e->sender, s->conn->user_id) != 0))
                delivered_mark(cid, s->conn->user_id, e->seq);
        } else {
            fanout_catchup(s, false); /* a gap: read the missing range first */
        }
    }
}

void fanout_deliver_event(const char *cid, long long seq, const json_t *ev)
{
    struct fanout_event e = {.seq = seq};
    char *text;

    if (!fanout_has_subscribers(cid))
        return;
    text = frame_text(ev, &e.len);
    fanout_deliver(cid, &e, text);
    free(text);
}

struct typing_ctx {
    char conv_id[UUID_STR_LEN];
};

static void on_typing_users(void *reply, void *arg)
{
    struct typing_ctx *t = arg;
    redisReply *r = reply;
    json_t *users;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        goto out;
    users = json_array();
    for (size_t i = 0; i < r->elements; i++)
        json_array_append_new(users, json_string(r->element[i]->str));
    for (struct gw_sub *s = subs_bucket(t->conv_id); s != NULL; s = s->next_in_bucket)
        if (strcmp(s->conv_id, t->conv_id) == 0 && s->conn->authorized)
            conn_send(s->conn, json_pack("{s:s, s:s, s:O}", "type", "typing_indicator",
                                         "conversation_id", t->conv_id, "typing_users", users));
    json_decref(users);
out:
    free(t);
}

static void deliver_typing(const char *cid)
{
    char key[EV_KEY_MAX], now[24];
    struct typing_ctx *t;
    const char *argv[] = {"ZRANGEBYSCORE", key, now, "+inf"};

    if (!fanout_has_subscribers(cid) || (t = malloc(sizeof(*t))) == NULL)
        return;
    snprintf(t->conv_id, sizeof(t->conv_id), "%s", cid);
    ev_typing_key(cid, key);
    snprintf(now, sizeof(now), "(%lld", (long long)ev_epoch_ms());
    if (rlink_cmd(gw.cmd, on_typing_users, t, 4, argv, NULL) != 0)
        free(t);
}

static void deliver_other(const char *cid, json_t *ev)
{
    for (struct gw_sub *s = subs_bucket(cid); s != NULL; s = s->next_in_bucket)
        if (strcmp(s->conv_id, cid) == 0 && s->conn->authorized)
            conn_send(s->conn, json_deep_copy(ev));
}

/* A message event written by ev_message_text(), read without building a tree; else -1. */
static int dispatch_message_text(const char *payload, size_t len)
{
    char cid[64], id[UUID_STR_LEN], sender[UUID_STR_LEN];
    struct fanout_event e = {.creation = true};
    long long msg_seq;
    const char *msg;
    size_t msg_len;
    char *text;

    if (ev_message_text_split(payload, len, cid, &e.seq, &msg, &msg_len) != 0 ||
        msg_text_scan(msg, msg_len, id, &msg_seq, sender) != 0 || msg_seq != e.seq)
        return -1;
    if (!fanout_has_subscribers(cid))
        return 0;
    e.sender = sender[0] ? sender : NULL;
    text = fanout_message_frame(msg, msg_len, &e.len);
    fanout_deliver(cid, &e, text);
    free(text);
    return 0;
}

void fanout_dispatch(const char *payload, size_t len)
{
    json_t *ev;
    const char *type, *cid;

    if (dispatch_message_text(payload, len) == 0)
        return;
    ev = json_loadb(payload, len, 0, NULL);
    type = json_string_value(json_object_get(ev, "type"));
    cid = json_string_value(json_object_get(ev, "conversation_id"));
    if (type == NULL || cid == NULL)
        goto out;
    if (strcmp(type, "message") == 0) {
        json_t *msg = json_object_get(ev, "message"), *f;
        struct fanout_event e = {.seq = json_integer_value(json_object_get(ev, "seq")),
                                 .creation = true,
                                 .sender = json_string_value(json_object_get(msg, "sender_id"))};
        char *text;

        if (!fanout_has_subscribers(cid))
            goto out;
        f = message_frame(msg, "message");
        text = frame_text(f, &e.len);
        fanout_deliver(cid, &e, text);
        free(text);
        json_decref(f);
    } else if (ev_type_is_durable(type)) {
        /* every other durable event: the event itself is the frame, in the same seq order */
        fanout_deliver_event(cid, json_integer_value(json_object_get(ev, "seq")), ev);
    } else if (strcmp(type, "typing") == 0) {
        deliver_typing(cid);
    } else if (strcmp(type, "read") == 0 || strcmp(type, "presence") == 0) {
        deliver_other(cid, ev);
    }
out:
    json_decref(ev);
}

bool fanout_has(const struct gw_conn *c, const char *conv_id, const char **canonical)
{
    const struct gw_sub *s = subs_find(c, conv_id);

    if (s != NULL && canonical != NULL)
        *canonical = s->conv_id;
    return s != NULL;
}

int fanout_conv_ids(const struct gw_conn *c, char (**ids)[UUID_STR_LEN])
{
    int k = 0, n = 0;

    for (const struct gw_sub *s = c->subs; s != NULL; s = s->next_of_conn)
        k++;
    *ids = calloc((size_t)(k ? k : 1), sizeof(**ids));
    if (*ids == NULL)
        return -1;
    for (const struct gw_sub *s = c->subs; s != NULL; s = s->next_of_conn)
        memcpy((*ids)[n++], s->conv_id, UUID_STR_LEN);
    return n;
}
