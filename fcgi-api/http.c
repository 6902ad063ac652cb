/* http.c - see http.h. */
#include "http.h"
#include "api_stats.h"
#include "ratelimit.h"
#include "log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int64_t http_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

const char *http_env(const struct http_req *req, const char *name)
{
    return FCGX_GetParam(name, req->fcgi->envp);
}

static int hexdigit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * Percent-decode src[0..len) into out (plus '+' as space when form).
 * Returns 0, or -1 on a bad escape, a NUL, or overflow.
 */
static int url_decode(const char *src, size_t len, char *out, size_t outlen, bool form)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)src[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= len)
                return -1;
            hi = hexdigit(src[i + 1]);
            lo = hexdigit(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi << 4 | lo;
            i += 2;
        } else if (form && c == '+') {
            c = ' ';
        }
        if (c == 0 || o + 1 >= outlen)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

static bool request_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

void http_req_begin(struct http_req *req, FCGX_Request *fcgi, const struct chat_config *cfg,
                    struct backend *be)
{
    const char *uri, *q, *rid, *ip;
    size_t plen;

    memset(req, 0, sizeof(*req));
    req->fcgi = fcgi;
    req->be = be;
    req->cfg = cfg;
    req->start_us = http_now_us();
    req->method = http_env(req, "REQUEST_METHOD");
    if (req->method == NULL)
        req->method = "GET";
    rid = http_env(req, "HTTP_X_REQUEST_ID");
    if (rid != NULL && request_id_ok(rid))
        snprintf(req->request_id, sizeof(req->request_id), "%s", rid);
    else
        uuid_v7_string(req->request_id);
    ip = http_env(req, "REMOTE_ADDR");
    snprintf(req->client_ip, sizeof(req->client_ip), "%s", ip ? ip : "unknown");
    req->origin = http_env(req, "HTTP_ORIGIN");

    uri = http_env(req, "REQUEST_URI");
    if (uri == NULL)
        uri = http_env(req, "DOCUMENT_URI");
    if (uri == NULL)
        uri = "/";
    q = strchr(uri, '?');
    plen = q ? (size_t)(q - uri) : strlen(uri);
    req->query = q ? q + 1 : http_env(req, "QUERY_STRING");
    if (req->query == NULL)
        req->query = "";
    if (url_decode(uri, plen, req->path, sizeof(req->path), false) != 0)
        req->path[0] = '\0'; /* the router answers 400/404 for an empty path */
}

void http_req_end(struct http_req *req)
{
    int64_t us = http_now_us() - req->start_us;
    json_t *fields = json_pack("{s:s, s:s, s:s?, s:i, s:f, s:s}", "method", req->method, "path",
                               req->path, "route", req->route, "status", req->status, "duration_ms",
                               (double)us / 1000.0, "client_ip", req->client_ip);
    if (fields != NULL && req->authed)
        json_object_set_new(fields, "user_id", json_string(req->user_id));
    if (fields != NULL && req->error_code != NULL)
        json_object_set_new(fields, "error", json_string(req->error_code));
    log_emit(req->status >= 500 ? LOG_WARN : LOG_INFO, req->request_id, fields, "request");
    api_stats_request(req->route, req->method, req->status, (double)us / 1e6);
    json_decref(req->json);
    free(req->body);
    req->json = NULL;
    req->body = NULL;
}

/* Drain what is left of the request body so the connection stays usable. */
static void drain_body(struct http_req *req)
{
    char buf[8192];
    while (FCGX_GetStr(buf, sizeof(buf), req->fcgi->in) > 0)
        ;
}

int http_read_body(struct http_req *req)
{
    const char *cl = http_env(req, "CONTENT_LENGTH");
    size_t max = req->cfg->max_body_bytes, cap, len = 0;
    long long declared = cl && cl[0] ? atoll(cl) : 0;
    char *buf;

    if (declared < 0) {
        http_error(req, 400, "bad_request", "invalid Content-Length");
        return -1;
    }
    if ((unsigned long long)declared > max) {
        drain_body(req);
        http_error(req, 413, "payload_too_large", "request body is larger than %zu bytes", max);
        return -1;
    }
    cap = (size_t)declared + 1;
    buf = malloc(cap);
    if (buf == NULL) {
        http_error(req, 503, "unavailable", "out of memory");
        return -1;
    }
    for (;;) {
        int n;
        if (len + 1 == cap) {
            /* Chunked or lying Content-Length: grow, still within max. */
            char *nb;
            if (cap > max) {
                free(buf);
                drain_body(req);
                http_error(req, 413, "payload_too_large", "request body is larger than %zu bytes",
                           max);
                return -1;
            }
            nb = realloc(buf, cap * 2 + 1024);
            if (nb == NULL) {
                free(buf);
                http_error(req, 503, "unavailable", "out of memory");
                return -1;
            }
            buf = nb;
            cap = cap * 2 + 1024;
        }
        n = FCGX_GetStr(buf + len, (int)(cap - 1 - len), req->fcgi->in);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        free(buf);
        http_error(req, 413, "payload_too_large", "request body is larger than %zu bytes", max);
        return -1;
    }
    buf[len] = '\0';
    req->body = buf;
    req->body_len = len;
    return 0;
}

