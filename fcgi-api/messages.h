/*
 * messages.h - sending and paging messages, shared by the conversation
 * routes and the legacy room routes (a room is a conversation).
 */
#ifndef CHAT_MESSAGES_H
#define CHAT_MESSAGES_H

#include "http.h"

/*
 * Send the request's "content" (and optional client_message_id or
 * Idempotency-Key) to conversation cid as the caller; answers 201 with the
 * message (200 for an idempotent replay), 404 when not a member, 422, 429.
 */
void msg_send_reply(struct http_req *req, const char *cid);

/*
 * Answer a history page of cid for the caller: query parameters limit,
 * cursor, use_cache; {messages (newest first), next_cursor, has_more}.
 */
void msg_page_reply(struct http_req *req, const char *cid);

#define MSG_PAGE_MAX 100 /* messages in one page at most */

/* A query flag's value (?use_cache=): set for "true", "1" or "yes". Pure. */
bool msg_query_flag(const char *value);

#endif
