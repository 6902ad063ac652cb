/* token.c - see token.h. */
#include "token.h"

#include <jwt.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_SKEW_SECONDS 60

static const char *type_name(enum token_type t)
{
    return t == TOKEN_ACCESS ? "access" : "refresh";
}

long token_lifetime(const struct chat_config *cfg, enum token_type type)
{
    return type == TOKEN_ACCESS ? (long)cfg->access_token_minutes * 60
                                : (long)cfg->refresh_token_days * 86400;
}

int token_issue(const struct chat_config *cfg, enum token_type type, const char *sub,
                const char *jti, time_t now, char **out)
{
    jwt_t *jwt = NULL;
    int rc = -1;
    jwt_alg_t alg = jwt_str_alg(cfg->algorithm);

    *out = NULL;
    if (jwt_new(&jwt) != 0)
        goto out;
    if (jwt_add_grant(jwt, "sub", sub) || jwt_add_grant(jwt, "jti", jti) ||
        jwt_add_grant(jwt, "typ", type_name(type)) || jwt_add_grant_int(jwt, "iat", (long)now) ||
        jwt_add_grant_int(jwt, "exp", (long)now + token_lifetime(cfg, type)))
        goto out;
    if (jwt_set_alg(jwt, alg, (const unsigned char *)cfg->secret_key, (int)cfg->secret_len) != 0)
        goto out;
    *out = jwt_encode_str(jwt);
    rc = *out != NULL ? 0 : -1;
out:
    jwt_free(jwt);
    return rc;
}

static int copy_uuid_claim(jwt_t *jwt, const char *name, char dst[UUID_STR_LEN])
{
    const char *v = jwt_get_grant(jwt, name);
    if (v == NULL || !uuid_is_valid(v))
        return -1;
    memcpy(dst, v, UUID_STR_LEN - 1);
    dst[UUID_STR_LEN - 1] = '\0';
    return 0;
}

enum token_status token_verify(const struct chat_config *cfg, const char *tok, enum token_type want,
                               time_t now, struct token_claims *out)
{
    jwt_t *jwt = NULL;
    enum token_status st = TOKEN_MALFORMED;
    const char *typ;

    if (tok == NULL || tok[0] == '\0' || strlen(tok) > 4096)
        return TOKEN_MALFORMED;
    /* Real key and real length: a zero length would let alg "none" through. */
    if (jwt_decode(&jwt, tok, (const unsigned char *)cfg->secret_key, (int)cfg->secret_len) != 0)
        goto out;
    /* libjwt accepts any HMAC whose signature matches: pin the algorithm. */
    if (jwt_get_alg(jwt) != jwt_str_alg(cfg->algorithm)) {
        st = TOKEN_WRONG_ALG;
        goto out;
    }
    typ = jwt_get_grant(jwt, "typ");
    if (copy_uuid_claim(jwt, "sub", out->sub) || copy_uuid_claim(jwt, "jti", out->jti) ||
        typ == NULL)
        goto out;
    out->iat = jwt_get_grant_int(jwt, "iat");
    out->exp = jwt_get_grant_int(jwt, "exp");
    if (out->iat <= 0 || out->exp <= 0)
        goto out;
    if (strcmp(typ, type_name(want)) != 0) {
        st = TOKEN_WRONG_TYPE;
        goto out;
    }
    out->type = want;
    if (out->exp <= (long)now) {
        st = TOKEN_EXPIRED;
        goto out;
    }
    if (out->iat > (long)now + TOKEN_SKEW_SECONDS) {
        st = TOKEN_NOT_YET_VALID;
        goto out;
    }
    st = TOKEN_OK;
out:
    jwt_free(jwt);
    return st;
}

const char *token_status_str(enum token_status st)
{
    switch (st) {
    case TOKEN_OK:
        return "ok";
    case TOKEN_MALFORMED:
        return "invalid token";
    case TOKEN_WRONG_ALG:
        return "token signed with an unexpected algorithm";
    case TOKEN_EXPIRED:
        return "token expired";
    case TOKEN_NOT_YET_VALID:
        return "token not yet valid";
    case TOKEN_WRONG_TYPE:
        return "wrong token type";
    case TOKEN_ERROR:
        break;
    }
    return "token error";
}
