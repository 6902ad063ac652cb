/*
 * fuzz_token - libFuzzer target for access/refresh token verification.
 * First byte even: the rest is a token as a client sends it; it must come
 * back as a token_status, never a crash, and never TOKEN_OK without the
 * key. Odd: the rest is a claims object that is signed with the key, so
 * the claim checks behind the signature (typ, sub, jti, iat, exp) see
 * arbitrary JSON too. Run by scripts/fuzz.sh.
 */
#include "config.h"
#include "token.h"

#include <jwt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* claims_json signed with the configured key, or NULL when libjwt refuses it. */
static char *sign_claims(const struct chat_config *cfg, const char *claims_json)
{
    jwt_t *jwt = NULL;
    char *out = NULL;

    if (jwt_new(&jwt) == 0 && jwt_add_grants_json(jwt, claims_json) == 0 &&
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)cfg->secret_key,
                    (int)cfg->secret_len) == 0)
        out = jwt_encode_str(jwt);
    jwt_free(jwt);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct chat_config cfg;
    struct token_claims claims;
    char *tok;

    if (cfg.secret_key == NULL) {
        cfg.secret_key = strdup("fuzz-secret-fuzz-secret-fuzz-secret!");
        cfg.secret_len = strlen(cfg.secret_key);
        cfg.algorithm = strdup("HS256");
        cfg.access_token_minutes = 30;
        cfg.refresh_token_days = 7;
    }
    if (size == 0 || (tok = malloc(size)) == NULL)
        return 0;
    memcpy(tok, data + 1, size - 1);
    tok[size - 1] = '\0';
    if (data[0] & 1) {
        char *signed_tok = sign_claims(&cfg, tok);
        if (signed_tok != NULL) {
            (void)token_verify(&cfg, signed_tok, TOKEN_ACCESS, time(NULL), &claims);
            (void)token_verify(&cfg, signed_tok, TOKEN_REFRESH, time(NULL), &claims);
        }
        free(signed_tok);
    } else if (token_verify(&cfg, tok, TOKEN_ACCESS, time(NULL), &claims) == TOKEN_OK) {
        abort(); /* a forged token was accepted */
    } else {
        (void)token_verify(&cfg, tok, TOKEN_REFRESH, time(NULL), &claims);
    }
    free(tok);
    return 0;
}
