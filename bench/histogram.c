/* histogram.c - see histogram.h. */
#include "histogram.h"

static unsigned bucket_of(uint64_t v)
{
    unsigned msb, shift;
    if (v < 32)
        return (unsigned)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    shift = msb - 5;
    if (shift >= 42)
        return HIST_BUCKETS - 1;
    return 32 * shift + (unsigned)(v >> shift);
}

/* The largest value a bucket holds (what a percentile reports). */
static uint64_t bucket_top(unsigned b)
{
    unsigned shift, top;
    if (b < 64)
        return b;
    shift = b / 32 - 1;
    top = b - 32 * shift;
    return (((uint64_t)top + 1) << shift) - 1;
}

void hist_add(struct hist *h, uint64_t us)
{
    h->counts[bucket_of(us)]++;
    h->n++;
    if (us > h->max)
        h->max = us;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    dst->n += src->n;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t hist_pct(const struct hist *h, double p)
{
    uint64_t want, seen = 0;
    if (h->n == 0)
        return 0;
    want = (uint64_t)(p * (double)h->n + 0.5);
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= want) {
            uint64_t top = bucket_top(i);
            return top < h->max ? top : h->max;
        }
    }
    return h->max;
}
