/*
 * fuzz_api - libFuzzer target for chat-api's whole request path: the
 * FastCGI parameters (method, URI and query, headers), the body, routing,
 * authentication and every handler's validation, run as fcgi-api/main.c
 * runs a request (http_req_begin, router_dispatch, http_req_end).
 *
 * Nothing leaves the process: the link wraps (CMakeLists.txt, -Wl,--wrap)
 * replace libfcgi's stream I/O with the input's body and a capture of the
 * response, PostgreSQL with a fake that answers an error or one row of
 * "t" or of "0" in every column (the input's first byte picks; never no
 * rows: several statements always return one, the page's meta row for
 * one, and the fake cannot tell which), Redis with "down" (chat-api
 * fails open), and argon2 with a constant (a real hash costs 20 ms).
 *
 * Input: a flags byte, then lines (LF) METHOD, URI, CONTENT_TYPE,
 * CONTENT_LENGTH, AUTHORIZATION, ORIGIN, X_REQUEST_ID, REMOTE_ADDR,
 * IDEMPOTENCY_KEY; the rest is the body. An empty line leaves the
 * parameter out. Flags: 0x03 the database's answers (enum db_mode);
 * 0x04 replaces AUTHORIZATION by a valid access token signed with the
 * configured secret, so that authenticated handlers validate their
 * bodies; 0x08 passes the URI as nginx's fastcgi_params do, DOCUMENT_URI
 * and QUERY_STRING apart, instead of REQUEST_URI.
 *
 * What must always hold, else abort(): exactly one response is written,
 * its status is 200..599, and a status >= 400 has the body
 * {"error":{"code":string,"message":string}} (but GET /health's 503,
 * documented as its Health body).
 */
#include "config.h"
#include "http.h"
#include "log.h"
#include "router.h"
#include "token.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAKE_COLS 40 /* wider than any statement of chat-api */
#define OUT_MAX (1 << 20)

enum db_mode { DB_MODE_DOWN, DB_MODE_CONFLICT, DB_MODE_ROW_T, DB_MODE_ROW_0 };

static struct {
    const uint8_t *body;
    size_t body_len, body_at;
    FCGX_Stream in, out;
    int heads;  /* response heads written (must end at 1) */
    int status; /* from the head */
    char *resp; /* the body written */
    size_t resp_len;
    enum db_mode db;
} io;

static struct chat_config cfg;
static char token[1024];
static bool trace; /* FUZZ_API_TRACE=1: each answer on stderr (writing seeds) */

/* ---- libfcgi, PostgreSQL, Redis and argon2 replaced (see CMakeLists.txt) ---- */

