/*
 * uvbuf.h - the buffers both chat-bench clients use on a libuv stream: a
 * read buffer that grows in the alloc callback, and write requests that
 * carry their own data (one allocation, freed by the write callback).
 */
#ifndef BENCH_UVBUF_H
#define BENCH_UVBUF_H

#include <stddef.h>
#include <uv.h>

struct rbuf {
    char *data;
    size_t len, cap;
};

/*
 * For libuv's alloc callback: grow by step when less than min_free is left,
 * and offer the free part minus one byte, so a parser may NUL-terminate
 * what was read. Offers nothing (libuv reports ENOBUFS) when out of memory.
 */
void rbuf_offer(struct rbuf *r, size_t min_free, size_t step, uv_buf_t *out);

struct wreq {
    uv_write_t req;
    char data[];
};

struct wreq *wreq_new(size_t size);
/* Writes len bytes of w->data; on failure frees w and returns -1. The
 * callback owns w (and must free it) when this returns 0. */
int wreq_write(uv_stream_t *s, struct wreq *w, size_t len, uv_write_cb cb);

#endif
