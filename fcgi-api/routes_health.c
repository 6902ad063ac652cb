/*
 * routes_health.c - GET /health: is this responder able to serve?
 * 200 when PostgreSQL and Redis both answer, else 503 naming the part down.
 * Each probe has HEALTH_PROBE_MS, shorter than the bounds on a request's
 * statements, so a hung part is named within about a second.
 */
#include "routes.h"

#define HEALTH_PROBE_MS 400

static struct db_stmt ping_stmt = {.name = "health_ping", .sql = "SELECT 1"};

void route_health(struct http_req *req)
{
    bool db = db_ping(&req->be->db, &ping_stmt, HEALTH_PROBE_MS);
    bool rd = rds_ping(&req->be->rds, HEALTH_PROBE_MS);
    json_t *body =
        json_pack("{s:s, s:s, s:s}", "status", db && rd ? "ok" : "unavailable", "database",
                  db ? "ok" : "unavailable", "redis", rd ? "ok" : "unavailable");
    http_reply(req, db && rd ? 200 : 503, body);
}
