/* router.c - see router.h. */
#include "router.h"
#include "auth.h"
#include "log.h"
#include "ratelimit.h"
#include "routes.h"

#include <stdio.h>
#include <string.h>

#define A R_AUTH
#define M R_LIVE_BY_MEMBERSHIP
const struct route router_table[] = {
    {"GET", "/health", route_health, R_ROOT | R_NO_RL},
    {"GET", "/health", route_health, R_NO_RL},
    {"GET", "/healthz", route_healthz, R_ROOT | R_NO_RL | R_NO_BACKEND},
    {"GET", "/readyz", route_readyz, R_ROOT | R_NO_RL},
    {"GET", "/metrics", route_metrics, R_ROOT | R_NO_RL | R_NO_BACKEND},
    {"GET", "/openapi.json", route_openapi, R_NO_RL},
    {"GET", "/asyncapi.json", route_asyncapi, R_NO_RL},
    {"GET", "/docs", route_docs, R_ROOT | R_NO_RL},
    {"GET", "/docs/{asset}", route_docs_asset, R_ROOT | R_NO_RL},

    {"POST", "/auth/register", route_register, R_JSON | R_NO_RL},
    {"POST", "/auth/login", route_login, R_JSON | R_NO_RL},
    {"POST", "/auth/refresh", route_refresh, R_JSON | R_NO_RL},
    {"POST", "/auth/logout", route_logout, R_JSON | R_NO_RL},

    {"GET", "/users/me", route_me_get, A},
    {"PUT", "/users/me", route_me_put, A | R_JSON},
    {"DELETE", "/users/me", route_me_delete, A},
    {"GET", "/users/{user_id}", route_user_get, A},

    {"GET", "/conversations", route_conv_list, A},
    {"GET", "/conversations/online", route_conv_online, A},
    {"GET", "/conversations/direct", route_conv_direct, A},
    {"POST", "/conversations/direct", route_conv_direct, A | R_JSON},
    {"POST", "/conversations/group", route_conv_group, A | R_JSON},
    {"GET", "/conversations/messages/{message_id}/read-receipts", route_msg_receipts, A},
    {"POST", "/conversations/messages/{message_id}/read", route_msg_read, A | R_JSON_OPT},
    {"PATCH", "/conversations/messages/{message_id}", route_msg_edit, A | R_JSON},
    {"DELETE", "/conversations/messages/{message_id}", route_msg_delete, A},
    {"POST", "/conversations/messages/{message_id}/reactions", route_reaction_add, A | R_JSON},
    {"DELETE", "/conversations/messages/{message_id}/reactions/{emoji}", route_reaction_remove, A},
    {"GET", "/conversations/{conversation_id}", route_conv_get, A},
    {"GET", "/conversations/{conversation_id}/members", route_conv_members, A},
    {"GET", "/conversations/{conversation_id}/events", route_conv_events, A},
    {"GET", "/conversations/{conversation_id}/messages", route_msg_list, A | M},
    {"POST", "/conversations/{conversation_id}/messages", route_msg_send, A | M | R_JSON},
    {"POST", "/conversations/{conversation_id}/read", route_conv_read, A | R_JSON_OPT},
    {"POST", "/conversations/{conversation_id}/typing", route_typing_set, A | R_JSON},
    {"GET", "/conversations/{conversation_id}/typing", route_typing_get, A},

    {"POST", "/chat/rooms", route_room_create, A | R_JSON},
    {"GET", "/chat/rooms", route_room_list, A},
    {"GET", "/chat/rooms/{room_id}", route_room_get, A},
    {"PUT", "/chat/rooms/{room_id}", route_room_update, A | R_JSON},
    {"POST", "/chat/rooms/{room_id}/members/{user_id}", route_room_member_add, A | R_JSON_OPT},
    {"DELETE", "/chat/rooms/{room_id}/members/{user_id}", route_room_member_remove, A},
    {"GET", "/chat/rooms/{room_id}/members", route_room_members, A},
    {"GET", "/chat/rooms/{room_id}/messages", route_room_messages, A},
    {"POST", "/chat/messages", route_room_send, A | R_JSON},
};
#undef A
const int router_count = sizeof(router_table) / sizeof(router_table[0]);

/* Length of s without one trailing slash (the root "/" keeps its slash). */
static size_t trimmed_len(const char *s, size_t n)
{
    return n > 1 && s[n - 1] == '/' ? n - 1 : n;
}

bool router_match(const char *pattern, const char *path, char params[][HTTP_PARAM_LEN],
                  int *nparams)
{
    const char *p = pattern, *s = path;
    const char *pend = pattern + trimmed_len(pattern, strlen(pattern));
    const char *send = path + trimmed_len(path, strlen(path));

    *nparams = 0;
    while (p < pend && s < send) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            const char *seg_end = memchr(s, '/', (size_t)(send - s));
            size_t len;
            if (close == NULL)
                return false;
            if (seg_end == NULL)
                seg_end = send;
            len = (size_t)(seg_end - s);
            if (len == 0 || len >= HTTP_PARAM_LEN || *nparams == HTTP_MAX_PARAMS)
                return false;
            memcpy(params[*nparams], s, len);
            params[*nparams][len] = '\0';
            (*nparams)++;
            p = close + 1;
            s = seg_end;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    return p == pend && s == send;
}

