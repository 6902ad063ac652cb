/*
 * routes_auth.c - register, login, refresh (with rotation and reuse
 * detection), logout.
 *
 * Brute force: login and register count against a per-address limit
 * (RATE_LIMIT_AUTH_PER_MINUTE) and login against the failed-login counts
 * of login_limit.h, before any password is hashed. Unknown accounts spend the same argon2 time as
 * known ones, so timing does not reveal which usernames exist.
 */
#include "auth.h"
#include "log.h"
#include "login_limit.h"
#include "password.h"
#include "ratelimit.h"
#include "routes.h"
#include "token.h"
#include "users.h"
#include "validate.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static struct db_stmt register_stmt = {
    .name = "auth_register",
    .sql = "INSERT INTO users (id, username, email, password_hash, display_name)"
           " VALUES ($1, $2, $3, $4, $5) RETURNING " USER_COLS,
};
enum { AUTH_REGISTER_COL_USER }; /* USER_NCOLS columns */

static struct db_stmt login_stmt = {
    .name = "auth_login",
    .sql = "SELECT password_hash, " USER_COLS " FROM users"
           " WHERE (lower(username) = lower($1) OR lower(email) = lower($1))"
           "   AND deleted_at IS NULL"
           " ORDER BY lower(username) = lower($1) DESC LIMIT 1",
};
enum { AUTH_LOGIN_COL_HASH, AUTH_LOGIN_COL_USER /* USER_NCOLS columns */ };

static struct db_stmt refresh_lookup_stmt = {
    .name = "auth_refresh_lookup",
    .sql = "SELECT family_id, user_id, encode(token_hash, 'hex'), used_at IS NOT NULL,"
           "       revoked_at IS NOT NULL, expires_at <= now()"
           " FROM refresh_tokens WHERE id = $1",
};
enum {
    AUTH_REFRESH_COL_FAMILY,
    AUTH_REFRESH_COL_USER_ID,
    AUTH_REFRESH_COL_HASH,
    AUTH_REFRESH_COL_USED,
    AUTH_REFRESH_COL_REVOKED,
    AUTH_REFRESH_COL_EXPIRED
};

static struct db_stmt refresh_use_stmt = {
    .name = "auth_refresh_use",
    .sql = "UPDATE refresh_tokens SET used_at = now()"
           " WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
};

static struct db_stmt family_revoke_stmt = {
    .name = "auth_family_revoke",
    .sql = "UPDATE refresh_tokens SET revoked_at = now()"
           " WHERE family_id = $1 AND revoked_at IS NULL",
};

static struct db_stmt user_by_id_stmt = {
    .name = "auth_user_by_id",
    .sql = "SELECT " USER_COLS " FROM users WHERE id = $1 AND deleted_at IS NULL",
};
enum { AUTH_USER_COL_USER }; /* USER_NCOLS columns */

/* Count one login or register attempt of the client's address; answers 429 when over. */
static int address_limit(struct http_req *req)
{
    return http_limit(req, "auth-ip", req->client_ip, req->cfg->rl_auth_per_minute, "attempts");
}

/* Answer 200/201 with the token pair plus the user object (stolen). */
static void reply_pair(struct http_req *req, int status, const char *user_id, const char *family,
                       json_t *user)
{
    json_t *pair = auth_issue_pair(req, user_id, family);
    if (pair == NULL) {
        json_decref(user);
        return;
    }
    json_object_set_new(pair, "user", user);
    http_reply(req, status, pair);
}

