/*
 * presence.c - who is online, shared by every gateway through Redis.
 *
 * chat:presence:{user} holds, per gateway, until when that gateway vouches
 * for the user; chat:online holds, per user, the latest such expiry. Both
 * are refreshed every 5 s for every local user and expire after 15 s, so a
 * crashed gateway's users drop out by themselves. A clean disconnect of a
 * user's last local socket removes this gateway's entry at once, and the
 * user from chat:online when no other gateway still holds them. Several
 * sockets of one user on one gateway count once.
 */
#include "events.h"
#include "gw.h"

#include <stdio.h>
#include <string.h>

#define PRESENCE_TTL_MS 15000
#define PRESENCE_BEAT_MS 5000

static const char leave_lua[] =
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])\n"
    "if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('ZREM', KEYS[2], ARGV[3]) end\n"
    "return 0\n";

static int local_sockets(const char *user_id)
{
    int n = 0;
    for (struct gw_conn *c = G.conns; c != NULL; c = c->next)
        if (c->authorized && c->wsi != NULL && strcmp(c->user_id, user_id) == 0)
            n++;
    return n;
}

static void vouch(const char *user_id)
{
    char key[EV_KEY_MAX], exp[24], ttl[16];
    const char *z1[] = {"ZADD", key, exp, G.cfg.gateway_id};
    const char *z2[] = {"ZADD", EV_ONLINE_KEY, "GT", exp, user_id};
    const char *px[] = {"PEXPIRE", key, ttl};

    ev_presence_key(user_id, key);
    snprintf(exp, sizeof(exp), "%lld", (long long)(ev_epoch_ms() + PRESENCE_TTL_MS));
    snprintf(ttl, sizeof(ttl), "%d", PRESENCE_TTL_MS);
    rlink_cmd(G.cmd, NULL, NULL, 4, z1, NULL);
    rlink_cmd(G.cmd, NULL, NULL, 5, z2, NULL);
    rlink_cmd(G.cmd, NULL, NULL, 3, px, NULL);
}

void gw_presence_join(struct gw_conn *c)
{
    vouch(c->user_id);
}

void gw_presence_leave(struct gw_conn *c)
{
    char key[EV_KEY_MAX], now[24];
    const char *argv[] = {"EVAL",        leave_lua,        "2", key,
                          EV_ONLINE_KEY, G.cfg.gateway_id, now, c->user_id};

    if (local_sockets(c->user_id) > 0)
        return;
    ev_presence_key(c->user_id, key);
    snprintf(now, sizeof(now), "%lld", (long long)ev_epoch_ms());
    rlink_cmd(G.cmd, NULL, NULL, 8, argv, NULL);
}

void gw_presence_heartbeat(uv_timer_t *t)
{
    (void)t;
    for (struct gw_conn *c = G.conns; c != NULL; c = c->next) {
        bool first = true;
        if (!c->authorized || c->wsi == NULL)
            continue;
        /* one vouch per user even with several sockets */
        for (struct gw_conn *p = G.conns; p != c; p = p->next)
            if (p->authorized && p->wsi != NULL && strcmp(p->user_id, c->user_id) == 0)
                first = false;
        if (first)
            vouch(c->user_id);
    }
}
