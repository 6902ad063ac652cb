/*
 * gw.h - state shared by the gateway's modules. One process runs one
 * event loop (libuv) carrying libwebsockets, two Redis links (commands,
 * and the stream reader) and one PostgreSQL connection, so there is one
 * struct gw per process and no locking anywhere.
 */
#ifndef GW_GW_H
#define GW_GW_H

#include "config.h"
#include "pgq.h"
#include "rlink.h"
#include "uuid.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <uv.h>

#define GW_PG_MAX 32 /* PostgreSQL connections per gateway (DB_POOL_SIZE) */

#define GW_BUCKETS 4096

struct gw_frame {
    struct gw_frame *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of headroom, then the payload */
};

/* One conversation a connection listens to. */
struct gw_sub {
    char conv_id[UUID_STR_LEN];
    long long last_seq; /* last seq delivered; -1 = take the next event as base */
    long long seen_max; /* highest seq announced while catching up */
    bool catching_up;
    struct gw_conn *conn;
    struct gw_sub *next_in_bucket, *next_of_conn;
};

struct gw_conn {
    struct lws *wsi; /* NULL once the socket is closed */
    int refs;        /* the socket plus every query in flight for it */
    char user_id[UUID_STR_LEN];
    char username[80];
    char conv_id[UUID_STR_LEN]; /* per-conversation socket, else "" */
    bool authorized;
    bool has_since;
    long long since_seq;
    struct gw_sub *subs;
    struct gw_frame *qhead, *qtail;
    int qlen;
    uint64_t progress_ms; /* loop time of the last frame out (or of queueing into an empty queue) */
    int close_code;
    char *rx;
    size_t rx_len;
    char *early[8]; /* frames that came before the membership check ended */
    int nearly;
    bool posted;              /* on G.posted: frames queued since the last flush */
    bool ping_due;            /* the liveness sweep wants a ping sent */
    uint64_t rx_ms;           /* loop time of the last frame (any, pongs too) from the client */
    uint64_t ping_ms;         /* loop time of the last ping sent */
    char typing_conv[UUID_STR_LEN]; /* where the client last said it types, "" if it stopped */
    uint64_t typing_until_ms; /* loop time that typing entry expires */
    struct gw_conn *prev, *next, *next_posted;
};

struct gw {
    struct chat_config cfg;
    uv_loop_t loop;
    struct lws_context *lws;
    struct pgq *pg;              /* background writes (watermarks), health */
    struct pgq *pgs[GW_PG_MAX]; /* DB_POOL_SIZE links for sends and reads */
    int npg;
    unsigned pg_next;
    struct rlink *cmd, *sub;
    struct gw_sub *buckets[GW_BUCKETS];
    char (*stream_ids)[32];
    bool xread_inflight;
    struct gw_conn *conns;
    int nconns;
    struct gw_conn *posted; /* connections with frames to write before the loop sleeps */
    uv_prepare_t flush;
    uv_timer_t heartbeat, stop_timer, liveness;
    uv_signal_t sigterm, sigint;
    bool stopping;
};

extern struct gw G;

/* session.c */
extern const struct lws_protocols gw_protocols[];

/*
 * The database link for a statement about key (a conversation id): the same
 * conversation always goes through the same connection, so one client's
 * sends commit in the order it sent them; NULL spreads round-robin.
 */
struct pgq *gw_pg(const char *key);
void gw_conn_send(struct gw_conn *c, json_t *msg /* stolen */);
/* The same frame to many sockets: serialise once, queue a copy each. */
void gw_conn_send_text(struct gw_conn *c, const char *text, size_t n);
void gw_conn_close(struct gw_conn *c, int code);
void gw_conn_unref(struct gw_conn *c);
void gw_close_all(int code);
void gw_flush_init(void);
void gw_flush_close(void);
void gw_liveness_sweep(uv_timer_t *t);

/* fanout.c */
void gw_sub_add(struct gw_conn *c, const char *conv_id, long long last_seq, bool initial);
void gw_subs_drop(struct gw_conn *c);
void gw_stream_start(void);
void gw_on_sub_link(int up, void *arg);
void gw_publish(const char *conv_id, json_t *ev /* stolen */);
/* A stored message: its event and the conversation's cache, serialised once. */
void gw_publish_message(const char *conv_id, long long seq, json_t *msg /* borrowed */);
/* A typing change: the conversation's typing set, then its event. */
void gw_publish_typing(const char *conv_id, const char *user_id, bool typing);

/* delivered.c */
void gw_delivered(const char *conv_id, const char *user_id, long long seq);
void gw_delivered_flush(void);
void gw_delivered_close(void);

/* presence.c */
void gw_presence_join(struct gw_conn *c);
void gw_presence_leave(struct gw_conn *c);
void gw_presence_heartbeat(uv_timer_t *t);

#endif
