/* Unit tests of common/config.c: defaults, good and bad values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"

#include <libpq-fe.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRET32 "0123456789abcdef0123456789abcdef"

struct kv {
    const char *k, *v;
};

static const char *table_get(const char *key, void *ud)
{
    for (const struct kv *p = ud; p->k != NULL; p++)
        if (strcmp(p->k, key) == 0)
            return p->v;
    return NULL;
}

/* Load from pairs; returns rc and leaves err. */
static int load(struct chat_config *cfg, const struct kv *pairs, char *err)
{
    return cfg_load_from(cfg, table_get, (void *)pairs, err, 256);
}

static void test_defaults_match_the_seed(void **state)
{
    struct kv pairs[] = {
        {"DATABASE_URL", "postgresql://u@localhost/chat"}, {"SECRET_KEY", SECRET32}, {NULL, NULL}};
    struct chat_config cfg;
    char err[256];
    (void)state;
    assert_int_equal(load(&cfg, pairs, err), 0);
    assert_string_equal(cfg.app_name, "Chat API");
    assert_string_equal(cfg.api_prefix, "/api/v1");
    assert_false(cfg.debug);
    assert_int_equal(cfg.db_pool_size, 5);
    assert_int_equal(cfg.db_max_overflow, 10);
    assert_string_equal(cfg.redis_host, "localhost");
    assert_int_equal(cfg.redis_port, 6379);
    assert_int_equal(cfg.redis_db, 0);
    assert_null(cfg.redis_password);
    assert_string_equal(cfg.algorithm, "HS256");
    assert_int_equal(cfg.access_token_minutes, 30);
    assert_int_equal(cfg.refresh_token_days, 7);
    assert_int_equal(cfg.n_cors_origins, 2);
    assert_string_equal(cfg.cors_origins[0], "http://localhost:3000");
    assert_string_equal(cfg.cors_origins[1], "http://localhost:8000");
    assert_int_equal(cfg.rl_per_minute, 60);
    assert_int_equal(cfg.rl_per_hour, 1000);
    assert_int_equal(cfg.rl_messages_per_minute, 30);
    assert_int_equal(cfg.log_level, 20);
    assert_int_equal((int)cfg.max_body_bytes, 64 * 1024);
    assert_int_equal(cfg.max_message_chars, 4000);
    assert_int_equal(cfg.db_connect_timeout_secs, 2);
    assert_int_equal(cfg.db_statement_timeout_ms, 5000);
    assert_int_equal(cfg.db_pool_wait_ms, 1000);
    assert_int_equal(cfg.redis_timeout_ms, 1000);
    cfg_free(&cfg);
}

static void expect_error(const struct kv *pairs, const char *needle)
{
    struct chat_config cfg;
    char err[256] = "";
    assert_int_equal(load(&cfg, pairs, err), -1);
    if (strstr(err, needle) == NULL)
        fail_msg("error \"%s\" does not name %s", err, needle);
}

static void test_api_prefix_must_be_a_short_path(void **state)
{
    static const char *bad[] = {
        "api/v1", "/api/v1/", "/",
        "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    struct chat_config cfg;
    char err[256];
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct kv pairs[] = {{"DATABASE_URL", "postgresql://u@h/d"},
                             {"SECRET_KEY", "0123456789abcdef0123456789abcdef"},
                             {"API_V1_PREFIX", bad[i]},
                             {NULL, NULL}};
        expect_error(pairs, "API_V1_PREFIX");
    }
    {
        struct kv pairs[] = {{"DATABASE_URL", "postgresql://u@h/d"},
                             {"SECRET_KEY", "0123456789abcdef0123456789abcdef"},
                             {"API_V1_PREFIX", "/chat/v2"},
                             {NULL, NULL}};
        assert_int_equal(load(&cfg, pairs, err), 0);
        assert_string_equal(cfg.api_prefix, "/chat/v2");
        cfg_free(&cfg);
    }
}

static void test_missing_secret_key_names_it(void **state)
{
    struct kv pairs[] = {{"DATABASE_URL", "postgresql://u@h/d"}, {NULL, NULL}};
    (void)state;
    expect_error(pairs, "SECRET_KEY");
}

