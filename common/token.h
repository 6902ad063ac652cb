/*
 * token.h - JWT access and refresh tokens over libjwt.
 *
 * libjwt 1.10.2 takes the algorithm from the token header and checks
 * nothing but the signature (see shared library notes), so verification
 * here pins the algorithm to the configured one, always passes the real
 * key and length, and checks exp, iat, sub, jti and the token type itself.
 * Access and refresh tokens carry "typ" and are mutually exclusive.
 */
#ifndef CHAT_TOKEN_H
#define CHAT_TOKEN_H

#include "config.h"
#include "uuid.h"

#include <time.h>

enum token_type { TOKEN_ACCESS = 0, TOKEN_REFRESH = 1 };

enum token_status {
    TOKEN_OK = 0,
    TOKEN_MALFORMED,     /* not a JWT, bad JSON, missing claim, bad signature */
    TOKEN_WRONG_ALG,     /* signed with another algorithm than configured */
    TOKEN_EXPIRED,       /* exp in the past */
    TOKEN_NOT_YET_VALID, /* iat in the future (beyond clock skew) */
    TOKEN_WRONG_TYPE,    /* refresh token used as access or the reverse */
    TOKEN_ERROR          /* out of memory */
};

struct token_claims {
    enum token_type type;
    char sub[UUID_STR_LEN]; /* user id */
    char jti[UUID_STR_LEN]; /* token id */
    long iat;
    long exp;
};

/*
 * Issue a signed token for user sub with id jti, valid from now for the
 * configured lifetime. *out is malloc'ed (caller frees). Returns 0 or -1.
 */
int token_issue(const struct chat_config *cfg, enum token_type type, const char *sub,
                const char *jti, time_t now, char **out);

/* Verify tok as a token of type want at time now; fills out on TOKEN_OK. */
enum token_status token_verify(const struct chat_config *cfg, const char *tok, enum token_type want,
                               time_t now, struct token_claims *out);

const char *token_status_str(enum token_status st);

/* Lifetime in seconds of a token of this type. */
long token_lifetime(const struct chat_config *cfg, enum token_type type);

#endif