static bool is_json_type(const char *ct)
{
    size_t n = strlen("application/json");
    if (ct == NULL)
        return false;
    while (*ct == ' ')
        ct++;
    return strncasecmp(ct, "application/json", n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

int http_parse_json(struct http_req *req, bool allow_empty)
{
    json_error_t jerr;
    const char *ct = http_env(req, "CONTENT_TYPE");

    if (req->body_len == 0) {
        if (!allow_empty) {
            http_error(req, 422, "validation_error", "request body is required");
            return -1;
        }
        req->json = json_object();
        return 0;
    }
    if (!is_json_type(ct)) {
        http_error(req, 415, "unsupported_media_type", "Content-Type must be application/json");
        return -1;
    }
    /* Allow NUL so content validation can name the field instead of "bad JSON". */
    req->json = json_loadb(req->body, req->body_len, JSON_ALLOW_NUL, &jerr);
    if (req->json == NULL) {
        http_error(req, 400, "invalid_json", "invalid JSON at line %d column %d: %s", jerr.line,
                   jerr.column, jerr.text);
        return -1;
    }
    if (!json_is_object(req->json)) {
        http_error(req, 422, "validation_error", "request body must be a JSON object");
        return -1;
    }
    return 0;
}

bool http_query(const struct http_req *req, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p = req->query;

    while (p != NULL && *p != '\0') {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            /* A value that does not decode (bad escape, %00, longer than out) reads
             * as "%": no id, number or flag is that, so it is refused like any
             * malformed value rather than taken for an absent one. */
            if (url_decode(p + nlen + 1, len - nlen - 1, out, outlen, true) != 0)
                snprintf(out, outlen, "%%");
            return true;
        }
        if (len == nlen && strncmp(p, name, nlen) == 0) {
            out[0] = '\0';
            return true;
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

void http_header(struct http_req *req, const char *fmt, ...)
{
    va_list ap;
    int n;
    size_t left = sizeof(req->headers) - req->headers_len;

    va_start(ap, fmt);
    n = vsnprintf(req->headers + req->headers_len, left, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n + 2 >= left) {
        req->headers[req->headers_len] = '\0';
        return;
    }
    req->headers_len += (size_t)n;
    memcpy(req->headers + req->headers_len, "\r\n", 3);
    req->headers_len += 2;
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "";
    }
}

/* CORS headers for an allowed Origin (answered on every response). */
static void cors_headers(struct http_req *req)
{
    if (req->origin == NULL || !cfg_origin_allowed(req->cfg, req->origin))
        return;
    http_header(req, "Access-Control-Allow-Origin: %s", req->origin);
    http_header(req, "Access-Control-Allow-Credentials: true");
    http_header(req, "Access-Control-Expose-Headers: X-Request-ID, Retry-After, "
                     "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset");
    http_header(req, "Vary: Origin");
}

void http_reply_raw(struct http_req *req, int status, const char *content_type, const char *body,
                    size_t len)
{
    if (req->responded)
        return;
    req->responded = true;
    req->status = status;
    cors_headers(req);
    if (strstr(req->headers, "Cache-Control:") == NULL)
        http_header(req, "Cache-Control: no-store");
    /* A length lets nginx pass the body on as is instead of chunking it. */
    if (status != 204 && status != 304)
        http_header(req, "Content-Length: %zu", body != NULL ? len : 0);
    FCGX_FPrintF(req->fcgi->out,
                 "Status: %d %s\r\nContent-Type: %s\r\nX-Request-ID: %s\r\n"
                 "X-Content-Type-Options: nosniff\r\n%s\r\n",
                 status, reason(status), content_type, req->request_id, req->headers);
    if (body != NULL && len > 0)
        FCGX_PutStr(body, (int)len, req->fcgi->out);
}

void http_reply(struct http_req *req, int status, json_t *body)
{
    char *text = NULL;
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(body);
        if (text == NULL) {
            status = 503;
            text = strdup("{\"error\":{\"code\":\"unavailable\",\"message\":\"out of memory\"}}");
        }
    }
    http_reply_raw(req, status, "application/json; charset=utf-8", text, text ? strlen(text) : 0);
    free(text);
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlong, no surrogate), else 0. */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        n = 2;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        n = 3;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        n = 4;
    else
        return 0;
    if (s[0] == 0xE0)
        lo = 0xA0;
    else if (s[0] == 0xED)
        hi = 0x9F;
    else if (s[0] == 0xF0)
        lo = 0x90;
    else if (s[0] == 0xF4)
        hi = 0x8F;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

/*
 * Replace each byte of s that is not part of valid UTF-8 by '?'. Error
 * messages echo what the client sent (the decoded path, the method) and
 * are cut at their buffer's size, maybe inside a character; jansson
 * refuses a string that is not UTF-8, and the error would go out with no
 * body at all.
 */
static void utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;

    while (*p != '\0') {
        size_t n = utf8_seq_len(p);
        if (n == 0) {
            *p = '?';
            n = 1;
        }
        p += n;
    }
}

void http_error(struct http_req *req, int status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    utf8_scrub(msg);
    req->error_code = code;
    http_reply(req, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
}

void http_rate_limited(struct http_req *req, int retry_after, const char *what)
{
    http_header(req, "Retry-After: %d", retry_after);
    http_error(req, 429, "rate_limited", "too many %s, retry in %d seconds", what, retry_after);
}

int http_limit(struct http_req *req, const char *scope, const char *id, int per_minute,
               const char *what)
{
    struct rl_result rl;

    rl_hit(&req->be->rds, scope, id, per_minute, 0, &rl);
    if (rl.allowed)
        return 0;
    http_rate_limited(req, rl.retry_after, what);
    return -1;
}

void http_db_error(struct http_req *req, enum db_err err)
{
    const struct db_err_answer *a = db_err_answer(err);
    http_error(req, a->status, a->code, "%s", a->message);
}
