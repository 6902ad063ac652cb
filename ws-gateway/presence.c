/*
 * presence.c - see presence.h.
 *
 * chat:presence:{user} holds, per gateway, until when that gateway vouches
 * for the user; chat:online holds, per user, the latest such expiry. Both
 * are refreshed every 5 s for every local user and expire after 15 s, so a
 * crashed gateway's users drop out by themselves. A clean disconnect of a
 * user's last local socket removes this gateway's entry at once, and the
 * user from chat:online when no other gateway still holds them. Several
 * sockets of one user on one gateway count once.
 */
#include "presence.h"
#include "admit.h"
#include "events.h"
#include "fanout.h"
#include "gw.h"
#include "publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRESENCE_TTL_MS 15000
#define PRESENCE_BEAT_MS 5000

/* KEYS: the user's presence, the online set; ARGV: gateway, now, user. 1: offline everywhere. */
static struct rds_script leave_script = {
    .src = "redis.call('ZREM', KEYS[1], ARGV[1])\n"
           "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])\n"
           "if redis.call('ZCARD', KEYS[1]) == 0 then\n"
           "  redis.call('ZREM', KEYS[2], ARGV[3])\n"
           "  return 1\n"
           "end\n"
           "return 0\n",
};

/* Tell the members of every conversation of c that its user came or went. */
static void announce(const char *user_id, char (*convs)[UUID_STR_LEN], int n, bool online)
{
    for (int i = 0; i < n; i++)
        publish_event(convs[i],
                      json_pack("{s:s, s:s, s:s, s:b}", "type", "presence", "conversation_id",
                                convs[i], "user_id", user_id, "online", online));
}

struct leave_ctx {
    char user_id[UUID_STR_LEN];
    char (*convs)[UUID_STR_LEN];
    int n;
};

static void on_left(void *reply, void *arg)
{
    struct leave_ctx *x = arg;
    redisReply *r = reply;
    if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1)
        announce(x->user_id, x->convs, x->n, false);
    free(x->convs);
    free(x);
}

/*
 * Authorised sockets per user on this gateway are admit.c's count (a hash,
 * not a scan: a scan made a connect storm quadratic): join runs after the
 * socket was counted for its user, leave before it is uncounted.
 */
static struct {
    uv_timer_t heartbeat;
} presence;

static void vouch(const char *user_id)
{
    char key[EV_KEY_MAX], exp[24], ttl[16];
    const char *z1[] = {"ZADD", key, exp, gw.cfg.gateway_id};
    const char *z2[] = {"ZADD", EV_ONLINE_KEY, "GT", exp, user_id};
    const char *px[] = {"PEXPIRE", key, ttl};

    ev_presence_key(user_id, key);
    snprintf(exp, sizeof(exp), "%lld", (long long)(ev_epoch_ms() + PRESENCE_TTL_MS));
    snprintf(ttl, sizeof(ttl), "%d", PRESENCE_TTL_MS);
    rlink_cmd(gw.cmd, NULL, NULL, 4, z1, NULL);
    rlink_cmd(gw.cmd, NULL, NULL, 5, z2, NULL);
    rlink_cmd(gw.cmd, NULL, NULL, 3, px, NULL);
}

void presence_join(struct gw_conn *c)
{
    int n;
    char(*ids)[UUID_STR_LEN];

    vouch(c->user_id);
    if (admit_user_sockets(c->user_id) > 1)
        return; /* this gateway already announced the user */
    if ((n = fanout_conv_ids(c, &ids)) >= 0)
        announce(c->user_id, ids, n, true);
    free(ids);
}

void presence_leave(struct gw_conn *c)
{
    char key[EV_KEY_MAX], now[24];
    const char *args[] = {key, EV_ONLINE_KEY, gw.cfg.gateway_id, now, c->user_id};
    struct leave_ctx *x;

    if (admit_user_sockets(c->user_id) > 1 || (x = calloc(1, sizeof(*x))) == NULL)
        return; /* another socket of the user stays here */
    snprintf(x->user_id, sizeof(x->user_id), "%s", c->user_id);
    x->n = fanout_conv_ids(c, &x->convs);
    if (x->n < 0)
        x->n = 0;
    ev_presence_key(c->user_id, key);
    snprintf(now, sizeof(now), "%lld", (long long)ev_epoch_ms());
    if (rlink_eval(gw.cmd, &leave_script, 2, 5, args, on_left, x) != 0) {
        free(x->convs);
        free(x);
    }
}

/* Vouch once for every user with a live socket here. */
static void on_heartbeat(uv_timer_t *t)
{
    (void)t;
    admit_each_user(vouch);
}

void presence_start(void)
{
    uv_timer_init(&gw.loop, &presence.heartbeat);
    uv_timer_start(&presence.heartbeat, on_heartbeat, PRESENCE_BEAT_MS, PRESENCE_BEAT_MS);
}

void presence_stop(void)
{
    uv_timer_stop(&presence.heartbeat);
    uv_close((uv_handle_t *)&presence.heartbeat, NULL);
}
