/* http_client.c - see http_client.h. */
#include "http_client.h"
#include "uvbuf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define REQ_MAX 8192

int target_parse(const char *url, struct target *t)
{
    const char *p = strstr(url, "://");
    const char *colon;
    struct addrinfo hints = {0}, *ai = NULL;
    size_t n;

    memset(t, 0, sizeof(*t));
    p = p ? p + 3 : url;
    colon = strchr(p, ':');
    n = colon ? (size_t)(colon - p) : strcspn(p, "/");
    if (n == 0 || n >= sizeof(t->host))
        return -1;
    memcpy(t->host, p, n);
    t->port = colon ? atoi(colon + 1) : 80;
    if (t->port <= 0 || t->port > 65535)
        return -1;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(t->host, NULL, &hints, &ai) != 0)
        return -1;
    memcpy(&t->addr, ai->ai_addr, sizeof(t->addr));
    t->addr.sin_port = htons((uint16_t)t->port);
    freeaddrinfo(ai);
    return 0;
}

static int format_request(char *buf, size_t size, const struct target *t, const char *method,
                          const char *path, const char *token, const char *json)
{
    size_t blen = json ? strlen(json) : 0;
    int n = snprintf(buf, size,
                     "%s %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: chat-bench\r\n"
                     "Accept: application/json\r\n%s%s%s",
                     method, path, t->host, t->port, token ? "Authorization: Bearer " : "",
                     token ? token : "", token ? "\r\n" : "");
    if (n < 0 || (size_t)n >= size)
        return -1;
    if (json)
        n +=
            snprintf(buf + n, size - (size_t)n,
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", blen, json);
    else
        n += snprintf(buf + n, size - (size_t)n, "\r\n");
    return (size_t)n < size ? n : -1;
}

int http_head_status(const char *head)
{
    int status;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    return status;
}

static const char *header_value(const char *head, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':')
            return p + 3 + n + strspn(p + 3 + n, " ");
    }
    return NULL;
}

long http_head_length(const char *head)
{
    const char *v = header_value(head, "Content-Length");
    return v ? strtol(v, NULL, 10) : -1;
}

int http_head_chunked(const char *head)
{
    const char *v = header_value(head, "Transfer-Encoding");
    return v != NULL && strncasecmp(v, "chunked", 7) == 0;
}

/*
 * Decode a chunked body in place. Returns the number of bytes of buf it
 * used when complete, 0 when more is needed, -1 when malformed.
 */
static long dechunk(char *buf, size_t len, size_t *out_len)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *end;
        char *crlf = memmem(buf + in, len - in, "\r\n", 2);
        unsigned long size;
        if (crlf == NULL)
            return 0;
        size = strtoul(buf + in, &end, 16);
        if (end == buf + in)
            return -1;
        in = (size_t)(crlf - buf) + 2;
        if (size == 0) {
            if (len - in < 2)
                return 0;
            *out_len = out;
            return (long)in + 2;
        }
        if (len - in < size + 2)
            return 0;
        memmove(buf + out, buf + in, size);
        out += size;
        in += size + 2;
    }
}

/*
 * Is a whole response in buf? Returns its total length (head + body) and
 * sets the body span, 0 if more is needed, -1 if malformed. A chunked body
 * is decoded in place, so call it again only after more data arrived.
 */
static long response_complete(char *buf, size_t len, int *status, char **body, size_t *blen,
                              int *close_after)
{
    char *eoh = memmem(buf, len, "\r\n\r\n", 4);
    size_t hlen;
    long clen;

    if (eoh == NULL)
        return len > 65536 ? -1 : 0;
    hlen = (size_t)(eoh - buf) + 4;
    eoh[2] = '\0'; /* the head is a string for the header look-ups */
    *status = http_head_status(buf);
    clen = http_head_length(buf);
    {
        const char *conn = header_value(buf, "Connection");
        *close_after = conn != NULL && strncasecmp(conn, "close", 5) == 0;
    }
    *body = buf + hlen;
    if (http_head_chunked(buf)) {
        char *copy = malloc(len - hlen + 1);
        long used;
        if (copy == NULL)
            return -1;
        memcpy(copy, buf + hlen, len - hlen);
        used = dechunk(copy, len - hlen, blen);
        if (used > 0)
            memcpy(buf + hlen, copy, *blen);
        free(copy);
        eoh[2] = '\r';
        return used <= 0 ? used : (long)hlen + used;
    }
    eoh[2] = '\r';
    if (clen < 0)
        clen = 0; /* 204 and friends */
    if (len - hlen < (size_t)clen)
        return 0;
    *blen = (size_t)clen;
    return (long)(hlen + (size_t)clen);
}

