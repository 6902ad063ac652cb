/* Unit tests of common/message.c, common/ratelimit.c and common/events.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "events.h"
#include "message.h"
#include "ratelimit.h"
#include "stats.h"

#include <stdlib.h>
#include <string.h>

static const char *problem(const char *s, int max)
{
    return msg_content_problem(s, strlen(s), max);
}

static void test_content_valid_utf8_accepted(void **state)
{
    (void)state;
    assert_null(problem("hello", 4000));
    assert_null(problem("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 4000));
    assert_null(problem("  x  ", 4000));
}

static void test_content_invalid_utf8_rejected(void **state)
{
    (void)state;
    assert_non_null(problem("\xc0\xaf", 10));         /* overlong */
    assert_non_null(problem("\xed\xa0\x80", 10));     /* surrogate */
    assert_non_null(problem("ab\xe2\x82", 10));       /* truncated */
    assert_non_null(problem("\xf5\x80\x80\x80", 10)); /* above U+10FFFF */
    assert_non_null(problem("\x80", 10));             /* lone continuation */
}

static void test_content_nul_and_blank_rejected(void **state)
{
    (void)state;
    assert_non_null(msg_content_problem("a\0b", 3, 10));
    assert_non_null(problem("", 10));
    assert_non_null(problem(" \t\r\n", 10));
}

static void test_content_length_counts_characters(void **state)
{
    char *s = malloc(8002);
    (void)state;
    for (int i = 0; i < 4000; i++)
        memcpy(s + 2 * i, "\xc3\xa9", 2);
    s[8000] = '\0';
    assert_null(problem(s, 4000)); /* 4000 characters, 8000 bytes */
    memcpy(s + 8000, "x", 2);
    assert_non_null(problem(s, 4000));
    free(s);
}

static void test_client_message_id_rules(void **state)
{
    char long_id[200];
    (void)state;
    assert_true(msg_client_id_valid("abc-123"));
    assert_false(msg_client_id_valid(""));
    assert_false(msg_client_id_valid("has space"));
    assert_false(msg_client_id_valid("caf\xc3\xa9"));
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    assert_false(msg_client_id_valid(long_id));
    long_id[MSG_CLIENT_ID_MAX] = '\0';
    assert_true(msg_client_id_valid(long_id));
}

static void test_message_json_shape(void **state)
{
    struct msg_row m = {.id = "m1", .conversation_id = "c1", .seq = 7, .sender_id = "u1", .sender_username = "alice", .content = "hi", .created_at = "2026-01-01T00:00:00.000000Z"};
    json_t *o;
    (void)state;
    o = msg_row_to_json(&m);
    assert_string_equal(json_string_value(json_object_get(o, "id")), "m1");
    assert_string_equal(json_string_value(json_object_get(o, "conversation_id")), "c1");
    assert_int_equal(json_integer_value(json_object_get(o, "seq")), 7);
    assert_string_equal(json_string_value(json_object_get(o, "sender_id")), "u1");
    assert_string_equal(json_string_value(json_object_get(o, "content")), "hi");
    assert_string_equal(json_string_value(json_object_get(o, "timestamp")),
                        json_string_value(json_object_get(o, "created_at")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "sender"), "username")), "alice");
    assert_null(json_object_get(o, "client_message_id"));
    json_decref(o);
    m.sender_username = NULL; /* a deleted sender */
    m.client_message_id = "k1";
    o = msg_row_to_json(&m);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "sender"), "username")),
        "deleted user");
    assert_string_equal(json_string_value(json_object_get(o, "client_message_id")), "k1");
    json_decref(o);
}

static void test_read_status_from_watermarks(void **state)
{
    (void)state;
    assert_string_equal(msg_read_status(5, 5, 5), "read");
    assert_string_equal(msg_read_status(5, 4, 5), "delivered");
    assert_string_equal(msg_read_status(5, 4, 4), "sent");
}

