/* publish.c - see publish.h. */
#include "publish.h"
#include "events.h"
#include "gw.h"

static void ignore_reply(void *reply, void *arg)
{
    (void)reply;
    (void)arg;
}

/*
 * Send p's commands on the command link (replies unread; the cache script,
 * "EVAL src 2 keys...", by EVALSHA through rlink_eval); frees p.
 */
static void pub_send(struct ev_pub *p)
{
    for (int i = 0; i < p->n; i++) {
        if (i == p->script && p->script > 0)
            rlink_eval(gw.cmd, &ev_cache_apply_script, 2, p->argc[i] - 3, p->argv[i] + 3,
                       ignore_reply, NULL);
        else
            rlink_cmd(gw.cmd, NULL, NULL, p->argc[i], p->argv[i], NULL);
    }
    ev_pub_free(p);
}

void publish_event(const char *conv_id, json_t *ev)
{
    struct ev_pub p;

    if (ev_pub_event(&p, gw.cfg.stream_shards, conv_id, ev) == 0)
        pub_send(&p);
    json_decref(ev);
}

void publish_message(const char *conv_id, long long seq, json_t *msg)
{
    struct ev_pub p;

    if (ev_pub_message(&p, gw.cfg.stream_shards, conv_id, seq, msg) == 0)
        pub_send(&p);
}

void publish_typing(const char *conv_id, const char *user_id, bool typing)
{
    struct ev_pub p;

    if (ev_pub_typing(&p, gw.cfg.stream_shards, conv_id, user_id, typing) == 0)
        pub_send(&p);
}

void publish_change(const char *conv_id, long long seq, const json_t *ev, const json_t *msg)
{
    struct ev_pub p;

    if (ev_pub_change(&p, gw.cfg.stream_shards, conv_id, seq, ev, msg) == 0)
        pub_send(&p);
}
