/* ws_client.c - see ws_client.h. */
#include "ws_client.h"
#include "uvbuf.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wsconn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    const struct ws_handlers *h;
    void *ud;
    struct wreq *handshake; /* written once connected */
    size_t handshake_len;
    int open;   /* 101 received */
    int closed; /* callback done or freed */
    struct rbuf in;
    uint32_t mask_state;
};

static void on_closed(uv_handle_t *hd)
{
    struct wsconn *c = hd->data;
    free(c->in.data);
    free(c->handshake);
    free(c);
}

static void finish(struct wsconn *c, int code, int http_status)
{
    int notify = !c->closed;
    c->closed = 1;
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
    if (notify && c->h->on_close)
        c->h->on_close(c, code, http_status, c->ud);
}

static void on_written(uv_write_t *w, int status)
{
    struct wsconn *c = w->handle->data;
    free(w);
    if (status < 0 && !c->closed)
        finish(c, 1006, 0);
}

/* xorshift: masks need not be secret here, only present. */
static uint32_t next_mask(struct wsconn *c)
{
    uint32_t x = c->mask_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return c->mask_state = x;
}

static int send_frame(struct wsconn *c, int opcode, const char *p, size_t len)
{
    size_t hl = len < 126 ? 2 : len < 65536 ? 4 : 10;
    struct wreq *w = wreq_new(hl + 4 + len);
    unsigned char *f;
    uint32_t m = next_mask(c);
    unsigned char mask[4] = {(unsigned char)m, (unsigned char)(m >> 8), (unsigned char)(m >> 16),
                             (unsigned char)(m >> 24)};

    if (w == NULL)
        return -1;
    f = (unsigned char *)w->data;
    f[0] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        f[1] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        f[1] = 0x80 | 126;
        f[2] = (unsigned char)(len >> 8);
        f[3] = (unsigned char)len;
    } else {
        f[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            f[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    }
    memcpy(f + hl, mask, 4);
    for (size_t i = 0; i < len; i++)
        f[hl + 4 + i] = (unsigned char)p[i] ^ mask[i & 3];
    return wreq_write((uv_stream_t *)&c->tcp, w, hl + 4 + len, on_written);
}

int ws_send_text(struct wsconn *c, const char *text, size_t len)
{
    if (!c->open || c->closed)
        return -1;
    return send_frame(c, 1, text, len);
}

/* Frames from the server are unmasked; returns bytes used, 0 if partial. */
static size_t parse_frame(struct wsconn *c, unsigned char *p, size_t len)
{
    size_t hl = 2, plen;
    int opcode;
    if (len < 2)
        return 0;
    opcode = p[0] & 0x0f;
    plen = p[1] & 0x7f;
    if (plen == 126) {
        if (len < 4)
            return 0;
        plen = ((size_t)p[2] << 8) | p[3];
        hl = 4;
    } else if (plen == 127) {
        if (len < 10)
            return 0;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = (plen << 8) | p[2 + i];
        hl = 10;
    }
    if (len - hl < plen)
        return 0;
    if (opcode == 1 && c->h->on_text) {
        char saved = (char)p[hl + plen];
        p[hl + plen] = '\0';
        c->h->on_text(c, (char *)p + hl, plen, c->ud);
        p[hl + plen] = (unsigned char)saved;
    } else if (opcode == 9) {
        send_frame(c, 10, (char *)p + hl, plen);
    } else if (opcode == 8) {
        int code = plen >= 2 ? (p[hl] << 8) | p[hl + 1] : 1005;
        send_frame(c, 8, (char *)p + hl, plen >= 2 ? 2 : 0);
        finish(c, code, 0);
    }
    return hl + plen;
}

static void on_alloc(uv_handle_t *hd, size_t hint, uv_buf_t *b)
{
    struct wsconn *c = hd->data;
    (void)hint;
    rbuf_offer(&c->in, 8192, 32768, b);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct wsconn *c = s->data;
    size_t off = 0;
    (void)b;
    if (c->closed)
        return;
    if (n < 0) {
        finish(c, 1006, 0);
        return;
    }
    c->in.len += (size_t)n;
    if (!c->open) {
        char *eoh = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
        int status;
        if (eoh == NULL)
            return;
        *eoh = '\0';
        status = http_head_status(c->in.data);
        if (status != 101) {
            finish(c, -1, status);
            return;
        }
        off = (size_t)(eoh - c->in.data) + 4;
        c->open = 1;
        if (c->h->on_open)
            c->h->on_open(c, c->ud);
    }
    while (!c->closed && off < c->in.len) {
        size_t used = parse_frame(c, (unsigned char *)c->in.data + off, c->in.len - off);
        if (used == 0)
            break;
        off += used;
    }
    if (c->closed)
        return;
    memmove(c->in.data, c->in.data + off, c->in.len - off);
    c->in.len -= off;
}

static void on_connect(uv_connect_t *r, int status)
{
    struct wsconn *c = r->handle->data;
    if (c->closed)
        return;
    if (status < 0) {
        finish(c, -1, 0);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (wreq_write((uv_stream_t *)&c->tcp, c->handshake, c->handshake_len, on_written) != 0)
        finish(c, -1, 0);
    c->handshake = NULL; /* the write (or its failure) freed it */
}

/*
 * Tens of thousands of sockets from one address to one listener make the
 * kernel's ephemeral port search in connect() the generator's bottleneck
 * (__inet_hash_connect was most of its CPU in ws-idle). Real clients come
 * from many addresses; on loopback, spread the sockets over 127.0.0.2-251
 * (the port is still chosen at connect, per address: IP_BIND_ADDRESS_NO_PORT).
 */
static void spread_source(uv_tcp_t *tcp, const struct target *t)
{
    static _Thread_local unsigned next;
    struct sockaddr_in src = {.sin_family = AF_INET};
    uv_os_fd_t fd;
    int one = 1;

    if ((ntohl(t->addr.sin_addr.s_addr) >> 24) != 127 || uv_fileno((uv_handle_t *)tcp, &fd) != 0)
        return;
    if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) != 0)
        return;
    src.sin_addr.s_addr = htonl(0x7f000002u + next++ % 250);
    uv_tcp_bind(tcp, (const struct sockaddr *)&src, 0);
}

