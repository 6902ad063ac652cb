/*
 * session.h - the libwebsockets protocol: handshake checks, the socket's
 * life from established to closed, and the gateway's /health page.
 */
#ifndef GW_SESSION_H
#define GW_SESSION_H

#include <libwebsockets.h>

extern const struct lws_protocols session_protocols[];

#endif
