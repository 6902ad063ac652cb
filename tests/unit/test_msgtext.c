/* Unit tests of common/msgtext.c: mentions and reaction emoji. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "msgtext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int mentions(const char *s, char *out, size_t cap)
{
    return msgtext_mentions(s, strlen(s), out, cap);
}

static const char *emoji(const char *s)
{
    return msgtext_emoji_problem(s, strlen(s));
}

static void test_mentions_distinct_lowercased_in_order(void **state)
{
    char out[256];
    (void)state;
    assert_int_equal(mentions("@alice hi @Bob and @alice", out, sizeof out), 2);
    assert_string_equal(out, "alice bob");
    assert_int_equal(mentions("@ALICE @alice", out, sizeof out), 1);
    assert_string_equal(out, "alice");
}

static void test_mentions_email_is_no_mention(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(mentions("a@b.com", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(mentions("mail bob@example.com", out, sizeof out), 0);
}

static void test_mentions_length_bounds(void **state)
{
    char out[128], s[64];
    (void)state;
    assert_int_equal(mentions("@ab", out, sizeof out), 0);
    assert_int_equal(mentions("@abc", out, sizeof out), 1);
    memset(s, 'x', 52);
    s[0] = '@';
    s[51] = '\0'; /* 50 name characters */
    assert_int_equal(mentions(s, out, sizeof out), 1);
    assert_int_equal(strlen(out), 50);
    s[51] = 'x';
    s[52] = '\0'; /* 51: too long, and not cut to 50 */
    assert_int_equal(mentions(s, out, sizeof out), 0);
}

static void test_mentions_punctuation_around(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(mentions("(@carol)", out, sizeof out), 1);
    assert_string_equal(out, "carol");
    assert_int_equal(mentions("@dave.", out, sizeof out), 1);
    assert_string_equal(out, "dave");
    assert_int_equal(mentions("hi @bob.-. ok", out, sizeof out), 1);
    assert_string_equal(out, "bob");
    assert_int_equal(mentions("@bob.smith_2-x", out, sizeof out), 1);
    assert_string_equal(out, "bob.smith_2-x");
    assert_int_equal(mentions("@ab..", out, sizeof out), 0); /* "ab" after the trim */
}

