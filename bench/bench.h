/*
 * bench.h - what chat-bench's parts share: options, the set-up data, one
 * worker (thread + libuv loop) and its counters.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include "histogram.h"
#include "http_client.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define BENCH_MAX_THREADS 16

struct opts {
    const char *base_url, *ws_url, *scenario, *path;
    const char *protocol; /* "auto", "chat" (ping/pong, ack) or "seed" (neither) */
    int connections, duration, users, conversations, group_size, threads, history;
    double rate;
    long gateway_pid;
    bool json;
};

struct user {
    char id[40];
    char name[48];
    char *token;
};

struct stats {
    struct hist lat;    /* request, ack or send->receive latency (us) */
    uint64_t ops;       /* completed operations in the timed window */
    uint64_t errors;    /* failed operations (any time) */
    uint64_t sent;      /* ws-fanout: messages sent */
    uint64_t delivered; /* ws-fanout: message frames received */
};

struct worker {
    pthread_t thread;
    int index;
    uv_loop_t loop;
    uv_timer_t stop_timer, tick_timer;
    bool running; /* inside the timed window */
    bool ready;
    bool stopped;
    struct stats st;
    void *scenario_state;
};

#define BENCH_MAX_WS 8

struct bench {
    struct opts o;
    struct target http;
    struct target ws[BENCH_MAX_WS]; /* --ws-url list: client k uses ws[k % nws] */
    int nws;
    struct user *users;
    int nusers;
    char (*convs)[40];
    int nconvs;
    char *deep_cursor; /* rest-history: a cursor 2 pages down */
    int history_mode;  /* rest-history: 0 cached, 1 uncached, 2 deep */
    struct worker workers[BENCH_MAX_THREADS];
    int nworkers;
};

extern struct bench B;

/* setup.c: users, tokens, conversations and history, before the clock runs. */
int setup_users(int n);
int setup_groups(int nconvs, int size);
int setup_history(int per_conv);

/* Runs fn on every worker's loop (one thread each) for the duration. */
struct scenario_ops {
    void (*start)(struct worker *w);
    bool (*ready)(struct worker *w); /* NULL: ready at once */
    void (*stop)(struct worker *w);
    void (*release)(struct worker *w);
};
/* Starts ops on every worker, runs the timed window, stops; fills *cpu with
 * the generator's CPU use (cores) and returns the window in seconds. */
double run_workers(const struct scenario_ops *ops, double *cpu);

/* rest_load.c and ws_load.c: per-worker starts of each scenario. */
void rest_start(struct worker *w);
void rest_stop(struct worker *w);
void rest_free(struct worker *w);
void ws_fanout_start(struct worker *w);
void ws_ingest_start(struct worker *w);
bool ws_ready(struct worker *w); /* every socket open (or failed) */
/* The protocol the ws scenarios spoke: "chat" or "seed" (auto: what the server answered). */
const char *ws_protocol_seen(void);
void ws_stop(struct worker *w);
void ws_state_free(struct worker *w);
/* ws-idle runs its own sequence (connect all, measure, hold). */
int ws_idle_run(void);

/* main.c */
uint64_t now_us(void);
double rusage_secs(void); /* CPU time of this process (all threads) */
/* How many of the --connections a worker runs. */
int worker_share(const struct worker *w);
void report(const char *name, double seconds, const struct stats *st, double cpu,
            const char *extra_json);
struct stats merged_stats(void);

#endif