/* The scanner reads exactly what msg_row_to_json() dumps, for live and deleted senders. */
static void test_text_scan_reads_dumped_messages(void **state)
{
    struct msg_row m = {
        .id = "0192f0c4-7d1e-7c3a-9b2f-1a2b3c4d5e6f",
        .conversation_id = "0192f0c4-7d1e-7c3a-9b2f-aaaaaaaaaaaa",
        .seq = 1234567,
        .sender_id = "0192f0c4-7d1e-7c3a-9b2f-bbbbbbbbbbbb",
        .sender_username = "alice",
        .content = "{\"id\":\"x\",\"sender_id\":null}",
        .created_at = "2026-11-25T10:00:00.000000Z",
    };
    char id[UUID_STR_LEN], sender[UUID_STR_LEN], *text;
    long long seq = 0;
    json_t *o;
    (void)state;

    o = msg_row_to_json(&m);
    text = json_dumps(o, JSON_COMPACT);
    assert_int_equal(msg_text_scan(text, strlen(text), id, &seq, sender), 0);
    assert_string_equal(id, m.id);
    assert_int_equal(seq, m.seq);
    assert_string_equal(sender, m.sender_id);
    free(text);
    json_decref(o);

    m.sender_id = NULL;
    m.sender_username = NULL;
    o = msg_row_to_json(&m);
    text = json_dumps(o, JSON_COMPACT);
    assert_int_equal(msg_text_scan(text, strlen(text), id, &seq, sender), 0);
    assert_string_equal(sender, "");
    free(text);
    json_decref(o);
}

static void test_text_scan_rejects_other_shapes(void **state)
{
    static const char *bad[] = {
        "",
        "{}",
        "{\"conversation_id\":\"0192f0c4-7d1e-7c3a-9b2f-aaaaaaaaaaaa\",\"id\":"
        "\"0192f0c4-7d1e-7c3a-9b2f-1a2b3c4d5e6f\",\"seq\":1,\"sender_id\":null}",
        "{\"id\":\"not-a-uuid-not-a-uuid-not-a-uuid-xxxx\",\"conversation_id\":"
        "\"0192f0c4-7d1e-7c3a-9b2f-aaaaaaaaaaaa\",\"seq\":1,\"sender_id\":null}",
        "{\"id\":\"0192f0c4-7d1e-7c3a-9b2f-1a2b3c4d5e6f\",\"conversation_id\":"
        "\"0192f0c4-7d1e-7c3a-9b2f-aaaaaaaaaaaa\",\"seq\":\"1\",\"sender_id\":null}",
        "{\"id\":\"0192f0c4-7d1e-7c3a-9b2f-1a2b3c4d5e6f\",\"conversation_id\":"
        "\"0192f0c4-7d1e-7c3a-9b2f-aaaaaaaaaaaa\",\"seq\":1,\"sender_id\":null", /* no } */
        "{\"id\":\"0192f0c4-7d1e-7c3a-9b2f-1a2b3c4d5e6f\",\"conversation_id\":"
        "\"0192f0c4-7d1e-7c3a-9b2f-aaaaaaaaaaaa\",\"seq\":1,\"sender_id\":\"u1\"}",
    };
    char id[UUID_STR_LEN], sender[UUID_STR_LEN];
    long long seq;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(msg_text_scan(bad[i], strlen(bad[i]), id, &seq, sender), -1);
}

/*
 * The scanners read only len bytes: a text cut inside its seq digits (no
 * terminator after them) is rejected, not read past (exact-size buffers, so
 * ASan would see an over-read), and a seq that overflows is rejected.
 */
static void test_text_scans_stay_in_bounds(void **state)
{
    static const char head[] =
        "{\"id\":\"0192f0c4-7d1e-7c3a-9b2f-1a2b3c4d5e6f\",\"conversation_id\":"
        "\"0192f0c4-7d1e-7c3a-9b2f-aaaaaaaaaaaa\",\"seq\":12345";
    static const char ev[] = "{\"type\":\"message\",\"conversation_id\":"
                             "\"0192f0c4-7d1e-7c3a-9b2f-aaaaaaaaaaaa\",\"seq\":12345";
    static const char big[] =
        "{\"id\":\"0192f0c4-7d1e-7c3a-9b2f-1a2b3c4d5e6f\",\"conversation_id\":"
        "\"0192f0c4-7d1e-7c3a-9b2f-aaaaaaaaaaaa\",\"seq\":99999999999999999999,"
        "\"sender_id\":null}";
    char id[UUID_STR_LEN], sender[UUID_STR_LEN], cid[64], *exact;
    const char *msg;
    size_t msg_len;
    long long seq;
    (void)state;

    exact = malloc(sizeof(head) - 1);
    memcpy(exact, head, sizeof(head) - 1);
    assert_int_equal(msg_text_scan(exact, sizeof(head) - 1, id, &seq, sender), -1);
    free(exact);
    exact = malloc(sizeof(ev) - 1);
    memcpy(exact, ev, sizeof(ev) - 1);
    assert_int_equal(ev_message_text_split(exact, sizeof(ev) - 1, cid, &seq, &msg, &msg_len), -1);
    free(exact);
    assert_int_equal(msg_text_scan(big, strlen(big), id, &seq, sender), -1);
}