static void test_short_secret_key_rejected(void **state)
{
    struct kv pairs[] = {{"DATABASE_URL", "postgresql://u@h/d"},
                         {"SECRET_KEY", "0123456789abcdef0123456789abcde"}, /* 31 */
                         {NULL, NULL}};
    (void)state;
    expect_error(pairs, "SECRET_KEY");
}

static void test_hs512_needs_a_64_byte_key(void **state)
{
    struct kv pairs[] = {{"DATABASE_URL", "postgresql://u@h/d"},
                         {"SECRET_KEY", SECRET32},
                         {"ALGORITHM", "HS512"},
                         {NULL, NULL}};
    (void)state;
    expect_error(pairs, "SECRET_KEY");
}

static void test_unknown_algorithm_rejected(void **state)
{
    struct kv pairs[] = {{"DATABASE_URL", "postgresql://u@h/d"},
                         {"SECRET_KEY", SECRET32},
                         {"ALGORITHM", "none"},
                         {NULL, NULL}};
    (void)state;
    expect_error(pairs, "ALGORITHM");
}

static const char *conn_value(const char *conninfo, const char *key);

static void test_database_url_forms(void **state)
{
    struct kv missing[] = {{"SECRET_KEY", SECRET32}, {NULL, NULL}};
    struct kv mysql[] = {{"DATABASE_URL", "mysql://u@h/d"}, {"SECRET_KEY", SECRET32}, {NULL, NULL}};
    struct kv empty[] = {{"DATABASE_URL", "postgresql://"}, {"SECRET_KEY", SECRET32}, {NULL, NULL}};
    struct kv asyncpg[] = {{"DATABASE_URL", "postgresql+asyncpg://u:p@h:5432/d"},
                           {"SECRET_KEY", SECRET32},
                           {NULL, NULL}};
    struct chat_config cfg;
    char err[256];
    (void)state;
    expect_error(missing, "DATABASE_URL");
    expect_error(mysql, "DATABASE_URL");
    expect_error(empty, "DATABASE_URL");
    assert_int_equal(load(&cfg, asyncpg, err), 0);
    assert_string_equal(conn_value(cfg.database_url, "user"), "u");
    assert_string_equal(conn_value(cfg.database_url, "password"), "p");
    assert_string_equal(conn_value(cfg.database_url, "host"), "h");
    assert_string_equal(conn_value(cfg.database_url, "port"), "5432");
    assert_string_equal(conn_value(cfg.database_url, "dbname"), "d");
    cfg_free(&cfg);
}

/* The value of key in a conninfo string, as libpq reads it ("" when unset). */
static const char *conn_value(const char *conninfo, const char *key)
{
    static char out[256];
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);

    assert_non_null(opts);
    out[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (strcmp(o->keyword, key) == 0 && o->val != NULL)
            snprintf(out, sizeof(out), "%s", o->val);
    PQconninfoFree(opts);
    return out;
}

static void test_conninfo_gets_our_timeouts(void **state)
{
    struct kv pairs[] = {{"DATABASE_URL", "postgresql://chat@/chat?host=/run/pg&port=5433"},
                         {"SECRET_KEY", SECRET32},
                         {"DB_CONNECT_TIMEOUT_SECS", "3"},
                         {"DB_STATEMENT_TIMEOUT_MS", "1500"},
                         {NULL, NULL}};
    struct chat_config cfg;
    char err[256];
    (void)state;
    assert_int_equal(load(&cfg, pairs, err), 0);
    assert_string_equal(conn_value(cfg.database_url, "host"), "/run/pg");
    assert_string_equal(conn_value(cfg.database_url, "port"), "5433");
    assert_string_equal(conn_value(cfg.database_url, "user"), "chat");
    assert_string_equal(conn_value(cfg.database_url, "connect_timeout"), "3");
    assert_string_equal(conn_value(cfg.database_url, "keepalives"), "1");
    assert_string_equal(conn_value(cfg.database_url, "keepalives_idle"), "10");
    assert_string_equal(conn_value(cfg.database_url, "keepalives_interval"), "3");
    assert_string_equal(conn_value(cfg.database_url, "keepalives_count"), "3");
    assert_string_equal(conn_value(cfg.database_url, "tcp_user_timeout"), "3500");
    assert_string_equal(conn_value(cfg.database_url, "options"), "-c statement_timeout=1500");
    cfg_free(&cfg);
}

