/*
 * routes_health.c - is this responder able to serve?
 *
 * GET /health (the seed's) and GET /readyz (for load balancers and
 * orchestrators): 200 when PostgreSQL and Redis both answer, else 503
 * naming the part down. Each probe has HEALTH_PROBE_MS, shorter than the
 * bounds on a request's statements, so a hung part is named within about a
 * second. GET /healthz (liveness): 200 whenever the process answers at all,
 * touching no dependency and taking no backend from the pool, so a busy or
 * cut-off responder is not restarted for what a restart cannot cure.
 */
#include "routes.h"

#define HEALTH_PROBE_MS 400

static struct db_stmt ping_stmt = {.name = "health_ping", .sql = "SELECT 1"};

static void reply_probes(struct http_req *req, const char *ok, const char *down)
{
    bool db = db_ping(&req->be->db, &ping_stmt, HEALTH_PROBE_MS);
    bool rd = rds_ping(&req->be->rds, HEALTH_PROBE_MS);
    json_t *body = json_pack("{s:s, s:s, s:s}", "status", db && rd ? ok : down, "database",
                             db ? "ok" : "unavailable", "redis", rd ? "ok" : "unavailable");
    http_reply(req, db && rd ? 200 : 503, body);
}

void route_health(struct http_req *req)
{
    reply_probes(req, "ok", "unavailable");
}

void route_readyz(struct http_req *req)
{
    reply_probes(req, "ready", "not_ready");
}

void route_healthz(struct http_req *req)
{
    http_reply(req, 200, json_pack("{s:s}", "status", "alive"));
}
