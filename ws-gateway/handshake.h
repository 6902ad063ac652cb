/*
 * handshake.h - what a WebSocket handshake asks for, read from its text:
 * which socket (the path), where to resume (since_seq), and the token.
 * Pure functions (no lws, no I/O); session.c reads the headers with lws
 * and passes the strings here.
 */
#ifndef GW_HANDSHAKE_H
#define GW_HANDSHAKE_H

#include "uuid.h"

/*
 * The socket a path names, under ws_prefix (the API prefix + "/ws"):
 * ws_prefix itself, or with a trailing "/", is the all-conversations
 * socket (*conv_id = ""); ws_prefix + "/conversations/{id}" (a trailing
 * "/" allowed) is that conversation's. The path ends there (lws hands the
 * query string over separately). Returns 0, or -1 for any other path.
 */
int hs_parse_path(const char *uri, const char *ws_prefix, char conv_id[UUID_STR_LEN]);

/* since_seq's value: 0 with *seq when it is a non-negative decimal, else -1. */
int hs_parse_since(const char *value, long long *seq);

/*
 * The all-conversations socket's resume points: ?since=<conversation>:<seq>
 * [,<conversation>:<seq>...], the last seq the client has of each (what
 * since_seq is on a per-conversation socket). A listed conversation starts
 * after that seq, with every message missed (no OFFLINE_MESSAGES_MAX cap);
 * the others start at the read watermark as before.
 */
#define HS_RESUME_MAX 128
struct hs_resume {
    char conv_id[UUID_STR_LEN];
    long long seq;
};

/* Parse value into out[0..max): the count, or -1 for a malformed list or more than max. */
int hs_parse_resume(const char *value, struct hs_resume *out, int max);

/*
 * The token of an "Authorization: Bearer <token>" value (the scheme in any
 * letter case), borrowed from it; NULL for any other value.
 */
const char *hs_bearer(const char *authorization);

#endif
