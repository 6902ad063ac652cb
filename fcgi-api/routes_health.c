/*
 * routes_health.c - GET /health: is this responder able to serve?
 * 200 when PostgreSQL and Redis both answer, else 503 naming the part down.
 */
#include "log.h"
#include "routes.h"

#include <string.h>

static struct db_stmt ping_stmt = {.name = "health_ping", .sql = "SELECT 1"};

static bool database_ok(struct http_req *req)
{
    enum db_err err;
    PGresult *r = db_exec(&req->be->db, &ping_stmt, 0, NULL, &err);
    if (r == NULL)
        return false;
    PQclear(r);
    return true;
}

static bool redis_ok(struct http_req *req)
{
    redisReply *r = rds_cmd(&req->be->rds, "PING");
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (r != NULL)
        freeReplyObject(r);
    return ok;
}

void route_health(struct http_req *req)
{
    bool db = database_ok(req), rd = redis_ok(req);
    json_t *body =
        json_pack("{s:s, s:s, s:s}", "status", db && rd ? "ok" : "unavailable", "database",
                  db ? "ok" : "unavailable", "redis", rd ? "ok" : "unavailable");
    http_reply(req, db && rd ? 200 : 503, body);
}
