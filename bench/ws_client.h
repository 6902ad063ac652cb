/*
 * ws_client.h - the WebSocket client of chat-bench (RFC 6455, text frames).
 *
 * Hand-written on libuv like the HTTP client: thousands of sockets per
 * loop, masking as the RFC requires of clients, pongs for the server's
 * pings, and no TLS (benchmarks run next to the server).
 */
#ifndef BENCH_WS_CLIENT_H
#define BENCH_WS_CLIENT_H

#include "http_client.h"

struct wsconn;

struct ws_handlers {
    void (*on_open)(struct wsconn *c, void *ud);
    void (*on_text)(struct wsconn *c, char *text, size_t len, void *ud);
    /* code: the close code, 1006 when the connection dropped, -1 when the
     * handshake failed (with the HTTP status in http_status). */
    void (*on_close)(struct wsconn *c, int code, int http_status, void *ud);
};

/* path includes the query string; subprotocols may be NULL. */
struct wsconn *ws_open(uv_loop_t *loop, const struct target *t, const char *path,
                       const char *subprotocols, const struct ws_handlers *h, void *ud);
int ws_send_text(struct wsconn *c, const char *text, size_t len);
/* Close (no callback afterwards) and free once the loop lets go. */
void ws_free(struct wsconn *c);

#endif
