/*
 * send.h - the one send path of both transports: what a send must carry,
 * what it is answered when it fails, when a failed store runs again, and
 * how a stored row becomes the message.
 *
 * chat-api (POST .../messages) and the gateway ({"type":"message"}) each
 * drive their own I/O (a blocking statement on a pooled backend; a queued
 * statement on the event loop), but every decision is taken here, so the
 * same input gets the same error code and message on both: REST puts it
 * in {"error":{"code","message"}} with send_error.status, the socket in
 * {"type":"error","code","message"[,"retry_after"]}.
 */
#ifndef CHAT_SEND_H
#define CHAT_SEND_H

#include "db.h"
#include "message.h"
#include "msgtext.h"
#include "ratelimit.h"

#include <jansson.h>
#include <stdbool.h>

#define SEND_ATTEMPTS 3 /* stores of one send at most (see send_should_retry) */

/* A send, validated. Strings borrowed from the body or frame it came from. */
struct send_input {
    const char *content;
    const char *client_message_id; /* NULL: none */
    char reply_to[UUID_STR_LEN];   /* "": none; else canonical (lower case) */
    /* the content's @names (msgtext_mentions) and the explicit mention_ids, space-separated */
    char names[MSGTEXT_MENTIONS_CAP];
    char ids[MSGTEXT_MENTIONS_MAX * UUID_STR_LEN + 1];
};

/* Why a send was refused, as the client is told. */
struct send_error {
    int status;       /* HTTP status (REST); the socket ignores it */
    const char *code; /* static: "validation_error", "rate_limited", ... */
    char message[160];
    int retry_after; /* seconds; 0 unless the client should wait */
};

/*
 * Check a send's body (the REST body or the WebSocket frame: a JSON
 * object). conversation_id is the conversation the send goes to; a
 * "conversation_id" in the body must name the same one. The client id is
 * the body's "client_message_id", else fallback_client_id (REST: the
 * Idempotency-Key header; NULL on the socket). Optional "reply_to_id" (a
 * UUID) and "mention_ids" (at most MSGTEXT_MENTIONS_MAX UUIDs); the
 * content's @names are read here. max_chars: the content's limit in
 * characters. Returns 0 with *in filled, or -1 with *err filled.
 */
int send_validate(const json_t *body, const char *conversation_id, const char *fallback_client_id,
                  int max_chars, struct send_input *in, struct send_error *err);

/*
 * Check a "content" field (a send's or an edit's): 0 with *out borrowed
 * from it, or -1 with *err (422, the same words on both transports).
 */
int send_content_valid(const json_t *content, int max_chars, const char **out,
                       struct send_error *err);

/*
 * msg_send_stmt's (and so its batch's) parameters, in their order, for
 * message id (uuid_v7_string(): ids sort by creation) of sender_id: all
 * borrowed, so they must outlive the statement. A retry reuses them.
 */
void send_params(const char *conversation_id, const char *id, const char *sender_id,
                 const struct send_input *in, const char *params[MSG_SEND_NPARAMS]);

/*
 * The retry rule: a store that failed with err on attempt (0 = the first)
 * runs again only for a concurrent duplicate client id (the statement
 * rolled back; the next run finds the first message), SEND_ATTEMPTS times
 * in all. Any other failure may have committed or will fail again.
 */
bool send_should_retry(enum db_err err, int attempt);

/*
 * The stored message from a send's result (msg_send_stmt's shape: its one
 * row, or none): 0 with *m (borrowing from r) and *fresh (false for a
 * replayed client id), or -1 with *err when nothing was stored (not a
 * member or no such conversation: 404; reply_to_id not a message of the
 * conversation: 422).
 */
int send_result(const PGresult *r, const char *conversation_id, struct msg_row *m, bool *fresh,
                struct send_error *err);

/* The answer to a store that failed with err (db_err_describe's). */
void send_db_error(enum db_err err, struct send_error *out);

/*
 * The answer to a send over its rate limit (rl from rl_hit() or
 * rl_result_from_reply() of the "msg" scope).
 */
void send_rate_limited(const struct rl_result *rl, struct send_error *out);

#endif
