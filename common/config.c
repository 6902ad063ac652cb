/*
 * config.c - see config.h.
 *
 * The .env file is parsed here by hand (KEY=VALUE, '#' comments, optional
 * quotes): no Debian-packaged C library reads that format, and it is a
 * dozen lines.
 */
#include "config.h"
#include "log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define ENV_FILE_MAX_KEYS 128

struct env_file {
    char *keys[ENV_FILE_MAX_KEYS];
    char *values[ENV_FILE_MAX_KEYS];
    int n;
};

static void env_file_free(struct env_file *ef)
{
    for (int i = 0; i < ef->n; i++) {
        free(ef->keys[i]);
        free(ef->values[i]);
    }
    ef->n = 0;
}

static char *trim(char *s)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Returns 0, or -1 with err set. A key given twice keeps the last value. */
static int env_file_read(struct env_file *ef, const char *path, char *err, size_t errlen)
{
    char line[4096];
    int lineno = 0, rc = -1;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        snprintf(err, errlen, "cannot read env file %s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *p = trim(line), *eq, *key, *val;
        size_t vlen;
        lineno++;
        if (*p == '\0' || *p == '#')
            continue;
        if (strncmp(p, "export ", 7) == 0)
            p = trim(p + 7);
        eq = strchr(p, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "env file %s line %d: expected KEY=VALUE", path, lineno);
            goto out;
        }
        *eq = '\0';
        key = trim(p);
        val = trim(eq + 1);
        vlen = strlen(val);
        if (vlen >= 2 && (val[0] == '"' || val[0] == '\'') && val[vlen - 1] == val[0]) {
            val[vlen - 1] = '\0';
            val++;
        }
        if (ef->n == ENV_FILE_MAX_KEYS) {
            snprintf(err, errlen, "env file %s: more than %d keys", path, ENV_FILE_MAX_KEYS);
            goto out;
        }
        ef->keys[ef->n] = strdup(key);
        ef->values[ef->n] = strdup(val);
        if (ef->keys[ef->n] == NULL || ef->values[ef->n] == NULL) {
            free(ef->keys[ef->n]);
            free(ef->values[ef->n]);
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        ef->n++;
    }
    rc = 0;
out:
    fclose(f);
    return rc;
}

static const char *env_then_file(const char *key, void *ud)
{
    struct env_file *ef = ud;
    const char *v = getenv(key);
    if (v != NULL)
        return v;
    for (int i = ef->n - 1; i >= 0; i--)
        if (strcmp(ef->keys[i], key) == 0)
            return ef->values[i];
    return NULL;
}

int cfg_load(struct chat_config *cfg, const char *env_file, char *err, size_t errlen)
{
    struct env_file ef = {.n = 0};
    int rc;

    if (env_file != NULL) {
        if (env_file_read(&ef, env_file, err, errlen) != 0)
            return -1;
    } else if (access(".env", R_OK) == 0) {
        if (env_file_read(&ef, ".env", err, errlen) != 0)
            return -1;
    }
    rc = cfg_load_from(cfg, env_then_file, &ef, err, errlen);
    env_file_free(&ef);
    return rc;
}

/* ---- typed readers: each returns 0 or -1 with err naming the key ---- */

struct reader {
    cfg_getter_fn get;
    void *ud;
    char *err;
    size_t errlen;
};

static int read_str(struct reader *r, const char *key, const char *def, char **out)
{
    const char *v = r->get(key, r->ud);
    if (v == NULL || v[0] == '\0')
        v = def;
    if (v == NULL) {
        *out = NULL;
        return 0;
    }
    *out = strdup(v);
    if (*out == NULL) {
        snprintf(r->err, r->errlen, "out of memory reading %s", key);
        return -1;
    }
    return 0;
}

