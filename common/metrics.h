/*
 * metrics.h - counters, gauges and histograms, written in the Prometheus
 * text exposition format (0.0.4) for GET /metrics.
 *
 * Debian 12 packages no C client library for Prometheus (only
 * prometheus-cpp), and the format is a few lines of text per series, so
 * this is a small writer of our own. A family (one metric name) is
 * declared once at start-up; its series are found by their label string,
 * rendered by the caller (`route="/x",status="200"`, or "" for none) from
 * a bounded set of values: never user or conversation ids. Safe to update
 * from any thread (chat-api's connection threads): one mutex per family,
 * held for a lookup and an addition.
 *
 * Gauges whose value lives elsewhere (connections open, backends in use)
 * are read at scrape time through a callback instead of being kept in step.
 */
#ifndef CHAT_METRICS_H
#define CHAT_METRICS_H

#include <stddef.h>

enum mx_type { MX_COUNTER, MX_GAUGE, MX_HISTOGRAM };

struct mx_family;

/* A gauge read at scrape time: writes each series with mx_emit(). */
typedef void (*mx_collect_fn)(struct mx_family *f, void *arg);

/* Declare a family (at start-up, before any thread updates it). NULL when out of memory. */
struct mx_family *mx_counter(const char *name, const char *help);
struct mx_family *mx_gauge(const char *name, const char *help);
struct mx_family *mx_gauge_fn(const char *name, const char *help, mx_collect_fn fn, void *arg);
/* bounds: the buckets' upper bounds, ascending (+Inf is implied). */
struct mx_family *mx_histogram(const char *name, const char *help, const double *bounds, int n);

/* Add v to the series of labels (a counter or a gauge). f NULL: nothing. */
void mx_add(struct mx_family *f, const char *labels, double v);
void mx_inc(struct mx_family *f, const char *labels);
void mx_set(struct mx_family *f, const char *labels, double v);
void mx_observe(struct mx_family *f, const char *labels, double v);

/* From a collect callback: one series of the gauge being written. */
void mx_emit(struct mx_family *f, const char *labels, double v);

/*
 * Every family as exposition text (malloc'd, NUL-terminated, its length
 * in *len), or NULL when out of memory.
 */
char *mx_render(size_t *len);

/* The value of a counter or gauge series (the tests'), 0 when there is none. */
double mx_value(const struct mx_family *f, const char *labels);

/* Forget every family (shutdown, tests). */
void mx_reset(void);

#endif