/* A redisReply array of four integers, as the rate-limit script returns. */
static redisReply *reply4(long long a, long long b, long long c, long long d)
{
    static redisReply items[4], *ptrs[4], arr;
    long long v[4] = {a, b, c, d};
    for (int i = 0; i < 4; i++) {
        memset(&items[i], 0, sizeof(items[i]));
        items[i].type = REDIS_REPLY_INTEGER;
        items[i].integer = v[i];
        ptrs[i] = &items[i];
    }
    memset(&arr, 0, sizeof(arr));
    arr.type = REDIS_REPLY_ARRAY;
    arr.elements = 4;
    arr.element = ptrs;
    return &arr;
}

static void test_ratelimit_within_limits(void **state)
{
    struct rl_result r;
    (void)state;
    assert_int_equal(rl_result_from_reply(reply4(3, 50, 10, 3000), "user", 60, 1000, &r), 0);
    assert_true(r.allowed);
    assert_int_equal(r.limit, 60);
    assert_int_equal(r.remaining, 57);
    assert_int_equal(r.reset, 50);
}

static void test_ratelimit_minute_exceeded(void **state)
{
    struct rl_result r;
    (void)state;
    assert_int_equal(rl_result_from_reply(reply4(61, 42, 61, 3000), "user", 60, 1000, &r), 0);
    assert_false(r.allowed);
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.retry_after, 42);
}

static void test_ratelimit_hour_exceeded(void **state)
{
    struct rl_result r;
    (void)state;
    assert_int_equal(rl_result_from_reply(reply4(2, 42, 1001, 1800), "user", 60, 1000, &r), 0);
    assert_false(r.allowed);
    assert_int_equal(r.limit, 1000);
    assert_int_equal(r.retry_after, 1800);
}

static void test_ratelimit_malformed_reply(void **state)
{
    struct rl_result r;
    redisReply bad;
    (void)state;
    memset(&bad, 0, sizeof(bad));
    bad.type = REDIS_REPLY_ERROR;
    assert_int_equal(rl_result_from_reply(&bad, "user", 60, 1000, &r), -1);
    assert_int_equal(rl_result_from_reply(NULL, "user", 60, 1000, &r), -1);
}

static void test_ratelimit_refusals_are_counted_by_scope(void **state)
{
    struct rl_result r;
    (void)state;
    stats_init("t");
    rl_result_from_reply(reply4(3, 50, 10, 3000), "typing", 60, 1000, &r);
    rl_result_from_reply(reply4(61, 42, 61, 3000), "typing", 60, 1000, &r);
    rl_result_from_reply(reply4(61, 42, 61, 3000), "msg", 60, 1000, &r);
    rl_result_from_reply(NULL, "msg", 60, 1000, &r);
    assert_true(mx_value(stats.rate_limited, "scope=\"typing\"") == 1);
    assert_true(mx_value(stats.rate_limited, "scope=\"msg\"") == 1);
    mx_reset();
    memset(&stats, 0, sizeof(stats));
}

static void test_ratelimit_keys(void **state)
{
    char m[128], h[128];
    (void)state;
    rl_keys("user", "u1", m, h);
    assert_string_equal(m, "chat:rl:user:{u1}:m");
    assert_string_equal(h, "chat:rl:user:{u1}:h");
}

