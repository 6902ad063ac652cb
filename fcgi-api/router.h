/*
 * router.h - the route table and request dispatch.
 *
 * Every REST endpoint is one row of the table in router.c. Dispatch does,
 * in order: path match (404), CORS preflight, method check (405 + Allow),
 * authentication (401), rate limiting (429), body reading (413/415/400),
 * then the handler. The same table prints itself (`chat-api routes`) so a
 * test can check the OpenAPI document lists every route.
 */
#ifndef CHAT_ROUTER_H
#define CHAT_ROUTER_H

#include "http.h"

typedef void (*route_fn)(struct http_req *req);

enum route_flags {
    R_AUTH = 1 << 0,     /* bearer access token required */
    R_JSON = 1 << 1,     /* JSON object body required */
    R_JSON_OPT = 1 << 2, /* JSON object body optional */
    R_NO_RL = 1 << 3,    /* not counted by the general rate limit */
    R_ROOT = 1 << 4,     /* pattern is absolute, not under API_V1_PREFIX */
    /*
     * With R_AUTH: only the token is checked here. The handler's statement
     * requires membership, which a deleted user no longer has (deletion
     * removes memberships in the same statement), and its not-a-member
     * answer goes through auth_not_found(), so a deleted user's token still
     * gets 401. Saves a database round trip on the hottest routes.
     */
    R_LIVE_BY_MEMBERSHIP = 1 << 5,
    R_NO_BACKEND = 1 << 6, /* answered without a backend from the pool (liveness) */
};

struct route {
    const char *method;
    const char *pattern; /* "/conversations/{id}/messages"; {x} matches one segment */
    route_fn fn;
    unsigned flags;
};

extern const struct route router_table[];

/*
 * Whether req needs a backend (a PostgreSQL and a Redis connection) from
 * the pool: not for an unknown path or method (404/405) nor for a route
 * marked R_NO_BACKEND, so those answer even when every backend is busy.
 */
bool router_wants_backend(struct http_req *req);
extern const int router_count;

void router_dispatch(struct http_req *req);

/* Print "METHOD /full/path" for every route, one a line. */
void router_print(const struct chat_config *cfg);

/* Match path against pattern; fills params. Exposed for unit tests. */
bool router_match(const char *pattern, const char *path, char params[][HTTP_PARAM_LEN],
                  int *nparams);

#endif
