/*
 * authorize.c - see authorize.h.
 *
 * One statement reads the user (deleted? sessions revoked after the
 * token's iat?), the memberships the socket may read and each
 * conversation's last_seq; the subscriptions start from there.
 */
#include "authorize.h"
#include "client.h"
#include "fanout.h"
#include "gw.h"
#include "presence.h"
#include "token.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

/* clang-format off */
/*
 * Columns: AUTH_COL_*; one row per membership (or one with NULLs), none
 * for a deleted user. The conversation's last_seq lets the connect skip
 * the catch-up of every conversation with nothing after the start point.
 */
#define AUTH_COLS                                                                    \
    "SELECT u.username, m.conversation_id, m.last_read_seq,"                         \
    " coalesce(floor(extract(epoch FROM u.sessions_valid_after)), 0)::bigint,"       \
    " c.last_seq FROM users u"
static const char auth_one_sql[] =
    AUTH_COLS
    " LEFT JOIN conversation_members m ON m.user_id = u.id AND m.conversation_id = $2"
    " LEFT JOIN conversations c ON c.id = m.conversation_id"
    " WHERE u.id = $1 AND u.deleted_at IS NULL";
static const char auth_all_sql[] =
    AUTH_COLS
    " LEFT JOIN conversation_members m ON m.user_id = u.id"
    " LEFT JOIN conversations c ON c.id = m.conversation_id"
    " WHERE u.id = $1 AND u.deleted_at IS NULL";
/* clang-format on */
enum {
    AUTH_COL_USERNAME,
    AUTH_COL_CONV,
    AUTH_COL_LAST_READ,
    AUTH_COL_VALID_AFTER,
    AUTH_COL_LAST_SEQ
};

/*
 * The connect's subscription of conv: from the client's resume point
 * (since_seq, or the conversation's ?since= entry), else the newest unread
 * after the read watermark. When nothing was stored after that point (the
 * conversation's last_seq at the authorisation), no catch-up is needed:
 * the subscription starts live at last_seq, and anything later arrives by
 * the stream or, if its event is missing, by the gap and reconcile rules.
 */
static void subscribe(struct gw_conn *c, const char *conv, long long last_read, long long last_seq)
{
    long long from = last_read;
    enum fanout_start start = FANOUT_OFFLINE;

    if (c->has_since) {
        from = c->since_seq;
        start = FANOUT_RESUME;
    }
    for (int i = 0; i < c->nresume && start != FANOUT_RESUME; i++)
        if (strcasecmp(c->resume[i].conv_id, conv) == 0) {
            from = c->resume[i].seq;
            start = FANOUT_RESUME;
        }
    if (from >= last_seq) {
        fanout_subscribe(c, conv, from, FANOUT_LIVE);
        return;
    }
    fanout_subscribe(c, conv, from, start);
}

static void on_auth(PGresult *r, enum db_err err, void *arg)
{
    struct gw_conn *c = arg;
    int n = r ? PQntuples(r) : 0;

    (void)err;
    if (c->wsi == NULL)
        goto out;
    if (r == NULL) {
        conn_close(c, 1011);
        goto out;
    }
    if (n == 0 || c->token_iat < atoll(PQgetvalue(r, 0, AUTH_COL_VALID_AFTER))) {
        conn_close(c, 4401); /* deleted user, or a token from before a revocation (logout...) */
        goto out;
    }
    snprintf(c->username, sizeof(c->username), "%s", PQgetvalue(r, 0, AUTH_COL_USERNAME));
    if (c->conv_id[0] != '\0' && PQgetisnull(r, 0, AUTH_COL_CONV)) {
        conn_close(c, 4403); /* not a member, or no such conversation */
        goto out;
    }
    if (!admit_user(&c->admit, c->user_id)) {
        conn_close(c, 4429); /* WS_MAX_SOCKETS_PER_USER sockets of this user are open here */
        goto out;
    }
    c->authorized = true;
    for (int i = 0; i < n; i++)
        if (!PQgetisnull(r, i, AUTH_COL_CONV))
            subscribe(c, PQgetvalue(r, i, AUTH_COL_CONV),
                      atoll(PQgetvalue(r, i, AUTH_COL_LAST_READ)),
                      atoll(PQgetvalue(r, i, AUTH_COL_LAST_SEQ)));
    presence_join(c); /* announces to the conversations just subscribed */
    client_replay_early(c);
out:
    conn_unref(c);
}

void authorize_socket(struct gw_conn *c, const char *token)
{
    struct token_claims claims;
    const char *params[2];
    bool one = c->conv_id[0] != '\0';

    if (token_verify(&gw.cfg, token, TOKEN_ACCESS, time(NULL), &claims) != TOKEN_OK) {
        conn_close(c, 4401);
        return;
    }
    snprintf(c->user_id, sizeof(c->user_id), "%s", claims.sub);
    c->token_iat = claims.iat;
    c->token_exp = claims.exp;
    params[0] = c->user_id;
    params[1] = c->conv_id;
    conn_ref(c);
    if (pgq_exec(gw_pg(NULL), one ? auth_one_sql : auth_all_sql, one ? 2 : 1, params, on_auth, c) !=
        0) {
        conn_unref(c);
        conn_close(c, 1013);
    }
}