static void test_event_shard_is_stable_and_in_range(void **state)
{
    const char *cid = "01a21080-3ac6-77e9-87ce-663e805c7b27";
    char key[EV_KEY_MAX];
    (void)state;
    assert_int_equal(ev_hash("a"), 0xe40c292cu); /* FNV-1a test vector */
    assert_int_equal(ev_shard(cid, 8), (int)(ev_hash(cid) % 8));
    for (int n = 1; n < 64; n++) {
        int s = ev_shard(cid, n);
        assert_true(s >= 0 && s < n);
    }
    ev_stream_key(3, key);
    assert_string_equal(key, "chat:events:3");
    ev_cache_key("c1", key);
    assert_string_equal(key, "chat:recent:{c1}");
    ev_cache_version_key("c1", key);
    assert_string_equal(key, "chat:recent:{c1}:v");
    ev_typing_key("c1", key);
    assert_string_equal(key, "chat:typing:c1");
}

/* The message event built around the message's text is ev_message() dumped, and splits back. */
static void test_event_message_text(void **state)
{
    const char *cid = "0192f0c4-7d1e-7c3a-9b2f-aaaaaaaaaaaa";
    json_t *msg = json_pack("{s:s, s:s, s:I, s:s}", "id", "0192f0c4-7d1e-7c3a-9b2f-1a2b3c4d5e6f",
                            "conversation_id", cid, "seq", (json_int_t)42, "content", "a \"}\" b");
    char *mt = json_dumps(msg, JSON_COMPACT), *payload = ev_message_text(cid, 42, mt), got_cid[64];
    json_t *ev = ev_message(cid, 42, msg), *parsed;
    const char *inner;
    size_t inner_len;
    long long seq = 0;
    (void)state;

    assert_non_null(payload);
    parsed = json_loads(payload, 0, NULL);
    assert_non_null(parsed);
    assert_true(json_equal(parsed, ev));
    assert_int_equal(
        ev_message_text_split(payload, strlen(payload), got_cid, &seq, &inner, &inner_len), 0);
    assert_string_equal(got_cid, cid);
    assert_int_equal(seq, 42);
    assert_int_equal(inner_len, strlen(mt));
    assert_memory_equal(inner, mt, inner_len);
    /* ids needing escapes are not spliced; other shapes do not split */
    assert_null(ev_message_text("a\"b", 1, mt));
    assert_int_equal(
        ev_message_text_split("{\"type\":\"typing\"}", 19, got_cid, &seq, &inner, &inner_len), -1);
    assert_int_equal(
        ev_message_text_split(payload, strlen(payload) - 1, got_cid, &seq, &inner, &inner_len), -1);
    free(payload);
    payload = json_dumps(ev, JSON_SORT_KEYS | JSON_COMPACT);
    assert_int_equal(
        ev_message_text_split(payload, strlen(payload), got_cid, &seq, &inner, &inner_len), -1);
    free(payload);
    free(mt);
    json_decref(parsed);
    json_decref(ev);
    json_decref(msg);
}

/* A message's publication: XADD of the spliced event on its shard, then the cache's apply script. */
static void test_event_publication_commands(void **state)
{
    const char *cid = "0192f0c4-7d1e-7c3a-9b2f-aaaaaaaaaaaa";
    json_t *msg = json_pack("{s:s, s:I}", "id", "m1", "seq", (json_int_t)7);
    char *mt = json_dumps(msg, JSON_COMPACT), *want = ev_message_text(cid, 7, mt),
         stream[EV_KEY_MAX];
    struct ev_pub p;
    (void)state;

    assert_int_equal(ev_pub_message(&p, 8, cid, 7, msg), 0);
    assert_int_equal(p.n, 2);
    ev_stream_key(ev_shard(cid, 8), stream);
    assert_int_equal(p.argc[0], 8);
    assert_string_equal(p.argv[0][0], "XADD");
    assert_string_equal(p.argv[0][1], stream);
    assert_string_equal(p.argv[0][7], want);
    /* EVAL src 2 cache version seq mode score message */
    assert_int_equal(p.argc[1], 9);
    assert_string_equal(p.argv[1][0], "EVAL");
    assert_string_equal(p.argv[1][3], "chat:recent:{0192f0c4-7d1e-7c3a-9b2f-aaaaaaaaaaaa}");
    assert_string_equal(p.argv[1][4], "chat:recent:{0192f0c4-7d1e-7c3a-9b2f-aaaaaaaaaaaa}:v");
    assert_string_equal(p.argv[1][5], "7");
    assert_string_equal(p.argv[1][6], "add");
    assert_string_equal(p.argv[1][7], "7");
    assert_string_equal(p.argv[1][8], mt);
    ev_pub_free(&p);
    assert_int_equal(ev_pub_event(&p, 8, cid, msg), 0);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.argv[0][7], mt);
    ev_pub_free(&p);
    free(want);
    free(mt);
    json_decref(msg);
}

