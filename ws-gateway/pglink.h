/*
 * pglink.h - one PostgreSQL connection on the event loop that never
 * blocks it: connect (PQconnectStart/PQconnectPoll), session set-up,
 * commands and notifications all driven by a uv_poll, every wait bounded
 * by a deadline, and a reconnect at most once per second while the
 * database is away.
 *
 * It runs one command at a time and knows nothing of what the commands
 * are: pgq.c sends them (PQsend* on pglink_pg()) and is told when each
 * ends. A deadline that passes (a hung or partitioned server: libpq has no
 * timeouts of its own on an established connection, and tcp_user_timeout
 * does not cover unix sockets) drops the connection like a failure.
 */
#ifndef GW_PGLINK_H
#define GW_PGLINK_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <uv.h>

struct pglink;

struct pglink_handler {
    /* The link is up (connected, set up) or went down (a command in flight is lost). */
    void (*state)(void *arg, bool up);
    /* The command in flight ended; last is its last result (borrowed, NULL: none). */
    void (*done)(void *arg, const PGresult *last);
    /* A notification (LISTEN); NULL: none expected. */
    void (*notify)(void *arg, const char *channel, const char *payload);
};

struct pglink_opts {
    const char *conninfo;
    const char *setup_sql;  /* run on every new connection before it is up (may be NULL) */
    int connect_timeout_ms; /* connect and set-up, together */
    int command_timeout_ms; /* each command */
    const char *name;       /* for the log */
};

/* Connects at once. The strings of opts are copied. NULL: out of memory. */
struct pglink *pglink_new(uv_loop_t *loop, const struct pglink_opts *opts,
                          const struct pglink_handler *h, void *arg);

/* Close (no callback runs afterwards); the memory goes with the loop's close callbacks. */
void pglink_close(struct pglink *l);

bool pglink_is_up(const struct pglink *l);
/* Up and no command in flight. */
bool pglink_is_idle(const struct pglink *l);
/* Down and not trying to connect right now (commands would wait in vain: fail them). */
bool pglink_is_down(const struct pglink *l);

/*
 * The connection, for the caller's PQsend* call on an idle link; then
 * pglink_sent() with that call's result (1 sent, 0 failed: the link drops).
 */
PGconn *pglink_pg(struct pglink *l);
void pglink_sent(struct pglink *l, int sent);

#endif
