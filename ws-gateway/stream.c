/* stream.c - see stream.h. */
#include "stream.h"
#include "gw_stats.h"
#include "events.h"
#include "fanout.h"
#include "gw.h"
#include "reconcile.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    char (*ids)[32]; /* last entry id read, per shard */
    bool inflight;
} reader;

static void xread_issue(void);

/* XREAD reply: [[key, [[id, [field, value, ...]], ...]], ...] or nil on timeout. */
static void on_xread(void *reply, void *arg)
{
    redisReply *r = reply;

    (void)arg;
    reader.inflight = false;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            redisReply *stream = r->element[i], *entries;
            int shard;
            if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2)
                continue;
            shard = atoi(stream->element[0]->str + strlen(EV_STREAM_PREFIX));
            entries = stream->element[1];
            for (size_t j = 0; j < entries->elements; j++) {
                redisReply *e = entries->element[j], *fv = e->element[1];
                if (shard >= 0 && shard < gw.cfg.stream_shards)
                    snprintf(reader.ids[shard], sizeof(reader.ids[shard]), "%s",
                             e->element[0]->str);
                gw_stats_stream_event(atoll(e->element[0]->str)); /* id: "<ms>-<n>" */
                for (size_t k = 0; k + 1 < fv->elements; k += 2)
                    if (strcmp(fv->element[k]->str, "e") == 0)
                        fanout_dispatch(fv->element[k + 1]->str, fv->element[k + 1]->len);
            }
        }
    }
    if (!gw.stopping && rlink_is_up(gw.sub))
        xread_issue();
}

static void xread_issue(void)
{
    int n = gw.cfg.stream_shards, argc = 0;
    const char **argv = calloc((size_t)(6 + 2 * n), sizeof(*argv));
    char(*keys)[EV_KEY_MAX] = calloc((size_t)n, sizeof(*keys));

    if (argv == NULL || keys == NULL || reader.inflight)
        goto out;
    argv[argc++] = "XREAD";
    argv[argc++] = "COUNT";
    argv[argc++] = "1000";
    argv[argc++] = "BLOCK";
    argv[argc++] = "5000";
    argv[argc++] = "STREAMS";
    for (int i = 0; i < n; i++) {
        ev_stream_key(i, keys[i]);
        argv[argc++] = keys[i];
    }
    for (int i = 0; i < n; i++)
        argv[argc++] = reader.ids[i];
    if (rlink_cmd(gw.sub, on_xread, NULL, argc, argv, NULL) == 0)
        reader.inflight = true;
out:
    free(argv);
    free(keys);
}

void stream_on_link(int up, void *arg)
{
    (void)arg;
    reader.inflight = false;
    if (up && !gw.stopping) {
        xread_issue();
        reconcile_now(true); /* what was published while the link was down may be gone */
    }
}

void stream_start(void)
{
    /* "$" would skip what is published between two XREAD calls. */
    reader.ids = calloc((size_t)gw.cfg.stream_shards, sizeof(*reader.ids));
    for (int i = 0; reader.ids != NULL && i < gw.cfg.stream_shards; i++)
        snprintf(reader.ids[i], sizeof(reader.ids[i]), "%lld-0", (long long)ev_epoch_ms());
}

void stream_stop(void)
{
    free(reader.ids);
    reader.ids = NULL;
}