static void test_conninfo_keeps_what_the_user_set(void **state)
{
    struct kv uri[] = {{"DATABASE_URL", "postgresql://u@h/d?connect_timeout=9&keepalives_idle=60"
                                        "&options=-c%20search_path%3Dx"},
                       {"SECRET_KEY", SECRET32},
                       {NULL, NULL}};
    struct kv kv[] = {{"DATABASE_URL", "host=/tmp dbname='my db' options='-c statement_timeout=0'"},
                      {"SECRET_KEY", SECRET32},
                      {NULL, NULL}};
    struct chat_config cfg;
    char err[256];
    (void)state;
    assert_int_equal(load(&cfg, uri, err), 0);
    assert_string_equal(conn_value(cfg.database_url, "connect_timeout"), "9");
    assert_string_equal(conn_value(cfg.database_url, "keepalives_idle"), "60");
    assert_string_equal(conn_value(cfg.database_url, "keepalives_count"), "3");
    assert_string_equal(conn_value(cfg.database_url, "options"),
                        "-c search_path=x -c statement_timeout=5000");
    cfg_free(&cfg);
    assert_int_equal(load(&cfg, kv, err), 0);
    assert_string_equal(conn_value(cfg.database_url, "host"), "/tmp");
    assert_string_equal(conn_value(cfg.database_url, "dbname"), "my db");
    assert_string_equal(conn_value(cfg.database_url, "options"), "-c statement_timeout=0");
    assert_string_equal(conn_value(cfg.database_url, "connect_timeout"), "2");
    cfg_free(&cfg);
}

static void test_timeouts_out_of_range_name_the_key(void **state)
{
    static const char *keys[] = {"DB_CONNECT_TIMEOUT_SECS", "DB_STATEMENT_TIMEOUT_MS",
                                 "DB_POOL_WAIT_MS", "REDIS_TIMEOUT_MS"};
    static const char *bad[] = {"1", "50", "-1", "5"};
    (void)state;
    for (size_t i = 0; i < 4; i++) {
        struct kv pairs[] = {{"DATABASE_URL", "postgresql://u@h/d"},
                             {"SECRET_KEY", SECRET32},
                             {keys[i], bad[i]},
                             {NULL, NULL}};
        expect_error(pairs, keys[i]);
    }
}

static void test_redis_url_forms(void **state)
{
    struct chat_config cfg;
    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(cfg_parse_redis_url("redis://:pw@cache.local:6380/3", &cfg), 0);
    assert_string_equal(cfg.redis_host, "cache.local");
    assert_int_equal(cfg.redis_port, 6380);
    assert_int_equal(cfg.redis_db, 3);
    assert_string_equal(cfg.redis_password, "pw");
    cfg_free(&cfg);
    assert_int_equal(cfg_parse_redis_url("unix:///run/redis.sock?db=2", &cfg), 0);
    assert_string_equal(cfg.redis_socket, "/run/redis.sock");
    assert_int_equal(cfg.redis_db, 2);
    cfg_free(&cfg);
    assert_int_equal(cfg_parse_redis_url("http://h", &cfg), -1);
    cfg_free(&cfg);
    assert_int_equal(cfg_parse_redis_url("redis://h:99999", &cfg), -1);
    cfg_free(&cfg);
    assert_int_equal(cfg_parse_redis_url("redis://h/x", &cfg), -1);
    cfg_free(&cfg);
    assert_int_equal(cfg_parse_redis_url("redis://", &cfg), -1);
    cfg_free(&cfg);
}

static void test_bad_redis_url_names_it(void **state)
{
    struct kv pairs[] = {{"DATABASE_URL", "postgresql://u@h/d"},
                         {"SECRET_KEY", SECRET32},
                         {"REDIS_URL", "redis://h:port"},
                         {NULL, NULL}};
    (void)state;
    expect_error(pairs, "REDIS_URL");
}

