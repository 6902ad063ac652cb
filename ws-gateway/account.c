/* account.c - see account.h. */
#include "account.h"
#include "conn.h"
#include "gw.h"
#include "log.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* clang-format off */
/* Columns: ACCOUNT_COL_*; no row for an unknown user. */
static const char account_sql[] =
    "SELECT u.id::text, u.deleted_at IS NOT NULL,"
    "       coalesce(floor(extract(epoch FROM u.sessions_valid_after)), 0)::bigint"
    " FROM users u WHERE u.id = ANY($1::uuid[])";
/* clang-format on */
enum { ACCOUNT_COL_ID, ACCOUNT_COL_DELETED, ACCOUNT_COL_VALID_AFTER };

/*
 * Close the sockets of user whose token predates valid_after (epoch
 * seconds; tokens of that very second stay: iat has no finer grain), or
 * all of them when the account is gone.
 */
static void enforce(const char *user, bool gone, long long valid_after)
{
    for (struct gw_conn *c = conn_first(); c != NULL; c = c->next)
        if (c->user_id[0] != '\0' && strcasecmp(c->user_id, user) == 0 &&
            (gone || c->token_iat < valid_after))
            conn_close(c, 4401);
}

/* Whether user (NULL: anyone) appears in rows of r. */
static bool in_result(const PGresult *r, const char *user)
{
    for (int i = 0; i < PQntuples(r); i++)
        if (strcasecmp(PQgetvalue(r, i, ACCOUNT_COL_ID), user) == 0)
            return true;
    return false;
}

static void on_accounts(PGresult *r, enum db_err err, void *arg)
{
    char *users = arg; /* the array literal asked about, for users without a row */

    (void)err;
    if (r == NULL) {
        log_warn(NULL, "sessions not checked (database unavailable)");
        goto out;
    }
    for (int i = 0; i < PQntuples(r); i++)
        enforce(PQgetvalue(r, i, ACCOUNT_COL_ID), PQgetvalue(r, i, ACCOUNT_COL_DELETED)[0] == 't',
                atoll(PQgetvalue(r, i, ACCOUNT_COL_VALID_AFTER)));
    for (struct gw_conn *c = conn_first(); c != NULL; c = c->next)
        if (c->user_id[0] != '\0' && strstr(users, c->user_id) != NULL && !in_result(r, c->user_id))
            conn_close(c, 4401); /* no such user any more */
out:
    free(users);
}

/* Check the accounts of the n users (borrowed) against the table. */
static void check(const char **users, int n)
{
    char *list;
    const char *params[1];

    if (n == 0 || (list = db_text_array(users, n)) == NULL)
        return;
    params[0] = list;
    if (pgq_exec(gw.listen, account_sql, 1, params, on_accounts, list) != 0)
        free(list);
}

int account_parse(const char *payload, char user_id[UUID_STR_LEN])
{
    if (strlen(payload) != UUID_STR_LEN - 1)
        return -1;
    memcpy(user_id, payload, UUID_STR_LEN);
    if (uuid_canon(user_id))
        return 0;
    user_id[0] = '\0';
    return -1;
}

void account_changed(const char *payload)
{
    char user[UUID_STR_LEN];
    const char *users[1] = {user};

    if (account_parse(payload, user) != 0) {
        log_warn(NULL, "unreadable account announcement: %.80s", payload);
        return;
    }
    /* a socket still being authorised counts: its check may have read the old state */
    if (conn_has_user(user, true))
        check(users, 1);
}

void account_recheck_all(void)
{
    const char **users = malloc(sizeof(*users) * (size_t)(conn_count() + 1));

    if (users == NULL)
        return;
    check(users, conn_user_ids(users, true));
    free(users);
}
