/*
 * admit.h - who may open a socket on this gateway: caps on the sockets of
 * one client address, on those of them still waiting for their auth, on
 * the sockets of one user, and a handshake rate per address.
 *
 * The counts are this process's (each gateway protects its own memory and
 * descriptors; N gateways behind a balancer admit up to N times a cap).
 * Pure bookkeeping on the loop thread, no I/O: session.c asks at the
 * handshake, client.c when an authorisation ends, session.c again at the
 * close. A connection carries its ticket so the close undoes exactly what
 * was counted.
 */
#ifndef GW_ADMIT_H
#define GW_ADMIT_H

#include "uuid.h"

#include <stdbool.h>
#include <stdint.h>

#define ADMIT_ADDR_LEN 48 /* INET6_ADDRSTRLEN and a margin */

struct admit_limits {
    int per_user;           /* open sockets of one user */
    int per_address;        /* open sockets of one client address */
    int unauth_per_addr;    /* of those, not yet authorised */
    int handshakes_per_min; /* handshakes of one address per minute */
};

enum admit_verdict { ADMIT_OK, ADMIT_RATE, ADMIT_ADDRESS_FULL, ADMIT_UNAUTH_FULL, ADMIT_USER_FULL };

enum admit_state { ADMIT_NONE, ADMIT_UNAUTH, ADMIT_USER };

/* What one connection counts for (in struct gw_conn). */
struct admit_ticket {
    char addr[ADMIT_ADDR_LEN];
    char user_id[UUID_STR_LEN];
    enum admit_state state;
};

void admit_configure(const struct admit_limits *limits);

/*
 * A handshake from addr (with the user of its token, or NULL when it will
 * authorise by frame) at now_ms: counted against the address's rate, then
 * checked against the caps. ADMIT_OK: go on to admit_open().
 */
enum admit_verdict admit_handshake(const char *addr, const char *user_id, uint64_t now_ms);

/* The socket is established: it counts for its address, as not yet authorised. */
void admit_open(struct admit_ticket *t, const char *addr);

/*
 * Its authorisation ended well for user_id: counts for the user unless the
 * user is at the cap (false: the caller closes the socket, 4429).
 */
bool admit_user(struct admit_ticket *t, const char *user_id);

/* The socket closed: undo what t counted. */
void admit_close(struct admit_ticket *t);

/*
 * An address as the socket gives it, in the form TRUSTED_PROXIES and the
 * counts use: an IPv4-mapped IPv6 address ("::ffff:127.0.0.1", what a
 * dual-stack listener reports) becomes the IPv4 one.
 */
void admit_canon_address(char *addr);

/* A verdict as a metric label (reason="..."). */
const char *admit_verdict_label(enum admit_verdict v);

/* What a verdict means, for the refusal's text. */
const char *admit_verdict_str(enum admit_verdict v);

/* Call fn with the id of every user with a counted socket here (presence's heartbeat). */
void admit_each_user(void (*fn)(const char *user_id));

/* Counts, for the unit tests and /health. */
int admit_address_sockets(const char *addr);
int admit_user_sockets(const char *user_id);

/* Forget every count (unit tests, shutdown). */
void admit_reset(void);

#endif
