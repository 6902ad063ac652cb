/*
 * Unit tests of the gateway's admission bookkeeping (admit.c): caps per
 * address, per user and on unauthenticated sockets, the handshake rate,
 * what a close undoes, and the address form it counts by.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "admit.h"

#include <string.h>

#define U1 "0191e3a0-0000-7000-8000-000000000001"
#define U2 "0191e3a0-0000-7000-8000-000000000002"

static const struct admit_limits limits = {
    .per_user = 2, .per_address = 3, .unauth_per_addr = 1, .handshakes_per_min = 5};

static int setup(void **state)
{
    (void)state;
    admit_reset();
    admit_configure(&limits);
    return 0;
}

static void test_unauthenticated_cap_frees_on_auth(void **state)
{
    struct admit_ticket t1, t2;
    (void)state;
    assert_int_equal(admit_handshake("10.0.0.1", NULL, 0), ADMIT_OK);
    admit_open(&t1, "10.0.0.1");
    assert_int_equal(admit_handshake("10.0.0.1", NULL, 1), ADMIT_UNAUTH_FULL);
    /* a handshake with a token is not waiting for an auth frame */
    assert_int_equal(admit_handshake("10.0.0.1", U1, 2), ADMIT_OK);
    assert_true(admit_user(&t1, U1));
    assert_int_equal(admit_handshake("10.0.0.1", NULL, 3), ADMIT_OK);
    admit_open(&t2, "10.0.0.1");
    assert_int_equal(admit_address_sockets("10.0.0.1"), 2);
    admit_close(&t2);
    admit_close(&t1);
    assert_int_equal(admit_address_sockets("10.0.0.1"), 0);
    assert_int_equal(admit_user_sockets(U1), 0);
}

static void test_address_cap(void **state)
{
    struct admit_ticket t[3];
    (void)state;
    for (int i = 0; i < 3; i++) {
        const char *u = i < 2 ? U1 : U2;
        assert_int_equal(admit_handshake("10.0.0.2", u, (uint64_t)i), ADMIT_OK);
        admit_open(&t[i], "10.0.0.2");
        assert_true(admit_user(&t[i], u));
    }
    assert_int_equal(admit_handshake("10.0.0.2", NULL, 3), ADMIT_ADDRESS_FULL);
    assert_int_equal(admit_handshake("10.0.0.3", NULL, 3), ADMIT_OK); /* another address */
    admit_close(&t[0]);
    assert_int_equal(admit_handshake("10.0.0.2", U2, 4), ADMIT_OK);
    admit_close(&t[1]);
    admit_close(&t[2]);
}

static void test_user_cap_across_addresses(void **state)
{
    struct admit_ticket t[3];
    (void)state;
    admit_open(&t[0], "10.0.1.1");
    admit_open(&t[1], "10.0.1.2");
    admit_open(&t[2], "10.0.1.3");
    assert_true(admit_user(&t[0], U1));
    assert_true(admit_user(&t[1], U1));
    assert_int_equal(admit_handshake("10.0.1.4", U1, 0), ADMIT_USER_FULL);
    /* by auth frame: the authorisation is refused, and the ticket stays unauthenticated */
    assert_false(admit_user(&t[2], U1));
    assert_int_equal(t[2].state, ADMIT_UNAUTH);
    assert_int_equal(admit_user_sockets(U1), 2);
    /* a second admit_user of the same ticket counts once */
    assert_true(admit_user(&t[0], U1));
    assert_int_equal(admit_user_sockets(U1), 2);
    for (int i = 0; i < 3; i++)
        admit_close(&t[i]);
    admit_close(&t[0]); /* closing twice undoes nothing more */
    assert_int_equal(admit_user_sockets(U1), 0);
    assert_int_equal(admit_address_sockets("10.0.1.1"), 0);
}

static void test_handshake_rate_window(void **state)
{
    (void)state;
    for (int i = 0; i < 5; i++)
        assert_int_equal(admit_handshake("10.0.2.1", U1, 1000 + (uint64_t)i), ADMIT_OK);
    assert_int_equal(admit_handshake("10.0.2.1", U1, 2000), ADMIT_RATE);
    assert_int_equal(admit_handshake("10.0.2.2", U1, 2000), ADMIT_OK);
    /* a minute after the window opened, it opens again */
    assert_int_equal(admit_handshake("10.0.2.1", U1, 1000 + 59999), ADMIT_RATE);
    assert_int_equal(admit_handshake("10.0.2.1", U1, 1000 + 60000), ADMIT_OK);
}

static void test_idle_addresses_are_swept(void **state)
{
    struct admit_ticket t;
    (void)state;
    admit_open(&t, "10.0.3.1");
    assert_int_equal(admit_handshake("10.0.3.2", NULL, 1), ADMIT_OK);
    /* past the sweep interval: the idle address goes, the one with a socket stays */
    assert_int_equal(admit_handshake("10.0.3.3", NULL, 200000), ADMIT_OK);
    assert_int_equal(admit_address_sockets("10.0.3.1"), 1);
    admit_close(&t);
}

static int seen_users;
static void count_user(const char *user_id)
{
    assert_true(strcmp(user_id, U1) == 0 || strcmp(user_id, U2) == 0);
    seen_users++;
}

static void test_each_user_once(void **state)
{
    struct admit_ticket t[3];
    (void)state;
    for (int i = 0; i < 3; i++)
        admit_open(&t[i], "10.0.4.1");
    assert_true(admit_user(&t[0], U1));
    assert_true(admit_user(&t[1], U1));
    assert_true(admit_user(&t[2], U2));
    seen_users = 0;
    admit_each_user(count_user);
    assert_int_equal(seen_users, 2);
    for (int i = 0; i < 3; i++)
        admit_close(&t[i]);
    seen_users = 0;
    admit_each_user(count_user);
    assert_int_equal(seen_users, 0);
}

static void test_canonical_address(void **state)
{
    char a[ADMIT_ADDR_LEN] = "::ffff:127.0.0.1", b[ADMIT_ADDR_LEN] = "::1",
         c[ADMIT_ADDR_LEN] = "::FFFF:10.1.2.3", d[ADMIT_ADDR_LEN] = "::ffff:zz";
    (void)state;
    admit_canon_address(a);
    admit_canon_address(b);
    admit_canon_address(c);
    admit_canon_address(d);
    assert_string_equal(a, "127.0.0.1");
    assert_string_equal(b, "::1");
    assert_string_equal(c, "10.1.2.3");
    assert_string_equal(d, "::ffff:zz");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_unauthenticated_cap_frees_on_auth, setup),
        cmocka_unit_test_setup(test_address_cap, setup),
        cmocka_unit_test_setup(test_user_cap_across_addresses, setup),
        cmocka_unit_test_setup(test_handshake_rate_window, setup),
        cmocka_unit_test_setup(test_idle_addresses_are_swept, setup),
        cmocka_unit_test_setup(test_each_user_once, setup),
        cmocka_unit_test_setup(test_canonical_address, setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    admit_reset();
    return rc;
}