void route_register(struct http_req *req)
{
    const char *username, *email, *password, *display_name, *params[5];
    char id[UUID_STR_LEN], hash[PW_HASH_LEN];
    enum db_err err;
    PGresult *r;

    if (address_limit(req) != 0)
        return;
    if (v_username(req, "username", true, &username) || v_email(req, "email", true, &email) ||
        v_string(req, "password", 8, 128, true, &password) ||
        v_string(req, "display_name", 1, 100, false, &display_name))
        return;
    if (pw_hash(password, strlen(password), hash) != 0) {
        http_error(req, 503, "unavailable", "could not hash the password");
        return;
    }
    uuid_v7_string(id);
    params[0] = id;
    params[1] = username;
    params[2] = email;
    params[3] = hash;
    params[4] = display_name;
    r = db_exec(&req->be->db, &register_stmt, 5, params, &err);
    if (r == NULL) {
        if (err == DB_ERR_UNIQUE)
            http_error(req, 409, "conflict", "%s is already taken",
                       strstr(req->be->db.last_error, "email") ? "email" : "username");
        else
            http_db_error(req, err);
        return;
    }
    reply_pair(req, 201, id, NULL, user_to_json(r, 0, AUTH_REGISTER_COL_USER, true));
    PQclear(r);
}

void route_login(struct http_req *req)
{
    const char *username, *password, *params[1];
    char account[LOGIN_ACCOUNT_LEN];
    enum db_err err;
    PGresult *r;
    bool found, ok;

    if (v_string(req, "username", 1, 254, false, &username) ||
        v_string(req, "password", 1, 128, true, &password))
        return;
    if (username == NULL && v_string(req, "email", 1, 254, true, &username))
        return;
    if (address_limit(req) != 0)
        return;
    params[0] = username;
    r = db_exec(&req->be->db, &login_stmt, 1, params, &err);
    if (r == NULL) {
        http_db_error(req, err);
        return;
    }
    found = db_has_row(r);
    login_account(found ? PQgetvalue(r, 0, AUTH_LOGIN_COL_USER + USER_COL_ID) : NULL, username,
                  account);
    if (!login_allowed(req, account)) {
        PQclear(r);
        return;
    }
    if (found) {
        ok = pw_verify(PQgetvalue(r, 0, AUTH_LOGIN_COL_HASH), password, strlen(password));
    } else {
        pw_verify_dummy(password, strlen(password));
        ok = false;
    }
    if (!ok) {
        login_failed(req, account);
        http_error(req, 401, "invalid_credentials", "incorrect username or password");
    } else {
        login_succeeded(req, account);
        reply_pair(req, 200, PQgetvalue(r, 0, AUTH_LOGIN_COL_USER + USER_COL_ID), NULL,
                   user_to_json(r, 0, AUTH_LOGIN_COL_USER, true));
    }
    PQclear(r);
}

/* SHA-256 of the token as hex, as stored in refresh_tokens.token_hash. */
static void token_hash_hex(const char *tok, char out[crypto_hash_sha256_BYTES * 2 + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)tok, strlen(tok));
    sodium_bin2hex(out, crypto_hash_sha256_BYTES * 2 + 1, h, sizeof(h));
}

static void revoke_family(struct http_req *req, const char *family)
{
    enum db_err err;
    const char *params[1] = {family};
    PGresult *r = db_exec(&req->be->db, &family_revoke_stmt, 1, params, &err);
    if (r != NULL)
        PQclear(r);
}

/*
 * Look up a presented refresh token. Returns its row (caller PQclear()s)
 * or NULL after answering 401/503.
 */
static PGresult *refresh_row(struct http_req *req, const char *tok, struct token_claims *claims)
{
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    const char *params[1];
    enum token_status st = token_verify(req->cfg, tok, TOKEN_REFRESH, time(NULL), claims);
    enum db_err err;
    PGresult *r;

    if (st != TOKEN_OK) {
        http_error(req, 401, "invalid_token", "refresh token rejected: %s", token_status_str(st));
        return NULL;
    }
    params[0] = claims->jti;
    r = db_exec(&req->be->db, &refresh_lookup_stmt, 1, params, &err);
    if (r == NULL) {
        http_db_error(req, err);
        return NULL;
    }
    token_hash_hex(tok, hex);
    if (!db_has_row(r) || strcmp(PQgetvalue(r, 0, AUTH_REFRESH_COL_HASH), hex) != 0 ||
        strcmp(PQgetvalue(r, 0, AUTH_REFRESH_COL_USER_ID), claims->sub) != 0) {
        PQclear(r);
        http_error(req, 401, "invalid_token", "refresh token is not known");
        return NULL;
    }
    return r;
}

