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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_array_quotes_and_nulls),
        cmocka_unit_test(test_result_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
