/* gw.c - see gw.h. */
#include "gw.h"
#include "events.h"

#include <stdlib.h>

struct gw gw;

int gw_links_open(rlink_state_cb on_sub_link)
{
    gw.npg = gw.cfg.db_pool_size < GW_PG_MAX ? gw.cfg.db_pool_size : GW_PG_MAX;
    for (int i = 0; i < gw.npg; i++)
        if ((gw.pgs[i] = pgq_new(&gw.loop, gw.cfg.database_url)) == NULL)
            gw.npg = i;
    /*
     * Background writes (delivered watermarks: thousands of rows every
     * flush under fan-out) get a connection of their own, so sends never
     * queue behind them.
     */
    gw.bg = pgq_new(&gw.loop, gw.cfg.database_url);
    gw.cmd = rlink_new(&gw.loop, &gw.cfg, "cmd", 3000, NULL, NULL);
    gw.sub = rlink_new(&gw.loop, &gw.cfg, "stream", 10000, on_sub_link, NULL);
    return gw.bg == NULL || gw.npg == 0 || gw.cmd == NULL || gw.sub == NULL ? -1 : 0;
}

void gw_links_close(void)
{
    rlink_close(gw.cmd);
    rlink_close(gw.sub);
    for (int i = 0; i < gw.npg; i++)
        pgq_free(gw.pgs[i]);
    pgq_free(gw.bg);
}

void gw_links_free(void)
{
    for (int i = 0; i < gw.npg; i++)
        free(gw.pgs[i]);
    free(gw.bg);
}

struct pgq *gw_pg(const char *key)
{
    if (key == NULL)
        return gw.pgs[gw.pg_next++ % (unsigned)gw.npg];
    return gw.pgs[ev_shard(key, gw.npg)]; /* the stream shards' stable hash */
}
