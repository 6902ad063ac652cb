/*
 * routes_changes.c - what happens to a message after it is sent (edit,
 * delete, reactions) and the conversation's event log since a seq.
 *
 * A change is one call of its SQL function (common/change.h: the rules and
 * the row locks are there), then, when it took a seq, a read of the message
 * as it is after the commit, published with its event and the cache update
 * in one pipeline. Redis down: the change stands (PostgreSQL holds it) and
 * the gateways find it by seq; the cache, which then misses that version,
 * is refilled by the next history read.
 */
#include "auth.h"
#include "change.h"
#include "conversations.h"
#include "events.h"
#include "log.h"
#include "msgtext.h"
#include "routes.h"
#include "sync.h"
#include "validate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct db_stmt edit_stmt = {.name = "chg_edit", .sql = change_edit_sql};
static struct db_stmt delete_stmt = {.name = "chg_delete", .sql = change_delete_sql};
static struct db_stmt react_stmt = {.name = "chg_react", .sql = change_react_sql};
static struct db_stmt message_stmt = {.name = "chg_message", .sql = change_message_view_sql};
static struct db_stmt events_stmt = {.name = "conv_events", .sql = sync_sql};

#define EVENTS_DEFAULT 100
#define EVENTS_MAX 500

/* What the caller sees of a changed message beyond the published copy. */
struct msg_view {
    const char *status; /* read_status */
    json_t *own;        /* own_reactions, owned */
};

/*
 * The message mid as it is now (without the caller's read_status and
 * own_reactions: the published copy is the same for every reader; they go
 * into *view), or NULL (answered) on a database error.
 */
static json_t *message_now(struct http_req *req, const char *mid, char cid[UUID_STR_LEN],
                           struct msg_view *view)
{
    const char *params[2] = {mid, req->user_id};
    enum db_err err;
    PGresult *r = db_exec(&req->be->db, &message_stmt, 2, params, &err);
    struct msg_row m;
    json_t *msg = NULL;

    if (r == NULL) {
        http_db_error(req, err);
        return NULL;
    }
    if (db_has_row(r)) {
        snprintf(cid, UUID_STR_LEN, "%s", PQgetvalue(r, 0, CHANGE_MSG_COL_CONVERSATION));
        msg_row_from_result(r, 0, 0, cid, &m);
        msg = msg_row_to_json(&m);
        view->status = change_read_status(r, m.seq);
        view->own = json_loads(PQgetvalue(r, 0, CHANGE_MSG_COL_OWN), 0, NULL);
    }
    PQclear(r);
    if (msg == NULL) {
        json_decref(view->own);
        view->own = NULL;
        http_error(req, 503, "unavailable", "the message could not be read");
    }
    return msg;
}

/* What one change needs besides its statement. */
struct change {
    const char *kind; /* "edit", "delete", "react" */
    bool on;          /* react: add */
    const char *emoji;
};

/*
 * Run st for message mid; answer refusals. Returns the message as it is
 * now (a new reference; published with its event when the change took a
 * seq, then in *seq_out, else -1) with what the caller sees in *view, *count
 * the emoji's count for reactions, or NULL when answered.
 */
static json_t *change_run(struct http_req *req, struct db_stmt *st, int n, const char **params,
                          const struct change *ch, long long *count, long long *seq_out,
                          struct msg_view *view)
{
    char cid[UUID_STR_LEN];
    struct send_error serr;
    enum db_err err;
    long long seq = -1;
    json_t *msg = NULL, *ev;

    *seq_out = -1;
    view->own = NULL;
    PGresult *r;

    if (http_limit(req, "msg", req->user_id, req->cfg->rl_messages_per_minute, "message changes"))
        return NULL;
    r = db_exec(&req->be->db, st, n, params, &err);
    if (r == NULL) {
        http_db_error(req, err);
        return NULL;
    }
    if (change_status(PQgetvalue(r, 0, CHANGE_COL_STATUS), ch->kind, &serr) != 0) {
        PQclear(r);
        http_error(req, serr.status, serr.code, "%s", serr.message);
        return NULL;
    }
    if (db_get(r, 0, CHANGE_COL_SEQ) != NULL)
        seq = atoll(PQgetvalue(r, 0, CHANGE_COL_SEQ));
    *count = db_get(r, 0, CHANGE_COL_COUNT) ? atoll(PQgetvalue(r, 0, CHANGE_COL_COUNT)) : 0;
    PQclear(r);
    *seq_out = seq;
    if ((msg = message_now(req, params[0], cid, view)) == NULL || seq < 0)
        return msg;
    ev = change_event(ch->kind, ch->on, cid, seq, req->user_id, msg, ch->emoji, *count);
    if (ev == NULL ||
        ev_publish_change(&req->be->rds, req->cfg->stream_shards, cid, seq, ev, msg) != 0)
        log_warn(req->request_id, "change %lld of message %s stored but not published", seq,
                 params[0]);
    json_decref(ev);
    return msg;
}

