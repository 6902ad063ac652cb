/*
 * conn.h - one WebSocket connection's I/O: the bounded outgoing queue,
 * framing, the write of pending frames before the loop sleeps, liveness
 * (pings, idle sockets), reassembly of incoming frames, and closing.
 *
 * This is the gateway's networking.c: it knows sockets and bytes, not
 * what the frames mean. The modules above it (client.c, fanout.c,
 * presence.c) keep their per-connection state in the fields marked as
 * theirs below. A connection is reference counted: the socket holds one
 * reference, and every query or command in flight for it one more, so a
 * callback that arrives after the socket closed finds c->wsi == NULL
 * instead of freed memory.
 */
#ifndef GW_CONN_H
#define GW_CONN_H

#include "admit.h"
#include "handshake.h"
#include "uuid.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONN_EARLY_MAX 8          /* frames held while the authorisation runs */
#define CONN_COALESCE_BYTES 65536 /* one write's worth of queued frames */

struct gw_frame {
    struct gw_frame *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes of headroom, then the payload */
};

struct gw_sub;

struct gw_conn {
    /* conn.c */
    struct lws *wsi; /* NULL once the socket is closed */
    int refs;        /* the socket plus everything in flight for it */
    struct gw_frame *qhead, *qtail;
    int qlen;
    uint64_t progress_ms; /* loop time of the last frame out (or of queueing into an empty queue) */
    int close_code;
    char *rx;
    size_t rx_len;
    bool posted;      /* on the flush list: frames queued since the last flush */
    bool ping_due;    /* the liveness sweep wants a ping sent */
    uint64_t rx_ms;   /* loop time of the last frame (any, pongs too) from the client */
    uint64_t ping_ms; /* loop time of the last ping sent */
    uint64_t open_ms; /* loop time the socket was established */
    struct gw_conn *prev, *next, *next_posted;

    /* who it is: the handshake (session.c) and the authorisation (client.c) */
    char user_id[UUID_STR_LEN];
    char username[80];
    char conv_id[UUID_STR_LEN]; /* per-conversation socket, else "" */
    long long token_iat;        /* the access token's issue and expiry times (epoch s) */
    long long token_exp;        /* the socket closes with 4401 then, unless re-authorised */
    bool authorized;
    bool has_since;
    long long since_seq;
    struct hs_resume *resume; /* all-conversations socket: ?since= (malloc'd), else NULL */
    int nresume;

    /* admit.c: what the socket counts for (its client address, its user) */
    struct admit_ticket admit;
    /* client.c */
    char *early[CONN_EARLY_MAX]; /* frames that came before the authorisation ended */
    int nearly;
    char typing_conv[UUID_STR_LEN]; /* where the client last said it types, "" if it stopped */
    uint64_t typing_until_ms;       /* loop time that typing entry expires */
    uint64_t limit_quiet_ms[2];     /* per limited frame kind: no more rate_limited notices until */

    /* fanout.c */
    struct gw_sub *subs;
};

/* Start and stop the before-sleep flush and the liveness sweep. */
void conn_start(void);
void conn_stop(void);

/* A connection for an established socket (one reference: the socket's). NULL: no memory. */
struct gw_conn *conn_new(struct lws *wsi);

/* The socket is gone (LWS_CALLBACK_CLOSED): unlink c and drop the socket's reference. */
void conn_closed(struct gw_conn *c);

void conn_ref(struct gw_conn *c);
void conn_unref(struct gw_conn *c);

/* Every open connection, for a walk with c->next; and how many there are. */
struct gw_conn *conn_first(void);
int conn_count(void);

/*
 * Whether user_id has a connection here: an authorised one, or (any) also
 * one whose authorisation is still running.
 */
bool conn_has_user(const char *user_id, bool any);

/*
 * The user ids of the connections (borrowed; a user once per connection),
 * into ids, which holds conn_count(); with the same choice as
 * conn_has_user(). Returns how many.
 */
int conn_user_ids(const char **ids, bool any);

/* Queue a text frame (copied); a client that stopped reading is closed with 1008. */
void conn_send_text(struct gw_conn *c, const char *text, size_t n);
void conn_send(struct gw_conn *c, json_t *msg /* stolen */);
/* {"type":"error","code","message"[,"retry_after"]} */
void conn_send_error(struct gw_conn *c, const char *code, const char *message, int retry_after);

/* Close with code once the queued frames are out (at most 5 s more). */
void conn_close(struct gw_conn *c, int code);
void conn_close_all(int code);

/* LWS_CALLBACK_SERVER_WRITEABLE; returns what the lws callback must. */
int conn_writeable(struct gw_conn *c);

/*
 * A fragment of an incoming frame (LWS_CALLBACK_RECEIVE). Returns 1 with
 * the whole frame (NUL-terminated, owned by c until the next call) in
 * *frame and *n, 0 while fragments are missing, -1 when the frame exceeds
 * WS_MAX_FRAME or memory ran out (the lws callback then returns -1).
 */
int conn_receive(struct gw_conn *c, const void *in, size_t len, const char **frame, size_t *n);

/* The client said something (a frame or a pong): it is alive. */
void conn_heard(struct gw_conn *c);

/* Pure parts, exposed for the unit tests. */

/* Bytes of a server (unmasked) text frame header for a payload of n, written to h (10 bytes). */
size_t conn_frame_header(unsigned char *h, size_t n);

/*
 * Whether a queue of qlen frames (limit max) whose last progress was at
 * progress_ms is stalled at now_ms: full and nothing left for a second, or
 * four times full in any case.
 */
bool conn_queue_stalled(int qlen, int max, uint64_t now_ms, uint64_t progress_ms);

#endif
