/*
 * http_client.h - the HTTP/1.1 client of chat-bench.
 *
 * Written by hand rather than with libcurl: the load generator needs
 * thousands of keep-alive connections on one libuv loop per thread with no
 * per-request allocation beyond the write buffer, and only ever talks to a
 * JSON API (status line, Content-Length or chunked body).
 */
#ifndef BENCH_HTTP_CLIENT_H
#define BENCH_HTTP_CLIENT_H

#include <netinet/in.h>
#include <stddef.h>
#include <uv.h>

struct target {
    char host[256];
    int port;
    struct sockaddr_in addr;
};

/* "http://host:port" or "ws://host:port" (IPv4 or a resolvable name). */
int target_parse(const char *url, struct target *t);

/*
 * Blocking request for the set-up phase. Returns the status (or -1 on a
 * network error); *body receives the NUL-terminated body (caller frees).
 */
int http_fetch(const struct target *t, const char *method, const char *path, const char *token,
               const char *json, char **body);

/* ---- asynchronous keep-alive connections ---- */

struct hconn;
/* status -1: the connection failed; body is NULL then. */
typedef void (*hconn_cb)(struct hconn *c, int status, const char *body, size_t len, void *ud);

struct hconn *hconn_new(uv_loop_t *loop, const struct target *t);
/* One request at a time per connection; connects (again) when needed. */
int hconn_request(struct hconn *c, const char *method, const char *path, const char *token,
                  const char *json, hconn_cb cb, void *ud);
/* Closes and frees once the loop has let go of the handle. */
void hconn_free(struct hconn *c);

/* Shared by the WebSocket client: parse a response head ending at \r\n\r\n. */
int http_head_status(const char *head);
long http_head_length(const char *head);
int http_head_chunked(const char *head);

#endif