/* "@@eve": the second '@' follows an '@', the first is followed by no name. */
static void test_mentions_double_at_is_no_mention(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(mentions("@@eve", out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(mentions("@bob@carol", out, sizeof out), 1);
    assert_string_equal(out, "bob");
}

static void test_mentions_non_ascii_neighbour_starts_one(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(mentions("\xc3\xa9@frank", out, sizeof out), 1); /* é@frank */
    assert_string_equal(out, "frank");
    /* A name ends at the first non-username byte, here an é. */
    assert_int_equal(mentions("@gr\xc3\xa9goire", out, sizeof out), 0);
    assert_int_equal(mentions("@greg\xc3\xa9", out, sizeof out), 1);
    assert_string_equal(out, "greg");
}

static void test_mentions_nul_separates(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(msgtext_mentions("@ann\0@ben", 9, out, sizeof out), 2);
    assert_string_equal(out, "ann ben");
}

static void test_mentions_capped_at_max(void **state)
{
    char s[1024], out[1024];
    size_t n = 0;
    int count;
    (void)state;
    for (int i = 0; i < 60; i++)
        n += (size_t)snprintf(s + n, sizeof s - n, "@user%02d ", i);
    count = msgtext_mentions(s, n, out, sizeof out);
    assert_int_equal(count, MSGTEXT_MENTIONS_MAX);
    assert_int_equal(strlen(out), 50 * 6 + 49);
    assert_non_null(strstr(out, "user49"));
    assert_null(strstr(out, "user50"));
}

/* The output stops at the first name that would not fit, NUL included. */
static void test_mentions_tiny_cap_never_overflows(void **state)
{
    const char *s = "@alice @bob @carol";
    char out[32];
    (void)state;
    for (size_t cap = 0; cap < 24; cap++) {
        int count;
        memset(out, 'Z', sizeof out);
        count = mentions(s, out, cap);
        for (size_t i = cap; i < sizeof out; i++)
            assert_int_equal(out[i], 'Z');
        if (cap == 0)
            continue;
        assert_true(strlen(out) < cap);
        if (cap < 6) {
            assert_int_equal(count, 0);
        } else if (cap < 10) {
            assert_int_equal(count, 1);
            assert_string_equal(out, "alice");
        } else if (cap < 16) {
            assert_int_equal(count, 2);
            assert_string_equal(out, "alice bob");
        } else {
            assert_int_equal(count, 3);
            assert_string_equal(out, "alice bob carol");
        }
    }
}

static void test_mentions_all_at_signs(void **state)
{
    char *s = malloc(4000), out[64];
    (void)state;
    assert_non_null(s);
    memset(s, '@', 4000);
    assert_int_equal(msgtext_mentions(s, 4000, out, sizeof out), 0);
    assert_string_equal(out, "");
    free(s);
}

static void test_emoji_accepted(void **state)
{
    (void)state;
    assert_null(emoji("\xf0\x9f\x91\x8d"));                 /* thumbs up */
    assert_null(emoji("\xe2\x9d\xa4\xef\xb8\x8f"));         /* heart + FE0F */
    assert_null(emoji("\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd")); /* skin tone */
    assert_null(emoji("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9"
                      "\xe2\x80\x8d\xf0\x9f\x91\xa7")); /* ZWJ family */
    assert_null(emoji("\xf0\x9f\x8f\xb3\xef\xb8\x8f\xe2\x80\x8d"
                      "\xf0\x9f\x8c\x88"));                 /* rainbow flag */
    assert_null(emoji("\xf0\x9f\x87\xab\xf0\x9f\x87\xb7")); /* FR flag */
    assert_null(emoji("1\xef\xb8\x8f\xe2\x83\xa3"));        /* keycap 1 */
    assert_null(emoji(":thumbsup:"));
    assert_null(emoji(":+1:"));
    assert_null(emoji(":a:"));
}

static void test_emoji_shortcode_rules(void **state)
{
    char s[80];
    (void)state;
    assert_non_null(emoji(":Thumbs:"));
    assert_non_null(emoji("::"));
    assert_non_null(emoji(":"));
    assert_non_null(emoji(":abc"));
    assert_non_null(emoji(":a b:"));
    assert_non_null(emoji(":a:b:"));
    memset(s, 'a', sizeof s);
    s[0] = ':';
    s[63] = ':';
    s[64] = '\0'; /* 62-character name, 64 bytes */
    assert_null(emoji(s));
    s[63] = 'a';
    s[64] = ':';
    s[65] = '\0'; /* 65 bytes */
    assert_non_null(emoji(s));
}

static void test_emoji_rejects_ascii_and_blanks(void **state)
{
    (void)state;
    assert_non_null(msgtext_emoji_problem("", 0));
    assert_non_null(emoji("a"));
    assert_non_null(emoji("ab"));
    assert_non_null(emoji("1"));
    assert_non_null(emoji("\r\n")); /* one cluster, but ASCII controls */
    assert_non_null(emoji(" \xf0\x9f\x91\x8d"));
    assert_non_null(emoji("\xf0\x9f\x91\x8d "));
    assert_non_null(emoji("\xe3\x80\x80")); /* U+3000 ideographic space */
    assert_non_null(emoji("\xe2\x80\x8b")); /* U+200B, format */
    assert_non_null(emoji("\xc2\x85"));     /* U+0085, a C1 control */
}

static void test_emoji_rejects_more_than_one_cluster(void **state)
{
    (void)state;
    assert_non_null(emoji("\xf0\x9f\x91\x8d\xf0\x9f\x91\x8d"));
    assert_non_null(emoji("\xf0\x9f\x87\xab\xf0\x9f\x87\xb7\xf0\x9f\x87\xab")); /* 3 RIs */
    assert_non_null(emoji("\xf0\x9f\x91\x8d"
                          "a"));
    assert_non_null(emoji("a\xcc\x81"
                          "b"));
}

static void test_emoji_rejects_leading_combining_mark(void **state)
{
    (void)state;
    assert_non_null(emoji("\xcc\x81"));     /* lone U+0301 */
    assert_non_null(emoji("\xe2\x83\xa3")); /* lone U+20E3 */
    assert_null(emoji("e\xcc\x81"));        /* é as e + U+0301: one cluster */
}

static void test_emoji_rejects_invalid_utf8_and_nul(void **state)
{
    char s[80];
    (void)state;
    assert_non_null(emoji("\xc0\xaf"));                 /* overlong '/' */
    assert_non_null(emoji("\xe0\x80\xaf"));             /* overlong, 3 bytes */
    assert_non_null(emoji("\xed\xa0\xbd\xed\xb1\x8d")); /* surrogate pair (CESU-8) */
    assert_non_null(emoji("\xf0\x9f\x91"));             /* truncated */
    assert_non_null(emoji("\xf4\x90\x80\x80"));         /* above U+10FFFF */
    assert_non_null(msgtext_emoji_problem("\xf0\x9f\x91\x8d\0", 5));
    assert_non_null(msgtext_emoji_problem("\0", 1));
    /* One 64-byte cluster (thumbs up + 20 x U+FE0F) passes; 65 bytes are refused first. */
    memcpy(s, "\xf0\x9f\x91\x8d", 4);
    for (int i = 0; i < 20; i++)
        memcpy(s + 4 + 3 * i, "\xef\xb8\x8f", 3);
    assert_null(msgtext_emoji_problem(s, 64));
    s[64] = '\x8f';
    assert_non_null(msgtext_emoji_problem(s, 65));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mentions_distinct_lowercased_in_order),
        cmocka_unit_test(test_mentions_email_is_no_mention),
        cmocka_unit_test(test_mentions_length_bounds),
        cmocka_unit_test(test_mentions_punctuation_around),
        cmocka_unit_test(test_mentions_double_at_is_no_mention),
        cmocka_unit_test(test_mentions_non_ascii_neighbour_starts_one),
        cmocka_unit_test(test_mentions_nul_separates),
        cmocka_unit_test(test_mentions_capped_at_max),
        cmocka_unit_test(test_mentions_tiny_cap_never_overflows),
        cmocka_unit_test(test_mentions_all_at_signs),
        cmocka_unit_test(test_emoji_accepted),
        cmocka_unit_test(test_emoji_shortcode_rules),
        cmocka_unit_test(test_emoji_rejects_ascii_and_blanks),
        cmocka_unit_test(test_emoji_rejects_more_than_one_cluster),
        cmocka_unit_test(test_emoji_rejects_leading_combining_mark),
        cmocka_unit_test(test_emoji_rejects_invalid_utf8_and_nul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
