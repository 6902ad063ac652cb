/* auth.c - see auth.h. */
#include "auth.h"
#include "token.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static struct db_stmt user_live_stmt = {
    .name = "auth_user_live",
    .sql = "SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL",
};

static struct db_stmt refresh_insert_stmt = {
    .name = "auth_refresh_insert",
    .sql = "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at)"
           " VALUES ($1, $2, $3, decode($4, 'hex'), now() + make_interval(secs => $5::bigint))",
};

static void unauthorized(struct http_req *req, const char *msg)
{
    http_header(req, "WWW-Authenticate: Bearer");
    http_error(req, 401, "unauthorized", "%s", msg);
}

/* 0 live, 1 deleted (answered 401), -1 database error (answered). */
static int user_gone(struct http_req *req)
{
    const char *params[1] = {req->user_id};
    enum db_err err;
    PGresult *r = db_exec(&req->be->db, &user_live_stmt, 1, params, &err);

    if (r == NULL) {
        http_db_error(req, err);
        return -1;
    }
    if (!db_has_row(r)) {
        PQclear(r);
        unauthorized(req, "user no longer exists");
        return 1;
    }
    PQclear(r);
    return 0;
}

void auth_not_found(struct http_req *req, const char *what)
{
    if (user_gone(req) == 0)
        http_error(req, 404, "not_found", "%s not found", what);
}

int auth_authenticate(struct http_req *req, bool check_live)
{
    const char *h = http_env(req, "HTTP_AUTHORIZATION");
    struct token_claims claims;
    enum token_status st;

    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        unauthorized(req, "missing bearer token");
        return -1;
    }
    h += 7;
    while (*h == ' ')
        h++;
    st = token_verify(req->cfg, h, TOKEN_ACCESS, time(NULL), &claims);
    if (st != TOKEN_OK) {
        unauthorized(req, token_status_str(st));
        return -1;
    }
    memcpy(req->user_id, claims.sub, sizeof(req->user_id));
    if (check_live && user_gone(req) != 0)
        return -1;
    req->authed = true;
    return 0;
}

json_t *auth_issue_pair(struct http_req *req, const char *user_id, const char *family)
{
    char jti_access[UUID_STR_LEN], jti_refresh[UUID_STR_LEN], fam[UUID_STR_LEN];
    char hash_hex[crypto_hash_sha256_BYTES * 2 + 1], ttl[24];
    unsigned char hash[crypto_hash_sha256_BYTES];
    char *access = NULL, *refresh = NULL;
    const char *params[5];
    json_t *out = NULL;
    time_t now = time(NULL);
    enum db_err err;
    PGresult *r;

    uuid_v7_string(jti_access);
    uuid_v7_string(jti_refresh);
    if (family != NULL)
        snprintf(fam, sizeof(fam), "%s", family);
    else
        uuid_v7_string(fam);
    if (token_issue(req->cfg, TOKEN_ACCESS, user_id, jti_access, now, &access) != 0 ||
        token_issue(req->cfg, TOKEN_REFRESH, user_id, jti_refresh, now, &refresh) != 0) {
        http_error(req, 503, "unavailable", "could not issue tokens");
        goto out;
    }
    crypto_hash_sha256(hash, (const unsigned char *)refresh, strlen(refresh));
    sodium_bin2hex(hash_hex, sizeof(hash_hex), hash, sizeof(hash));
    snprintf(ttl, sizeof(ttl), "%ld", token_lifetime(req->cfg, TOKEN_REFRESH));
    params[0] = jti_refresh;
    params[1] = fam;
    params[2] = user_id;
    params[3] = hash_hex;
    params[4] = ttl;
    r = db_exec(&req->be->db, &refresh_insert_stmt, 5, params, &err);
    if (r == NULL) {
        http_db_error(req, err);
        goto out;
    }
    PQclear(r);
    out = json_pack("{s:s, s:s, s:s, s:i}", "access_token", access, "refresh_token", refresh,
                    "token_type", "bearer", "expires_in",
                    (int)token_lifetime(req->cfg, TOKEN_ACCESS));
out:
    free(access);
    free(refresh);
    return out;
}