static int read_int(struct reader *r, const char *key, long def, long min, long max, int *out)
{
    const char *v = r->get(key, r->ud);
    char *end;
    long n;
    if (v == NULL || v[0] == '\0') {
        *out = (int)def;
        return 0;
    }
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *trim(end) != '\0' || n < min || n > max) {
        snprintf(r->err, r->errlen, "%s: expected an integer from %ld to %ld, got \"%s\"", key, min,
                 max, v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static int read_bool(struct reader *r, const char *key, bool def, bool *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off"};
    const char *v = r->get(key, r->ud);
    if (v == NULL || v[0] == '\0') {
        *out = def;
        return 0;
    }
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    snprintf(r->err, r->errlen, "%s: expected true or false, got \"%s\"", key, v);
    return -1;
}

/*
 * CORS_ORIGINS accepts the seed's JSON list (["a","b"]) or a comma list.
 * Quotes, brackets and spaces are separators, so both forms reduce to tokens.
 */
/* Whether tok may stand in the list of key (an error naming it in r->err when not). */
typedef bool (*list_check_fn)(struct reader *r, const char *key, const char *tok);

static bool origin_ok(struct reader *r, const char *key, const char *tok)
{
    if (strcmp(tok, "*") == 0 || strncmp(tok, "http://", 7) == 0 ||
        strncmp(tok, "https://", 8) == 0)
        return true;
    snprintf(r->err, r->errlen, "%s: \"%s\" is not an http(s) origin or *", key, tok);
    return false;
}

static bool address_ok(struct reader *r, const char *key, const char *tok)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, tok, buf) == 1 || inet_pton(AF_INET6, tok, buf) == 1)
        return true;
    snprintf(r->err, r->errlen, "%s: \"%s\" is not an IPv4 or IPv6 address", key, tok);
    return false;
}

/* An address or network: a.b.c.d[/n] or an IPv6 address[/n]; into bytes, family and prefix. */
static bool parse_net(const char *tok, unsigned char addr[16], int *family, int *prefix)
{
    char host[64];
    const char *slash = strchr(tok, '/');
    size_t n = slash ? (size_t)(slash - tok) : strlen(tok);
    char *end;
    long p;

    if (n >= sizeof(host))
        return false;
    memcpy(host, tok, n);
    host[n] = '\0';
    *family = strchr(host, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(*family, host, addr) != 1)
        return false;
    *prefix = *family == AF_INET ? 32 : 128;
    if (slash != NULL) {
        p = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end != '\0' || p < 0 || p > *prefix)
            return false;
        *prefix = (int)p;
    }
    return true;
}

static bool network_ok(struct reader *r, const char *key, const char *tok)
{
    unsigned char a[16];
    int family, prefix;
    if (parse_net(tok, a, &family, &prefix))
        return true;
    snprintf(r->err, r->errlen, "%s: \"%s\" is not an address or network (a.b.c.d/n)", key, tok);
    return false;
}

bool cfg_metrics_allowed(const struct chat_config *cfg, const char *addr)
{
    unsigned char a[16], net[16];
    int fa, fn, pa, pn;

    if (!parse_net(addr, a, &fa, &pa))
        return false;
    for (int i = 0; i < cfg->n_metrics_allow; i++) {
        int whole, rest;
        if (!parse_net(cfg->metrics_allow[i], net, &fn, &pn) || fn != fa)
            continue;
        whole = pn / 8;
        rest = pn % 8;
        if (memcmp(a, net, (size_t)whole) == 0 &&
            (rest == 0 || ((a[whole] ^ net[whole]) & (0xff << (8 - rest))) == 0))
            return true;
    }
    return false;
}

/*
 * A list of at most CFG_MAX_ORIGINS items (comma, space or JSON-array
 * separated, as pydantic settings accept them) into out[]/n, owned by cfg.
 */
static int read_list(struct reader *r, const char *key, const char *def, list_check_fn ok,
                     char **out, int *n)
{
    const char *v = r->get(key, r->ud);
    char *copy, *tok, *save = NULL;
    int rc = 0;

    copy = strdup(v != NULL && v[0] != '\0' ? v : def);
    if (copy == NULL)
        return -1;
    for (tok = strtok_r(copy, "[]\", \t", &save); tok != NULL;
         tok = strtok_r(NULL, "[]\", \t", &save)) {
        if (*n == CFG_MAX_ORIGINS) {
            snprintf(r->err, r->errlen, "%s: more than %d items", key, CFG_MAX_ORIGINS);
            rc = -1;
            break;
        }
        if (!ok(r, key, tok) || (out[*n] = strdup(tok)) == NULL) {
            rc = -1;
            break;
        }
        (*n)++;
    }
    free(copy);
    return rc;
}

