/* Unit tests of the batch helpers in common/db.c (no server needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "db.h"

#include <stdlib.h>
#include <string.h>

static void test_text_array_quotes_and_nulls(void **state)
{
    const char *vals[] = {"plain", NULL, "", "say \"hi\"", "back\\slash", "{,}"};
    char *s;
    (void)state;

    s = db_text_array(vals, 6);
    assert_non_null(s);
    assert_string_equal(s, "{\"plain\",NULL,\"\",\"say \\\"hi\\\"\",\"back\\\\slash\",\"{,}\"}");
    free(s);
    s = db_text_array(vals, 0);
    assert_string_equal(s, "{}");
    free(s);
}

/* A two-column result with rows {a, 1}, {NULL, NULL}, {c, NULL}. */
static PGresult *three_rows(void)
{
    PGresAttDesc attrs[2] = {{.name = "id", .typid = 25, .typlen = -1, .format = 0},
                             {.name = "n", .typid = 25, .typlen = -1, .format = 0}};
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(r);
    assert_true(PQsetResultAttrs(r, 2, attrs));
    assert_true(PQsetvalue(r, 0, 0, "a", 1));
    assert_true(PQsetvalue(r, 0, 1, "1", 1));
    assert_true(PQsetvalue(r, 1, 0, NULL, -1));
    assert_true(PQsetvalue(r, 1, 1, NULL, -1));
    assert_true(PQsetvalue(r, 2, 0, "c", 1));
    assert_true(PQsetvalue(r, 2, 1, NULL, -1));
    return r;
}

static void test_result_row(void **state)
{
    PGresult *r = three_rows(), *one;
    (void)state;

    one = db_result_row(r, 0);
    assert_int_equal(PQntuples(one), 1);
    assert_int_equal(PQnfields(one), 2);
    assert_string_equal(PQfname(one, 1), "n");
    assert_string_equal(PQgetvalue(one, 0, 0), "a");
    assert_string_equal(PQgetvalue(one, 0, 1), "1");
    PQclear(one);

    one = db_result_row(r, 1); /* first column NULL: no row, as the single statement */
    assert_int_equal(PQntuples(one), 0);
    assert_int_equal(PQnfields(one), 2);
    PQclear(one);

    one = db_result_row(r, 2);
    assert_int_equal(PQntuples(one), 1);
    assert_string_equal(PQgetvalue(one, 0, 0), "c");
    assert_true(PQgetisnull(one, 0, 1));
    PQclear(one);
    PQclear(r);
}

static void test_batch_arrays_one_per_parameter(void **state)
{
    const char *a[] = {"c1", "x", NULL}, *b[] = {"c2", "y\"z", "k"};
    const char *const *rows[] = {a, b};
    char *out[3];
    (void)state;

    assert_int_equal(db_batch_arrays(rows, 2, 3, out), 0);
    assert_string_equal(out[0], "{\"c1\",\"c2\"}");
    assert_string_equal(out[1], "{\"x\",\"y\\\"z\"}");
    assert_string_equal(out[2], "{NULL,\"k\"}");
    for (int i = 0; i < 3; i++)
        free(out[i]);
}

static void test_batch_split_needs_one_row_per_statement(void **state)
{
    PGresult *r = three_rows(), *rows[4];
    (void)state;

    assert_int_equal(db_batch_split(r, 3, rows), 0);
    assert_int_equal(PQntuples(rows[0]), 1);
    assert_string_equal(PQgetvalue(rows[0], 0, 0), "a");
    assert_int_equal(PQntuples(rows[1]), 0); /* NULL first column: that statement's "no row" */
    assert_string_equal(PQgetvalue(rows[2], 0, 0), "c");
    for (int i = 0; i < 3; i++)
        PQclear(rows[i]);
    /* a result of another size committed all the same: nobody gets a row */
    assert_int_equal(db_batch_split(r, 4, rows), -1);
    for (int i = 0; i < 4; i++)
        assert_null(rows[i]);
    PQclear(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_array_quotes_and_nulls),
        cmocka_unit_test(test_result_row),
        cmocka_unit_test(test_batch_arrays_one_per_parameter),
        cmocka_unit_test(test_batch_split_needs_one_row_per_statement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
