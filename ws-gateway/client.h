/*
 * client.h - what a client says over its socket, and its authorisation.
 *
 * Frames are JSON objects with a "type": auth (the token, when the
 * handshake carried none), ping, message, typing, read. A socket is
 * authorised once its token verified and the database confirmed the user
 * (and, on a per-conversation socket, the membership); frames that arrive
 * while that runs are held and replayed after it. Sends take the one send
 * path of common/send.h, so they are answered as chat-api answers them.
 */
#ifndef GW_CLIENT_H
#define GW_CLIENT_H

#include "conn.h"

/* Verify token and authorise c (asynchronously; c is closed with 4401/4403 on failure). */
void client_authorize(struct gw_conn *c, const char *token);

/* One whole frame of text (len bytes) from c. */
void client_frame(struct gw_conn *c, const char *text, size_t len);

/* c's socket closed: clear what the client left behind (typing, held frames). */
void client_closed(struct gw_conn *c);

#endif
