/*
 * histogram.h - latency histogram with bounded relative error.
 *
 * Values (microseconds) fall into log-linear buckets: exact below 32, then
 * 32 sub-buckets per power of two (about 3% error), so recording is O(1),
 * the memory is fixed and per-thread histograms merge by addition.
 */
#ifndef BENCH_HISTOGRAM_H
#define BENCH_HISTOGRAM_H

#include <stdint.h>

#define HIST_BUCKETS (32 * 42 + 64)

struct hist {
    uint64_t counts[HIST_BUCKETS];
    uint64_t n;
    uint64_t max;
};

void hist_add(struct hist *h, uint64_t us);
void hist_merge(struct hist *dst, const struct hist *src);
/* The value at or below which a fraction p (0..1) of the samples fall. */
uint64_t hist_pct(const struct hist *h, double p);

#endif