static int read_origins(struct reader *r, struct chat_config *cfg)
{
    return read_list(r, "CORS_ORIGINS", "http://localhost:3000,http://localhost:8000", origin_ok,
                     cfg->cors_origins, &cfg->n_cors_origins) ||
           read_list(r, "TRUSTED_PROXIES", "127.0.0.1,::1", address_ok, cfg->trusted_proxies,
                     &cfg->n_trusted_proxies) ||
           read_list(r, "METRICS_ALLOW", "127.0.0.0/8,::1/128", network_ok, cfg->metrics_allow,
                     &cfg->n_metrics_allow);
}

/* What one user or one address may cost (rates, membership, sockets). */
static int read_limits(struct reader *r, struct chat_config *cfg)
{
    return read_int(r, "RATE_LIMIT_TYPING_PER_MINUTE", 60, 1, 10000000,
                    &cfg->rl_typing_per_minute) ||
           read_int(r, "RATE_LIMIT_READ_PER_MINUTE", 120, 1, 10000000, &cfg->rl_read_per_minute) ||
           read_int(r, "LOGIN_FAILURES_PER_ADDRESS", 5, 1, 10000000, &cfg->login_fails_address) ||
           read_int(r, "LOGIN_FAILURES_PER_ACCOUNT", 50, 1, 10000000, &cfg->login_fails_account) ||
           read_int(r, "MAX_GROUP_MEMBERS", 1000, 2, 100000, &cfg->max_group_members) ||
           read_int(r, "MAX_ROOMS_PER_USER", 100, 1, 1000000, &cfg->max_rooms_per_user) ||
           read_int(r, "MESSAGE_EDIT_WINDOW_MINUTES", 0, 0, 5256000, &cfg->edit_window_minutes) ||
           read_int(r, "WS_MAX_SOCKETS_PER_USER", 16, 1, 1000000, &cfg->ws_max_per_user) ||
           read_int(r, "WS_MAX_SOCKETS_PER_ADDRESS", 256, 1, 1000000, &cfg->ws_max_per_address) ||
           read_int(r, "WS_MAX_UNAUTHENTICATED_PER_ADDRESS", 16, 1, 1000000,
                    &cfg->ws_max_unauth_per_addr) ||
           read_int(r, "WS_HANDSHAKES_PER_ADDRESS_PER_MINUTE", 120, 1, 10000000,
                    &cfg->ws_handshakes_per_min);
}

bool cfg_origin_allowed(const struct chat_config *cfg, const char *origin)
{
    for (int i = 0; i < cfg->n_cors_origins; i++)
        if (strcmp(cfg->cors_origins[i], "*") == 0 || strcmp(cfg->cors_origins[i], origin) == 0)
            return true;
    return false;
}

bool cfg_trusted_proxy(const struct chat_config *cfg, const char *addr)
{
    for (int i = 0; i < cfg->n_trusted_proxies; i++)
        if (strcmp(cfg->trusted_proxies[i], addr) == 0)
            return true;
    return false;
}

char *cfg_pg_conninfo(const char *url)
{
    static const char *schemes[] = {"postgresql+asyncpg://", "postgresql+psycopg://",
                                    "postgresql://", "postgres://"};
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t n = strlen(schemes[i]);
        if (strncmp(url, schemes[i], n) == 0) {
            char *out;
            const char *rest = url + n;
            if (rest[0] == '\0')
                return NULL;
            if (asprintf(&out, "postgresql://%s", rest) < 0)
                return NULL;
            return out;
        }
    }
    return NULL;
}

