/*
 * Unit tests of the gateway's pure parts: the handshake's parsing
 * (handshake.c), framing and the queue bound (conn.c), the message frame
 * spliced from a message's text (fanout.c). No socket, no server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "conn.h"
#include "account.h"
#include "events.h"
#include "fanout.h"
#include "frame.h"
#include "gw.h"
#include "handshake.h"
#include "member.h"
#include "message.h"

#include <stdlib.h>
#include <string.h>

#define P "/api/v1/ws"
#define CID "0191e3a0-0000-7000-8000-000000000001"

static void test_path_all_conversations(void **state)
{
    char cid[UUID_STR_LEN] = "x";
    (void)state;
    assert_int_equal(hs_parse_path(P, P, cid), 0);
    assert_string_equal(cid, "");
    assert_int_equal(hs_parse_path(P "/", P, cid), 0);
    assert_string_equal(cid, "");
}

static void test_path_one_conversation(void **state)
{
    char cid[UUID_STR_LEN];
    (void)state;
    assert_int_equal(hs_parse_path(P "/conversations/" CID, P, cid), 0);
    assert_string_equal(cid, CID);
    assert_int_equal(hs_parse_path(P "/conversations/" CID "/", P, cid), 0);
    assert_string_equal(cid, CID);
    /* any letter case: the id is canonical from here on (subscriptions, keys, events) */
    assert_int_equal(hs_parse_path(P "/conversations/0191E3A0-0000-7000-8000-00000000000A", P, cid),
                     0);
    assert_string_equal(cid, "0191e3a0-0000-7000-8000-00000000000a");
    /* another prefix is configured: the default one is no socket */
    assert_int_equal(hs_parse_path("/chat/ws/conversations/" CID, "/chat/ws", cid), 0);
    assert_int_equal(hs_parse_path(P "/conversations/" CID, "/chat/ws", cid), -1);
}

static void test_path_refusals(void **state)
{
    char cid[UUID_STR_LEN];
    (void)state;
    assert_int_equal(hs_parse_path("/api/v1/wsx", P, cid), -1);
    assert_int_equal(hs_parse_path("/api/v1/w", P, cid), -1);
    assert_int_equal(hs_parse_path(P "/rooms/" CID, P, cid), -1);
    assert_int_equal(hs_parse_path(P "/conversations/", P, cid), -1);
    assert_int_equal(hs_parse_path(P "/conversations/not-a-uuid-not-a-uuid-not-a-uuid-xx", P, cid),
                     -1);
    assert_string_equal(cid, ""); /* nothing half-parsed is left behind */
    assert_int_equal(hs_parse_path(P "/conversations/" CID "/x", P, cid), -1);
    assert_int_equal(hs_parse_path(P "/conversations/" CID "x", P, cid), -1);
    assert_int_equal(hs_parse_path(P "/conversations/" CID "//", P, cid), -1);
}

static void test_since_seq(void **state)
{
    long long seq = -5;
    (void)state;
    assert_int_equal(hs_parse_since("0", &seq), 0);
    assert_int_equal(seq, 0);
    assert_int_equal(hs_parse_since("42", &seq), 0);
    assert_int_equal(seq, 42);
    assert_int_equal(hs_parse_since("", &seq), -1);
    assert_int_equal(hs_parse_since("-1", &seq), -1);
    assert_int_equal(hs_parse_since("+1", &seq), -1);
    assert_int_equal(hs_parse_since(" 1", &seq), -1);
    assert_int_equal(hs_parse_since("1x", &seq), -1);
    assert_int_equal(hs_parse_since("99999999999999999999", &seq), -1); /* overflow */
    assert_int_equal(seq, 42);
}

static void test_resume_points(void **state)
{
    struct hs_resume r[3];
    (void)state;
    assert_int_equal(hs_parse_resume(CID ":0", r, 3), 1);
    assert_string_equal(r[0].conv_id, CID);
    assert_int_equal(r[0].seq, 0);
    assert_int_equal(hs_parse_resume(CID ":17,0191e3a0-0000-7000-8000-0000000000bb:3", r, 3), 2);
    assert_int_equal(r[0].seq, 17);
    assert_string_equal(r[1].conv_id, "0191e3a0-0000-7000-8000-0000000000bb");
    assert_int_equal(r[1].seq, 3);
    assert_int_equal(hs_parse_resume("0191E3A0-0000-7000-8000-0000000000BB:9", r, 3), 1);
    assert_string_equal(r[0].conv_id, "0191e3a0-0000-7000-8000-0000000000bb");
    assert_int_equal(hs_parse_resume("", r, 3), 0);
    assert_int_equal(hs_parse_resume(CID, r, 3), -1);       /* no seq */
    assert_int_equal(hs_parse_resume(CID ":", r, 3), -1);   /* empty seq */
    assert_int_equal(hs_parse_resume(CID ":-1", r, 3), -1); /* negative */
    assert_int_equal(hs_parse_resume(CID ":1,", r, 3), -1); /* trailing comma */
    assert_int_equal(hs_parse_resume(CID ":1x", r, 3), -1); /* not a number */
    assert_int_equal(hs_parse_resume("not-a-uuid-not-a-uuid-not-a-uuid-000:1", r, 3), -1);
    assert_int_equal(hs_parse_resume(CID ":1," CID ":2," CID ":3," CID ":4", r, 3), -1); /* > max */
}

