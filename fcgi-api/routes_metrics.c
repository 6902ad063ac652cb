/*
 * routes_metrics.c - GET /metrics: this process's metrics in the Prometheus
 * text format (common/metrics.h), to clients inside METRICS_ALLOW only
 * (others get 404: the route is not there for them). Needs no backend.
 */
#include "metrics.h"
#include "routes.h"

#include <stdlib.h>

void route_metrics(struct http_req *req)
{
    size_t len;
    char *text;

    if (!cfg_metrics_allowed(req->cfg, req->client_ip)) {
        http_error(req, 404, "not_found", "no route for %s", req->path);
        return;
    }
    if ((text = mx_render(&len)) == NULL) {
        http_error(req, 503, "unavailable", "out of memory");
        return;
    }
    http_reply_raw(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}