/* redis://[user][:password@]host[:port][/db]  or  unix:///path[?db=N] */
int cfg_parse_redis_url(const char *url, struct chat_config *cfg)
{
    const char *p, *at, *hostend, *slash;
    char *end;
    long n;

    if (strncmp(url, "unix://", 7) == 0) {
        const char *q = strchr(url + 7, '?');
        size_t len = q ? (size_t)(q - (url + 7)) : strlen(url + 7);
        if (len == 0 || url[7] != '/')
            return -1;
        cfg->redis_socket = strndup(url + 7, len);
        cfg->redis_db = 0;
        if (q != NULL && strncmp(q, "?db=", 4) == 0) {
            n = strtol(q + 4, &end, 10);
            if (*end != '\0' || n < 0 || n > 15)
                return -1;
            cfg->redis_db = (int)n;
        }
        return cfg->redis_socket ? 0 : -1;
    }
    if (strncmp(url, "redis://", 8) != 0)
        return -1;
    p = url + 8;
    slash = strchr(p, '/');
    at = strchr(p, '@');
    if (at != NULL && (slash == NULL || at < slash)) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon != NULL && colon + 1 < at) {
            free(cfg->redis_password);
            cfg->redis_password = strndup(colon + 1, (size_t)(at - colon - 1));
        }
        p = at + 1;
    }
    hostend = p;
    while (*hostend != '\0' && *hostend != ':' && *hostend != '/')
        hostend++;
    if (hostend == p)
        return -1;
    cfg->redis_host = strndup(p, (size_t)(hostend - p));
    cfg->redis_port = 6379;
    cfg->redis_db = 0;
    if (*hostend == ':') {
        n = strtol(hostend + 1, &end, 10);
        if (end == hostend + 1 || n < 1 || n > 65535 || (*end != '\0' && *end != '/'))
            return -1;
        cfg->redis_port = (int)n;
        hostend = end;
    }
    if (*hostend == '/' && hostend[1] != '\0') {
        n = strtol(hostend + 1, &end, 10);
        if (end == hostend + 1 || *end != '\0' || n < 0 || n > 15)
            return -1;
        cfg->redis_db = (int)n;
    }
    return cfg->redis_host ? 0 : -1;
}

/* ---- the effective PostgreSQL conninfo ---- */

/* libpq's keepalives: an idle peer that vanished is noticed in about 10 + 3 * 3 s. */
#define PG_KEEPALIVES_IDLE_SECS 10
#define PG_KEEPALIVES_INTERVAL_SECS 3
#define PG_KEEPALIVES_COUNT 3
/* Sent data unacknowledged this long beyond the statement timeout: the peer is gone. */
#define PG_TCP_USER_TIMEOUT_EXTRA_MS 2000

struct conninfo_buf {
    char *s;
    size_t len, cap;
    bool failed;
};

