/*
 * http.h - one FastCGI request and its response.
 *
 * A struct http_req lives on the connection thread's stack for the
 * duration of one request. Everything it points to is either borrowed from libfcgi's
 * request (environment strings) or owned by the request and released by
 * http_req_end(). Responses are always JSON except for the few routes that
 * serve documentation. Every error goes through http_error() so the body
 * is always {"error":{"code","message"}}.
 */
#ifndef CHAT_HTTP_H
#define CHAT_HTTP_H

#include "config.h"
#include "db.h"
#include "rds.h"
#include "uuid.h"

#include <fcgiapp.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define HTTP_MAX_PARAMS 4
#define HTTP_PARAM_LEN 80
#define HTTP_HEADERS_MAX 2048

/*
 * One PostgreSQL and one Redis connection of chat-api's pool (main.c):
 * lent to a connection thread for one request at a time.
 */
struct backend {
    int id;
    const struct chat_config *cfg;
    struct db_conn db;
    struct rds_conn rds;
};

struct http_req {
    FCGX_Request *fcgi;
    struct backend *be; /* borrowed from the pool for this request; NULL when none came free */
    const struct chat_config *cfg;
    const char *method;
    char path[1024]; /* percent-decoded path, no query string */
    const char *query;
    char request_id[65];
    char client_ip[64];
    const char *origin; /* Origin header or NULL */
    int64_t start_us;

    /* body */
    char *body;
    size_t body_len;
    json_t *json; /* parsed body (object) when the route takes JSON */

    /* path parameters, in pattern order */
    char params[HTTP_MAX_PARAMS][HTTP_PARAM_LEN];
    int nparams;
    const char *route; /* matched pattern, for logs */

    /* authentication */
    bool authed;
    char user_id[UUID_STR_LEN];

    /* response */
    int status;
    bool responded;
    char headers[HTTP_HEADERS_MAX];
    size_t headers_len;
    const char *error_code; /* for the access log */
};

/*
 * Fill req from the FastCGI environment (no body read yet). be may be NULL
 * (no backend came free): then only http_error() and http_reply() may run.
 */
void http_req_begin(struct http_req *req, FCGX_Request *fcgi, const struct chat_config *cfg,
                    struct backend *be);

/* Release what the request owns and write the access-log line. */
void http_req_end(struct http_req *req);

/* FastCGI environment / request header ("HTTP_AUTHORIZATION", ...). */
const char *http_env(const struct http_req *req, const char *name);

/*
 * Read the body, at most cfg->max_body_bytes. Returns 0, or -1 after having
 * answered (413 too large, 400 unreadable).
 */
int http_read_body(struct http_req *req);

/*
 * Parse the body as a JSON object into req->json. An empty body is an error
 * unless allow_empty (then req->json is an empty object). Returns 0, or -1
 * after having answered (415 wrong content type, 400 bad JSON, 422 not an
 * object).
 */
int http_parse_json(struct http_req *req, bool allow_empty);

/* Query parameter name, percent-decoded into out ("%" when it does not decode). Returns
 * true if present. */
bool http_query(const struct http_req *req, const char *name, char *out, size_t outlen);

/* Add a response header line ("Name: value", no CRLF). */
void http_header(struct http_req *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Send a JSON response; body is stolen (may be NULL for an empty body). */
void http_reply(struct http_req *req, int status, json_t *body);

/* Send a non-JSON response (documentation pages). */
void http_reply_raw(struct http_req *req, int status, const char *content_type, const char *body,
                    size_t len);

/* Send {"error":{"code","message"}}. */
void http_error(struct http_req *req, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Answer 429 with Retry-After: "too many <what>, retry in N seconds". */
void http_rate_limited(struct http_req *req, int retry_after, const char *what);

/*
 * Count one hit of (scope, id) against per_minute (ratelimit.h); over it,
 * answers 429 "too many <what>" and returns -1. Redis down: 0 (fails open).
 */
int http_limit(struct http_req *req, const char *scope, const char *id, int per_minute,
               const char *what);

/* Map a database error to its response (503 when down, 409, 422, ...). */
void http_db_error(struct http_req *req, enum db_err err);

int64_t http_now_us(void);

#endif