static void test_bad_integers_name_the_key(void **state)
{
    const char *bad[] = {"abc", "-1", "0", "12x", "99999999999"};
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct kv pairs[] = {{"DATABASE_URL", "postgresql://u@h/d"},
                             {"SECRET_KEY", SECRET32},
                             {"ACCESS_TOKEN_EXPIRE_MINUTES", bad[i]},
                             {NULL, NULL}};
        expect_error(pairs, "ACCESS_TOKEN_EXPIRE_MINUTES");
    }
}

static void test_booleans(void **state)
{
    struct kv yes[] = {{"DATABASE_URL", "postgresql://u@h/d"},
                       {"SECRET_KEY", SECRET32},
                       {"DEBUG", "True"},
                       {NULL, NULL}};
    struct kv bad[] = {{"DATABASE_URL", "postgresql://u@h/d"},
                       {"SECRET_KEY", SECRET32},
                       {"DEBUG", "maybe"},
                       {NULL, NULL}};
    struct chat_config cfg;
    char err[256];
    (void)state;
    assert_int_equal(load(&cfg, yes, err), 0);
    assert_true(cfg.debug);
    cfg_free(&cfg);
    expect_error(bad, "DEBUG");
}

static void test_cors_origins_json_and_comma_lists(void **state)
{
    struct kv json[] = {{"DATABASE_URL", "postgresql://u@h/d"},
                        {"SECRET_KEY", SECRET32},
                        {"CORS_ORIGINS", "[\"https://a.example\", \"http://b.example:8080\"]"},
                        {NULL, NULL}};
    struct kv comma[] = {{"DATABASE_URL", "postgresql://u@h/d"},
                         {"SECRET_KEY", SECRET32},
                         {"CORS_ORIGINS", "https://a.example,https://c.example"},
                         {NULL, NULL}};
    struct kv bad[] = {{"DATABASE_URL", "postgresql://u@h/d"},
                       {"SECRET_KEY", SECRET32},
                       {"CORS_ORIGINS", "ftp://x"},
                       {NULL, NULL}};
    struct chat_config cfg;
    char err[256];
    (void)state;
    assert_int_equal(load(&cfg, json, err), 0);
    assert_int_equal(cfg.n_cors_origins, 2);
    assert_true(cfg_origin_allowed(&cfg, "http://b.example:8080"));
    assert_false(cfg_origin_allowed(&cfg, "http://evil.example"));
    cfg_free(&cfg);
    assert_int_equal(load(&cfg, comma, err), 0);
    assert_true(cfg_origin_allowed(&cfg, "https://c.example"));
    assert_false(cfg_origin_allowed(&cfg, "https://a.example.evil"));
    cfg_free(&cfg);
    expect_error(bad, "CORS_ORIGINS");
}

static void test_bad_log_level_names_it(void **state)
{
    struct kv pairs[] = {{"DATABASE_URL", "postgresql://u@h/d"},
                         {"SECRET_KEY", SECRET32},
                         {"LOG_LEVEL", "LOUD"},
                         {NULL, NULL}};
    (void)state;
    expect_error(pairs, "LOG_LEVEL");
}