int __wrap_FCGX_GetStr(char *str, int n, FCGX_Stream *stream);
int __wrap_FCGX_PutStr(const char *str, int n, FCGX_Stream *stream);
int __wrap_FCGX_FPrintF(FCGX_Stream *stream, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

int __wrap_FCGX_GetStr(char *str, int n, FCGX_Stream *stream)
{
    size_t k = io.body_len - io.body_at;

    if (stream != &io.in || n <= 0)
        abort();
    if (k > (size_t)n)
        k = (size_t)n;
    memcpy(str, io.body + io.body_at, k);
    io.body_at += k;
    return (int)k;
}

int __wrap_FCGX_PutStr(const char *str, int n, FCGX_Stream *stream)
{
    char *grown;

    if (stream != &io.out || n < 0 || io.heads != 1 || io.resp_len + (size_t)n > OUT_MAX)
        abort();
    if ((grown = realloc(io.resp, io.resp_len + (size_t)n + 1)) == NULL)
        abort();
    io.resp = grown;
    memcpy(io.resp + io.resp_len, str, (size_t)n);
    io.resp_len += (size_t)n;
    io.resp[io.resp_len] = '\0';
    return n;
}

/* Only http_reply_raw() prints: the response head. */
int __wrap_FCGX_FPrintF(FCGX_Stream *stream, const char *format, ...)
{
    char head[4096];
    va_list ap;
    int n;

    if (stream != &io.out)
        abort();
    va_start(ap, format);
    n = vsnprintf(head, sizeof(head), format, ap);
    va_end(ap);
    io.heads++;
    if (sscanf(head, "Status: %d ", &io.status) != 1)
        abort();
    return n;
}

/* One row of v in every column: "t" (a member, a flag set) or "0" (false, zero). */
static PGresult *fake_row(const char *v)
{
    PGresAttDesc attrs[FAKE_COLS];
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

    memset(attrs, 0, sizeof(attrs));
    for (int i = 0; i < FAKE_COLS; i++) {
        attrs[i].name = (char *)"c";
        attrs[i].typid = 25;
        attrs[i].typlen = -1;
    }
    if (r == NULL || !PQsetResultAttrs(r, FAKE_COLS, attrs))
        abort();
    for (int i = 0; i < FAKE_COLS; i++)
        if (!PQsetvalue(r, 0, i, (char *)v, 1))
            abort();
    return r;
}

PGresult *__wrap_db_exec(struct db_conn *c, struct db_stmt *st, int nparams,
                         const char *const *params, enum db_err *err);
enum db_err __wrap_db_simple(struct db_conn *c, const char *sql);
bool __wrap_db_ping(struct db_conn *c, struct db_stmt *st, int budget_ms);

PGresult *__wrap_db_exec(struct db_conn *c, struct db_stmt *st, int nparams,
                         const char *const *params, enum db_err *err)
{
    *err = DB_OK;
    switch (io.db) {
    case DB_MODE_DOWN:
        *err = DB_ERR_DOWN;
        return NULL;
    case DB_MODE_CONFLICT:
        *err = DB_ERR_UNIQUE;
        return NULL;
    case DB_MODE_ROW_T:
        return fake_row("t");
    case DB_MODE_ROW_0:
        return fake_row("0");
    }
    abort();
}

enum db_err __wrap_db_simple(struct db_conn *c, const char *sql)
{
    return io.db == DB_MODE_DOWN ? DB_ERR_DOWN : DB_OK;
}

bool __wrap_db_ping(struct db_conn *c, struct db_stmt *st, int budget_ms)
{
    return io.db != DB_MODE_DOWN;
}

redisReply *__wrap_rds_cmd(struct rds_conn *c, const char *fmt, ...);
redisReply *__wrap_rds_cmd_argv(struct rds_conn *c, int argc, const char **argv,
                                const size_t *lens);
int __wrap_rds_append_argv(struct rds_conn *c, int argc, const char **argv, const size_t *lens);
int __wrap_rds_collect(struct rds_conn *c, int n, redisReply **replies);
redisReply *__wrap_rds_eval(struct rds_conn *c, struct rds_script *s, int nkeys, int nargs,
                            const char **argv);
bool __wrap_rds_ping(struct rds_conn *c, int budget_ms);

redisReply *__wrap_rds_cmd(struct rds_conn *c, const char *fmt, ...)
{
    return NULL;
}

redisReply *__wrap_rds_cmd_argv(struct rds_conn *c, int argc, const char **argv, const size_t *lens)
{
    return NULL;
}

int __wrap_rds_append_argv(struct rds_conn *c, int argc, const char **argv, const size_t *lens)
{
    return -1;
}

int __wrap_rds_collect(struct rds_conn *c, int n, redisReply **replies)
{
    for (int i = 0; i < n; i++)
        replies[i] = NULL;
    return -1;
}

redisReply *__wrap_rds_eval(struct rds_conn *c, struct rds_script *s, int nkeys, int nargs,
                            const char **argv)
{
    return NULL;
}

bool __wrap_rds_ping(struct rds_conn *c, int budget_ms)
{
    return false;
}

int __wrap_crypto_pwhash_str(char *out, const char *passwd, unsigned long long passwdlen,
                             unsigned long long opslimit, size_t memlimit);
int __wrap_crypto_pwhash_str_verify(const char *str, const char *passwd,
                                    unsigned long long passwdlen);

int __wrap_crypto_pwhash_str(char *out, const char *passwd, unsigned long long passwdlen,
                             unsigned long long opslimit, size_t memlimit)
{
    strcpy(out, "$argon2id$v=19$m=19456,t=2,p=1$fake$fake");
    return 0;
}

int __wrap_crypto_pwhash_str_verify(const char *str, const char *passwd,
                                    unsigned long long passwdlen)
{
    return passwdlen > 0 && passwd[0] == 'p' ? 0 : -1; /* "p...": the right password */
}

/* ---- the harness ---- */

static const char *const settings[][2] = {
    {"SECRET_KEY", "fuzz-secret-fuzz-secret-fuzz-secret!"},
    {"DATABASE_URL", "postgresql://fuzz@localhost/fuzz"},
    {"LOG_LEVEL", "CRITICAL"},
    {"CORS_ORIGINS", "https://chat.example"},
    {"DOCS_ASSETS_DIR", "/nonexistent/chat-fuzz-docs"},
    {"MAX_BODY_KIB", "16"},
};

static const char *setting(const char *key, void *ud)
{
    (void)ud;
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
        if (strcmp(settings[i][0], key) == 0)
            return settings[i][1];
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256], *tok = NULL;
    char jti[UUID_STR_LEN];

    if (cfg_load_from(&cfg, setting, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_api: config: %s\n", err);
        abort();
    }
    trace = getenv("FUZZ_API_TRACE") != NULL;
    log_init("fuzz-api", LOG_ERROR + 1); /* silent: a line per input would dominate */
    uuid_v7_string(jti);
    if (token_issue(&cfg, TOKEN_ACCESS, "0191e3a0-0000-7000-8000-000000000001", jti, time(NULL),
                    &tok) != 0)
        abort();
    snprintf(token, sizeof(token), "Bearer %s", tok);
    free(tok);
    return 0;
}

/* The next LF-terminated line of data[*at..size), NUL-terminated into out. */
static void next_line(const uint8_t *data, size_t size, size_t *at, char *out, size_t outlen)
{
    size_t o = 0;

    while (*at < size && data[*at] != '\n') {
        if (o + 1 < outlen)
            out[o++] = (char)data[*at];
        (*at)++;
    }
    if (*at < size)
        (*at)++;
    out[o] = '\0';
}

/* {"error":{"code":string,"message":string}} and nothing else at the top. */
static bool is_error_body(const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    json_t *e = json_object_get(j, "error");
    bool ok = json_is_object(j) && json_object_size(j) == 1 && json_is_object(e) &&
              json_is_string(json_object_get(e, "code")) &&
              json_is_string(json_object_get(e, "message"));

    json_decref(j);
    return ok;
}

/* An invariant failed: say which and what was answered, for the triage. */
static void broken(const char *what)
{
    fprintf(stderr, "fuzz_api: %s: %d head(s), status %d, body %.*s\n", what, io.heads, io.status,
            (int)io.resp_len, io.resp ? io.resp : "");
    abort();
}

enum { F_METHOD, F_URI, F_CTYPE, F_CLEN, F_AUTH, F_ORIGIN, F_RID, F_ADDR, F_IDEM, F_COUNT };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[F_COUNT] = {
        "REQUEST_METHOD=",    "REQUEST_URI=",        "CONTENT_TYPE=",
        "CONTENT_LENGTH=",    "HTTP_AUTHORIZATION=", "HTTP_ORIGIN=",
        "HTTP_X_REQUEST_ID=", "REMOTE_ADDR=",        "HTTP_IDEMPOTENCY_KEY="};
    char vals[F_COUNT][1200], *envp[F_COUNT + 2], *q;
    char env[F_COUNT][1300], qs[1300];
    struct backend be = {.id = 0, .cfg = &cfg};
    FCGX_Request fr;
    struct http_req req;
    size_t at = 1;
    int n = 0;

    if (size == 0)
        return 0;
    memset(&io, 0, sizeof(io));
    io.db = (enum db_mode)(data[0] & 3);
    for (int i = 0; i < F_COUNT; i++)
        next_line(data, size, &at, vals[i], sizeof(vals[i]));
    if (data[0] & 4)
        snprintf(vals[F_AUTH], sizeof(vals[F_AUTH]), "%s", token);
    for (int i = 0; i < F_COUNT; i++)
        if (vals[i][0] != '\0') {
            snprintf(env[i], sizeof(env[i]), "%s%s", names[i], vals[i]);
            envp[n++] = env[i];
        }
    if ((data[0] & 8) && vals[F_URI][0] != '\0') {
        if ((q = strchr(vals[F_URI], '?')) != NULL) {
            *q = '\0';
            snprintf(qs, sizeof(qs), "QUERY_STRING=%s", q + 1);
            envp[n++] = qs;
        }
        snprintf(env[F_URI], sizeof(env[F_URI]), "DOCUMENT_URI=%s", vals[F_URI]);
    }
    envp[n] = NULL;
    io.body = data + at;
    io.body_len = size - at;

    memset(&fr, 0, sizeof(fr));
    fr.envp = envp;
    fr.in = &io.in;
    fr.out = &io.out;
    fr.err = &io.out;
    http_req_begin(&req, &fr, &cfg, &be);
    router_dispatch(&req);
    http_req_end(&req);

    if (trace)
        fprintf(stderr, "fuzz_api: %s %s: %d %.*s\n", req.method, req.path, io.status,
                (int)io.resp_len, io.resp ? io.resp : "");
    if (io.heads != 1 || io.status < 200 || io.status > 599 || io.status != req.status)
        broken("not exactly one response with a status in 200..599");
    /* GET /health's 503 is its Health body, as openapi.json documents. */
    if (io.status >= 400 &&
        !(io.status == 503 && req.route != NULL && strcmp(req.route, "/health") == 0) &&
        !is_error_body(io.resp ? io.resp : "", io.resp_len))
        broken("an error without its {\"error\":{\"code\",\"message\"}} body");
    free(io.resp);
    return 0;
}
