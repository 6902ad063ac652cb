/*
 * Unit tests of fcgi-api/send_group.c, the group commit of REST sends.
 * db_exec() is replaced at link time (-Wl,--wrap=db_exec) by a fake that
 * takes 20 ms per statement and answers like msg_send_stmt / its batch, so
 * sends from 16 threads queue behind the two statements in flight and
 * leave in batches. What must hold whatever the timing: every caller gets
 * its own row, every message is stored once, a batch that rolled back runs
 * its messages alone, and one that may have committed is never run again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "message.h"
#include "send_group.h"
#include "send_fixture.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SENDERS 16

static struct {
    pthread_mutex_t mu;
    int singles, batches, max_batch;
    enum db_err batch_fails; /* DB_OK: batches succeed */
    bool batch_short;        /* a batch returns one row too few */
    int sent[SENDERS];       /* statements that carried message i */
    int stored[SENDERS];     /* ... and stored it */
} fake = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Message i's id: a UUID ending in i. */
static void message_id(int i, char id[UUID_STR_LEN])
{
    snprintf(id, UUID_STR_LEN, "0191e3a0-0000-7000-8000-%012d", i);
}

static int id_index(const char *id)
{
    return atoi(id + 24);
}

/* A result of k rows shaped like msg_send_stmt's, row m for message ids[m]. */
static PGresult *rows_for(char ids[][UUID_STR_LEN], int k)
{
    PGresult *r = send_fixture_new();
    const char *vals[MSG_NCOLS + 1];

    for (int i = 0; i <= MSG_NCOLS; i++)
        vals[i] = "1";
    vals[MSG_SEND_COL_FRESH] = "t";
    for (int m = 0; r != NULL && m < k; m++) {
        vals[MSG_COL_ID] = ids[m];
        send_fixture_row(r, m, vals);
    }
    return r;
}

/* The ids of a batch's $2 array literal {"id","id",...}; their count. */
static int batch_ids(const char *lit, char ids[][UUID_STR_LEN])
{
    int k = 0;
    for (const char *p = strchr(lit, '"'); p != NULL && k < SENDERS; p = strchr(p + 1, '"')) {
        memcpy(ids[k], p + 1, UUID_STR_LEN - 1);
        ids[k++][UUID_STR_LEN - 1] = '\0';
        p = strchr(p + 1, '"'); /* the closing quote */
        if (p == NULL)
            break;
    }
    return k;
}

PGresult *__wrap_db_exec(struct db_conn *c, struct db_stmt *st, int nparams,
                         const char *const *params, enum db_err *err);

PGresult *__wrap_db_exec(struct db_conn *c, struct db_stmt *st, int nparams,
                         const char *const *params, enum db_err *err)
{
    char ids[SENDERS][UUID_STR_LEN];
    bool single = st == &msg_send_stmt;
    int k;
    PGresult *r = NULL;

    (void)c;
    assert_int_equal(nparams, MSG_SEND_NPARAMS);
    usleep(20000);
    if (single) {
        snprintf(ids[0], UUID_STR_LEN, "%s", params[1]);
        k = 1;
    } else {
        k = batch_ids(params[1], ids);
    }
    pthread_mutex_lock(&fake.mu);
    for (int m = 0; m < k; m++)
        fake.sent[id_index(ids[m])]++;
    if (single) {
        fake.singles++;
    } else {
        fake.batches++;
        if (k > fake.max_batch)
            fake.max_batch = k;
    }
    if (!single && fake.batch_fails != DB_OK) {
        *err = fake.batch_fails;
    } else {
        int rows = !single && fake.batch_short ? k - 1 : k;
        for (int m = 0; m < k; m++) /* it committed, whatever rows it returns */
            fake.stored[id_index(ids[m])]++;
        r = rows_for(ids, rows);
        *err = DB_OK;
    }
    pthread_mutex_unlock(&fake.mu);
    return r;
}

struct sender {
    pthread_t t;
    int i;
    PGresult *res;
    enum db_err err;
};

