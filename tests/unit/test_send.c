/* Unit tests of common/send.c (the send path of both transports) and db_err_answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "send.h"
#include "send_fixture.h"

#include <string.h>

#define CID "0191e3a0-0000-7000-8000-000000000001"

/* The last body validated: *in borrows from it until the next call. */
static json_t *last_body;

/* Validate the JSON text body; returns send_validate()'s result. */
static int validate(const char *body, const char *fallback, struct send_input *in,
                    struct send_error *err)
{
    json_decref(last_body);
    last_body = json_loads(body, JSON_ALLOW_NUL, NULL);
    assert_non_null(last_body);
    return send_validate(last_body, CID, fallback, 10, in, err);
}

static void assert_refused(const char *body, const char *message)
{
    struct send_input in;
    struct send_error err;

    assert_int_equal(validate(body, NULL, &in, &err), -1);
    assert_int_equal(err.status, 422);
    assert_string_equal(err.code, "validation_error");
    assert_string_equal(err.message, message);
    assert_int_equal(err.retry_after, 0);
}

static void test_send_content_rules(void **state)
{
    (void)state;
    assert_refused("{}", "content: field required (string)");
    assert_refused("{\"content\":5}", "content: field required (string)");
    assert_refused("{\"content\":null}", "content: field required (string)");
    assert_refused("{\"content\":\"  \"}",
                   "content: content must not be empty (at most 10 characters)");
    assert_refused("{\"content\":\"a\\u0000b\"}",
                   "content: content must not contain NUL characters (at most 10 characters)");
    assert_refused("{\"content\":\"12345678901\"}",
                   "content: content is too long (at most 10 characters)");
}

static void test_send_client_id_rules(void **state)
{
    const char *m = "client_message_id: 1 to 128 printable ASCII characters";
    char body[400];

    (void)state;
    assert_refused("{\"content\":\"hi\",\"client_message_id\":\"\"}", m);
    assert_refused("{\"content\":\"hi\",\"client_message_id\":\"a b\"}", m);
    assert_refused("{\"content\":\"hi\",\"client_message_id\":7}", m);
    assert_refused("{\"content\":\"hi\",\"client_message_id\":\"a\\u0000b\"}", m);
    snprintf(body, sizeof(body), "{\"content\":\"hi\",\"client_message_id\":\"%0129d\"}", 0);
    assert_refused(body, m);
}

static void test_send_which_client_id_applies(void **state)
{
    struct send_input in;
    struct send_error err;

    (void)state;
    /* the body's wins over the fallback (REST: Idempotency-Key) */
    assert_int_equal(
        validate("{\"content\":\"hi\",\"client_message_id\":\"body\"}", "header", &in, &err), 0);
    assert_string_equal(in.client_message_id, "body");
    assert_string_equal(in.content, "hi");
    assert_int_equal(validate("{\"content\":\"hi\"}", "header", &in, &err), 0);
    assert_string_equal(in.client_message_id, "header");
    assert_int_equal(validate("{\"content\":\"hi\",\"client_message_id\":null}", NULL, &in, &err),
                     0);
    assert_null(in.client_message_id);
    /* a bad fallback is refused like a bad body field */
    assert_int_equal(validate("{\"content\":\"hi\"}", "has space", &in, &err), -1);
    assert_string_equal(err.code, "validation_error");
}

static void test_send_conversation_id_must_match(void **state)
{
    struct send_input in;
    struct send_error err;

    (void)state;
    assert_int_equal(
        validate("{\"content\":\"hi\",\"conversation_id\":\"" CID "\"}", NULL, &in, &err), 0);
    /* upper case names the same conversation */
    assert_int_equal(validate("{\"content\":\"hi\",\"conversation_id\":"
                              "\"0191E3A0-0000-7000-8000-000000000001\"}",
                              NULL, &in, &err),
                     0);
    assert_refused(
        "{\"content\":\"hi\",\"conversation_id\":\"0191e3a0-0000-7000-8000-000000000002\"}",
        "conversation_id: does not match the conversation in the path");
    assert_refused("{\"content\":\"hi\",\"conversation_id\":1}",
                   "conversation_id: must be a string");
}

static void test_send_params_order(void **state)
{
    struct send_input in = {.content = "c", .client_message_id = "k"};
    const char *p[MSG_SEND_NPARAMS];

    (void)state;
    send_params("cid", "id", "sender", &in, p);
    assert_string_equal(p[0], "cid");
    assert_string_equal(p[1], "id");
    assert_string_equal(p[2], "sender");
    assert_string_equal(p[3], "c");
    assert_string_equal(p[4], "k");
}

