/*
 * chat-gateway - WebSocket gateway (skeleton: health and upgrade only; the
 * live messaging features arrive with the gateway issue).
 *
 *   chat-gateway [--env-file FILE]
 */
#include "config.h"
#include "log.h"

#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t stopping;
static struct chat_config cfg;
static int connections;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static int reply_health(struct lws *wsi)
{
    unsigned char buf[LWS_PRE + 512], *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof(buf) - 1];
    char body[256];
    int n = snprintf(body, sizeof(body), "{\"status\":\"ok\",\"gateway_id\":\"%s\",\"connections\":%d}",
                     cfg.gateway_id, connections);

    if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK, "application/json", (lws_filepos_t)n, &p,
                                    end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
        return 1;
    if (lws_write(wsi, (unsigned char *)body, (size_t)n, LWS_WRITE_HTTP_FINAL) != n)
        return 1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        if (strcmp((const char *)in, "/health") == 0)
            return reply_health(wsi);
        lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
        return -1;
    case LWS_CALLBACK_ESTABLISHED:
        connections++;
        break;
    case LWS_CALLBACK_CLOSED:
        connections--;
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", cb_http, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int main(int argc, char **argv)
{
    struct lws_context_creation_info info;
    struct lws_context *ctx;
    const char *env_file = NULL;
    char err[512];

    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc)
            env_file = argv[++i];
    if (cfg_load(&cfg, env_file, err, sizeof(err)) != 0) {
        fprintf(stderr, "chat-gateway: configuration error: %s\n", err);
        return 2;
    }
    log_init("chat-gateway", cfg.log_level);
    lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    memset(&info, 0, sizeof(info));
    info.port = cfg.ws_port;
    info.iface = cfg.ws_host;
    info.protocols = protocols;
    ctx = lws_create_context(&info);
    if (ctx == NULL) {
        log_error(NULL, "cannot listen on %s:%d", cfg.ws_host, cfg.ws_port);
        cfg_free(&cfg);
        return 1;
    }
    log_info(NULL, "chat-gateway %s listening on %s:%d", cfg.gateway_id, cfg.ws_host, cfg.ws_port);
    while (!stopping)
        if (lws_service(ctx, 250) < 0)
            break;
    lws_context_destroy(ctx);
    log_info(NULL, "chat-gateway stopped");
    cfg_free(&cfg);
    return 0;
}