int http_fetch(const struct target *t, const char *method, const char *path, const char *token,
               const char *json, char **body)
{
    char *req = malloc(REQ_MAX + (json ? strlen(json) : 0));
    char *buf = NULL, *b;
    size_t len = 0, cap = 0, blen = 0;
    int fd = -1, status = -1, n, close_after;

    *body = NULL;
    if (req == NULL)
        goto out;
    n = format_request(req, REQ_MAX + (json ? strlen(json) : 0), t, method, path, token, json);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (n < 0 || fd < 0 || connect(fd, (const struct sockaddr *)&t->addr, sizeof(t->addr)) != 0)
        goto out;
    if (write(fd, req, (size_t)n) != n)
        goto out;
    for (;;) {
        ssize_t r;
        long done;
        if (cap - len < 4096) {
            char *nb = realloc(buf, cap + 65536);
            if (nb == NULL)
                goto out;
            buf = nb;
            cap += 65536;
        }
        r = read(fd, buf + len, cap - len - 1);
        if (r <= 0)
            goto out;
        len += (size_t)r;
        done = response_complete(buf, len, &status, &b, &blen, &close_after);
        if (done < 0) {
            status = -1;
            goto out;
        }
        if (done > 0)
            break;
        status = -1;
    }
    *body = malloc(blen + 1);
    if (*body == NULL) {
        status = -1;
        goto out;
    }
    memcpy(*body, b, blen);
    (*body)[blen] = '\0';
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    free(req);
    return status;
}

/* ---- asynchronous ---- */

struct hconn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_loop_t *loop;
    const struct target *t;
    int state;            /* 0 closed, 1 connecting, 2 open, 3 closing */
    struct wreq *pending; /* the request waiting for the socket */
    size_t pending_len;
    struct rbuf in;
    hconn_cb cb;
    void *ud;
    int freeing;
};

static void start_connect(struct hconn *c);

static void on_closed(uv_handle_t *h)
{
    struct hconn *c = h->data;
    c->state = 0;
    c->in.len = 0;
    if (c->freeing) {
        free(c->in.data);
        free(c->pending);
        free(c);
    } else if (c->pending) {
        start_connect(c); /* a request came while the old socket closed */
    }
}

static void close_socket(struct hconn *c)
{
    if (c->state == 1 || c->state == 2) {
        c->state = 3;
        uv_close((uv_handle_t *)&c->tcp, on_closed);
    }
}

static void fail(struct hconn *c)
{
    hconn_cb cb = c->cb;
    c->cb = NULL;
    free(c->pending);
    c->pending = NULL;
    close_socket(c);
    if (cb)
        cb(c, -1, NULL, 0, c->ud);
}

static void on_written(uv_write_t *w, int status)
{
    struct hconn *c = w->handle->data;
    free(w);
    if (status < 0 && c->cb)
        fail(c);
}

static void send_pending(struct hconn *c)
{
    struct wreq *w = c->pending;
    c->pending = NULL;
    if (wreq_write((uv_stream_t *)&c->tcp, w, c->pending_len, on_written) != 0)
        fail(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct hconn *c = h->data;
    (void)hint;
    rbuf_offer(&c->in, 16384, 65536, b);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct hconn *c = s->data;
    char *body;
    size_t blen = 0;
    int status = 0, close_after = 0;
    long done;
    (void)b;

    if (n < 0) {
        if (c->cb)
            fail(c);
        else
            close_socket(c);
        return;
    }
    c->in.len += (size_t)n;
    if (c->cb == NULL)
        return;
    done = response_complete(c->in.data, c->in.len, &status, &body, &blen, &close_after);
    if (done < 0) {
        fail(c);
        return;
    }
    if (done == 0)
        return;
    {
        hconn_cb cb = c->cb;
        size_t rest = c->in.len - (size_t)done;
        char saved = body[blen];
        c->cb = NULL;
        if (close_after)
            close_socket(c); /* the server said so: the next request reconnects */
        body[blen] = '\0';
        cb(c, status, body, blen, c->ud);
        body[blen] = saved;
        /* the callback may have issued the next request: keep its bytes */
        memmove(c->in.data, c->in.data + done, rest);
        c->in.len = rest;
    }
}

static void on_connect(uv_connect_t *r, int status)
{
    struct hconn *c = r->handle->data;
    if (status < 0) {
        fail(c);
        return;
    }
    c->state = 2;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (c->pending)
        send_pending(c);
}

static void start_connect(struct hconn *c)
{
    uv_tcp_init(c->loop, &c->tcp);
    c->tcp.data = c;
    c->state = 1;
    if (uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&c->t->addr, on_connect) != 0)
        fail(c);
}

struct hconn *hconn_new(uv_loop_t *loop, const struct target *t)
{
    struct hconn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->loop = loop;
    c->t = t;
    return c;
}

int hconn_request(struct hconn *c, const char *method, const char *path, const char *token,
                  const char *json, hconn_cb cb, void *ud)
{
    size_t size = REQ_MAX + (json ? strlen(json) : 0);
    struct wreq *w = wreq_new(size);
    int n;

    if (w == NULL || c->cb != NULL)
        goto bad;
    n = format_request(w->data, size, c->t, method, path, token, json);
    if (n < 0)
        goto bad;
    c->cb = cb;
    c->ud = ud;
    c->pending = w;
    c->pending_len = (size_t)n;
    if (c->state == 2)
        send_pending(c);
    else if (c->state == 0)
        start_connect(c);
    /* connecting: on_connect sends it; closing: on_closed reconnects */
    return 0;
bad:
    free(w);
    return -1;
}

void hconn_free(struct hconn *c)
{
    if (c == NULL)
        return;
    c->freeing = 1;
    c->cb = NULL;
    if (c->state == 1 || c->state == 2) {
        close_socket(c);
    } else if (c->state == 0) {
        free(c->in.data);
        free(c->pending);
        free(c);
    }
}
