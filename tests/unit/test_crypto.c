/* Unit tests of common/password.c and common/uuid.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "password.h"
#include "uuid.h"

#include <string.h>
#include <time.h>

static void test_password_hash_then_verify(void **state)
{
    char h1[PW_HASH_LEN], h2[PW_HASH_LEN];
    (void)state;
    assert_int_equal(pw_hash("correct horse", 13, h1), 0);
    assert_true(pw_verify(h1, "correct horse", 13));
    assert_false(pw_verify(h1, "correct horsf", 13));
    assert_false(pw_verify(h1, "", 0));
    assert_int_equal(strncmp(h1, "$argon2id$", 10), 0);
    assert_non_null(strstr(h1, "m=19456,t=2,p=1"));
    assert_int_equal(pw_hash("correct horse", 13, h2), 0);
    assert_string_not_equal(h1, h2); /* salted */
}

static void test_password_malformed_hash_fails(void **state)
{
    (void)state;
    assert_false(pw_verify("", "x", 1));
    assert_false(pw_verify(NULL, "x", 1));
    assert_false(pw_verify("$2b$12$abcdefghijklmnopqrstuv", "x", 1));
    assert_false(pw_verify("$argon2id$garbage", "x", 1));
}

static void test_uuid_v7_version_and_variant(void **state)
{
    char s[UUID_STR_LEN];
    uint8_t b[16];
    (void)state;
    uuid_v7_string(s);
    assert_int_equal(strlen(s), 36);
    assert_int_equal(s[14], '7');
    assert_non_null(strchr("89ab", s[19]));
    assert_int_equal(uuid_from_string(s, b), 0);
    assert_int_equal(b[6] >> 4, 7);
    assert_int_equal(b[8] >> 6, 2);
}

static void test_uuid_parse_format_round_trip(void **state)
{
    const char *in = "01A21080-3AC6-77E9-87CE-663E805C7B27";
    char out[UUID_STR_LEN];
    uint8_t b[16];
    (void)state;
    assert_int_equal(uuid_from_string(in, b), 0);
    uuid_to_string(b, out);
    assert_string_equal(out, "01a21080-3ac6-77e9-87ce-663e805c7b27");
}

static void test_uuid_rejects_bad_forms(void **state)
{
    const char *bad[] = {"",
                         "01a21080-3ac6-77e9-87ce-663e805c7b2",
                         "01a21080-3ac6-77e9-87ce-663e805c7b277",
                         "01a210803ac677e987ce663e805c7b27abcd",
                         "01a21080_3ac6-77e9-87ce-663e805c7b27",
                         "01a21080-3ac6-77e9-87ce-663e805c7bzz",
                         "{1a21080-3ac6-77e9-87ce-663e805c7b2}"};
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(uuid_is_valid(bad[i]));
    assert_false(uuid_is_valid(NULL));
}

static void test_uuid_canon_lower_cases_in_place(void **state)
{
    char id[] = "0191E3A0-ABCD-7EF0-8000-00000000FFAA",
         bad[] = "0191E3A0-ABCD-7EF0-8000-00000000FFAG";
    (void)state;
    assert_true(uuid_canon(id));
    assert_string_equal(id, "0191e3a0-abcd-7ef0-8000-00000000ffaa");
    assert_true(uuid_canon(id)); /* already canonical: unchanged */
    assert_string_equal(id, "0191e3a0-abcd-7ef0-8000-00000000ffaa");
    assert_false(uuid_canon(bad));
    assert_string_equal(bad, "0191E3A0-ABCD-7EF0-8000-00000000FFAG");
}

static void test_uuid_v7_unique_and_time_ordered(void **state)
{
    enum { N = 1000 };
    static char ids[N][UUID_STR_LEN];
    char early[UUID_STR_LEN], late[UUID_STR_LEN];
    struct timespec two_ms = {0, 2000000};
    (void)state;
    for (int i = 0; i < N; i++)
        uuid_v7_string(ids[i]);
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            assert_string_not_equal(ids[i], ids[j]);
    uuid_v7_string(early);
    nanosleep(&two_ms, NULL);
    uuid_v7_string(late);
    assert_true(strcmp(early, late) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_hash_then_verify),
        cmocka_unit_test(test_password_malformed_hash_fails),
        cmocka_unit_test(test_uuid_v7_version_and_variant),
        cmocka_unit_test(test_uuid_parse_format_round_trip),
        cmocka_unit_test(test_uuid_rejects_bad_forms),
        cmocka_unit_test(test_uuid_v7_unique_and_time_ordered),
        cmocka_unit_test(test_uuid_canon_lower_cases_in_place),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
