/*
 * client.h - what a client says over its socket.
 *
 * Frames are JSON objects with a "type": auth (the token, when the
 * handshake carried none), ping, message, typing, read, edit, delete,
 * react. Frames that arrive while the socket's authorisation runs
 * (authorize.h) are held and replayed after it. Sends take the one send
 * path of common/send.h, and edits, deletes and reactions the statements
 * of common/change.h, so they are answered as chat-api answers them; each
 * of these, and typing and read frames, pass the user's rate check first.
 */
#ifndef GW_CLIENT_H
#define GW_CLIENT_H

#include "conn.h"

/* The frames that came while c's authorisation ran (authorize.c), now it ended well. */
void client_replay_early(struct gw_conn *c);

/* One whole frame of text (len bytes) from c. */
void client_frame(struct gw_conn *c, const char *text, size_t len);

/* c's socket closed: clear what the client left behind (typing, held frames). */
void client_closed(struct gw_conn *c);

#endif