static void buf_add(struct conninfo_buf *b, const char *text, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (s == NULL) {
            b->failed = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, text, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* Append " key='value'" with libpq's quoting (backslash before ' and \). */
static void buf_add_pair(struct conninfo_buf *b, const char *key, const char *val)
{
    if (b->len > 0)
        buf_add(b, " ", 1);
    buf_add(b, key, strlen(key));
    buf_add(b, "='", 2);
    for (const char *v = val; *v != '\0'; v++) {
        if (*v == '\'' || *v == '\\')
            buf_add(b, "\\", 1);
        buf_add(b, v, 1);
    }
    buf_add(b, "'", 1);
}

static const char *opt_value(const PQconninfoOption *opts, const char *key)
{
    for (const PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (strcmp(o->keyword, key) == 0)
            return o->val;
    return NULL;
}

/* Our setting for key, when the user's conninfo does not set it. */
static void buf_add_default(struct conninfo_buf *b, const PQconninfoOption *opts, const char *key,
                            long val)
{
    char num[32];
    const char *have = opt_value(opts, key);

    if (have != NULL && have[0] != '\0')
        return;
    snprintf(num, sizeof(num), "%ld", val);
    buf_add_pair(b, key, num);
}

/* options: the user's, plus -c statement_timeout unless they set one. */
static void buf_add_options(struct conninfo_buf *b, const PQconninfoOption *opts, int timeout_ms)
{
    const char *have = opt_value(opts, "options");
    char *merged = NULL;

    if (have != NULL && strstr(have, "statement_timeout") != NULL) {
        buf_add_pair(b, "options", have);
        return;
    }
    if (asprintf(&merged, "%s%s-c statement_timeout=%d", have ? have : "",
                 have && have[0] ? " " : "", timeout_ms) < 0) {
        b->failed = true;
        return;
    }
    buf_add_pair(b, "options", merged);
    free(merged);
}

char *cfg_pg_effective(const char *conninfo, const struct chat_config *cfg)
{
    struct conninfo_buf b = {NULL, 0, 0, false};
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);

    if (opts == NULL)
        return NULL;
    for (const PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (o->val != NULL && strcmp(o->keyword, "options") != 0)
            buf_add_pair(&b, o->keyword, o->val);
    buf_add_default(&b, opts, "connect_timeout", cfg->db_connect_timeout_secs);
    buf_add_default(&b, opts, "keepalives", 1);
    buf_add_default(&b, opts, "keepalives_idle", PG_KEEPALIVES_IDLE_SECS);
    buf_add_default(&b, opts, "keepalives_interval", PG_KEEPALIVES_INTERVAL_SECS);
    buf_add_default(&b, opts, "keepalives_count", PG_KEEPALIVES_COUNT);
    buf_add_default(&b, opts, "tcp_user_timeout",
                    (long)cfg->db_statement_timeout_ms + PG_TCP_USER_TIMEOUT_EXTRA_MS);
    buf_add_options(&b, opts, cfg->db_statement_timeout_ms);
    PQconninfoFree(opts);
    if (b.failed) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/*
 * DATABASE_URL as libpq reads it: one of our URL schemes made a libpq URI,
 * or a libpq key=value string ("host=/run/pg dbname=chat"). NULL otherwise.
 */
static char *pg_conninfo_of(const char *url)
{
    PQconninfoOption *opts;

    if (strstr(url, "://") != NULL)
        return cfg_pg_conninfo(url);
    if ((opts = PQconninfoParse(url, NULL)) == NULL)
        return NULL;
    PQconninfoFree(opts);
    return strdup(url);
}

/* DATABASE_URL and the DB_* settings, then the conninfo made of them. */
static int read_database(struct reader *r, struct chat_config *cfg)
{
    const char *db = r->get("DATABASE_URL", r->ud);
    char *base;

    if (db == NULL || db[0] == '\0') {
        snprintf(r->err, r->errlen, "DATABASE_URL is required (postgresql://user@host/db)");
        return -1;
    }
    /* libpq treats a connect_timeout of 1 as 2: reject what would not hold. */
    if (read_bool(r, "DB_ECHO", false, &cfg->db_echo) ||
        read_int(r, "DB_POOL_SIZE", 5, 1, 1000, &cfg->db_pool_size) ||
        read_int(r, "DB_MAX_OVERFLOW", 10, 0, 1000, &cfg->db_max_overflow) ||
        read_int(r, "DB_CONNECT_TIMEOUT_SECS", 2, 2, 600, &cfg->db_connect_timeout_secs) ||
        read_int(r, "DB_STATEMENT_TIMEOUT_MS", 5000, 100, 3600000, &cfg->db_statement_timeout_ms) ||
        read_int(r, "DB_POOL_WAIT_MS", 1000, 0, 600000, &cfg->db_pool_wait_ms))
        return -1;
    base = pg_conninfo_of(db);
    cfg->database_url = base ? cfg_pg_effective(base, cfg) : NULL;
    free(base);
    if (cfg->database_url == NULL) {
        snprintf(r->err, r->errlen,
                 "DATABASE_URL is malformed: expected postgresql://... or key=value pairs");
        return -1;
    }
    return 0;
}

static int read_redis(struct reader *r, struct chat_config *cfg)
{
    const char *rd = r->get("REDIS_URL", r->ud);
    const char *pw = r->get("REDIS_PASSWORD", r->ud);

    if (pw != NULL && pw[0] != '\0')
        cfg->redis_password = strdup(pw);
    if (cfg_parse_redis_url(rd != NULL && rd[0] != '\0' ? rd : "redis://localhost:6379/0", cfg) !=
        0) {
        snprintf(r->err, r->errlen,
                 "REDIS_URL is malformed: expected redis://[:password@]host[:port][/db]");
        return -1;
    }
    return read_int(r, "REDIS_TIMEOUT_MS", 1000, 10, 600000, &cfg->redis_timeout_ms);
}

static int read_secret(struct reader *r, struct chat_config *cfg)
{
    const char *alg;
    if (read_str(r, "SECRET_KEY", NULL, &cfg->secret_key) != 0)
        return -1;
    if (cfg->secret_key == NULL) {
        snprintf(r->err, r->errlen, "SECRET_KEY is required (at least %d bytes)", CFG_SECRET_MIN);
        return -1;
    }
    cfg->secret_len = strlen(cfg->secret_key);
    if (cfg->secret_len < CFG_SECRET_MIN) {
        snprintf(r->err, r->errlen, "SECRET_KEY is too short: %zu bytes, need at least %d",
                 cfg->secret_len, CFG_SECRET_MIN);
        return -1;
    }
    if (read_str(r, "ALGORITHM", "HS256", &cfg->algorithm) != 0)
        return -1;
    alg = cfg->algorithm;
    if (strcmp(alg, "HS256") != 0 && strcmp(alg, "HS384") != 0 && strcmp(alg, "HS512") != 0) {
        snprintf(r->err, r->errlen, "ALGORITHM: \"%s\" is not supported (HS256, HS384, HS512)",
                 alg);
        return -1;
    }
    /* RFC 7518 3.2: the HMAC key must be at least as long as the hash. */
    if ((strcmp(alg, "HS384") == 0 && cfg->secret_len < 48) ||
        (strcmp(alg, "HS512") == 0 && cfg->secret_len < 64)) {
        snprintf(r->err, r->errlen, "SECRET_KEY is too short for %s", alg);
        return -1;
    }
    return 0;
}

static int read_log_level(struct reader *r, struct chat_config *cfg)
{
    const char *v = r->get("LOG_LEVEL", r->ud);
    cfg->log_level = log_level_parse(v != NULL && v[0] != '\0' ? v : "INFO");
    if (cfg->log_level < 0) {
        snprintf(r->err, r->errlen, "LOG_LEVEL: \"%s\" is not DEBUG, INFO, WARNING or ERROR", v);
        return -1;
    }
    return 0;
}

static int read_sizes(struct reader *r, struct chat_config *cfg)
{
    int body_kib, frame_kib, sndbuf_kib;
    if (read_int(r, "MAX_BODY_KIB", 64, 1, 16384, &body_kib) ||
        read_int(r, "MAX_MESSAGE_CHARS", 4000, 1, 100000, &cfg->max_message_chars) ||
        read_int(r, "WS_MAX_FRAME_KIB", 64, 1, 16384, &frame_kib) ||
        read_int(r, "OFFLINE_MESSAGES_MAX", 200, 0, 10000, &cfg->offline_max) ||
        read_int(r, "WS_QUEUE_MAX", 256, 8, 65536, &cfg->ws_queue_max) ||
        read_int(r, "WS_PING_SECS", 30, 1, 3600, &cfg->ws_ping_secs) ||
        read_int(r, "WS_IDLE_TIMEOUT_SECS", 75, 2, 7200, &cfg->ws_idle_secs) ||
        read_int(r, "WS_AUTH_TIMEOUT_SECS", 5, 1, 600, &cfg->ws_auth_secs) ||
        read_int(r, "WS_SNDBUF_KIB", 0, 0, 65536, &sndbuf_kib))
        return -1;
    cfg->ws_sndbuf = sndbuf_kib * 1024;
    if (cfg->ws_idle_secs <= cfg->ws_ping_secs) {
        snprintf(r->err, r->errlen, "WS_IDLE_TIMEOUT_SECS: must be greater than WS_PING_SECS (%d)",
                 cfg->ws_ping_secs);
        return -1;
    }
    cfg->max_body_bytes = (size_t)body_kib * 1024;
    cfg->ws_max_frame = (size_t)frame_kib * 1024;
    return 0;
}

/* The API prefix: "/..." without a trailing slash, short (it is part of every route and page). */
static int read_prefix(struct reader *r, struct chat_config *cfg)
{
    size_t n;

    if (read_str(r, "API_V1_PREFIX", "/api/v1", &cfg->api_prefix))
        return -1;
    n = strlen(cfg->api_prefix);
    if (n < 2 || n > CFG_PREFIX_MAX || cfg->api_prefix[0] != '/' || cfg->api_prefix[n - 1] == '/') {
        snprintf(r->err, r->errlen,
                 "API_V1_PREFIX: a path such as /api/v1 (no trailing slash, at most %d bytes)",
                 CFG_PREFIX_MAX);
        return -1;
    }
    return 0;
}

int cfg_load_from(struct chat_config *cfg, cfg_getter_fn get, void *ud, char *err, size_t errlen)
{
    struct reader r = {get, ud, err, errlen};
    char host[64] = "gateway";

    memset(cfg, 0, sizeof(*cfg));
    gethostname(host, sizeof(host) - 1);
    if (read_str(&r, "APP_NAME", "Chat API", &cfg->app_name) ||
        read_bool(&r, "DEBUG", false, &cfg->debug) || read_prefix(&r, cfg) ||
        read_database(&r, cfg) || read_redis(&r, cfg) || read_secret(&r, cfg) ||
        read_int(&r, "ACCESS_TOKEN_EXPIRE_MINUTES", 30, 1, 525600, &cfg->access_token_minutes) ||
        read_int(&r, "REFRESH_TOKEN_EXPIRE_DAYS", 7, 1, 3650, &cfg->refresh_token_days) ||
        read_origins(&r, cfg) ||
        read_int(&r, "RATE_LIMIT_REQUESTS_PER_MINUTE", 60, 1, 10000000, &cfg->rl_per_minute) ||
        read_int(&r, "RATE_LIMIT_REQUESTS_PER_HOUR", 1000, 1, 100000000, &cfg->rl_per_hour) ||
        read_int(&r, "RATE_LIMIT_MESSAGE_PER_MINUTE", 30, 1, 10000000,
                 &cfg->rl_messages_per_minute) ||
        read_int(&r, "RATE_LIMIT_AUTH_PER_MINUTE", 10, 1, 10000000, &cfg->rl_auth_per_minute) ||
        read_limits(&r, cfg) || read_log_level(&r, cfg) || read_sizes(&r, cfg) ||
        read_str(&r, "FCGI_SOCKET", "/run/chat/chat-api.sock", &cfg->fcgi_socket) ||
        read_int(&r, "FCGI_THREADS", 256, 1, 4096, &cfg->fcgi_threads) ||
        read_str(&r, "DOCS_ASSETS_DIR", "/usr/share/chat-api/docs", &cfg->docs_assets_dir) ||
        read_str(&r, "WS_HOST", "127.0.0.1", &cfg->ws_host) ||
        read_int(&r, "WS_PORT", 8081, 1, 65535, &cfg->ws_port) ||
        read_str(&r, "GATEWAY_ID", host, &cfg->gateway_id) ||
        read_int(&r, "STREAM_SHARDS", 8, 1, 1024, &cfg->stream_shards)) {
        cfg_free(cfg);
        return -1;
    }
    return 0;
}

void cfg_free(struct chat_config *cfg)
{
    free(cfg->app_name);
    free(cfg->api_prefix);
    free(cfg->database_url);
    free(cfg->redis_host);
    free(cfg->redis_socket);
    if (cfg->redis_password != NULL)
        explicit_bzero(cfg->redis_password, strlen(cfg->redis_password));
    free(cfg->redis_password);
    if (cfg->secret_key != NULL)
        explicit_bzero(cfg->secret_key, cfg->secret_len);
    free(cfg->secret_key);
    free(cfg->algorithm);
    for (int i = 0; i < cfg->n_cors_origins; i++)
        free(cfg->cors_origins[i]);
    for (int i = 0; i < cfg->n_trusted_proxies; i++)
        free(cfg->trusted_proxies[i]);
    for (int i = 0; i < cfg->n_metrics_allow; i++)
        free(cfg->metrics_allow[i]);
    free(cfg->fcgi_socket);
    free(cfg->docs_assets_dir);
    free(cfg->ws_host);
    free(cfg->gateway_id);
    memset(cfg, 0, sizeof(*cfg));
}