static void test_env_file_read_and_environment_wins(void **state)
{
    char path[] = "/tmp/chat-config-test-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    struct chat_config cfg;
    char err[256];
    (void)state;
    fprintf(f,
            "# comment\n\nDATABASE_URL=postgresql://u@h/d\nSECRET_KEY=\"%s\"\n"
            "export APP_NAME='From File'\nLOG_LEVEL=DEBUG\n",
            SECRET32);
    fclose(f);
    unsetenv("DATABASE_URL");
    unsetenv("SECRET_KEY");
    unsetenv("APP_NAME");
    setenv("LOG_LEVEL", "ERROR", 1);
    assert_int_equal(cfg_load(&cfg, path, err, sizeof(err)), 0);
    assert_string_equal(cfg.secret_key, SECRET32);
    assert_string_equal(cfg.app_name, "From File");
    assert_int_equal(cfg.log_level, 40); /* the environment wins */
    cfg_free(&cfg);
    unsetenv("LOG_LEVEL");
    unlink(path);
    assert_int_equal(cfg_load(&cfg, "/nonexistent/chat.env", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/chat.env"));
}

static void test_metrics_networks_and_trusted_proxies(void **state)
{
    struct kv def[] = {
        {"DATABASE_URL", "postgresql://u@h/d"}, {"SECRET_KEY", SECRET32}, {NULL, NULL}};
    struct kv nets[] = {{"DATABASE_URL", "postgresql://u@h/d"},
                        {"SECRET_KEY", SECRET32},
                        {"METRICS_ALLOW", "10.1.0.0/16, 192.168.7.7, fd00::/8"},
                        {"TRUSTED_PROXIES", "10.0.0.5"},
                        {NULL, NULL}};
    struct kv bad[] = {{"DATABASE_URL", "postgresql://u@h/d"},
                       {"SECRET_KEY", SECRET32},
                       {"METRICS_ALLOW", "10.0.0.0/33"},
                       {NULL, NULL}};
    struct kv bad_proxy[] = {{"DATABASE_URL", "postgresql://u@h/d"},
                             {"SECRET_KEY", SECRET32},
                             {"TRUSTED_PROXIES", "nginx.local"},
                             {NULL, NULL}};
    struct chat_config cfg;
    char err[256];
    (void)state;
    assert_int_equal(load(&cfg, def, err), 0);
    assert_true(cfg_metrics_allowed(&cfg, "127.0.0.1"));
    assert_true(cfg_metrics_allowed(&cfg, "127.200.3.4"));
    assert_true(cfg_metrics_allowed(&cfg, "::1"));
    assert_false(cfg_metrics_allowed(&cfg, "10.0.0.1"));
    assert_false(cfg_metrics_allowed(&cfg, "not an address"));
    assert_true(cfg_trusted_proxy(&cfg, "127.0.0.1"));
    assert_false(cfg_trusted_proxy(&cfg, "127.0.0.2"));
    cfg_free(&cfg);
    assert_int_equal(load(&cfg, nets, err), 0);
    assert_true(cfg_metrics_allowed(&cfg, "10.1.255.1"));
    assert_false(cfg_metrics_allowed(&cfg, "10.2.0.1"));
    assert_true(cfg_metrics_allowed(&cfg, "192.168.7.7"));
    assert_false(cfg_metrics_allowed(&cfg, "192.168.7.8"));
    assert_true(cfg_metrics_allowed(&cfg, "fd12::1"));
    assert_false(cfg_metrics_allowed(&cfg, "fe80::1"));
    assert_false(cfg_metrics_allowed(&cfg, "127.0.0.1"));
    assert_true(cfg_trusted_proxy(&cfg, "10.0.0.5"));
    cfg_free(&cfg);
    assert_int_equal(load(&cfg, bad, err), -1);
    assert_non_null(strstr(err, "METRICS_ALLOW"));
    assert_int_equal(load(&cfg, bad_proxy, err), -1);
    assert_non_null(strstr(err, "TRUSTED_PROXIES"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_match_the_seed),
        cmocka_unit_test(test_missing_secret_key_names_it),
        cmocka_unit_test(test_short_secret_key_rejected),
        cmocka_unit_test(test_hs512_needs_a_64_byte_key),
        cmocka_unit_test(test_unknown_algorithm_rejected),
        cmocka_unit_test(test_database_url_forms),
        cmocka_unit_test(test_conninfo_gets_our_timeouts),
        cmocka_unit_test(test_conninfo_keeps_what_the_user_set),
        cmocka_unit_test(test_timeouts_out_of_range_name_the_key),
        cmocka_unit_test(test_redis_url_forms),
        cmocka_unit_test(test_bad_redis_url_names_it),
        cmocka_unit_test(test_bad_integers_name_the_key),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_cors_origins_json_and_comma_lists),
        cmocka_unit_test(test_metrics_networks_and_trusted_proxies),
        cmocka_unit_test(test_bad_log_level_names_it),
        cmocka_unit_test(test_api_prefix_must_be_a_short_path),
        cmocka_unit_test(test_env_file_read_and_environment_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