static void test_event_typing_commands(void **state)
{
    const char *cid = "0192f0c4-7d1e-7c3a-9b2f-aaaaaaaaaaaa", *uid = "u-1";
    char key[EV_KEY_MAX], stream[EV_KEY_MAX];
    long long before = (long long)ev_epoch_ms();
    struct ev_pub p;
    json_t *ev;
    (void)state;

    ev_typing_key(cid, key);
    ev_stream_key(ev_shard(cid, 8), stream);
    assert_int_equal(ev_pub_typing(&p, 8, cid, uid, true), 0);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.argc[0], 4);
    assert_string_equal(p.argv[0][0], "ZADD");
    assert_string_equal(p.argv[0][1], key);
    assert_true(atoll(p.argv[0][2]) >= before + EV_TYPING_TTL_MS);
    assert_true(atoll(p.argv[0][2]) <= (long long)ev_epoch_ms() + EV_TYPING_TTL_MS);
    assert_string_equal(p.argv[0][3], uid);
    assert_string_equal(p.argv[1][0], "PEXPIRE");
    assert_string_equal(p.argv[1][1], key);
    assert_string_equal(p.argv[2][0], "XADD"); /* the event after the set */
    assert_string_equal(p.argv[2][1], stream);
    ev = json_loads(p.argv[2][7], 0, NULL);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "typing");
    assert_true(json_is_true(json_object_get(ev, "is_typing")));
    json_decref(ev);
    ev_pub_free(&p);

    assert_int_equal(ev_pub_typing(&p, 8, cid, uid, false), 0);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.argc[0], 3);
    assert_string_equal(p.argv[0][0], "ZREM");
    assert_string_equal(p.argv[0][2], uid);
    assert_string_equal(p.argv[2][0], "XADD");
    ev_pub_free(&p);
}

static void test_event_json(void **state)
{
    json_t *msg = json_pack("{s:s}", "id", "m1");
    json_t *e = ev_message("c1", 9, msg);
    (void)state;
    assert_string_equal(json_string_value(json_object_get(e, "type")), "message");
    assert_int_equal(json_integer_value(json_object_get(e, "seq")), 9);
    assert_ptr_equal(json_object_get(e, "message"), msg);
    json_decref(e);
    json_decref(msg);
    e = ev_typing("c1", "u1", 1);
    assert_true(json_is_true(json_object_get(e, "is_typing")));
    json_decref(e);
    e = ev_read("c1", "u1", 4, NULL);
    assert_true(json_is_null(json_object_get(e, "message_id")));
    json_decref(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_valid_utf8_accepted),
        cmocka_unit_test(test_content_invalid_utf8_rejected),
        cmocka_unit_test(test_content_nul_and_blank_rejected),
        cmocka_unit_test(test_content_length_counts_characters),
        cmocka_unit_test(test_client_message_id_rules),
        cmocka_unit_test(test_message_json_shape),
        cmocka_unit_test(test_read_status_from_watermarks),
        cmocka_unit_test(test_text_scan_reads_dumped_messages),
        cmocka_unit_test(test_text_scan_rejects_other_shapes),
        cmocka_unit_test(test_text_scans_stay_in_bounds),
        cmocka_unit_test(test_ratelimit_within_limits),
        cmocka_unit_test(test_ratelimit_minute_exceeded),
        cmocka_unit_test(test_ratelimit_hour_exceeded),
        cmocka_unit_test(test_ratelimit_malformed_reply),
        cmocka_unit_test(test_ratelimit_refusals_are_counted_by_scope),
        cmocka_unit_test(test_ratelimit_keys),
        cmocka_unit_test(test_event_shard_is_stable_and_in_range),
        cmocka_unit_test(test_event_json),
        cmocka_unit_test(test_event_message_text),
        cmocka_unit_test(test_event_publication_commands),
        cmocka_unit_test(test_event_typing_commands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
