/*
 * Unit tests of the Prometheus text writer (common/metrics.c): families,
 * labels, cumulative histogram buckets, gauges read at scrape time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "metrics.h"

#include <stdlib.h>
#include <string.h>

static void collect(struct mx_family *f, void *arg)
{
    mx_emit(f, "state=\"open\"", *(int *)arg);
}

static void test_exposition_text(void **state)
{
    static const double bounds[] = {0.1, 1};
    int open = 7;
    struct mx_family *c = mx_counter("t_requests_total", "Requests");
    struct mx_family *h = mx_histogram("t_seconds", "Latency", bounds, 2);
    size_t len;
    char *text;

    (void)state;
    mx_gauge_fn("t_sockets", "Sockets", collect, &open);
    mx_inc(c, "route=\"/a\"");
    mx_add(c, "route=\"/a\"", 2);
    mx_inc(c, NULL);
    mx_observe(h, NULL, 0.05);
    mx_observe(h, NULL, 0.5);
    mx_observe(h, NULL, 5);
    text = mx_render(&len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    assert_non_null(
        strstr(text, "# HELP t_requests_total Requests\n# TYPE t_requests_total counter\n"));
    assert_non_null(strstr(text, "\nt_requests_total{route=\"/a\"} 3\n"));
    assert_non_null(strstr(text, "\nt_requests_total 1\n"));
    assert_non_null(strstr(text, "# TYPE t_seconds histogram\n"));
    assert_non_null(strstr(text, "\nt_seconds_bucket{le=\"0.1\"} 1\n"));
    assert_non_null(strstr(text, "\nt_seconds_bucket{le=\"1\"} 2\n"));
    assert_non_null(strstr(text, "\nt_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "\nt_seconds_sum 5.55\n"));
    assert_non_null(strstr(text, "\nt_seconds_count 3\n"));
    assert_non_null(strstr(text, "\nt_sockets{state=\"open\"} 7\n"));
    assert_true(mx_value(c, "route=\"/a\"") == 3);
    assert_true(mx_value(c, "route=\"/b\"") == 0);
    free(text);
    mx_reset();
}

static void test_null_family_is_a_no_op(void **state)
{
    (void)state;
    mx_inc(NULL, "x=\"1\"");
    mx_observe(NULL, NULL, 1);
    assert_true(mx_value(NULL, NULL) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exposition_text),
        cmocka_unit_test(test_null_family_is_a_no_op),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