static void test_bearer(void **state)
{
    (void)state;
    assert_string_equal(hs_bearer("Bearer abc"), "abc");
    assert_string_equal(hs_bearer("bearer abc"), "abc");
    assert_null(hs_bearer("Bearer "));
    assert_null(hs_bearer("Basic abc"));
    assert_null(hs_bearer("Bearer"));
}

static void test_frame_header_lengths(void **state)
{
    unsigned char h[10];
    (void)state;
    assert_int_equal(conn_frame_header(h, 0), 2);
    assert_int_equal(h[0], 0x81);
    assert_int_equal(h[1], 0);
    assert_int_equal(conn_frame_header(h, 125), 2);
    assert_int_equal(h[1], 125);
    assert_int_equal(conn_frame_header(h, 126), 4);
    assert_int_equal(h[1], 126);
    assert_int_equal(h[2], 0);
    assert_int_equal(h[3], 126);
    assert_int_equal(conn_frame_header(h, 65535), 4);
    assert_int_equal(h[2], 0xff);
    assert_int_equal(h[3], 0xff);
    assert_int_equal(conn_frame_header(h, 65536), 10);
    assert_int_equal(h[1], 127);
    for (int i = 2; i < 10; i++)
        assert_int_equal(h[i], i == 7 ? 1 : 0); /* 65536 = 0x0000000000010000 */
}

static void test_queue_stall_rule(void **state)
{
    (void)state;
    assert_false(conn_queue_stalled(9, 10, 5000, 0));     /* below the limit: never */
    assert_false(conn_queue_stalled(10, 10, 1999, 1000)); /* full but moving */
    assert_true(conn_queue_stalled(10, 10, 2000, 1000));  /* full and stuck for a second */
    assert_false(conn_queue_stalled(39, 10, 1000, 1000));
    assert_true(conn_queue_stalled(40, 10, 1000, 1000)); /* four times full: in any case */
}

/* Frames queue in order, and a full queue that still moves keeps queueing below 4x. */
static void test_queue_keeps_order_below_the_hard_bound(void **state)
{
    struct lws *fake = (struct lws *)&fake; /* never handed to lws: no write happens here */
    struct gw_conn *c;
    char text[16];
    int i = 0;

    (void)state;
    memset(&gw, 0, sizeof(gw));
    gw.cfg.ws_queue_max = 4;
    assert_int_equal(uv_loop_init(&gw.loop), 0);
    conn_start();
    c = conn_new(fake);
    assert_non_null(c);
    assert_int_equal(conn_count(), 1);
    for (i = 0; i < 15; i++) {
        int n = snprintf(text, sizeof(text), "f%d", i);
        conn_send_text(c, text, (size_t)n);
    }
    assert_int_equal(c->qlen, 15);
    i = 0;
    for (struct gw_frame *f = c->qhead; f != NULL; f = f->next, i++) {
        int n = snprintf(text, sizeof(text), "f%d", i);
        assert_int_equal(f->len, (size_t)n);
        assert_memory_equal(f->data + LWS_PRE, text, (size_t)n);
    }
    assert_int_equal(i, 15);
    conn_closed(c); /* the socket's reference; the flush list still holds one */
    assert_int_equal(conn_count(), 0);
    conn_stop(); /* drops the flush list's reference: freed (ASan checks) */
    uv_run(&gw.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&gw.loop), 0);
}

