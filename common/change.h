/*
 * change.h - changes of a stored message (edit, delete, reactions): the
 * statements both transports run, what their outcomes are answered, and
 * the event each change announces. The rules themselves (who may, the
 * edit window, one seq per change, the row locks) live in the SQL
 * functions of sql/005_message_events.sql, so REST and the gateway cannot
 * disagree.
 *
 * A change runs its statement (one row: CHANGE_COL_*), then, when it took a
 * seq, change_message_sql for the message as it is after the commit, and
 * publishes change_event() with the cache update (ev_pub_change).
 */
#ifndef CHAT_CHANGE_H
#define CHAT_CHANGE_H

#include "send.h"

#include <jansson.h>
#include <stdbool.h>

#define CHANGE_MAX_EMOJIS "50" /* distinct reactions one message may carry */

/* $1 message, $2 user, $3 content, $4 MESSAGE_EDIT_WINDOW_MINUTES, $5 the content's @names */
extern const char change_edit_sql[];
/* $1 message, $2 user */
extern const char change_delete_sql[];
/* $1 message, $2 user, $3 emoji, $4 'true' to add / 'false' to remove */
extern const char change_react_sql[];
enum { CHANGE_COL_STATUS, CHANGE_COL_CONVERSATION, CHANGE_COL_SEQ, CHANGE_COL_COUNT };

/* $1 message: its MSG_COLS then its conversation_id: the copy every reader gets. */
extern const char change_message_sql[];
/*
 * $1 message, $2 viewer: the same columns, then the lowest read and
 * delivered watermarks of the members other than its sender (NULL when
 * there is none), for its read_status, and the viewer's own reactions on
 * it (a JSON array): what a REST answer adds for its caller.
 */
extern const char change_message_view_sql[];
enum {
    CHANGE_MSG_COL_CONVERSATION = MSG_NCOLS,
    CHANGE_MSG_COL_MIN_READ,
    CHANGE_MSG_COL_MIN_DLV,
    CHANGE_MSG_COL_OWN
};

/* read_status of the message (seq) in row 0 of a change_message_view_sql result. */
const char *change_read_status(const PGresult *r, long long seq);

/*
 * The answer to a change's status ("ok" -> 0; else -1 with *err: 404
 * not_found, 403 forbidden, 403 edit_window_expired, 409 message_deleted,
 * 409 limit_exceeded). what: "edit", "delete" or "react", for the words.
 */
int change_status(const char *status, const char *what, struct send_error *err);

/*
 * The event of a change that took seq: message_updated / message_deleted
 * (kind "edit" / "delete") with the message, or reaction_added / _removed
 * (kind "react", on) with emoji and count. New reference, or NULL.
 */
json_t *change_event(const char *kind, bool on, const char *conversation_id, long long seq,
                     const char *user_id, json_t *message, const char *emoji, long long count);

/* Check a reaction from a body or frame field (msgtext_emoji_problem); 0 or -1 with *err. */
int change_emoji_valid(const json_t *v, const char **emoji, struct send_error *err);

#endif
