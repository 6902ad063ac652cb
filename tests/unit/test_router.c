/* Unit tests of the route matcher (fcgi-api/router.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "router.h"

#include <string.h>

static void test_router_matches_literals_and_params(void **state)
{
    char p[HTTP_MAX_PARAMS][HTTP_PARAM_LEN];
    int n;
    (void)state;
    assert_true(router_match("/api/v1/users/me", "/api/v1/users/me", p, &n));
    assert_int_equal(n, 0);
    assert_true(router_match("/api/v1/chat/rooms/{room_id}/members/{user_id}",
                             "/api/v1/chat/rooms/r1/members/u2", p, &n));
    assert_int_equal(n, 2);
    assert_string_equal(p[0], "r1");
    assert_string_equal(p[1], "u2");
}

static void test_router_tolerates_one_trailing_slash(void **state)
{
    char p[HTTP_MAX_PARAMS][HTTP_PARAM_LEN];
    int n;
    (void)state;
    assert_true(router_match("/api/v1/conversations", "/api/v1/conversations/", p, &n));
    assert_true(router_match("/api/v1/conversations", "/api/v1/conversations", p, &n));
    assert_false(router_match("/api/v1/conversations", "/api/v1/conversations//", p, &n));
}

static void test_router_rejects_other_shapes(void **state)
{
    char p[HTTP_MAX_PARAMS][HTTP_PARAM_LEN];
    char long_path[200] = "/api/v1/users/";
    int n;
    (void)state;
    assert_false(router_match("/api/v1/users/{id}", "/api/v1/users", p, &n));
    assert_false(router_match("/api/v1/users/{id}", "/api/v1/users/a/b", p, &n));
    assert_false(router_match("/api/v1/users/{id}", "/api/v1/users//", p, &n));
    assert_false(router_match("/api/v1/users/me", "/api/v1/users/mee", p, &n));
    for (int i = 14; i < 14 + HTTP_PARAM_LEN; i++)
        long_path[i] = 'x';
    long_path[14 + HTTP_PARAM_LEN] = '\0';
    assert_false(router_match("/api/v1/users/{id}", long_path, p, &n));
}

static void test_router_table_puts_literals_before_params(void **state)
{
    /* "/conversations/online" must be found before "/conversations/{id}". */
    int online = -1, param = -1;
    (void)state;
    for (int i = 0; i < router_count; i++) {
        if (strcmp(router_table[i].pattern, "/conversations/online") == 0)
            online = i;
        if (strcmp(router_table[i].pattern, "/conversations/{conversation_id}") == 0 && param < 0)
            param = i;
    }
    assert_true(online >= 0 && param >= 0 && online < param);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_matches_literals_and_params),
        cmocka_unit_test(test_router_tolerates_one_trailing_slash),
        cmocka_unit_test(test_router_rejects_other_shapes),
        cmocka_unit_test(test_router_table_puts_literals_before_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
