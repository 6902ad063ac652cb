/* client.c - see client.h. */
#include "client.h"
#include "authorize.h"
#include "change.h"
#include "events.h"
#include "fanout.h"
#include "frame.h"
#include "gw.h"
#include "msgtext.h"
#include "publish.h"
#include "send.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- {"type":"message"}: the send path ---- */

struct send_ctx {
    struct gw_conn *c;
    char conv_id[UUID_STR_LEN];
    char id[UUID_STR_LEN];
    char *content;
    char *client_id;
    struct send_input in; /* reply and mentions; its strings are content and client_id */
    int attempt;
};

static void send_ctx_free(struct send_ctx *s)
{
    conn_unref(s->c);
    free(s->content);
    free(s->client_id);
    free(s);
}

static void send_refused(struct gw_conn *c, const struct send_error *err)
{
    conn_send_error(c, err->code, err->message, err->retry_after);
}

/*
 * Sends queued behind a running statement on their connection are stored
 * together: one transaction, one commit for up to 256 messages (the
 * database's per-commit cost bounded WebSocket ingest and fan-out). Each
 * is still acknowledged only after that commit.
 */
static const struct pgq_batch send_batch = {
    .sql = msg_send_sql,
    .many_sql = msg_send_many_sql,
    .max = 256,
};

static void send_store(struct send_ctx *s);

static void on_stored(PGresult *r, enum db_err err, void *arg)
{
    struct send_ctx *s = arg;
    struct send_error serr;
    struct msg_row m;
    bool fresh;
    json_t *msg;

    if (r == NULL && send_should_retry(err, s->attempt++)) {
        send_store(s);
        return;
    }
    if (r == NULL) {
        send_db_error(err, &serr);
        send_refused(s->c, &serr);
    } else if (send_result(r, s->conv_id, &m, &fresh, &serr) != 0) {
        send_refused(s->c, &serr);
    } else {
        conn_send(s->c, json_pack("{s:s, s:s, s:s, s:I, s:s?}", "type", "ack", "conversation_id",
                                  s->conv_id, "id", m.id, "seq", (json_int_t)m.seq,
                                  "client_message_id", s->client_id));
        msg = msg_row_to_json(&m);
        if (msg != NULL && fresh)
            publish_message(s->conv_id, m.seq, msg);
        json_decref(msg);
    }
    send_ctx_free(s);
}

/* Queue s's statement; s is answered and freed by on_stored, or here when the queue is full. */
static void send_store(struct send_ctx *s)
{
    const char *params[MSG_SEND_NPARAMS];

    s->in.content = s->content;
    s->in.client_message_id = s->client_id;
    send_params(s->conv_id, s->id, s->c->user_id, &s->in, params);

    if (pgq_exec_batched(gw_pg(s->conv_id), &send_batch, MSG_SEND_NPARAMS, params, on_stored, s) !=
        0) {
        conn_send_error(s->c, "unavailable", "the gateway is overloaded, retry", 1);
        send_ctx_free(s);
    }
}

static void on_rate(void *reply, void *arg)
{
    struct send_ctx *s = arg;
    struct send_error serr;
    struct rl_result rl;

    /* Redis down: no limit to enforce (fail open, like the REST API). */
    if (rl_result_from_reply(reply, "msg", gw.cfg.rl_messages_per_minute, 0, &rl) == 0 &&
        !rl.allowed) {
        send_rate_limited(&rl, &serr);
        send_refused(s->c, &serr);
        send_ctx_free(s);
        return;
    }
    send_store(s);
}

