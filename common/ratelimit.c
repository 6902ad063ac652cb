/* ratelimit.c - see ratelimit.h. */
#include "ratelimit.h"
#include "log.h"
#include "stats.h"

#include <stdio.h>
#include <string.h>

struct rds_script rl_script = {
    .src = "local m = redis.call('INCR', KEYS[1])\n"
           "if m == 1 then redis.call('EXPIRE', KEYS[1], 60) end\n"
           "local mt = redis.call('TTL', KEYS[1])\n"
           "if mt < 0 then redis.call('EXPIRE', KEYS[1], 60); mt = 60 end\n"
           "local h, ht = 0, 0\n"
           "if #KEYS > 1 then\n"
           "  h = redis.call('INCR', KEYS[2])\n"
           "  if h == 1 then redis.call('EXPIRE', KEYS[2], 3600) end\n"
           "  ht = redis.call('TTL', KEYS[2])\n"
           "  if ht < 0 then redis.call('EXPIRE', KEYS[2], 3600); ht = 3600 end\n"
           "end\n"
           "return {m, mt, h, ht}\n",
};

void rl_keys(const char *scope, const char *id, char minute[128], char hour[128])
{
    snprintf(minute, 128, "chat:rl:%s:{%s}:m", scope, id);
    snprintf(hour, 128, "chat:rl:%s:{%s}:h", scope, id);
}

int rl_result_from_reply(const redisReply *rep, const char *scope, int per_minute, int per_hour,
                         struct rl_result *out)
{
    long long m, mt, h, ht;
    int rem_m, rem_h;

    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 4)
        return -1;
    for (int i = 0; i < 4; i++)
        if (rep->element[i]->type != REDIS_REPLY_INTEGER)
            return -1;
    m = rep->element[0]->integer;
    mt = rep->element[1]->integer;
    h = rep->element[2]->integer;
    ht = rep->element[3]->integer;
    rem_m = per_minute - (int)m;
    rem_h = per_hour > 0 ? per_hour - (int)h : rem_m;
    out->allowed = m <= per_minute && (per_hour <= 0 || h <= per_hour);
    out->reset = (int)(mt > 0 ? mt : 1);
    if (per_hour > 0 && rem_h < rem_m) {
        out->limit = per_hour;
        out->remaining = rem_h > 0 ? rem_h : 0;
    } else {
        out->limit = per_minute;
        out->remaining = rem_m > 0 ? rem_m : 0;
    }
    if (out->allowed)
        out->retry_after = 0;
    else if (per_hour > 0 && h > per_hour)
        out->retry_after = (int)(ht > 0 ? ht : 1);
    else
        out->retry_after = out->reset;
    if (!out->allowed)
        stats_rate_limited(scope);
    return 0;
}

int rl_hit(struct rds_conn *r, const char *scope, const char *id, int per_minute, int per_hour,
           struct rl_result *out)
{
    char km[128], kh[128];
    const char *keys[2] = {km, kh};
    redisReply *rep;
    int rc;

    memset(out, 0, sizeof(*out));
    out->allowed = true;
    out->limit = per_minute;
    out->remaining = per_minute;
    rl_keys(scope, id, km, kh);
    rep = rds_eval(r, &rl_script, per_hour > 0 ? 2 : 1, per_hour > 0 ? 2 : 1, keys);
    rc = rl_result_from_reply(rep, scope, per_minute, per_hour, out);
    if (rc != 0) {
        out->allowed = true;
        log_warn(NULL, "rate limit check skipped: redis unavailable");
    }
    if (rep != NULL)
        freeReplyObject(rep);
    return rc;
}
