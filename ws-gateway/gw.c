/* gw.c - see gw.h. */
#include "gw.h"
#include "events.h"

#include <stdlib.h>
#include <string.h>

struct gw gw;

/*
 * Our bounds on every wait for PostgreSQL: a connect (libpq's
 * connect_timeout, which the effective conninfo carries, plus a margin),
 * and a statement (the server's statement_timeout plus a margin: past it
 * the server is hung, not busy).
 */
#define GW_PG_MARGIN_MS 1000

static const struct gw_hooks *hooks_of_listen;

static void on_notify(const char *channel, const char *payload, void *arg)
{
    (void)arg;
    if (strcmp(channel, GW_MEMBER_CHANNEL) == 0)
        hooks_of_listen->member_change(payload);
    else if (strcmp(channel, GW_ACCOUNT_CHANNEL) == 0)
        hooks_of_listen->account_change(payload);
}

static void on_listen_up(void *arg)
{
    (void)arg;
    hooks_of_listen->listen_up();
}

static struct pgq *pg_open(const char *name, const struct gw_hooks *hooks)
{
    static const char *const channels[] = {GW_MEMBER_CHANNEL, GW_ACCOUNT_CHANNEL, NULL};

    struct pgq_opts o = {
        .conninfo = gw.cfg.database_url,
        .name = name,
        .connect_timeout_ms = gw.cfg.db_connect_timeout_secs * 1000 + GW_PG_MARGIN_MS,
        .statement_timeout_ms = gw.cfg.db_statement_timeout_ms + GW_PG_MARGIN_MS,
    };
    if (hooks != NULL) {
        hooks_of_listen = hooks;
        o.listen = channels;
        o.on_notify = on_notify;
        o.on_up = on_listen_up;
    }
    return pgq_new(&gw.loop, &o);
}

int gw_links_open(const struct gw_hooks *hooks)
{
    gw.npg = gw.cfg.db_pool_size < GW_PG_MAX ? gw.cfg.db_pool_size : GW_PG_MAX;
    for (int i = 0; i < gw.npg; i++)
        if ((gw.pgs[i] = pg_open("pool", NULL)) == NULL)
            gw.npg = i;
    /*
     * Background writes (delivered watermarks: thousands of rows every
     * flush under fan-out) get a connection of their own, so sends never
     * queue behind them; so does the listener, which must stay connected.
     */
    gw.bg = pg_open("background", NULL);
    gw.listen = pg_open("listen", hooks);
    gw.cmd = rlink_new(&gw.loop, &gw.cfg, "cmd", 3000, NULL, NULL);
    gw.sub = rlink_new(&gw.loop, &gw.cfg, "stream", 10000, hooks->stream_link, NULL);
    return gw.bg == NULL || gw.listen == NULL || gw.npg == 0 || gw.cmd == NULL || gw.sub == NULL
               ? -1
               : 0;
}

void gw_links_close(void)
{
    rlink_close(gw.cmd);
    rlink_close(gw.sub);
    for (int i = 0; i < gw.npg; i++)
        pgq_free(gw.pgs[i]);
    pgq_free(gw.bg);
    pgq_free(gw.listen);
    gw.npg = 0;
    gw.bg = gw.listen = NULL;
    gw.cmd = gw.sub = NULL;
}

static struct {
    uv_timer_t timer;
    bool inflight;
} probe;

static void on_probed(PGresult *r, enum db_err err, void *arg)
{
    (void)r;
    (void)err;
    (void)arg;
    probe.inflight = false;
}

static void on_probe(uv_timer_t *t)
{
    static const char *ping[] = {"PING"};

    (void)t;
    if (!probe.inflight && pgq_is_up(gw.bg) &&
        pgq_exec(gw.bg, "SELECT 1", 0, NULL, on_probed, NULL) == 0)
        probe.inflight = true;
    rlink_cmd(gw.cmd, NULL, NULL, 1, ping, NULL);
}

void gw_probe_start(void)
{
    uv_timer_init(&gw.loop, &probe.timer);
    uv_timer_start(&probe.timer, on_probe, 1000, 1000);
}

void gw_probe_stop(void)
{
    uv_timer_stop(&probe.timer);
    uv_close((uv_handle_t *)&probe.timer, NULL);
}

bool gw_pg_up(void)
{
    if (!pgq_is_up(gw.bg))
        return false;
    for (int i = 0; i < gw.npg; i++)
        if (!pgq_is_up(gw.pgs[i]))
            return false;
    return true;
}

struct pgq *gw_pg(const char *key)
{
    if (key == NULL)
        return gw.pgs[gw.pg_next++ % (unsigned)gw.npg];
    return gw.pgs[ev_shard(key, gw.npg)]; /* the stream shards' stable hash */
}
