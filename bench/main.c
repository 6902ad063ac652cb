/*
 * chat-bench - the load tool of the chat backend, for any server that
 * speaks the Chat API (REST under /api/v1, WebSocket under /api/v1/ws).
 *
 *   chat-bench --base-url http://127.0.0.1:8000 --ws-url ws://127.0.0.1:8000 \
 *              --scenario rest-send --connections 64 --duration 10 [--json]
 *
 * One libuv loop per thread (--threads), no thread per connection. Every
 * scenario prints throughput, latency percentiles, errors and the
 * generator's own CPU use, so a saturated generator is visible.
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct bench B;

enum phase { PH_WARM, PH_RUN, PH_STOP };
static _Atomic int phase;
static _Atomic int ready_workers;

uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

double rusage_secs(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

/* ---- workers ---- */

static const struct scenario_ops *cur_ops;

static void on_control(uv_timer_t *t)
{
    struct worker *w = t->data;
    int ph = atomic_load(&phase);
    if (!w->ready && (cur_ops->ready == NULL || cur_ops->ready(w))) {
        w->ready = true;
        atomic_fetch_add(&ready_workers, 1);
    }
    w->running = ph == PH_RUN;
    if (ph == PH_STOP && !w->stopped) {
        w->stopped = true;
        uv_timer_stop(&w->stop_timer);
        uv_timer_stop(&w->tick_timer);
        uv_close((uv_handle_t *)&w->stop_timer, NULL);
        uv_close((uv_handle_t *)&w->tick_timer, NULL);
        cur_ops->stop(w);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    cur_ops->start(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    return NULL;
}

int worker_share(const struct worker *w)
{
    return B.o.connections / B.nworkers + (w->index < B.o.connections % B.nworkers);
}

double run_workers(const struct scenario_ops *ops, double *cpu)
{
    uint64_t t0, t1, deadline;
    double c0;

    cur_ops = ops;
    atomic_store(&phase, PH_WARM);
    atomic_store(&ready_workers, 0);
    for (int i = 0; i < B.nworkers; i++) {
        struct worker *w = &B.workers[i];
        memset(w, 0, sizeof(*w));
        w->index = i;
        uv_loop_init(&w->loop);
        uv_timer_init(&w->loop, &w->stop_timer);
        uv_timer_init(&w->loop, &w->tick_timer);
        w->stop_timer.data = w;
        uv_timer_start(&w->stop_timer, on_control, 5, 5);
        pthread_create(&w->thread, NULL, worker_main, w);
    }
    deadline = now_us() + 120000000ull;
    while (atomic_load(&ready_workers) < B.nworkers && now_us() < deadline)
        usleep(10000);
    usleep(500000); /* connections settle (offline batches, presence) */
    c0 = rusage_secs();
    t0 = now_us();
    atomic_store(&phase, PH_RUN);
    usleep((useconds_t)B.o.duration * 1000000u);
    atomic_store(&phase, PH_STOP);
    t1 = now_us();
    *cpu = (rusage_secs() - c0) / ((double)(t1 - t0) / 1e6);
    for (int i = 0; i < B.nworkers; i++) {
        pthread_join(B.workers[i].thread, NULL);
        uv_loop_close(&B.workers[i].loop);
        if (ops->release)
            ops->release(&B.workers[i]);
    }
    return (double)(t1 - t0) / 1e6;
}

struct stats merged_stats(void)
{
    struct stats m;
    memset(&m, 0, sizeof(m));
    for (int i = 0; i < B.nworkers; i++) {
        const struct stats *s = &B.workers[i].st;
        hist_merge(&m.lat, &s->lat);
        m.ops += s->ops;
        m.errors += s->errors;
        m.sent += s->sent;
        m.delivered += s->delivered;
    }
    return m;
}

/* ---- output ---- */

void report(const char *name, double seconds, const struct stats *st, double cpu,
            const char *extra_json)
{
    double ms[4] = {hist_pct(&st->lat, 0.50) / 1e3, hist_pct(&st->lat, 0.90) / 1e3,
                    hist_pct(&st->lat, 0.99) / 1e3, hist_pct(&st->lat, 0.999) / 1e3};
    double rate = seconds > 0 ? (double)st->ops / seconds : 0;

    if (B.o.json) {
        printf("{\"scenario\":\"%s\",\"seconds\":%.2f,\"ops\":%llu,\"ops_per_s\":%.1f,"
               "\"errors\":%llu,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
               "\"max_ms\":%.3f,\"bench_cpu_cores\":%.2f,\"connections\":%d%s%s}\n",
               name, seconds, (unsigned long long)st->ops, rate, (unsigned long long)st->errors,
               ms[0], ms[1], ms[2], ms[3], (double)st->lat.max / 1e3, cpu, B.o.connections,
               extra_json && *extra_json ? "," : "", extra_json ? extra_json : "");
    } else {
        printf("%-22s %10.0f ops/s  p50 %7.2f  p90 %7.2f  p99 %7.2f  p99.9 %7.2f ms  "
               "errors %llu  bench cpu %.2f cores%s%s\n",
               name, rate, ms[0], ms[1], ms[2], ms[3], (unsigned long long)st->errors, cpu,
               extra_json && *extra_json ? "  " : "", extra_json ? extra_json : "");
    }
    fflush(stdout);
}

/* ---- scenarios ---- */

static const struct scenario_ops rest_ops = {rest_start, NULL, rest_stop, rest_free};
static const struct scenario_ops fanout_ops = {ws_fanout_start, ws_ready, ws_stop, ws_state_free};
static const struct scenario_ops ingest_ops = {ws_ingest_start, ws_ready, ws_stop, ws_state_free};

static int run_rest(const char *label)
{
    double cpu, secs = run_workers(&rest_ops, &cpu);
    struct stats st = merged_stats();
    report(label, secs, &st, cpu, NULL);
    return st.ops > 0 && st.errors == 0 ? 0 : 1;
}

static int scenario_rest(void)
{
    /* every user is in every group, so any connection may use any pair */
    if (B.o.users > 101) {
        fprintf(stderr, "chat-bench: REST scenarios take at most 101 users (one group)\n");
        return 2;
    }
    if (setup_users(B.o.users) || setup_groups(B.o.conversations, B.o.users))
        return 2;
    if (strcmp(B.o.scenario, "rest-history") == 0) {
        int rc = 0;
        if (setup_history(B.o.history))
            return 2;
        B.history_mode = 0;
        rc |= run_rest("rest-history-cached");
        B.history_mode = 1;
        rc |= run_rest("rest-history-uncached");
        B.history_mode = 2;
        rc |= run_rest(B.deep_cursor ? "rest-history-deep" : "rest-history-deep(no-cursor)");
        return rc;
    }
    if (strcmp(B.o.scenario, "rest-mixed") == 0 && setup_history(B.o.history / 4))
        return 2;
    return run_rest(B.o.scenario);
}

static int scenario_ws(bool ingest)
{
    int size = B.o.group_size, groups;
    double cpu, secs;
    struct stats st;
    char extra[256];

    if (ingest) {
        if (setup_users(B.o.users) || setup_groups(B.o.conversations, B.o.users))
            return 2;
    } else {
        groups = (B.o.connections + size - 1) / size;
        if (setup_users(size) || setup_groups(groups, size))
            return 2;
    }
    secs = run_workers(ingest ? &ingest_ops : &fanout_ops, &cpu);
    st = merged_stats();
    if (st.ops == 0) {
        /* a scenario that measured nothing failed, whatever else it says */
        fprintf(stderr,
                "chat-bench: %s %s nothing (%llu sent): is the WebSocket server up, and does it "
                "speak --protocol %s?\n",
                B.o.scenario, ingest ? "stored" : "delivered", (unsigned long long)st.sent,
                ws_protocol_seen());
        st.errors++;
    }
    if (ingest)
        snprintf(extra, sizeof(extra),
                 "\"persisted_per_s\":%.0f,\"gateways\":%d,\"protocol\":\"%s\"", st.ops / secs,
                 B.nws, ws_protocol_seen());
    else
        snprintf(extra, sizeof(extra),
                 "\"sent_per_s\":%.0f,\"deliveries_per_s\":%.0f,\"group_size\":%d,\"gateways\":%d,"
                 "\"protocol\":\"%s\"",
                 st.sent / secs, st.delivered / secs, size, B.nws, ws_protocol_seen());
    report(B.o.scenario, secs, &st, cpu, extra);
    return st.ops > 0 && st.errors == 0 ? 0 : 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: chat-bench --scenario NAME [options]\n"
            "  scenarios: rest-send rest-history rest-mixed ws-fanout ws-ingest ws-idle login\n"
            "             http-get (GET --path, default /health: a web tier's own limit)\n"
            "  --base-url URL      REST server (default http://127.0.0.1:8000)\n"
            "  --ws-url URL[,URL]  WebSocket server(s); clients are spread over them, as a\n"
            "                      load balancer would (default ws://127.0.0.1:8000)\n"
            "  --connections N     HTTP connections / WebSocket clients (default 64)\n"
            "  --duration S        timed window in seconds (default 10)\n"
            "  --users U           users to register (default 50)\n"
            "  --conversations C   group conversations (default 10)\n"
            "  --group-size S      members per group (default 50; ws-fanout groups)\n"
            "  --rate R            ws-fanout messages/s in all (0: each sender on its ack)\n"
            "  --history M         messages per conversation before rest-history (default 120)\n"
            "  --threads T         generator threads, one loop each (default 2)\n"
            "  --gateway-pid PID   ws-idle: gateway whose RSS is read\n"
            "  --path P            http-get: the path to request\n"
            "  --protocol P        ws-*: chat (pong and ack), seed (the seed's protocol: neither;\n"
            "                      a sender's own echo stands for its ack) or auto (default:\n"
            "                      seed when a socket gets no pong within 2 s)\n"
            "  --json              one JSON object per result\n");
}

/* Comma-separated WebSocket URLs into B.ws. */
static int parse_ws_urls(const char *list)
{
    char buf[1024], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", list);
    B.nws = 0;
    for (char *u = strtok_r(buf, ",", &save); u != NULL; u = strtok_r(NULL, ",", &save)) {
        if (B.nws == BENCH_MAX_WS || target_parse(u, &B.ws[B.nws]) != 0)
            return -1;
        B.nws++;
    }
    return B.nws > 0 ? 0 : -1;
}

static int parse_args(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"base-url", 1, 0, 'b'},      {"ws-url", 1, 0, 'w'},
        {"scenario", 1, 0, 's'},      {"connections", 1, 0, 'c'},
        {"duration", 1, 0, 'd'},      {"users", 1, 0, 'u'},
        {"conversations", 1, 0, 'C'}, {"group-size", 1, 0, 'g'},
        {"rate", 1, 0, 'r'},          {"threads", 1, 0, 't'},
        {"gateway-pid", 1, 0, 'p'},   {"history", 1, 0, 'H'},
        {"path", 1, 0, 'P'},          {"json", 0, 0, 'j'},
        {"protocol", 1, 0, 'R'},
        {"help", 0, 0, 'h'},          {0, 0, 0, 0}};
    int ch;
    B.o = (struct opts){.base_url = "http://127.0.0.1:8000",
                        .ws_url = "ws://127.0.0.1:8000",
                        .path = "/health",
                        .protocol = "auto",
                        .connections = 64,
                        .duration = 10,
                        .users = 50,
                        .conversations = 10,
                        .group_size = 50,
                        .threads = 2,
                        .history = 120};
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'b':
            B.o.base_url = optarg;
            break;
        case 'w':
            B.o.ws_url = optarg;
            break;
        case 's':
            B.o.scenario = optarg;
            break;
        case 'R':
            B.o.protocol = optarg;
            break;
        case 'c':
            B.o.connections = atoi(optarg);
            break;
        case 'd':
            B.o.duration = atoi(optarg);
            break;
        case 'u':
            B.o.users = atoi(optarg);
            break;
        case 'C':
            B.o.conversations = atoi(optarg);
            break;
        case 'g':
            B.o.group_size = atoi(optarg);
            break;
        case 'r':
            B.o.rate = atof(optarg);
            break;
        case 't':
            B.o.threads = atoi(optarg);
            break;
        case 'p':
            B.o.gateway_pid = atol(optarg);
            break;
        case 'H':
            B.o.history = atoi(optarg);
            break;
        case 'P':
            B.o.path = optarg;
            break;
        case 'j':
            B.o.json = true;
            break;
        default:
            usage();
            return -1;
        }
    }
    if (B.o.scenario == NULL || B.o.connections < 1 || B.o.duration < 1 || B.o.users < 2 ||
        B.o.conversations < 1 || B.o.group_size < 2 || B.o.group_size > 100 || B.o.threads < 1 ||
        B.o.threads > BENCH_MAX_THREADS || B.o.history < 0 ||
        (strcmp(B.o.protocol, "auto") != 0 && strcmp(B.o.protocol, "chat") != 0 &&
         strcmp(B.o.protocol, "seed") != 0)) {
        usage();
        return -1;
    }
    if (target_parse(B.o.base_url, &B.http) || parse_ws_urls(B.o.ws_url) != 0) {
        fprintf(stderr, "chat-bench: cannot resolve %s or %s\n", B.o.base_url, B.o.ws_url);
        return -1;
    }
    B.nworkers = B.o.threads;
    return 0;
}

/* Thousands of sockets: take the hard limit of open files. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    const char *s;
    int rc;

    if (parse_args(argc, argv) != 0)
        return 2;
    raise_nofile();
    s = B.o.scenario;
    if (strcmp(s, "http-get") == 0)
        rc = run_rest("http-get");
    else if (strcmp(s, "rest-send") == 0 || strcmp(s, "rest-history") == 0 ||
             strcmp(s, "rest-mixed") == 0 || strcmp(s, "login") == 0)
        rc = scenario_rest();
    else if (strcmp(s, "ws-fanout") == 0 || strcmp(s, "ws-ingest") == 0)
        rc = scenario_ws(strcmp(s, "ws-ingest") == 0);
    else if (strcmp(s, "ws-idle") == 0)
        rc = setup_users(B.o.users) ? 2 : ws_idle_run();
    else {
        usage();
        return 2;
    }
    if (rc == 2)
        fprintf(stderr, "chat-bench: set-up failed\n");
    for (int i = 0; i < B.nusers; i++)
        free(B.users[i].token);
    free(B.users);
    free(B.convs);
    free(B.deep_cursor);
    return rc;
}