static void *send_one(void *arg)
{
    struct sender *s = arg;
    struct db_conn db;
    char id[UUID_STR_LEN];
    const char *params[MSG_SEND_NPARAMS] = {"0191e3a0-0000-7000-8000-0000000000c1", id,
                                            "0191e3a0-0000-7000-8000-0000000000d1", "hello", NULL};

    memset(&db, 0, sizeof(db));
    message_id(s->i, id);
    s->res = send_group_store(&db, params, &s->err);
    return NULL;
}

/* Run SENDERS concurrent sends with the fake set up as given. */
static void run_senders(struct sender *s, enum db_err batch_fails, bool batch_short)
{
    memset(fake.sent, 0, sizeof(fake.sent));
    memset(fake.stored, 0, sizeof(fake.stored));
    fake.singles = fake.batches = fake.max_batch = 0;
    fake.batch_fails = batch_fails;
    fake.batch_short = batch_short;
    for (int i = 0; i < SENDERS; i++) {
        s[i].i = i;
        assert_int_equal(pthread_create(&s[i].t, NULL, send_one, &s[i]), 0);
    }
    for (int i = 0; i < SENDERS; i++)
        pthread_join(s[i].t, NULL);
}

/* Sender i got exactly its own message's row. */
static void assert_own_row(const struct sender *s)
{
    char id[UUID_STR_LEN];
    message_id(s->i, id);
    assert_non_null(s->res);
    assert_int_equal(s->err, DB_OK);
    assert_int_equal(PQntuples(s->res), 1);
    assert_string_equal(PQgetvalue(s->res, 0, MSG_COL_ID), id);
}

static void test_concurrent_sends_batch_and_each_gets_its_row(void **state)
{
    struct sender s[SENDERS];

    (void)state;
    run_senders(s, DB_OK, false);
    assert_true(fake.batches >= 1); /* 14 sends queued behind the first two statements */
    assert_true(fake.max_batch >= 2);
    for (int i = 0; i < SENDERS; i++) {
        assert_own_row(&s[i]);
        assert_int_equal(fake.sent[i], 1);
        assert_int_equal(fake.stored[i], 1);
        PQclear(s[i].res);
    }
}

static void test_rolled_back_batch_runs_its_sends_alone(void **state)
{
    struct sender s[SENDERS];

    (void)state;
    run_senders(s, DB_ERR_UNIQUE, false);
    assert_true(fake.batches >= 1);
    for (int i = 0; i < SENDERS; i++) {
        assert_own_row(&s[i]);
        assert_int_equal(fake.stored[i], 1);
        PQclear(s[i].res);
    }
    assert_true(fake.singles == SENDERS); /* every one of them ends in a single statement */
}

/*
 * Each send was carried by exactly one statement (stored, if stored_once),
 * and its sender got its row or DB_ERR_DOWN; returns how many got DB_ERR_DOWN.
 */
static int assert_once_or_down(struct sender *s, bool stored_once)
{
    int failed = 0;

    for (int i = 0; i < SENDERS; i++) {
        assert_int_equal(fake.sent[i], 1); /* one statement carried it, whatever its fate */
        if (stored_once)
            assert_int_equal(fake.stored[i], 1);
        if (s[i].res == NULL) {
            assert_int_equal(s[i].err, DB_ERR_DOWN);
            failed++;
        } else {
            assert_own_row(&s[i]);
            PQclear(s[i].res);
        }
    }
    return failed;
}

static void test_batch_that_may_have_committed_is_never_run_again(void **state)
{
    struct sender s[SENDERS];

    (void)state;
    run_senders(s, DB_ERR_DOWN, false);
    assert_true(assert_once_or_down(s, false) >= 2); /* the batch's senders were told, not re-run */
}

static void test_batch_with_missing_rows_fails_its_sends_without_rerun(void **state)
{
    struct sender s[SENDERS];

    (void)state;
    run_senders(s, DB_OK, true);
    assert_true(assert_once_or_down(s, true) >= 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_sends_batch_and_each_gets_its_row),
        cmocka_unit_test(test_rolled_back_batch_runs_its_sends_alone),
        cmocka_unit_test(test_batch_that_may_have_committed_is_never_run_again),
        cmocka_unit_test(test_batch_with_missing_rows_fails_its_sends_without_rerun),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
