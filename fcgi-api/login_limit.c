/* login_limit.c - see login_limit.h. */
#include "login_limit.h"
#include "log.h"
#include "stats.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define ADDRESS_WINDOW_SECS 900
#define ACCOUNT_WINDOW_SECS 3600
#define FAMILIAR_SECS (30 * 86400)
#define FAMILIAR_MAX 64

/* KEYS: address failures, account failures, familiar addresses. ARGV: address, both limits. */
static struct rds_script check_script = {
    .src = "local function over(key, limit)\n"
           "  local n = tonumber(redis.call('GET', key) or '0')\n"
           "  if n < limit then return nil end\n"
           "  local ttl = redis.call('TTL', key)\n"
           "  if ttl < 1 then ttl = 1 end\n"
           "  return ttl\n"
           "end\n"
           "local t = over(KEYS[1], tonumber(ARGV[2]))\n"
           "if t then return t end\n"
           "if not redis.call('ZSCORE', KEYS[3], ARGV[1]) then\n"
           "  t = over(KEYS[2], tonumber(ARGV[3]))\n"
           "  if t then return t end\n"
           "end\n"
           "return 0\n",
};

/* Same KEYS. ARGV: address, address window, account window. */
static struct rds_script failed_script = {
    .src = "if redis.call('INCR', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end\n"
           "if not redis.call('ZSCORE', KEYS[3], ARGV[1]) then\n"
           "  if redis.call('INCR', KEYS[2]) == 1 then\n"
           "    redis.call('EXPIRE', KEYS[2], ARGV[3])\n"
           "  end\n"
           "end\n"
           "return 0\n",
};

/* Same KEYS. ARGV: address, now (ms), how many to keep, their lifetime. */
static struct rds_script succeeded_script = {
    .src = "redis.call('DEL', KEYS[1])\n"
           "redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])\n"
           "redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -1 - tonumber(ARGV[3]))\n"
           "redis.call('EXPIRE', KEYS[3], ARGV[4])\n"
           "return 0\n",
};

#define KEYS_ARGS 4 /* three keys and the address */
#define MAX_ARGS (KEYS_ARGS + 3)

void login_account(const char *user_id, const char *typed, char out[LOGIN_ACCOUNT_LEN])
{
    unsigned char h[16];
    char lower[256], hex[33];
    size_t n = 0;

    if (user_id != NULL) {
        snprintf(out, LOGIN_ACCOUNT_LEN, "u:%s", user_id);
        return;
    }
    for (; typed[n] != '\0' && n < sizeof(lower) - 1; n++)
        lower[n] = (char)tolower((unsigned char)typed[n]);
    crypto_generichash(h, sizeof(h), (const unsigned char *)lower, n, NULL, 0);
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    snprintf(out, LOGIN_ACCOUNT_LEN, "n:%s", hex);
}

/*
 * Run s on the account's keys with the client's address and nvals more
 * values; its integer reply, or 0 when Redis did not answer (fail open).
 */
static long long run(struct http_req *req, struct rds_script *s, const char *account,
                     const char **vals, int nvals)
{
    char address[200], failures[100], familiar[100];
    const char *args[MAX_ARGS] = {address, failures, familiar, req->client_ip};
    redisReply *rep;
    long long v = 0;

    snprintf(address, sizeof(address), "chat:login:{%s}:fail:%s", account, req->client_ip);
    snprintf(failures, sizeof(failures), "chat:login:{%s}:fail", account);
    snprintf(familiar, sizeof(familiar), "chat:login:{%s}:known", account);
    for (int i = 0; i < nvals; i++)
        args[KEYS_ARGS + i] = vals[i];
    rep = rds_eval(&req->be->rds, s, 3, KEYS_ARGS + nvals, args);
    if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
        v = rep->integer;
    else
        log_warn(req->request_id, "login throttling skipped: redis unavailable");
    if (rep != NULL)
        freeReplyObject(rep);
    return v;
}

bool login_allowed(struct http_req *req, const char *account)
{
    char per_address[16], per_account[16];
    const char *vals[] = {per_address, per_account};
    long long wait;

    snprintf(per_address, sizeof(per_address), "%d", req->cfg->login_fails_address);
    snprintf(per_account, sizeof(per_account), "%d", req->cfg->login_fails_account);
    wait = run(req, &check_script, account, vals, 2);
    if (wait <= 0)
        return true;
    stats_rate_limited("login");
    http_rate_limited(req, (int)wait, "failed logins");
    return false;
}

void login_failed(struct http_req *req, const char *account)
{
    char aw[16], cw[16];
    const char *vals[] = {aw, cw};

    snprintf(aw, sizeof(aw), "%d", ADDRESS_WINDOW_SECS);
    snprintf(cw, sizeof(cw), "%d", ACCOUNT_WINDOW_SECS);
    run(req, &failed_script, account, vals, 2);
}

void login_succeeded(struct http_req *req, const char *account)
{
    char now[32], keep[16], life[16];
    const char *vals[] = {now, keep, life};

    snprintf(now, sizeof(now), "%lld", (long long)rds_now_ms());
    snprintf(keep, sizeof(keep), "%d", FAMILIAR_MAX);
    snprintf(life, sizeof(life), "%d", FAMILIAR_SECS);
    run(req, &succeeded_script, account, vals, 3);
}