/* Pattern of route r as served, with the prefix when it has one. */
static const char *full_pattern(const struct chat_config *cfg, const struct route *r, char *buf,
                                size_t len)
{
    if (r->flags & R_ROOT)
        return r->pattern;
    snprintf(buf, len, "%s%s", cfg->api_prefix, r->pattern);
    return buf;
}

void router_print(const struct chat_config *cfg)
{
    char buf[512];
    for (int i = 0; i < router_count; i++)
        printf("%s %s\n", router_table[i].method,
               full_pattern(cfg, &router_table[i], buf, sizeof(buf)));
}

/*
 * Find the route for req's path and method. Returns it, or NULL with allow
 * holding the methods the path supports ("" when no route matches).
 */
static const struct route *find_route(struct http_req *req, char *allow, size_t allow_len)
{
    char buf[512];
    char params[HTTP_MAX_PARAMS][HTTP_PARAM_LEN];
    int n;

    allow[0] = '\0';
    for (int i = 0; i < router_count; i++) {
        const struct route *r = &router_table[i];
        if (!router_match(full_pattern(req->cfg, r, buf, sizeof(buf)), req->path, params, &n))
            continue;
        if (strcmp(r->method, req->method) == 0) {
            memcpy(req->params, params, sizeof(params));
            req->nparams = n;
            for (int k = 0; k < n; k++)
                uuid_canon(req->params[k]); /* ids in any letter case name one thing */
            req->route = r->pattern;
            return r;
        }
        if (strstr(allow, r->method) == NULL) {
            size_t used = strlen(allow);
            snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "", r->method);
        }
    }
    return NULL;
}

static void preflight(struct http_req *req, const char *allow)
{
    if (req->origin != NULL && cfg_origin_allowed(req->cfg, req->origin)) {
        http_header(req, "Access-Control-Allow-Methods: %s, OPTIONS", allow);
        http_header(req, "Access-Control-Allow-Headers: Authorization, Content-Type, "
                         "X-Request-ID, Idempotency-Key");
        http_header(req, "Access-Control-Max-Age: 600");
    }
    http_header(req, "Allow: %s, OPTIONS", allow);
    http_reply(req, 204, NULL);
}

/* General per-client limit: by user when authenticated, else by IP. */
static int rate_limit(struct http_req *req)
{
    struct rl_result rl;
    const struct chat_config *cfg = req->cfg;

    rl_hit(&req->be->rds, req->authed ? "user" : "ip", req->authed ? req->user_id : req->client_ip,
           cfg->rl_per_minute, cfg->rl_per_hour, &rl);
    http_header(req, "X-RateLimit-Limit: %d", rl.limit);
    http_header(req, "X-RateLimit-Remaining: %d", rl.remaining);
    http_header(req, "X-RateLimit-Reset: %d", rl.reset);
    if (rl.allowed)
        return 0;
    http_rate_limited(req, rl.retry_after, "requests");
    return -1;
}

bool router_wants_backend(struct http_req *req)
{
    char allow[128];
    const struct route *r = req->path[0] == '/' ? find_route(req, allow, sizeof(allow)) : NULL;
    return r != NULL && !(r->flags & R_NO_BACKEND);
}

void router_dispatch(struct http_req *req)
{
    char allow[128];
    const struct route *r;
    bool has_body;

    if (req->path[0] != '/') {
        http_error(req, 400, "bad_request", "malformed request path");
        return;
    }
    r = find_route(req, allow, sizeof(allow));
    if (r == NULL) {
        if (allow[0] == '\0')
            http_error(req, 404, "not_found", "no route for %s", req->path);
        else if (strcmp(req->method, "OPTIONS") == 0)
            preflight(req, allow);
        else {
            http_header(req, "Allow: %s", allow);
            http_error(req, 405, "method_not_allowed", "%s is not allowed here; allowed: %s",
                       req->method, allow);
        }
        return;
    }
    if ((r->flags & R_AUTH) && auth_authenticate(req, !(r->flags & R_LIVE_BY_MEMBERSHIP)) != 0)
        return;
    if (!(r->flags & R_NO_RL) && rate_limit(req) != 0)
        return;
    has_body = strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0;
    if (has_body && http_read_body(req) != 0)
        return;
    if ((r->flags & (R_JSON | R_JSON_OPT)) && http_parse_json(req, r->flags & R_JSON_OPT) != 0)
        return;
    r->fn(req);
    if (!req->responded) {
        log_error(req->request_id, "handler for %s answered nothing", r->pattern);
        http_error(req, 500, "internal_error", "the handler produced no response");
    }
}