static void test_message_frame_spliced_from_text(void **state)
{
    struct msg_row m = {
        .id = "0191e3a0-0000-7000-8000-0000000000aa",
        .conversation_id = CID,
        .seq = 3,
        .sender_id = "0191e3a0-0000-7000-8000-0000000000bb",
        .sender_username = "alice",
        .content = "hi \"there\"",
        .created_at = "2026-12-03T15:00:00.000000Z",
    };
    json_t *msg = msg_row_to_json(&m), *frame, *want;
    char *text = json_dumps(msg, JSON_COMPACT), *spliced;
    size_t n;

    (void)state;
    spliced = fanout_message_frame(text, strlen(text), &n);
    assert_non_null(spliced);
    assert_int_equal(strlen(spliced), n);
    frame = json_loads(spliced, 0, NULL);
    assert_non_null(frame);
    want = json_deep_copy(msg);
    json_object_set_new(want, "type", json_string("message"));
    json_object_set_new(want, "read_status", json_string("sent"));
    assert_true(json_equal(frame, want));
    json_decref(want);
    json_decref(frame);
    json_decref(msg);
    free(spliced);
    free(text);
}

static void test_member_announcements(void **state)
{
    char conv[37], user[37];
    int added = -1;
    long long seq = 0;
    (void)state;
    assert_int_equal(member_parse(CID " 0191e3a0-0000-7000-8000-0000000000bb added 12", conv, user,
                                  &added, &seq),
                     0);
    assert_string_equal(conv, CID);
    assert_string_equal(user, "0191e3a0-0000-7000-8000-0000000000bb");
    assert_int_equal(added, 1);
    assert_int_equal(seq, 12);
    assert_int_equal(
        member_parse(CID " 0191e3a0-0000-7000-8000-0000000000bb removed", conv, user, &added, &seq),
        0);
    assert_int_equal(added, 0);
    assert_int_equal(seq, -1);
    assert_int_equal(member_parse("0191E3A0-0000-7000-8000-000000000001 "
                                  "0191E3A0-0000-7000-8000-0000000000BB removed",
                                  conv, user, &added, &seq),
                     0);
    assert_string_equal(conv, CID); /* canonical, as every other id */
    assert_string_equal(user, "0191e3a0-0000-7000-8000-0000000000bb");
    /* anything else is refused, never half-applied */
    assert_int_equal(
        member_parse(CID " 0191e3a0-0000-7000-8000-0000000000bb added", conv, user, &added, &seq),
        -1);
    /* since sql/005 a removal carries its seq */
    assert_int_equal(member_parse(CID " 0191e3a0-0000-7000-8000-0000000000bb removed 3", conv, user,
                                  &added, &seq),
                     0);
    assert_int_equal(added, 0);
    assert_int_equal(seq, 3);
    assert_int_equal(member_parse(CID " 0191e3a0-0000-7000-8000-0000000000bb removed -3", conv,
                                  user, &added, &seq),
                     -1);
    assert_int_equal(member_parse(CID " not-a-uuid added 1", conv, user, &added, &seq), -1);
    assert_int_equal(member_parse(CID " 0191e3a0-0000-7000-8000-0000000000bb joined 1", conv, user,
                                  &added, &seq),
                     -1);
    assert_int_equal(member_parse(CID " 0191e3a0-0000-7000-8000-0000000000bb added 1 x", conv, user,
                                  &added, &seq),
                     -1);
    assert_int_equal(member_parse("", conv, user, &added, &seq), -1);
}

static void test_account_announcements(void **state)
{
    char user[37];
    (void)state;
    assert_int_equal(account_parse("0191E3A0-0000-7000-8000-0000000000BB", user), 0);
    assert_string_equal(user, "0191e3a0-0000-7000-8000-0000000000bb");
    assert_int_equal(account_parse("0191e3a0-0000-7000-8000-0000000000bb ", user), -1);
    assert_int_equal(account_parse("0191e3a0-0000-7000-8000-0000000000bx", user), -1);
    assert_int_equal(account_parse("", user), -1);
}

/* Parse text as a frame; the caller frees it. */
static int parse(const char *text, struct frame *f, struct frame_error *err)
{
    return frame_parse(text, strlen(text), f, err);
}

static void test_frame_fields_are_canonical(void **state)
{
    struct frame f;
    struct frame_error err;
    (void)state;
    assert_int_equal(
        parse("{\"type\":\"read\",\"conversation_id\":\"0191E3A0-0000-7000-8000-"
              "000000000001\",\"message_id\":\"0191E3A0-0000-7000-8000-0000000000BB\"}",
              &f, &err),
        0);
    assert_int_equal(f.type, FRAME_READ);
    assert_string_equal(f.conversation_id, CID);
    assert_string_equal(f.message_id, "0191e3a0-0000-7000-8000-0000000000bb");
    assert_null(f.invalid);
    frame_free(&f);
    assert_int_equal(
        parse("{\"type\":\"typing\",\"is_typing\":false,\"conversation_id\":5}", &f, &err), 0);
    assert_int_equal(f.type, FRAME_TYPING);
    assert_string_equal(f.conversation_id, ""); /* not a string: as absent */
    assert_false(f.is_typing);
    assert_null(f.invalid);
    frame_free(&f);
    assert_int_equal(parse("{\"type\":\"auth\",\"token\":\"t\"}", &f, &err), 0);
    assert_int_equal(f.type, FRAME_AUTH);
    assert_string_equal(f.token, "t");
    frame_free(&f);
    assert_int_equal(parse("{\"type\":\"shout\"}", &f, &err), 0);
    assert_int_equal(f.type, FRAME_UNKNOWN);
    frame_free(&f);
}