static void test_send_retry_rule(void **state)
{
    (void)state;
    assert_true(send_should_retry(DB_ERR_UNIQUE, 0));
    assert_true(send_should_retry(DB_ERR_UNIQUE, SEND_ATTEMPTS - 2));
    assert_false(send_should_retry(DB_ERR_UNIQUE, SEND_ATTEMPTS - 1));
    /* a failure that may have committed, or will fail again, never runs twice */
    assert_false(send_should_retry(DB_ERR_DOWN, 0));
    assert_false(send_should_retry(DB_ERR_CONFLICT, 0));
    assert_false(send_should_retry(DB_ERR_OTHER, 0));
}

static void test_send_error_answers(void **state)
{
    struct rl_result rl = {.allowed = false, .retry_after = 42};
    struct send_error err;

    (void)state;
    send_rate_limited(&rl, &err);
    assert_int_equal(err.status, 429);
    assert_string_equal(err.code, "rate_limited");
    assert_string_equal(err.message, "too many messages, retry in 42 seconds");
    assert_int_equal(err.retry_after, 42);
    send_db_error(DB_ERR_DOWN, &err);
    assert_int_equal(err.status, 503);
    assert_string_equal(err.code, db_err_answer(DB_ERR_DOWN)->code);
    assert_string_equal(err.message, db_err_answer(DB_ERR_DOWN)->message);
    assert_int_equal(err.retry_after, 0);
    assert_int_equal(db_err_answer(DB_ERR_UNIQUE)->status, 409);
    assert_int_equal(db_err_answer((enum db_err)99)->status, 503); /* out of range: "other" */
}

static void test_send_result_without_row_is_not_found(void **state)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    struct send_error err;
    struct msg_row m;
    bool fresh;

    (void)state;
    assert_int_equal(send_result(r, CID, &m, &fresh, &err), -1);
    assert_int_equal(err.status, 404);
    assert_string_equal(err.code, "not_found");
    assert_string_equal(err.message, "conversation not found");
    PQclear(r);
}

/* A send result as msg_send_stmt returns it: MSG_COLS, then fresh. */
static PGresult *send_row(const char *fresh, const char *client_id)
{
    const char *vals[MSG_NCOLS + 1] = {
        [MSG_COL_ID] = "0191e3a0-0000-7000-8000-0000000000aa",
        [MSG_COL_SEQ] = "17",
        [MSG_COL_SENDER_ID] = "0191e3a0-0000-7000-8000-0000000000bb",
        [MSG_COL_USERNAME] = "alice",
        [MSG_COL_CONTENT] = "hello",
        [MSG_COL_CREATED] = "2026-12-03T15:00:00.000000Z",
        [MSG_COL_CLIENT_ID] = client_id,
        [MSG_SEND_COL_FRESH] = fresh,
    };
    PGresult *r = send_fixture_new();

    assert_non_null(r);
    assert_true(send_fixture_row(r, 0, vals));
    return r;
}

static void test_send_result_reads_the_row(void **state)
{
    PGresult *r = send_row("t", NULL);
    struct send_error err;
    struct msg_row m;
    bool fresh = false;

    (void)state;
    assert_int_equal(send_result(r, CID, &m, &fresh, &err), 0);
    assert_true(fresh);
    assert_string_equal(m.id, "0191e3a0-0000-7000-8000-0000000000aa");
    assert_string_equal(m.conversation_id, CID);
    assert_int_equal(m.seq, 17);
    assert_string_equal(m.sender_id, "0191e3a0-0000-7000-8000-0000000000bb");
    assert_string_equal(m.sender_username, "alice");
    assert_string_equal(m.content, "hello");
    assert_string_equal(m.created_at, "2026-12-03T15:00:00.000000Z");
    assert_null(m.client_message_id);
    PQclear(r);
    r = send_row("f", "k1"); /* a replayed client id */
    assert_int_equal(send_result(r, CID, &m, &fresh, &err), 0);
    assert_false(fresh);
    assert_string_equal(m.client_message_id, "k1");
    PQclear(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_content_rules),
        cmocka_unit_test(test_send_client_id_rules),
        cmocka_unit_test(test_send_which_client_id_applies),
        cmocka_unit_test(test_send_conversation_id_must_match),
        cmocka_unit_test(test_send_params_order),
        cmocka_unit_test(test_send_retry_rule),
        cmocka_unit_test(test_send_error_answers),
        cmocka_unit_test(test_send_result_without_row_is_not_found),
        cmocka_unit_test(test_send_result_reads_the_row),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    json_decref(last_body);
    return rc;
}