void route_msg_edit(struct http_req *req)
{
    const json_t *content = json_object_get(req->json, "content");
    const char *mid, *params[5], *text;
    struct send_error serr;
    char names[MSGTEXT_MENTIONS_CAP], window[16];
    struct change ch = {.kind = "edit"};
    struct msg_view view;
    long long count, seq;
    json_t *msg;

    if (v_path_uuid(req, 0, &mid) != 0)
        return;
    if (send_content_valid(content, req->cfg->max_message_chars, &text, &serr) != 0) {
        http_error(req, serr.status, serr.code, "%s", serr.message);
        return;
    }
    msgtext_mentions(json_string_value(content), json_string_length(content), names, sizeof(names));
    snprintf(window, sizeof(window), "%d", req->cfg->edit_window_minutes);
    params[0] = mid;
    params[1] = req->user_id;
    params[2] = json_string_value(content);
    params[3] = window;
    params[4] = names[0] ? names : NULL;
    if ((msg = change_run(req, &edit_stmt, 5, params, &ch, &count, &seq, &view)) != NULL) {
        json_object_set_new(msg, "read_status", json_string(view.status));
        json_object_set_new(msg, "own_reactions", view.own ? view.own : json_array());
        http_reply(req, 200, msg);
    }
}

void route_msg_delete(struct http_req *req)
{
    const char *mid, *params[2];
    struct change ch = {.kind = "delete"};
    struct msg_view view;
    long long count, seq;
    json_t *msg;

    if (v_path_uuid(req, 0, &mid) != 0)
        return;
    params[0] = mid;
    params[1] = req->user_id;
    if ((msg = change_run(req, &delete_stmt, 2, params, &ch, &count, &seq, &view)) != NULL) {
        json_decref(view.own);
        json_decref(msg);
        http_reply(req, 204, NULL);
    }
}

/* Add (on) or remove the caller's reaction emoji to message mid. */
static void react(struct http_req *req, const char *mid, const char *emoji, bool on)
{
    const char *params[4] = {mid, req->user_id, emoji, on ? "true" : "false"};
    struct change ch = {.kind = "react", .on = on, .emoji = emoji};
    struct msg_view view;
    long long count = 0, seq;
    json_t *msg;

    if ((msg = change_run(req, &react_stmt, 4, params, &ch, &count, &seq, &view)) == NULL)
        return;
    json_decref(view.own);
    json_decref(msg);
    if (!on) {
        http_reply(req, 204, NULL);
        return;
    }
    /* A reaction that took no seq was there already. */
    http_reply(req, seq >= 0 ? 201 : 200,
               json_pack("{s:s, s:s, s:I, s:b}", "message_id", mid, "emoji", emoji, "count",
                         (json_int_t)count, "reacted", 1));
}

void route_reaction_add(struct http_req *req)
{
    struct send_error serr;
    const char *mid, *emoji;

    if (v_path_uuid(req, 0, &mid) != 0)
        return;
    if (change_emoji_valid(json_object_get(req->json, "emoji"), &emoji, &serr) != 0) {
        http_error(req, serr.status, serr.code, "%s", serr.message);
        return;
    }
    react(req, mid, emoji, true);
}

void route_reaction_remove(struct http_req *req)
{
    const json_t *emoji;
    struct send_error serr;
    const char *mid, *e;

    if (v_path_uuid(req, 0, &mid) != 0)
        return;
    emoji = json_string(req->params[1]);
    if (change_emoji_valid(emoji, &e, &serr) != 0) {
        json_decref((json_t *)emoji);
        http_error(req, serr.status, serr.code, "%s", serr.message);
        return;
    }
    react(req, mid, req->params[1], false);
    json_decref((json_t *)emoji);
}

/* ?since_seq=: 0 when absent; else a non-negative integer, or 422 (answered) and -1. */
static long long query_since(struct http_req *req)
{
    char buf[32], *end;
    long long v;

    if (!http_query(req, "since_seq", buf, sizeof(buf)) || buf[0] == '\0')
        return 0;
    errno = 0;
    v = strtoll(buf, &end, 10);
    if (*end != '\0' || v < 0 || errno == ERANGE || buf[0] < '0' || buf[0] > '9') {
        http_error(req, 422, "validation_error", "since_seq: must be an integer >= 0");
        return -1;
    }
    return v;
}

void route_conv_events(struct http_req *req)
{
    char since[24], lim[16];
    const char *cid, *params[3] = {NULL, since, lim};
    long long after, last;
    json_t *events;
    enum db_err err;
    int limit, n;
    PGresult *r;

    if (v_path_uuid(req, 0, &cid) != 0 || (after = query_since(req)) < 0 ||
        v_query_limit(req, EVENTS_DEFAULT, EVENTS_MAX, &limit) != 0 ||
        conv_require_member(req, cid, NULL) != 0)
        return;
    params[0] = cid;
    snprintf(since, sizeof(since), "%lld", after);
    snprintf(lim, sizeof(lim), "%d", limit + 1);
    if ((r = db_exec(&req->be->db, &events_stmt, 3, params, &err)) == NULL) {
        http_db_error(req, err);
        return;
    }
    events = json_array();
    last = after;
    n = PQntuples(r);
    for (int i = 0; i < n && i < limit; i++) {
        const char *sender;
        json_t *ev = sync_row_event(r, i, cid, NULL, &last, &sender);
        if (ev != NULL)
            json_array_append_new(events, ev);
    }
    PQclear(r);
    http_reply(req, 200,
               json_pack("{s:o, s:I, s:b}", "events", events, "next_seq", (json_int_t)last,
                         "has_more", n > limit));
}
