/*
 * Unit tests of common/token.c, pinning the libjwt 1.10.2 traps from the
 * library notes: alg "none", another HMAC algorithm with the same key,
 * no exp/type checks of its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "token.h"

#include <jwt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USER "01a21080-3ac6-77e9-87ce-663e805c7b27"
#define JTI "01a21080-3acf-7787-a305-ca3569b24c5d"

static struct chat_config cfg;

static int setup(void **state)
{
    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.secret_key = strdup("0123456789abcdef0123456789abcdef");
    cfg.secret_len = strlen(cfg.secret_key);
    cfg.algorithm = strdup("HS256");
    cfg.access_token_minutes = 30;
    cfg.refresh_token_days = 7;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(cfg.secret_key);
    free(cfg.algorithm);
    return 0;
}

static void test_token_round_trip(void **state)
{
    char *tok;
    struct token_claims c;
    time_t now = time(NULL);
    (void)state;
    assert_int_equal(token_issue(&cfg, TOKEN_ACCESS, USER, JTI, now, &tok), 0);
    assert_int_equal(token_verify(&cfg, tok, TOKEN_ACCESS, now, &c), TOKEN_OK);
    assert_string_equal(c.sub, USER);
    assert_string_equal(c.jti, JTI);
    assert_int_equal(c.exp - c.iat, 30 * 60);
    free(tok);
}

static void test_token_expired(void **state)
{
    char *tok;
    struct token_claims c;
    time_t then = time(NULL) - 31 * 60;
    (void)state;
    assert_int_equal(token_issue(&cfg, TOKEN_ACCESS, USER, JTI, then, &tok), 0);
    assert_int_equal(token_verify(&cfg, tok, TOKEN_ACCESS, time(NULL), &c), TOKEN_EXPIRED);
    free(tok);
}

static void test_token_wrong_key_rejected(void **state)
{
    struct chat_config other = cfg;
    struct token_claims c;
    char *tok;
    (void)state;
    assert_int_equal(token_issue(&cfg, TOKEN_ACCESS, USER, JTI, time(NULL), &tok), 0);
    other.secret_key = "fedcba9876543210fedcba9876543210";
    assert_int_not_equal(token_verify(&other, tok, TOKEN_ACCESS, time(NULL), &c), TOKEN_OK);
    free(tok);
}

static char *b64url(const char *s)
{
    size_t n = sodium_base64_ENCODED_LEN(strlen(s), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(n);
    sodium_bin2base64(out, n, (const unsigned char *)s, strlen(s),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

static void test_token_rejects_alg_none(void **state)
{
    char payload[256], tok[1024];
    char *h, *p;
    struct token_claims c;
    long now = (long)time(NULL);
    (void)state;
    snprintf(payload, sizeof(payload),
             "{\"sub\":\"%s\",\"jti\":\"%s\",\"typ\":\"access\",\"iat\":%ld,\"exp\":%ld}", USER,
             JTI, now, now + 600);
    h = b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}");
    p = b64url(payload);
    snprintf(tok, sizeof(tok), "%s.%s.", h, p);
    assert_int_not_equal(token_verify(&cfg, tok, TOKEN_ACCESS, (time_t)now, &c), TOKEN_OK);
    free(h);
    free(p);
}

static void test_token_rejects_other_hmac_algorithm(void **state)
{
    jwt_t *jwt;
    char *tok;
    struct token_claims c;
    long now = (long)time(NULL);
    (void)state;
    assert_int_equal(jwt_new(&jwt), 0);
    jwt_add_grant(jwt, "sub", USER);
    jwt_add_grant(jwt, "jti", JTI);
    jwt_add_grant(jwt, "typ", "access");
    jwt_add_grant_int(jwt, "iat", now);
    jwt_add_grant_int(jwt, "exp", now + 600);
    jwt_set_alg(jwt, JWT_ALG_HS512, (const unsigned char *)cfg.secret_key, (int)cfg.secret_len);
    tok = jwt_encode_str(jwt);
    assert_non_null(tok);
    assert_int_equal(token_verify(&cfg, tok, TOKEN_ACCESS, (time_t)now, &c), TOKEN_WRONG_ALG);
    free(tok);
    jwt_free(jwt);
}

static void test_token_types_are_exclusive(void **state)
{
    char *acc, *ref;
    struct token_claims c;
    time_t now = time(NULL);
    (void)state;
    assert_int_equal(token_issue(&cfg, TOKEN_ACCESS, USER, JTI, now, &acc), 0);
    assert_int_equal(token_issue(&cfg, TOKEN_REFRESH, USER, JTI, now, &ref), 0);
    assert_int_equal(token_verify(&cfg, ref, TOKEN_ACCESS, now, &c), TOKEN_WRONG_TYPE);
    assert_int_equal(token_verify(&cfg, acc, TOKEN_REFRESH, now, &c), TOKEN_WRONG_TYPE);
    assert_int_equal(token_verify(&cfg, ref, TOKEN_REFRESH, now, &c), TOKEN_OK);
    assert_int_equal(c.exp - c.iat, 7 * 86400);
    free(acc);
    free(ref);
}

static void test_token_garbage_is_malformed(void **state)
{
    const char *bad[] = {"", "abc", "a.b.c", "..", "eyJhbGciOiJIUzI1NiJ9.e30.", NULL};
    char *huge = malloc(10000);
    struct token_claims c;
    (void)state;
    for (int i = 0; bad[i]; i++)
        assert_int_equal(token_verify(&cfg, bad[i], TOKEN_ACCESS, time(NULL), &c), TOKEN_MALFORMED);
    assert_int_equal(token_verify(&cfg, NULL, TOKEN_ACCESS, time(NULL), &c), TOKEN_MALFORMED);
    memset(huge, 'a', 9999);
    huge[9999] = '\0';
    assert_int_equal(token_verify(&cfg, huge, TOKEN_ACCESS, time(NULL), &c), TOKEN_MALFORMED);
    free(huge);
}

static void test_token_missing_claims_rejected(void **state)
{
    jwt_t *jwt;
    char *tok;
    struct token_claims c;
    long now = (long)time(NULL);
    (void)state;
    jwt_new(&jwt);
    jwt_add_grant(jwt, "typ", "access"); /* no sub, no jti */
    jwt_add_grant_int(jwt, "iat", now);
    jwt_add_grant_int(jwt, "exp", now + 600);
    jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)cfg.secret_key, (int)cfg.secret_len);
    tok = jwt_encode_str(jwt);
    assert_int_equal(token_verify(&cfg, tok, TOKEN_ACCESS, (time_t)now, &c), TOKEN_MALFORMED);
    free(tok);
    jwt_free(jwt);
}

static void test_token_from_the_future_rejected(void **state)
{
    char *tok;
    struct token_claims c;
    time_t now = time(NULL);
    (void)state;
    assert_int_equal(token_issue(&cfg, TOKEN_ACCESS, USER, JTI, now + 3600, &tok), 0);
    assert_int_equal(token_verify(&cfg, tok, TOKEN_ACCESS, now, &c), TOKEN_NOT_YET_VALID);
    free(tok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_round_trip),
        cmocka_unit_test(test_token_expired),
        cmocka_unit_test(test_token_wrong_key_rejected),
        cmocka_unit_test(test_token_rejects_alg_none),
        cmocka_unit_test(test_token_rejects_other_hmac_algorithm),
        cmocka_unit_test(test_token_types_are_exclusive),
        cmocka_unit_test(test_token_garbage_is_malformed),
        cmocka_unit_test(test_token_missing_claims_rejected),
        cmocka_unit_test(test_token_from_the_future_rejected),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