void route_refresh(struct http_req *req)
{
    const char *tok, *params[1];
    char family[UUID_STR_LEN], user_id[UUID_STR_LEN];
    struct token_claims claims;
    enum db_err err;
    PGresult *r, *u = NULL;
    json_t *pair;

    if (v_string(req, "refresh_token", 1, 4096, true, &tok))
        return;
    r = refresh_row(req, tok, &claims);
    if (r == NULL)
        return;
    snprintf(family, sizeof(family), "%s", PQgetvalue(r, 0, AUTH_REFRESH_COL_FAMILY));
    snprintf(user_id, sizeof(user_id), "%s", PQgetvalue(r, 0, AUTH_REFRESH_COL_USER_ID));
    if (PQgetvalue(r, 0, AUTH_REFRESH_COL_REVOKED)[0] == 't' ||
        PQgetvalue(r, 0, AUTH_REFRESH_COL_EXPIRED)[0] == 't') {
        PQclear(r);
        http_error(req, 401, "invalid_token", "refresh token is revoked or expired");
        return;
    }
    if (PQgetvalue(r, 0, AUTH_REFRESH_COL_USED)[0] == 't') {
        /* A retired token came back: someone holds a copy. Kill the family. */
        PQclear(r);
        revoke_family(req, family);
        log_warn(req->request_id, "refresh token reuse detected for user %s", user_id);
        http_error(req, 401, "token_reused", "refresh token was already used; session revoked");
        return;
    }
    PQclear(r);

    /* Retire the old token and store its successor atomically. */
    if ((err = db_simple(&req->be->db, "BEGIN")) != DB_OK) {
        http_db_error(req, err);
        return;
    }
    params[0] = claims.jti;
    r = db_exec(&req->be->db, &refresh_use_stmt, 1, params, &err);
    if (r == NULL)
        goto db_fail;
    if (strcmp(PQcmdTuples(r), "1") != 0) {
        /* Lost a race with a concurrent use of the same token: that is reuse. */
        PQclear(r);
        db_simple(&req->be->db, "ROLLBACK");
        revoke_family(req, family);
        http_error(req, 401, "token_reused", "refresh token was already used; session revoked");
        return;
    }
    PQclear(r);
    params[0] = user_id;
    u = db_exec(&req->be->db, &user_by_id_stmt, 1, params, &err);
    if (u == NULL)
        goto db_fail;
    if (!db_has_row(u)) {
        PQclear(u);
        db_simple(&req->be->db, "ROLLBACK");
        http_error(req, 401, "invalid_token", "user no longer exists");
        return;
    }
    pair = auth_issue_pair(req, user_id, family);
    if (pair == NULL) {
        PQclear(u);
        db_simple(&req->be->db, "ROLLBACK");
        return;
    }
    if ((err = db_simple(&req->be->db, "COMMIT")) != DB_OK) {
        json_decref(pair);
        PQclear(u);
        http_db_error(req, err);
        return;
    }
    json_object_set_new(pair, "user", user_to_json(u, 0, AUTH_USER_COL_USER, true));
    PQclear(u);
    http_reply(req, 200, pair);
    return;
db_fail:
    db_simple(&req->be->db, "ROLLBACK");
    http_db_error(req, err);
}

void route_logout(struct http_req *req)
{
    const char *tok;
    char family[UUID_STR_LEN];
    struct token_claims claims;
    PGresult *r;

    if (v_string(req, "refresh_token", 1, 4096, true, &tok))
        return;
    r = refresh_row(req, tok, &claims);
    if (r == NULL)
        return;
    snprintf(family, sizeof(family), "%s", PQgetvalue(r, 0, AUTH_REFRESH_COL_FAMILY));
    PQclear(r);
    revoke_family(req, family);
    http_reply(req, 204, NULL);
}