static void client_message(struct gw_conn *c, const struct frame *f, const char *cid)
{
    struct send_input in;
    struct send_error serr;
    struct send_ctx *s;
    char km[128], kh[128];
    const char *keys[] = {km};

    if (send_validate(f->json, cid, NULL, gw.cfg.max_message_chars, &in, &serr) != 0) {
        send_refused(c, &serr);
        return;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return;
    s->c = c;
    conn_ref(c);
    snprintf(s->conv_id, sizeof(s->conv_id), "%s", cid);
    uuid_v7_string(s->id);
    s->content = strdup(in.content);
    s->client_id = in.client_message_id ? strdup(in.client_message_id) : NULL;
    s->in = in; /* the borrowed strings are replaced by the copies at the store */
    if (s->content == NULL || (in.client_message_id != NULL && s->client_id == NULL)) {
        send_ctx_free(s);
        return;
    }
    rl_keys("msg", c->user_id, km, kh);
    if (rlink_eval(gw.cmd, &rl_script, 1, 1, keys, on_rate, s) != 0)
        on_rate(NULL, s);
}

/* ---- {"type":"edit" | "delete" | "react"}: changes of a stored message ---- */

/*
 * The rules (who may, the edit window, the seq each change takes) are the
 * SQL functions' (common/change.h), as for REST. The frame names only the
 * message, so the statement runs on any link (gw_pg(NULL)); the
 * conversation comes back with the result. A change that took a seq is
 * read back (the message as it is now) and published: every subscriber,
 * the author's sockets too, gets it as its event in seq order.
 */
struct change_ctx {
    struct gw_conn *c;
    enum frame_type type;
    bool on;
    char message_id[UUID_STR_LEN];
    char conv_id[UUID_STR_LEN];
    char *content; /* edit */
    char *names;   /* edit: the content's @names, space-separated; NULL when none */
    char *emoji;   /* react */
    long long seq, count;
};

static void change_ctx_free(struct change_ctx *x)
{
    conn_unref(x->c);
    free(x->content);
    free(x->names);
    free(x->emoji);
    free(x);
}

static const char *change_kind(enum frame_type t)
{
    return t == FRAME_EDIT ? "edit" : t == FRAME_DELETE ? "delete" : "react";
}

/* The message after the change committed: its event, published with the cache's update. */
static void on_changed_message(PGresult *r, enum db_err err, void *arg)
{
    struct change_ctx *x = arg;
    struct msg_row m;
    json_t *msg = NULL, *ev = NULL;

    (void)err; /* not read back: the reconcile delivers the event from PostgreSQL */
    if (r == NULL || PQntuples(r) != 1)
        goto out;
    msg_row_from_result(r, 0, 0, x->conv_id, &m);
    if ((msg = msg_row_to_json(&m)) == NULL)
        goto out;
    ev = change_event(change_kind(x->type), x->on, x->conv_id, x->seq, x->c->user_id, msg, x->emoji,
                      x->count);
    if (ev != NULL)
        publish_change(x->conv_id, x->seq, ev, msg);
out:
    json_decref(ev);
    json_decref(msg);
    change_ctx_free(x);
}

static void on_changed(PGresult *r, enum db_err err, void *arg)
{
    struct change_ctx *x = arg;
    struct send_error serr;
    const char *seq, *params[1] = {x->message_id};

    if (r == NULL) {
        send_db_error(err, &serr);
        send_refused(x->c, &serr);
        goto out;
    }
    if (change_status(PQntuples(r) == 1 ? PQgetvalue(r, 0, CHANGE_COL_STATUS) : "not_found",
                      change_kind(x->type), &serr) != 0) {
        send_refused(x->c, &serr);
        goto out;
    }
    seq = db_get(r, 0, CHANGE_COL_SEQ);
    conn_send(x->c, json_pack("{s:s, s:s, s:o}", "type", "changed", "message_id", x->message_id,
                              "seq", seq ? json_integer(atoll(seq)) : json_null()));
    if (seq == NULL) /* nothing changed: nothing to announce */
        goto out;
    x->seq = atoll(seq);
    x->count = db_get(r, 0, CHANGE_COL_COUNT) ? atoll(PQgetvalue(r, 0, CHANGE_COL_COUNT)) : 0;
    snprintf(x->conv_id, sizeof(x->conv_id), "%s", PQgetvalue(r, 0, CHANGE_COL_CONVERSATION));
    if (pgq_exec(gw_pg(x->conv_id), change_message_sql, 1, params, on_changed_message, x) == 0)
        return;
out:
    change_ctx_free(x);
}

static void change_run(struct change_ctx *x)
{
    char window[16];
    const char *params[5] = {x->message_id, x->c->user_id};
    const char *sql;
    int n = 2;

    if (x->type == FRAME_EDIT) {
        snprintf(window, sizeof(window), "%d", gw.cfg.edit_window_minutes);
        params[2] = x->content;
        params[3] = window;
        params[4] = x->names;
        sql = change_edit_sql;
        n = 5;
    } else if (x->type == FRAME_DELETE) {
        sql = change_delete_sql;
    } else {
        params[2] = x->emoji;
        params[3] = x->on ? "true" : "false";
        sql = change_react_sql;
        n = 4;
    }
    if (pgq_exec(gw_pg(NULL), sql, n, params, on_changed, x) != 0) {
        conn_send_error(x->c, "unavailable", "the gateway is overloaded, retry", 1);
        change_ctx_free(x);
    }
}

static void on_change_rate(void *reply, void *arg)
{
    struct change_ctx *x = arg;
    struct send_error serr;
    struct rl_result rl;

    if (x->c->wsi == NULL) {
        change_ctx_free(x); /* closed meanwhile */
        return;
    }
    /* counted like a message; Redis down: no limit to enforce (fail open) */
    if (rl_result_from_reply(reply, "msg", gw.cfg.rl_messages_per_minute, 0, &rl) == 0 &&
        !rl.allowed) {
        send_rate_limited(&rl, &serr);
        send_refused(x->c, &serr);
        change_ctx_free(x);
        return;
    }
    change_run(x);
}

/* The frame's own fields checked as REST checks a body, then the user's message count. */
static void client_change(struct gw_conn *c, const struct frame *f)
{
    struct change_ctx *x;
    struct send_error serr;
    const char *emoji = NULL, *text;
    const json_t *content = json_object_get(f->json, "content");
    char km[128], kh[128];
    const char *keys[] = {km};

    if (f->invalid != NULL) {
        conn_send_error(c, "validation_error", f->invalid, 0);
        return;
    }
    if (f->type == FRAME_EDIT) {
        if (send_content_valid(content, gw.cfg.max_message_chars, &text, &serr) != 0) {
            send_refused(c, &serr);
            return;
        }
    } else if (f->type == FRAME_REACT &&
               change_emoji_valid(json_object_get(f->json, "emoji"), &emoji, &serr) != 0) {
        send_refused(c, &serr);
        return;
    }
    if ((x = calloc(1, sizeof(*x))) == NULL)
        return;
    x->c = c;
    conn_ref(c);
    x->type = f->type;
    x->on = f->on;
    memcpy(x->message_id, f->message_id, UUID_STR_LEN);
    if (f->type == FRAME_EDIT) {
        char names[MSGTEXT_MENTIONS_CAP];
        if ((x->content = strdup(json_string_value(content))) == NULL) {
            change_ctx_free(x);
            return;
        }
        if (msgtext_mentions(x->content, json_string_length(content), names, sizeof(names)) > 0)
            x->names = strdup(names); /* out of memory: the edit adds no mention */
    } else if (f->type == FRAME_REACT && (x->emoji = strdup(emoji)) == NULL) {
        change_ctx_free(x);
        return;
    }
    rl_keys("msg", c->user_id, km, kh);
    if (rlink_eval(gw.cmd, &rl_script, 1, 1, keys, on_change_rate, x) != 0)
        on_change_rate(NULL, x);
}

/* ---- typing, read ---- */

/* Record (or clear) the user's typing entry in conversation cid and tell the members. */
static void client_typing(struct gw_conn *c, const struct frame *f, const char *cid)
{
    if (f->invalid != NULL) {
        conn_send_error(c, "validation_error", f->invalid, 0);
        return;
    }
    if (!rlink_is_up(gw.cmd)) { /* as REST answers 503: the client knows it did not get through */
        conn_send_error(c, "redis_unavailable", "typing state is unavailable, retry later", 0);
        return;
    }
    publish_typing(cid, c->user_id, f->is_typing);
    if (f->is_typing) {
        snprintf(c->typing_conv, sizeof(c->typing_conv), "%s", cid);
        c->typing_until_ms = uv_now(&gw.loop) + EV_TYPING_TTL_MS;
    } else if (strcmp(c->typing_conv, cid) == 0) {
        c->typing_conv[0] = '\0';
    }
}

struct read_ctx {
    struct gw_conn *c;
    char conv_id[UUID_STR_LEN];
};

static void on_read(PGresult *r, enum db_err err, void *arg)
{
    struct read_ctx *x = arg;

    (void)err;
    if (r == NULL)
        conn_send_error(x->c, "unavailable", "read state could not be stored, retry", 0);
    else if (PQntuples(r) == 0)
        conn_send_error(x->c, "not_found", "conversation not found", 0);
    else if (PQgetvalue(r, 0, MSG_UPTO_COL_BAD_ID)[0] == 't')
        conn_send_error(x->c, "validation_error", "message_id: not a message of this conversation",
                        0);
    else
        publish_event(x->conv_id, ev_read(x->conv_id, x->c->user_id,
                                          atoll(PQgetvalue(r, 0, MSG_UPTO_COL_LAST_READ)),
                                          db_get(r, 0, MSG_UPTO_COL_MESSAGE_ID)));
    conn_unref(x->c);
    free(x);
}

/* {"type":"read","message_id"?}: the REST read, over the socket. */
static void client_read(struct gw_conn *c, const struct frame *f, const char *cid)
{
    const char *params[3] = {cid, c->user_id, f->message_id[0] != '\0' ? f->message_id : NULL};
    struct read_ctx *x;

    if (f->invalid != NULL) {
        conn_send_error(c, "validation_error", f->invalid, 0);
        return;
    }
    if ((x = malloc(sizeof(*x))) == NULL)
        return;
    x->c = c;
    snprintf(x->conv_id, sizeof(x->conv_id), "%s", cid);
    conn_ref(c);
    if (pgq_exec(gw_pg(NULL), msg_read_upto_stmt.sql, 3, params, on_read, x) != 0) {
        conn_unref(c);
        free(x);
        conn_send_error(c, "unavailable", "the gateway is overloaded, retry", 1);
    }
}

/* ---- rates of typing and read frames ---- */

typedef void (*frame_fn)(struct gw_conn *c, const struct frame *f, const char *cid);

/* The frames counted per user (the buckets REST counts too), by index of c->limit_quiet_ms. */
enum limit_kind { LIMIT_TYPING, LIMIT_READ };
static const struct {
    const char *scope, *what;
    frame_fn run;
} limit_kinds[] = {
    [LIMIT_TYPING] = {"typing", "typing signals", client_typing},
    [LIMIT_READ] = {"read", "read marks", client_read},
};

static int limit_per_minute(enum limit_kind k)
{
    return k == LIMIT_TYPING ? gw.cfg.rl_typing_per_minute : gw.cfg.rl_read_per_minute;
}

/* A frame waiting for its rate check. */
struct limited {
    struct gw_conn *c;
    struct frame f; /* a copy holding its own reference to the JSON */
    char conv_id[UUID_STR_LEN];
    enum limit_kind kind;
};

/*
 * Over the limit, the frame is dropped and the client told once per
 * window (a flood of frames must not become a flood of notices back).
 */
static void refuse_limited(struct gw_conn *c, enum limit_kind k, const struct rl_result *rl)
{
    uint64_t now = uv_now(&gw.loop);
    char text[96];

    if (now < c->limit_quiet_ms[k])
        return;
    c->limit_quiet_ms[k] = now + (uint64_t)rl->retry_after * 1000;
    snprintf(text, sizeof(text), "too many %s, retry in %d seconds", limit_kinds[k].what,
             rl->retry_after);
    conn_send_error(c, "rate_limited", text, rl->retry_after);
}

static void on_limit(void *reply, void *arg)
{
    struct limited *l = arg;
    struct rl_result rl;

    if (l->c->wsi == NULL) {
        /* closed meanwhile: nothing to do */
    } else if (rl_result_from_reply(reply, limit_kinds[l->kind].scope, limit_per_minute(l->kind), 0,
                                    &rl) == 0 &&
               !rl.allowed) {
        refuse_limited(l->c, l->kind, &rl);
    } else {
        limit_kinds[l->kind].run(l->c, &l->f, l->conv_id); /* within it, or Redis down: fail open */
    }
    frame_free(&l->f);
    conn_unref(l->c);
    free(l);
}

/* Run the frame after one hit of the user's count: a burst costs a Redis call each, no fan-out. */
static void rate_then(struct gw_conn *c, const struct frame *f, const char *cid,
                      enum limit_kind kind)
{
    char km[128], kh[128];
    const char *keys[] = {km};
    struct limited *l = calloc(1, sizeof(*l));

    if (l == NULL)
        return;
    l->c = c;
    l->f = *f;
    json_incref(l->f.json);
    snprintf(l->conv_id, sizeof(l->conv_id), "%s", cid);
    l->kind = kind;
    conn_ref(c);
    rl_keys(limit_kinds[kind].scope, c->user_id, km, kh);
    if (rlink_eval(gw.cmd, &rl_script, 1, 1, keys, on_limit, l) != 0)
        on_limit(NULL, l);
}

/* ---- dispatch ---- */

/* The conversation an event is about: the socket's own, or the one named. */
static const char *event_conv(struct gw_conn *c, const struct frame *f)
{
    const char *cid = f->conversation_id, *own;

    if (c->conv_id[0] != '\0')
        return c->conv_id;
    if (cid[0] == '\0') {
        conn_send_error(c, "validation_error", "conversation_id: required on this socket", 0);
        return NULL;
    }
    if (fanout_has(c, cid, &own))
        return own;
    conn_send_error(c, "not_found", "conversation not found", 0);
    return NULL;
}

/*
 * {"type":"auth","token"} on an authorised socket: a fresh access token of
 * the same user (refreshed over REST) carries the socket past the old
 * token's expiry.
 */
static void reauthorize(struct gw_conn *c, const struct frame *f)
{
    const char *tok = f->token;
    struct token_claims claims;

    if (tok == NULL || token_verify(&gw.cfg, tok, TOKEN_ACCESS, time(NULL), &claims) != TOKEN_OK ||
        strcmp(claims.sub, c->user_id) != 0) {
        conn_send_error(c, "unauthorized", "token: not a valid access token of this user", 0);
        return;
    }
    if (claims.exp > c->token_exp) {
        c->token_exp = claims.exp;
        c->token_iat = claims.iat;
    }
    conn_send(c,
              json_pack("{s:s, s:I}", "type", "auth_ok", "expires_at", (json_int_t)c->token_exp));
}

/* Before the authorisation ended: an auth frame starts it, others wait for it. */
static void unauthorized_frame(struct gw_conn *c, const struct frame *f, const char *text,
                               size_t len)
{
    if (f->type == FRAME_AUTH && c->user_id[0] == '\0' && f->token != NULL)
        authorize_socket(c, f->token);
    else if (c->user_id[0] != '\0' && c->nearly < CONN_EARLY_MAX)
        c->early[c->nearly++] = strndup(text, len); /* replayed once authorised */
    else
        conn_send_error(c, "unauthorized", "not authorised yet", 0);
}

void client_frame(struct gw_conn *c, const char *text, size_t len)
{
    struct frame f;
    struct frame_error err;
    const char *cid;

    if (frame_parse(text, len, &f, &err) != 0) {
        conn_send_error(c, err.code, err.message, 0);
        goto out; /* f is empty: frame_free is a no-op */
    }
    if (!c->authorized) {
        unauthorized_frame(c, &f, text, len);
        goto out;
    }
    switch (f.type) {
    case FRAME_PING:
        conn_send(c, json_pack("{s:s}", "type", "pong"));
        break;
    case FRAME_AUTH:
        reauthorize(c, &f);
        break;
    case FRAME_MESSAGE:
        if ((cid = event_conv(c, &f)) != NULL)
            client_message(c, &f, cid);
        break;
    case FRAME_TYPING:
        if ((cid = event_conv(c, &f)) != NULL)
            rate_then(c, &f, cid, LIMIT_TYPING);
        break;
    case FRAME_READ:
        if ((cid = event_conv(c, &f)) != NULL)
            rate_then(c, &f, cid, LIMIT_READ);
        break;
    case FRAME_EDIT:
    case FRAME_DELETE:
    case FRAME_REACT:
        client_change(c, &f);
        break;
    case FRAME_UNKNOWN:
        conn_send_error(c, "unknown_type", "unknown event type", 0);
        break;
    }
out:
    frame_free(&f);
}

void client_replay_early(struct gw_conn *c)
{
    for (int i = 0; i < c->nearly; i++) {
        client_frame(c, c->early[i], strlen(c->early[i]));
        free(c->early[i]);
    }
    c->nearly = 0;
}

/*
 * A client that vanishes while typing (tab closed, network gone) never
 * says it stopped: its socket's close does, so the others' indicator
 * clears now instead of after the TTL. Only the last conversation the
 * socket typed in is tracked; an earlier one still expires by the TTL.
 */
void client_closed(struct gw_conn *c)
{
    if (c->authorized && c->typing_conv[0] != '\0' && uv_now(&gw.loop) < c->typing_until_ms)
        publish_typing(c->typing_conv, c->user_id, false);
    c->typing_conv[0] = '\0';
    for (int i = 0; i < c->nearly; i++)
        free(c->early[i]);
    c->nearly = 0;
}
