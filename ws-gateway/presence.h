/*
 * presence.h - who is online, shared by every gateway through Redis.
 */
#ifndef GW_PRESENCE_H
#define GW_PRESENCE_H

#include "conn.h"

/* Start and stop the heartbeat that vouches for every local user. */
void presence_start(void);
void presence_stop(void);

/* c's user has one more authorised socket here (after its subscriptions are made). */
void presence_join(struct gw_conn *c);

/* One fewer (before its subscriptions are dropped: they say whom to tell). */
void presence_leave(struct gw_conn *c);

#endif
