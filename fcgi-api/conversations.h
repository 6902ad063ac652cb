/*
 * conversations.h - conversation queries shared by the conversation,
 * message and room routes: membership checks, the conversation object,
 * and member-change events.
 */
#ifndef CHAT_CONVERSATIONS_H
#define CHAT_CONVERSATIONS_H

#include "http.h"

/* Members shown in a conversation or room object; all of them: GET .../members, paged. */
#define CONV_MEMBERS_SHOWN 100
#define CONV_MEMBERS_SHOWN_STR "100"
/* Pages of rooms and of members. */
#define CONV_PAGE_DEFAULT 50
#define CONV_PAGE_MAX 100

/*
 * 0 when the caller is a member of conversation cid (of any type if type
 * is NULL, else of that type); otherwise answers 404 (no existence leak)
 * or 503 and returns -1.
 */
int conv_require_member(struct http_req *req, const char *cid, const char *type);

/*
 * The conversation object for the caller (participants, unread_count,
 * last_message), or NULL after answering 404/503.
 */
json_t *conv_fetch(struct http_req *req, const char *cid);

/* The conversation object from row i of a conv_one/conv_list result. */
json_t *conv_from_row(const PGresult *r, int i);
extern struct db_stmt conv_list_stmt;

/*
 * Run st with the caller's id as its only parameter and answer 200
 * {key: [row(r, i) for each row]} (lists of conversations, of rooms).
 */
void conv_reply_list(struct http_req *req, struct db_stmt *st, const char *key,
                     json_t *(*row)(const PGresult *r, int i));

/*
 * {key: [row(r, i) for the first limit rows], next_cursor, has_more} from a
 * result of up to limit + 1 rows; the cursor is column id_col of the last.
 */
json_t *conv_page(const PGresult *r, int limit, const char *key,
                  json_t *(*row)(const PGresult *r, int i), int id_col);

/* Answer 200 with a page of cid's members (?limit, ?cursor); the caller checked membership. */
void conv_members_reply(struct http_req *req, const char *cid);

/* Answer with conv_fetch(cid) and the given status. */
void conv_reply(struct http_req *req, const char *cid, int status);

#endif