static void test_change_frames_need_a_message_id(void **state)
{
    struct frame f;
    struct frame_error err;
    (void)state;
    assert_int_equal(parse("{\"type\":\"edit\",\"message_id\":\"0191E3A0-0000-7000-8000-"
                           "0000000000BB\",\"content\":\"x\"}",
                           &f, &err),
                     0);
    assert_int_equal(f.type, FRAME_EDIT);
    assert_string_equal(f.message_id, "0191e3a0-0000-7000-8000-0000000000bb");
    assert_null(f.invalid);
    frame_free(&f);
    assert_int_equal(parse("{\"type\":\"delete\"}", &f, &err), 0);
    assert_int_equal(f.type, FRAME_DELETE);
    assert_string_equal(f.invalid, "message_id: field required (a UUID)");
    frame_free(&f);
    assert_int_equal(parse("{\"type\":\"delete\",\"message_id\":12}", &f, &err), 0);
    assert_string_equal(f.invalid, "message_id: field required (a UUID)");
    frame_free(&f);
    /* react: on defaults to true; false takes the reaction back; anything else is refused */
    assert_int_equal(
        parse("{\"type\":\"react\",\"message_id\":\"" CID "\",\"emoji\":\"x\"}", &f, &err), 0);
    assert_int_equal(f.type, FRAME_REACT);
    assert_true(f.on);
    assert_null(f.invalid);
    frame_free(&f);
    assert_int_equal(
        parse("{\"type\":\"react\",\"message_id\":\"" CID "\",\"on\":false}", &f, &err), 0);
    assert_false(f.on);
    assert_null(f.invalid);
    frame_free(&f);
    assert_int_equal(parse("{\"type\":\"react\",\"message_id\":\"" CID "\",\"on\":1}", &f, &err),
                     0);
    assert_string_equal(f.invalid, "on: must be true or false");
    frame_free(&f);
}

static void test_frame_errors_name_the_field(void **state)
{
    struct frame f;
    struct frame_error err;
    (void)state;
    assert_int_equal(parse("{\"type\":\"typing\",\"is_typing\":1}", &f, &err), 0);
    assert_string_equal(f.invalid, "is_typing: must be true or false");
    frame_free(&f);
    assert_int_equal(parse("{\"type\":\"read\",\"message_id\":\"12\"}", &f, &err), 0);
    assert_string_equal(f.invalid, "message_id: must be a UUID");
    frame_free(&f);
    assert_int_equal(parse("{\"type\":\"read\",\"message_id\":12}", &f, &err), 0);
    assert_null(f.invalid); /* not a string: no message named, read everything */
    frame_free(&f);
    assert_int_equal(parse("[1]", &f, &err), -1);
    assert_string_equal(err.code, "invalid_json");
    assert_string_equal(err.message, "frames must be JSON objects");
    assert_int_equal(frame_parse("{\"type\":\"ping\"}", 5, &f, &err), -1); /* cut short */
    assert_string_equal(err.code, "invalid_json");
    assert_int_equal(parse("{\"type\":7}", &f, &err), -1);
    assert_string_equal(err.code, "validation_error");
    assert_string_equal(err.message, "type: field required");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_account_announcements),
        cmocka_unit_test(test_frame_fields_are_canonical),
        cmocka_unit_test(test_frame_errors_name_the_field),
        cmocka_unit_test(test_path_all_conversations),
        cmocka_unit_test(test_path_one_conversation),
        cmocka_unit_test(test_path_refusals),
        cmocka_unit_test(test_since_seq),
        cmocka_unit_test(test_resume_points),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_frame_header_lengths),
        cmocka_unit_test(test_queue_stall_rule),
        cmocka_unit_test(test_queue_keeps_order_below_the_hard_bound),
        cmocka_unit_test(test_message_frame_spliced_from_text),
        cmocka_unit_test(test_member_announcements),
        cmocka_unit_test(test_change_frames_need_a_message_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
