/*
 * admit.c - see admit.h.
 *
 * Two hash tables (uthash): client address -> its sockets, unauthorised
 * sockets and handshake window; user id -> its sockets. A user entry
 * goes with its last socket; an address entry is swept once it has no
 * socket and its handshake window is over, so the tables hold what is
 * open plus at most a minute of handshakes.
 */
#include "admit.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uthash.h>

#define WINDOW_MS 60000
#define SWEEP_MS 60000

struct addr_entry {
    char addr[ADMIT_ADDR_LEN];
    int sockets, unauth, handshakes;
    uint64_t window_ms; /* start of the current handshake window */
    UT_hash_handle hh;
};

struct user_entry {
    char id[UUID_STR_LEN];
    int sockets;
    UT_hash_handle hh;
};

static struct {
    struct admit_limits limits;
    struct addr_entry *addrs;
    struct user_entry *users;
    uint64_t swept_ms;
} admit;

void admit_configure(const struct admit_limits *limits)
{
    admit.limits = *limits;
}

static struct addr_entry *addr_get(const char *addr, bool create)
{
    struct addr_entry *e;

    HASH_FIND_STR(admit.addrs, addr, e);
    if (e != NULL || !create)
        return e;
    if ((e = calloc(1, sizeof(*e))) == NULL)
        return NULL;
    strncpy(e->addr, addr, sizeof(e->addr) - 1);
    HASH_ADD_STR(admit.addrs, addr, e);
    return e;
}

static struct user_entry *user_get(const char *id, bool create)
{
    struct user_entry *e;

    HASH_FIND_STR(admit.users, id, e);
    if (e != NULL || !create)
        return e;
    if ((e = calloc(1, sizeof(*e))) == NULL)
        return NULL;
    strncpy(e->id, id, sizeof(e->id) - 1);
    HASH_ADD_STR(admit.users, id, e);
    return e;
}

/* Drop the addresses with nothing open whose handshake window is over. */
static void sweep(uint64_t now_ms)
{
    struct addr_entry *e, *tmp;

    if (now_ms - admit.swept_ms < SWEEP_MS)
        return;
    admit.swept_ms = now_ms;
    HASH_ITER(hh, admit.addrs, e, tmp)
    {
        if (e->sockets == 0 && now_ms - e->window_ms >= WINDOW_MS) {
            HASH_DEL(admit.addrs, e);
            free(e);
        }
    }
}

enum admit_verdict admit_handshake(const char *addr, const char *user_id, uint64_t now_ms)
{
    struct addr_entry *a;
    struct user_entry *u = user_id != NULL ? user_get(user_id, false) : NULL;

    sweep(now_ms);
    if ((a = addr_get(addr, true)) == NULL)
        return ADMIT_ADDRESS_FULL; /* no memory: admit nobody new */
    if (a->handshakes == 0 || now_ms - a->window_ms >= WINDOW_MS) {
        a->window_ms = now_ms;
        a->handshakes = 0;
    }
    if (++a->handshakes > admit.limits.handshakes_per_min)
        return ADMIT_RATE;
    if (a->sockets >= admit.limits.per_address)
        return ADMIT_ADDRESS_FULL;
    if (user_id == NULL && a->unauth >= admit.limits.unauth_per_addr)
        return ADMIT_UNAUTH_FULL;
    if (u != NULL && u->sockets >= admit.limits.per_user)
        return ADMIT_USER_FULL;
    return ADMIT_OK;
}

void admit_open(struct admit_ticket *t, const char *addr)
{
    struct addr_entry *a = addr_get(addr, true);

    memset(t, 0, sizeof(*t));
    strncpy(t->addr, addr, sizeof(t->addr) - 1);
    if (a == NULL)
        return; /* not counted: nothing to undo */
    a->sockets++;
    a->unauth++;
    t->state = ADMIT_UNAUTH;
}

bool admit_user(struct admit_ticket *t, const char *user_id)
{
    struct user_entry *u;

    if (t->state == ADMIT_USER)
        return true;
    if ((u = user_get(user_id, true)) == NULL || u->sockets >= admit.limits.per_user)
        return false;
    u->sockets++;
    strncpy(t->user_id, user_id, sizeof(t->user_id) - 1);
    if (t->state == ADMIT_UNAUTH) {
        struct addr_entry *a = addr_get(t->addr, false);
        if (a != NULL)
            a->unauth--;
    }
    t->state = ADMIT_USER;
    return true;
}

void admit_close(struct admit_ticket *t)
{
    struct addr_entry *a = addr_get(t->addr, false);
    struct user_entry *u;

    if (t->state == ADMIT_NONE)
        return;
    if (a != NULL) {
        a->sockets--;
        if (t->state == ADMIT_UNAUTH)
            a->unauth--;
    }
    if (t->state == ADMIT_USER && (u = user_get(t->user_id, false)) != NULL && --u->sockets <= 0) {
        HASH_DEL(admit.users, u);
        free(u);
    }
    t->state = ADMIT_NONE;
}

void admit_canon_address(char *addr)
{
    static const char mapped[] = "::ffff:";
    const size_t n = sizeof(mapped) - 1;
    struct in_addr v4;

    if (strncasecmp(addr, mapped, n) == 0 && inet_pton(AF_INET, addr + n, &v4) == 1)
        memmove(addr, addr + n, strlen(addr + n) + 1);
}

const char *admit_verdict_label(enum admit_verdict v)
{
    static const char *labels[] = {
        [ADMIT_OK] = "reason=\"admitted\"",
        [ADMIT_RATE] = "reason=\"handshake_rate\"",
        [ADMIT_ADDRESS_FULL] = "reason=\"address_sockets\"",
        [ADMIT_UNAUTH_FULL] = "reason=\"unauthenticated_sockets\"",
        [ADMIT_USER_FULL] = "reason=\"user_sockets\"",
    };
    return labels[v];
}

const char *admit_verdict_str(enum admit_verdict v)
{
    switch (v) {
    case ADMIT_OK:
        return "admitted";
    case ADMIT_RATE:
        return "too many handshakes from this address, retry in a minute";
    case ADMIT_ADDRESS_FULL:
        return "too many sockets from this address";
    case ADMIT_UNAUTH_FULL:
        return "too many unauthenticated sockets from this address";
    case ADMIT_USER_FULL:
        return "too many sockets for this user";
    }
    return "refused";
}

void admit_each_user(void (*fn)(const char *user_id))
{
    struct user_entry *u, *tmp;

    HASH_ITER(hh, admit.users, u, tmp)
    {
        fn(u->id);
    }
}

int admit_address_sockets(const char *addr)
{
    struct addr_entry *a = addr_get(addr, false);
    return a != NULL ? a->sockets : 0;
}

int admit_user_sockets(const char *user_id)
{
    struct user_entry *u = user_get(user_id, false);
    return u != NULL ? u->sockets : 0;
}

void admit_reset(void)
{
    struct addr_entry *a, *atmp;
    struct user_entry *u, *utmp;

    HASH_ITER(hh, admit.addrs, a, atmp)
    {
        HASH_DEL(admit.addrs, a);
        free(a);
    }
    HASH_ITER(hh, admit.users, u, utmp)
    {
        HASH_DEL(admit.users, u);
        free(u);
    }
    admit.swept_ms = 0;
}