struct wsconn *ws_open(uv_loop_t *loop, const struct target *t, const char *path,
                       const char *subprotocols, const struct ws_handlers *h, void *ud)
{
    static _Thread_local uint32_t seed = 0x9e3779b9u;
    struct wsconn *c = calloc(1, sizeof(*c));
    int n;

    if (c == NULL)
        return NULL;
    c->h = h;
    c->ud = ud;
    c->mask_state = (seed += 0x6d2b79f5u) | 1;
    c->handshake = wreq_new(strlen(path) + (subprotocols ? strlen(subprotocols) : 0) + 512);
    if (c->handshake == NULL) {
        free(c);
        return NULL;
    }
    /* The key is fixed: the accept value is not checked (we trust our target). */
    n = sprintf(c->handshake->data,
                "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                "%s%s%s\r\n",
                path, t->host, t->port, subprotocols ? "Sec-WebSocket-Protocol: " : "",
                subprotocols ? subprotocols : "", subprotocols ? "\r\n" : "");
    c->handshake_len = (size_t)n;
    uv_tcp_init_ex(loop, &c->tcp, AF_INET);
    c->tcp.data = c;
    spread_source(&c->tcp, t);
    if (uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&t->addr, on_connect) != 0) {
        c->closed = 1;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
        return NULL;
    }
    return c;
}

void ws_free(struct wsconn *c)
{
    if (c == NULL)
        return;
    if (c->open && !c->closed)
        send_frame(c, 8, "\x03\xe8", 2);
    c->closed = 1;
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}
