/*
 * authorize.h - a socket's authorisation: its token verified, then the
 * database asked whether the user still may (not deleted, sessions not
 * revoked since the token was issued, on a per-conversation socket a
 * member), the socket counted for its user (admit.c), its subscriptions
 * made from the client's resume points or the read watermarks, presence
 * announced, and the frames that came meanwhile replayed (client.c).
 * Failures close the socket: 4401 (token, user), 4403 (membership), 4429
 * (the user's socket cap), 1011/1013 (database).
 */
#ifndef GW_AUTHORIZE_H
#define GW_AUTHORIZE_H

#include "conn.h"

/* Verify token and authorise c (asynchronously). */
void authorize_socket(struct gw_conn *c, const char *token);

#endif
