/*
 * chat-gateway - the WebSocket gateway.
 *
 *   chat-gateway [--env-file FILE]
 *
 * One libuv loop carries libwebsockets (as a foreign loop), the Redis
 * links and the PostgreSQL connection. SIGTERM closes every socket with
 * 1001 and exits 0 once they are gone.
 */
#include "events.h"
#include "gw.h"
#include "log.h"

#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gw G;

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_stop_timer(uv_timer_t *t)
{
    (void)t;
    /* Sockets had their chance to say 1001; now take everything down. */
    uv_timer_stop(&G.heartbeat);
    close_handle((uv_handle_t *)&G.heartbeat);
    close_handle((uv_handle_t *)&G.liveness);
    close_handle((uv_handle_t *)&G.stop_timer);
    close_handle((uv_handle_t *)&G.sigterm);
    close_handle((uv_handle_t *)&G.sigint);
    gw_flush_close();
    gw_delivered_close(); /* the last batch goes out before the database link closes */
    rlink_close(G.cmd);
    rlink_close(G.sub);
    for (int i = 0; i < G.npg; i++)
        pgq_free(G.pgs[i]);
    pgq_free(G.pg);
    lws_context_destroy(G.lws); /* finishes in the loop; pcontext clears G.lws when done */
}

static void on_signal(uv_signal_t *s, int sig)
{
    (void)s;
    if (G.stopping)
        return;
    G.stopping = true;
    log_info(NULL, "signal %d: closing %d sockets", sig, G.nconns);
    gw_close_all(LWS_CLOSE_STATUS_GOINGAWAY);
    gw_delivered_flush(); /* written while the database link still runs */
    uv_timer_start(&G.stop_timer, on_stop_timer, 300, 0);
}

struct pgq *gw_pg(const char *key)
{
    if (key == NULL)
        return G.pgs[G.pg_next++ % (unsigned)G.npg];
    return G.pgs[ev_shard(key, G.npg)]; /* the stream shards' stable hash */
}

static int start_lws(void)
{
    /* No lws idle policy: liveness is gw_liveness_sweep()'s (see there why). */
    static const lws_retry_bo_t no_validity = {.secs_since_valid_hangup = 0};
    struct lws_context_creation_info info;
    void *loops[1] = {&G.loop};

    memset(&info, 0, sizeof(info));
    info.port = G.cfg.ws_port;
    info.iface = G.cfg.ws_host;
    info.protocols = gw_protocols;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.foreign_loops = loops;
    info.ka_time = 30; /* TCP keepalive: dead peers go away */
    info.ka_probes = 3;
    info.ka_interval = 10;
    info.timeout_secs = 20;
    info.max_http_header_data = 8192; /* tokens in the query string are long */
    info.retry_and_idle_policy = &no_validity;
    info.pcontext = &G.lws; /* lws sets it to NULL once the context is wholly freed */
    G.lws = lws_create_context(&info);
    return G.lws ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *env_file = NULL;
    char err[512];
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc)
            env_file = argv[++i];
        else {
            fprintf(stderr, "usage: chat-gateway [--env-file FILE]\n");
            return 2;
        }
    }
    if (sodium_init() < 0)
        return 1;
    if (cfg_load(&G.cfg, env_file, err, sizeof(err)) != 0) {
        fprintf(stderr, "chat-gateway: configuration error: %s\n", err);
        return 2;
    }
    log_init("chat-gateway", G.cfg.log_level);
    lws_set_log_level(
        getenv("GW_LWS_DEBUG") ? (LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO) : LLL_ERR, NULL);
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&G.loop);
    uv_timer_init(&G.loop, &G.heartbeat);
    uv_timer_init(&G.loop, &G.stop_timer);
    uv_timer_init(&G.loop, &G.liveness);
    uv_signal_init(&G.loop, &G.sigterm);
    uv_signal_init(&G.loop, &G.sigint);
    uv_signal_start(&G.sigterm, on_signal, SIGTERM);
    uv_signal_start(&G.sigint, on_signal, SIGINT);

    G.npg = G.cfg.db_pool_size < GW_PG_MAX ? G.cfg.db_pool_size : GW_PG_MAX;
    for (int i = 0; i < G.npg; i++)
        if ((G.pgs[i] = pgq_new(&G.loop, G.cfg.database_url)) == NULL)
            G.npg = i;
    /*
     * Background writes (delivered watermarks: thousands of rows every
     * flush under fan-out) get a connection of their own, so sends never
     * queue behind them.
     */
    G.pg = pgq_new(&G.loop, G.cfg.database_url);
    G.cmd = rlink_new(&G.loop, &G.cfg, "cmd", 3000, NULL, NULL);
    gw_stream_start();
    G.sub = rlink_new(&G.loop, &G.cfg, "stream", 10000, gw_on_sub_link, NULL);
    if (G.pg == NULL || G.npg == 0 || G.cmd == NULL || G.sub == NULL || start_lws() != 0) {
        log_error(NULL, "cannot start the gateway on %s:%d", G.cfg.ws_host, G.cfg.ws_port);
        goto out;
    }
    uv_timer_start(&G.heartbeat, gw_presence_heartbeat, 5000, 5000);
    uv_timer_start(&G.liveness, gw_liveness_sweep, 1000, 1000);
    gw_flush_init();
    log_info(NULL, "chat-gateway %s listening on %s:%d", G.cfg.gateway_id, G.cfg.ws_host,
             G.cfg.ws_port);
    uv_run(&G.loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    /*
     * On a foreign loop lws 4.1 frees the context from a close callback
     * only when its last socket closes after its own loop handles; in the
     * other order it waits for another lws_context_destroy() once the loop
     * has stopped (lws' foreign-loop example makes that call too), else the
     * context and its fd tables (8 bytes per possible fd) leak. The first
     * call here is that one on a normal stop, or the start of the teardown
     * when start-up failed; pcontext clears G.lws when the context is gone.
     */
    if (G.lws != NULL)
        lws_context_destroy(G.lws);
    uv_run(&G.loop, UV_RUN_DEFAULT); /* let closing handles finish */
    if (G.lws != NULL)
        lws_context_destroy(G.lws);
    uv_loop_close(&G.loop);
    for (int i = 0; i < G.npg; i++)
        free(G.pgs[i]);
    free(G.pg);
    free(G.stream_ids);
    log_info(NULL, "chat-gateway stopped");
    cfg_free(&G.cfg);
    return rc;
}
