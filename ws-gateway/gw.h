/*
 * gw.h - the gateway process: its configuration, event loop and links.
 *
 * One process runs one libuv loop carrying libwebsockets (as a foreign
 * loop), two Redis links (commands, and the stream reader) and
 * DB_POOL_SIZE PostgreSQL connections plus one for background writes and
 * one that listens for membership and account changes, so there is one
 * struct gw per process and no locking anywhere. This is only what every
 * module needs to reach; each module keeps its own state (conn.c the
 * sockets, subs.c the subscriptions, presence.c the local users,
 * delivered.c the watermarks, reconcile.c its rounds).
 */
#ifndef GW_GW_H
#define GW_GW_H

#include "config.h"
#include "pgq.h"
#include "rlink.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <uv.h>

#define GW_PG_MAX 32 /* PostgreSQL connections per gateway (DB_POOL_SIZE) */

struct gw {
    struct chat_config cfg;
    uv_loop_t loop;
    struct lws_context *lws;
    struct pgq *bg;             /* background writes (watermarks) and /health */
    struct pgq *listen;         /* LISTEN for membership and account changes */
    struct pgq *pgs[GW_PG_MAX]; /* DB_POOL_SIZE links for sends and reads */
    int npg;
    unsigned pg_next;
    struct rlink *cmd; /* commands: publishing, rate limits, presence, typing */
    struct rlink *sub; /* the stream reader's blocking XREAD */
    bool stopping;     /* SIGTERM seen: no new sockets */
};

extern struct gw gw;

/*
 * The channel on which PostgreSQL announces every membership change, at
 * its commit (sql/002_member_notify.sql: "<conversation> <user> added
 * <seq>" or "<conversation> <user> removed").
 */
#define GW_MEMBER_CHANNEL "chat_member"
/* ... and every revocation of a user's sessions: "<user>" (sql/003_sessions_valid_after.sql). */
#define GW_ACCOUNT_CHANNEL "chat_account"

/* Who hears of the links' events (the modules above gw.c). */
struct gw_hooks {
    rlink_state_cb stream_link;                  /* the stream reader's link */
    void (*member_change)(const char *payload);  /* a GW_MEMBER_CHANNEL notification */
    void (*account_change)(const char *payload); /* a GW_ACCOUNT_CHANNEL notification */
    void (*listen_up)(void);                     /* the listener (re)connected */
};

/* Open the database and Redis links. Returns 0, or -1 when a link could not even be made. */
int gw_links_open(const struct gw_hooks *hooks);

/* Close the links; their memory goes with the loop's close callbacks. */
void gw_links_close(void);

/*
 * Probe the links every second (a query on the background link, a PING on
 * the command link), so that a hung server is found by the links' own
 * timeouts even while no client uses them, and /health tells the truth.
 */
void gw_probe_start(void);
void gw_probe_stop(void);

/*
 * Whether every PostgreSQL link that serves clients is up (the background
 * one and each of DB_POOL_SIZE): what /health and /readyz report, so that
 * "ready" means a send of any conversation can be stored.
 */
bool gw_pg_up(void);

/*
 * The database link for a statement about key (a conversation id): the same
 * conversation always goes through the same connection, so one client's
 * sends commit in the order it sent them; NULL spreads round-robin.
 */
struct pgq *gw_pg(const char *key);

#endif
