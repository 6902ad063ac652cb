/*
 * ratelimit.h - fixed-window rate limits in Redis, one script per check.
 *
 * A check counts one hit in a per-minute and (optionally) a per-hour
 * window for (scope, id) atomically (one EVALSHA) and says whether the hit
 * is within both limits. Scopes in use: "ip" and "user" (REST requests),
 * "auth-ip" and "auth-acct" (login/register brute force), "msg" (messages
 * per user, REST and WebSocket alike). When Redis is down checks fail open:
 * availability of chat beats strict limits, and every such event is logged.
 */
#ifndef CHAT_RATELIMIT_H
#define CHAT_RATELIMIT_H

#include "rds.h"

#include <stdbool.h>

struct rl_result {
    bool allowed;
    int limit;       /* the limit of the tighter window */
    int remaining;   /* hits left in the tighter window */
    int reset;       /* seconds until the minute window resets */
    int retry_after; /* seconds to wait when !allowed */
};

/* The Lua script (KEYS: minute key, hour key; ARGV: none). */
extern struct rds_script rl_script;

/* Build the window keys for (scope, id). */
void rl_keys(const char *scope, const char *id, char minute[128], char hour[128]);

/*
 * Count one hit. per_hour <= 0 means no hourly window. Returns 0 with out
 * filled, or -1 when Redis is unavailable (out->allowed is then true).
 */
int rl_hit(struct rds_conn *r, const char *scope, const char *id, int per_minute, int per_hour,
           struct rl_result *out);

/*
 * Interpret the script's reply {minute_count, minute_ttl, hour_count,
 * hour_ttl} for scope's limit (a refusal is counted in the metrics);
 * shared with the gateway's async client. Returns 0 or -1.
 */
int rl_result_from_reply(const redisReply *rep, const char *scope, int per_minute, int per_hour,
                         struct rl_result *out);

#endif
