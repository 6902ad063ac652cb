/* publish.c - see publish.h. */
#include "publish.h"
#include "events.h"
#include "gw.h"

/* Send p's commands on the command link (replies unread); frees p. */
static void pub_send(struct ev_pub *p)
{
    for (int i = 0; i < p->n; i++)
        rlink_cmd(gw.cmd, NULL, NULL, p->argc[i], p->argv[i], NULL);
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
