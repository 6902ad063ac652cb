/*
 * chat-gateway - the WebSocket gateway.
 *
 *   chat-gateway [--env-file FILE]
 *
 * Builds the pieces on one libuv loop (gw.c's links, conn.c's flush and
 * liveness, presence.c's heartbeat, stream.c's reader, reconcile.c's rounds, lws as a
 * foreign loop with session.c's protocol), runs the loop, and tears down.
 * SIGTERM closes every socket with 1001 and exits 0 once they are gone.
 * Under systemd (Type=notify, notify.h): READY=1 once lws listens,
 * STOPPING=1 on the stop signal, WATCHDOG=1 from a timer on the loop, so
 * that a loop stuck anywhere stops the pings and systemd restarts us.
 * docs/ARCHITECTURE.md has the module map.
 */
#include "admit.h"
#include "account.h"
#include "conn.h"
#include "delivered.h"
#include "gw.h"
#include "gw_stats.h"
#include "log.h"
#include "member.h"
#include "notify.h"
#include "presence.h"
#include "reconcile.h"
#include "session.h"
#include "stream.h"

#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The listener is (back) up: what was announced while it was away is checked again. */
static void on_listen_up(void)
{
    member_recheck_all();
    account_recheck_all();
}

static const struct gw_hooks hooks = {
    .stream_link = stream_on_link,
    .member_change = member_changed,
    .account_change = account_changed,
    .listen_up = on_listen_up,
};

static uv_timer_t stop_timer, watchdog_timer;
static uv_signal_t sigterm, sigint;

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_stop_timer(uv_timer_t *t)
{
    (void)t;
    /* Sockets had their chance to say 1001; now take everything down. */
    close_handle((uv_handle_t *)&stop_timer);
    close_handle((uv_handle_t *)&watchdog_timer);
    close_handle((uv_handle_t *)&sigterm);
    close_handle((uv_handle_t *)&sigint);
    presence_stop();
    reconcile_stop();
    gw_probe_stop();
    conn_stop();
    delivered_stop(); /* the last batch goes out before the database links close */
    gw_links_close();
    lws_context_destroy(gw.lws); /* finishes in the loop; pcontext clears gw.lws when done */
}

static void on_signal(uv_signal_t *s, int sig)
{
    (void)s;
    if (gw.stopping)
        return;
    gw.stopping = true;
    notify_stopping();
    log_info(NULL, "signal %d: closing %d sockets", sig, conn_count());
    conn_close_all(LWS_CLOSE_STATUS_GOINGAWAY);
    delivered_flush(); /* written while the database links still run */
    uv_timer_start(&stop_timer, on_stop_timer, 300, 0);
}

/* Runs only when the loop does: a loop blocked or spinning elsewhere stops it. */
static void on_watchdog_timer(uv_timer_t *t)
{
    (void)t;
    notify_watchdog();
}

/* Ping at half the interval systemd asked for; nothing without a watchdog. */
static void watchdog_start(void)
{
    uint64_t ms = notify_watchdog_usec() / 2000;

    if (ms == 0)
        return;
    uv_timer_start(&watchdog_timer, on_watchdog_timer, ms, ms);
    uv_unref((uv_handle_t *)&watchdog_timer); /* never what keeps the loop alive */
}

static int start_lws(void)
{
    /* No lws idle policy: liveness is conn.c's sweep (see there why). */
    static const lws_retry_bo_t no_validity = {.secs_since_valid_hangup = 0};
    struct lws_context_creation_info info;
    void *loops[1] = {&gw.loop};

    memset(&info, 0, sizeof(info));
    info.port = gw.cfg.ws_port;
    info.iface = gw.cfg.ws_host;
    info.protocols = session_protocols;
    /* a port taken fails the start instead of leaving a gateway that listens nowhere */
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
    info.foreign_loops = loops;
    info.ka_time = 30; /* TCP keepalive: dead peers go away */
    info.ka_probes = 3;
    info.ka_interval = 10;
    info.timeout_secs = 20;
    info.max_http_header_data = 8192; /* tokens in the query string are long */
    info.retry_and_idle_policy = &no_validity;
    info.pcontext = &gw.lws; /* lws sets it to NULL once the context is wholly freed */
    gw.lws = lws_create_context(&info);
    return gw.lws ? 0 : -1;
}

static int parse_args(int argc, char **argv, const char **env_file)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            *env_file = argv[++i];
        } else {
            fprintf(stderr, "usage: chat-gateway [--env-file FILE]\n");
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *env_file = NULL;
    char err[512];
    int rc = 1;

    if (parse_args(argc, argv, &env_file) != 0)
        return 2;
    if (sodium_init() < 0)
        return 1;
    if (cfg_load(&gw.cfg, env_file, err, sizeof(err)) != 0) {
        fprintf(stderr, "chat-gateway: configuration error: %s\n", err);
        return 2;
    }
    log_init("chat-gateway", gw.cfg.log_level);
    lws_set_log_level(
        getenv("GW_LWS_DEBUG") ? (LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO) : LLL_ERR, NULL);
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&gw.loop);
    uv_timer_init(&gw.loop, &stop_timer);
    uv_timer_init(&gw.loop, &watchdog_timer);
    uv_signal_init(&gw.loop, &sigterm);
    uv_signal_init(&gw.loop, &sigint);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);

    gw_stats_init();
    admit_configure(&(struct admit_limits){
        .per_user = gw.cfg.ws_max_per_user,
        .per_address = gw.cfg.ws_max_per_address,
        .unauth_per_addr = gw.cfg.ws_max_unauth_per_addr,
        .handshakes_per_min = gw.cfg.ws_handshakes_per_min,
    });
    stream_start();
    if (gw_links_open(&hooks) != 0 || start_lws() != 0) {
        log_error(NULL, "cannot start the gateway on %s:%d", gw.cfg.ws_host, gw.cfg.ws_port);
        goto out;
    }
    presence_start();
    reconcile_start();
    gw_probe_start();
    conn_start();
    log_info(NULL, "chat-gateway %s listening on %s:%d", gw.cfg.gateway_id, gw.cfg.ws_host,
             gw.cfg.ws_port);
    notify_ready();
    watchdog_start();
    uv_run(&gw.loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    /*
     * On a foreign loop lws 4.1 frees the context from a close callback
     * only when its last socket closes after its own loop handles; in the
     * other order it waits for another lws_context_destroy() once the loop
     * has stopped (lws' foreign-loop example makes that call too), else the
     * context and its fd tables (8 bytes per possible fd) leak. The first
     * call here is that one on a normal stop, or the start of the teardown
     * when start-up failed; pcontext clears gw.lws when the context is gone.
     */
    if (rc != 0) {
        close_handle((uv_handle_t *)&stop_timer);
        close_handle((uv_handle_t *)&watchdog_timer);
        close_handle((uv_handle_t *)&sigterm);
        close_handle((uv_handle_t *)&sigint);
        gw_links_close();
    }
    if (gw.lws != NULL)
        lws_context_destroy(gw.lws);
    uv_run(&gw.loop, UV_RUN_DEFAULT); /* let closing handles finish */
    if (gw.lws != NULL)
        lws_context_destroy(gw.lws);
    uv_loop_close(&gw.loop);
    stream_stop();
    admit_reset();
    log_info(NULL, "chat-gateway stopped");
    cfg_free(&gw.cfg);
    return rc;
}
