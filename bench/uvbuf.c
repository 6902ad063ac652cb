/* uvbuf.c - see uvbuf.h. */
#include "uvbuf.h"

#include <stdlib.h>

void rbuf_offer(struct rbuf *r, size_t min_free, size_t step, uv_buf_t *out)
{
    if (r->cap - r->len < min_free) {
        char *nb = realloc(r->data, r->cap + step);
        if (nb == NULL) {
            *out = uv_buf_init(NULL, 0);
            return;
        }
        r->data = nb;
        r->cap += step;
    }
    *out = uv_buf_init(r->data + r->len, (unsigned)(r->cap - r->len - 1));
}

struct wreq *wreq_new(size_t size)
{
    return malloc(sizeof(struct wreq) + size);
}

int wreq_write(uv_stream_t *s, struct wreq *w, size_t len, uv_write_cb cb)
{
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, s, &b, 1, cb) != 0) {
        free(w);
        return -1;
    }
    return 0;
}
