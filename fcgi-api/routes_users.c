/*
 * routes_users.c - the caller's account and public profiles.
 *
 * Deleting an account is a soft delete: the row stays so that messages
 * keep their sender id, but it is scrubbed (name, email, password), its
 * memberships and refresh tokens go, and every access token it still has
 * stops working because auth checks users.deleted_at on each request.
 */
#include "events.h"
#include "password.h"
#include "routes.h"
#include "users.h"
#include "validate.h"

#include <stdio.h>
#include <string.h>

/* Columns of me_stmt and user_public_stmt: the user, USER_NCOLS columns. */
enum { USERS_ONE_COL_USER };

static struct db_stmt me_stmt = {
    .name = "users_me",
    .sql = "SELECT " USER_COLS " FROM users WHERE id = $1 AND deleted_at IS NULL",
};

static struct db_stmt me_secret_stmt = {
    .name = "users_me_secret",
    .sql = "SELECT password_hash FROM users WHERE id = $1 AND deleted_at IS NULL",
};
enum { USERS_SECRET_COL_HASH };

static struct db_stmt me_update_stmt = {
    .name = "users_me_update",
    .sql = "UPDATE users SET"
           " display_name = CASE WHEN $2::boolean THEN $3 ELSE display_name END,"
           " email = coalesce($4, email),"
           " password_hash = coalesce($5, password_hash),"
           " updated_at = now()"
           " WHERE id = $1 AND deleted_at IS NULL RETURNING " USER_COLS,
};
enum { USERS_UPDATE_COL_USER }; /* USER_NCOLS columns */

static struct db_stmt revoke_all_stmt = {
    .name = "users_revoke_all",
    .sql = "UPDATE refresh_tokens SET revoked_at = now()"
           " WHERE user_id = $1 AND revoked_at IS NULL",
};

/*
 * Delete in one statement: scrub the user, drop memberships, revoke
 * refresh tokens; returns the conversations the user was in (their
 * message caches hold the old name and are dropped by the caller).
 */
static struct db_stmt me_delete_stmt = {
    .name = "users_me_delete",
    .sql = "WITH u AS ("
           "  UPDATE users SET deleted_at = now(), username = 'deleted', email = NULL,"
           "         password_hash = '', display_name = NULL, updated_at = now()"
           "  WHERE id = $1 AND deleted_at IS NULL RETURNING id"
           "), t AS ("
           "  UPDATE refresh_tokens SET revoked_at = now()"
           "  WHERE user_id IN (SELECT id FROM u) AND revoked_at IS NULL"
           "), m AS ("
           "  DELETE FROM conversation_members WHERE user_id IN (SELECT id FROM u)"
           "  RETURNING conversation_id"
           ") SELECT conversation_id::text FROM m",
};
enum { USERS_DELETE_COL_CONVERSATION_ID };

static struct db_stmt user_public_stmt = {
    .name = "users_public",
    .sql = "SELECT " USER_COLS " FROM users WHERE id = $1 AND deleted_at IS NULL",
};

static void reply_user(struct http_req *req, struct db_stmt *st, const char *id, bool self)
{
    const char *params[1] = {id};
    enum db_err err;
    PGresult *r = db_exec(&req->be->db, st, 1, params, &err);
    if (r == NULL) {
        http_db_error(req, err);
        return;
    }
    if (!db_has_row(r))
        http_error(req, 404, "not_found", "user not found");
    else
        http_reply(req, 200, user_to_json(r, 0, USERS_ONE_COL_USER, self));
    PQclear(r);
}

void route_me_get(struct http_req *req)
{
    reply_user(req, &me_stmt, req->user_id, true);
}

void route_user_get(struct http_req *req)
{
    const char *id;
    if (v_path_uuid(req, 0, &id) != 0)
        return;
    reply_user(req, &user_public_stmt, id, strcmp(id, req->user_id) == 0);
}

/* Check current_password for a password change; answers on failure. */
static int check_current_password(struct http_req *req)
{
    const char *current, *params[1] = {req->user_id};
    enum db_err err;
    PGresult *r;
    int rc = -1;

    if (v_string(req, "current_password", 1, 128, true, &current))
        return -1;
    r = db_exec(&req->be->db, &me_secret_stmt, 1, params, &err);
    if (r == NULL) {
        http_db_error(req, err);
        return -1;
    }
    if (db_has_row(r) &&
        pw_verify(PQgetvalue(r, 0, USERS_SECRET_COL_HASH), current, strlen(current)))
        rc = 0;
    else
        http_error(req, 403, "invalid_credentials", "current_password is incorrect");
    PQclear(r);
    return rc;
}

void route_me_put(struct http_req *req)
{
    const char *display_name, *email, *password, *params[5];
    char hash[PW_HASH_LEN];
    bool set_display = json_object_get(req->json, "display_name") != NULL;
    enum db_err err;
    PGresult *r;

    if (v_string(req, "display_name", 1, 100, false, &display_name) ||
        v_email(req, "email", false, &email) || v_string(req, "password", 8, 128, false, &password))
        return;
    if (password != NULL) {
        if (check_current_password(req) != 0)
            return;
        if (pw_hash(password, strlen(password), hash) != 0) {
            http_error(req, 503, "unavailable", "could not hash the password");
            return;
        }
    }
    params[0] = req->user_id;
    params[1] = set_display ? "true" : "false";
    params[2] = display_name;
    params[3] = email;
    params[4] = password ? hash : NULL;
    r = db_exec(&req->be->db, &me_update_stmt, 5, params, &err);
    if (r == NULL) {
        if (err == DB_ERR_UNIQUE)
            http_error(req, 409, "conflict", "email is already taken");
        else
            http_db_error(req, err);
        return;
    }
    if (!db_has_row(r)) {
        PQclear(r);
        http_error(req, 404, "not_found", "user not found");
        return;
    }
    if (password != NULL) {
        /* A new password ends every other session. */
        PGresult *t = db_exec(&req->be->db, &revoke_all_stmt, 1, params, &err);
        if (t != NULL)
            PQclear(t);
    }
    http_reply(req, 200, user_to_json(r, 0, USERS_UPDATE_COL_USER, true));
    PQclear(r);
}

void route_me_delete(struct http_req *req)
{
    const char *params[1] = {req->user_id};
    enum db_err err;
    PGresult *r = db_exec(&req->be->db, &me_delete_stmt, 1, params, &err);

    if (r == NULL) {
        http_db_error(req, err);
        return;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const char *cid = PQgetvalue(r, i, USERS_DELETE_COL_CONVERSATION_ID);
        char key[EV_KEY_MAX];
        redisReply *rep;
        ev_cache_key(cid, key);
        rep = rds_cmd(&req->be->rds, "DEL %s", key);
        if (rep != NULL)
            freeReplyObject(rep);
    }
    PQclear(r);
    http_reply(req, 204, NULL);
}
