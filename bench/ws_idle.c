/*
 * ws_idle.c - the ws-idle scenario: open K sockets (a bounded number of
 * handshakes in flight), hold them, and read the gateway's resident memory
 * per socket from /proc/PID/status. One loop on the calling thread.
 */
#include "bench.h"
#include "ws_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN_FLIGHT 256

struct idle {
    uv_loop_t loop;
    uv_timer_t timer;
    struct wsconn **ws;
    uint64_t *started;
    int next, authed, failed, dropped;
    bool holding;
    struct stats st;
};

static struct idle I;

static long gateway_rss_kib(void)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;
    if (B.o.gateway_pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%ld/status", B.o.gateway_pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static void open_next(void);

static void on_open(struct wsconn *ws, void *ud)
{
    ws_send_text(ws, "{\"type\":\"ping\"}", 15);
    (void)ud;
}

static void on_text(struct wsconn *ws, char *text, size_t len, void *ud)
{
    long i = (long)(intptr_t)ud;
    (void)ws;
    (void)len;
    if (I.started[i] != 0 && strstr(text, "\"type\":\"pong\"") != NULL) {
        hist_add(&I.st.lat, now_us() - I.started[i]);
        I.started[i] = 0;
        I.authed++;
        I.st.ops++;
        open_next();
    }
}

static void on_close(struct wsconn *ws, int code, int http_status, void *ud)
{
    long i = (long)(intptr_t)ud;
    (void)ws;
    I.ws[i] = NULL;
    I.st.errors++;
    if (I.st.errors <= 3)
        fprintf(stderr, "chat-bench: ws-idle socket %ld closed: code %d, HTTP %d\n", i, code,
                http_status);
    if (I.started[i] != 0) {
        I.started[i] = 0;
        I.failed++;
        open_next();
    } else {
        I.dropped++;
    }
}

static const struct ws_handlers handlers = {on_open, on_text, on_close};

static void open_next(void)
{
    char path[1200];
    int i;
    if (I.next >= B.o.connections)
        return;
    i = I.next++;
    snprintf(path, sizeof(path), "/api/v1/ws?token=%s", B.users[i % B.nusers].token);
    I.started[i] = now_us();
    I.ws[i] = ws_open(&I.loop, &B.ws[0], path, NULL, &handlers, (void *)(intptr_t)i);
    if (I.ws[i] == NULL) {
        I.failed++;
        I.started[i] = 0;
    }
}

static void on_timer(uv_timer_t *t)
{
    (void)t;
    uv_stop(&I.loop);
}

static void run_for(uint64_t ms)
{
    uv_timer_start(&I.timer, on_timer, ms, 0);
    uv_run(&I.loop, UV_RUN_DEFAULT);
}

int ws_idle_run(void)
{
    long rss0, rss1, rss2;
    uint64_t t0, t1;
    double c0, cpu, secs;
    char extra[512];
    int k = B.o.connections;

    memset(&I, 0, sizeof(I));
    I.ws = calloc((size_t)k, sizeof(*I.ws));
    I.started = calloc((size_t)k, sizeof(*I.started));
    if (I.ws == NULL || I.started == NULL)
        return -1;
    uv_loop_init(&I.loop);
    uv_timer_init(&I.loop, &I.timer);
    rss0 = gateway_rss_kib();
    c0 = rusage_secs();
    t0 = now_us();
    for (int i = 0; i < IN_FLIGHT; i++)
        open_next();
    /* connect phase: until every socket answered or failed (at most 120 s) */
    while (I.authed + I.failed < k && now_us() - t0 < 120000000ull)
        run_for(50);
    t1 = now_us();
    secs = (double)(t1 - t0) / 1e6;
    cpu = (rusage_secs() - c0) / secs;
    run_for(1000); /* let the gateway settle before reading its memory */
    rss1 = gateway_rss_kib();
    run_for((uint64_t)B.o.duration * 1000);
    rss2 = gateway_rss_kib();
    snprintf(extra, sizeof(extra),
             "\"held\":%d,\"connect_per_s\":%.0f,\"gateway_rss_kib_before\":%ld,"
             "\"gateway_rss_kib_after\":%ld,\"gateway_rss_kib_held\":%ld,\"rss_per_conn_kib\":%.2f,"
             "\"dropped_while_held\":%d",
             I.authed - I.dropped, I.authed / secs, rss0, rss1, rss2,
             rss0 > 0 && I.authed > 0 ? (double)(rss1 - rss0) / I.authed : -1.0, I.dropped);
    report("ws-idle", secs, &I.st, cpu, extra);
    for (int i = 0; i < k; i++)
        ws_free(I.ws[i]);
    uv_timer_stop(&I.timer);
    uv_close((uv_handle_t *)&I.timer, NULL);
    uv_run(&I.loop, UV_RUN_DEFAULT);
    uv_loop_close(&I.loop);
    free(I.ws);
    free(I.started);
    return I.authed == k && I.dropped == 0 ? 0 : 1;
}
