/*
 * message.h - the message model shared by the REST API and the gateway:
 * content validation, the one-round-trip send statement, and the JSON
 * shape of a message (REST responses, stream events, cache entries and
 * WebSocket frames all use msg_row_to_json()).
 */
#ifndef CHAT_MESSAGE_H
#define CHAT_MESSAGE_H

#include "db.h"
#include "uuid.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define MSG_CLIENT_ID_MAX 128

/* A message as read from the database; every string borrowed. */
struct msg_row {
    const char *id;
    const char *conversation_id;
    long long seq;
    const char *sender_id;       /* NULL for a deleted sender */
    const char *sender_username; /* NULL for a deleted sender */
    const char *content;
    const char *created_at; /* ISO 8601 UTC */
    const char *client_message_id;
    const char *edited_at; /* NULL: never edited */
    bool deleted;          /* a tombstone: content, mentions and reactions erased */
    const char *reactions; /* JSON text [{emoji, count, user_ids}] */
    const char *mentions;  /* JSON text [user_id] */
    const char *reply_to;  /* JSON text {id, sender_id, content, deleted}, or NULL */
};

/*
 * Check content of len bytes: valid UTF-8 (jansson guarantees it for
 * parsed JSON, not for other sources), no NUL, not blank, at most
 * max_chars code points. Returns NULL when fine, else a reason.
 */
const char *msg_content_problem(const char *content, size_t len, int max_chars);

/* Check an optional client_message_id: 1..128 printable ASCII. */
bool msg_client_id_valid(const char *id);

/* Timestamp format used in every SELECT: ISO 8601, UTC, microseconds. */
#define MSG_TS(col) "to_char((" col ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/*
 * The columns of a message, in the order of enum msg_col, for a message
 * row aliased m and its sender's users row aliased u (a LEFT JOIN: a
 * deleted sender has no name). Every statement that returns messages
 * selects them this way and reads them with msg_row_from_result().
 */
/* clang-format off */
#define MSG_COLS_OF(m, u)                                                  \
    m ".id, " m ".seq, " m ".sender_id, "                                  \
    "CASE WHEN " u ".deleted_at IS NULL THEN " u ".username END, "         \
    m ".content, " MSG_TS(m ".created_at") ", " m ".client_message_id, "   \
    MSG_TS(m ".edited_at") ", " m ".deleted_at IS NOT NULL, "              \
    m ".reactions::text, array_to_json(" m ".mentions)::text, "            \
    "(SELECT json_build_object('id', r.id, 'sender_id', r.sender_id,"      \
    "   'content', CASE WHEN r.deleted_at IS NULL THEN left(r.content, "   \
    MSG_REPLY_PREVIEW_STR ") END, 'deleted', r.deleted_at IS NOT NULL)"     \
    "   FROM messages r WHERE r.id = " m ".reply_to_id)::text"
/* clang-format on */
#define MSG_REPLY_PREVIEW_STR "100" /* characters of a replied-to message shown */
#define MSG_COLS MSG_COLS_OF("m", "u")
#define MSG_FROM "messages m LEFT JOIN users u ON u.id = m.sender_id"

enum msg_col {
    MSG_COL_ID,
    MSG_COL_SEQ,
    MSG_COL_SENDER_ID,
    MSG_COL_USERNAME,
    MSG_COL_CONTENT,
    MSG_COL_CREATED,
    MSG_COL_CLIENT_ID,
    MSG_COL_EDITED,
    MSG_COL_DELETED,
    MSG_COL_REACTIONS,
    MSG_COL_MENTIONS,
    MSG_COL_REPLY_TO,
    MSG_NCOLS
};

/*
 * Fill m from row `row` of r, whose MSG_COLS start at column col0; the
 * strings are borrowed from r. conversation_id (borrowed) is the caller's:
 * no statement selects it again.
 */
void msg_row_from_result(const PGresult *r, int row, int col0, const char *conversation_id,
                         struct msg_row *m);

/*
 * The send statement. Parameters: $1 conversation_id, $2 new message id,
 * $3 sender_id, $4 content, $5 client_message_id (NULL = none),
 * $6 reply_to_id (NULL = none), $7 the @names of the content (msgtext_mentions:
 * space-separated, lower case; NULL = none), $8 explicit mention ids
 * (space-separated UUIDs; NULL = none). Mentions are the members (not the
 * sender) named either way; others are ignored.
 * Result: one row, the message's MSG_COLS, then MSG_SEND_COL_FRESH and
 * MSG_SEND_COL_BAD_REPLY. The id column NULL: nothing stored, because the
 * sender is not a member, or (bad_reply) reply_to_id is not a message of the
 * conversation. A retried send with the same client_message_id
 * returns the first message with fresh = 'f'. A concurrent duplicate fails
 * with DB_ERR_UNIQUE and the whole statement rolls back (no sequence
 * number is lost); run it again (msg_send_should_retry()).
 */
extern struct db_stmt msg_send_stmt;
extern const char msg_send_sql[]; /* its text */
enum { MSG_SEND_COL_FRESH = MSG_NCOLS, MSG_SEND_COL_BAD_REPLY, MSG_SEND_NPARAMS = 8 };

/*
 * The send statement for several messages in one transaction: the same
 * eight parameters as arrays (element k of each is message k), one row per
 * message in input order with msg_send_stmt's columns, all NULL where
 * msg_send_stmt would return no row. Messages of one conversation get
 * consecutive seqs in input order. Conversations are locked in id order,
 * then the senders' member rows in (conversation, user) order, so batches
 * running at once (in any process) and watermark writes that lock member
 * rows in the same order never deadlock each other.
 * A duplicate client id (within the batch or concurrent) fails the whole
 * statement: run the messages one by one.
 */
extern const char msg_send_many_sql[];

/*
 * Move the reader's watermark: $1 conversation_id, $2 user_id, $3 message
 * id to read up to (NULL = everything). Columns: MSG_UPTO_COL_*. No row:
 * not a member.
 */
extern struct db_stmt msg_read_upto_stmt;
enum {
    MSG_UPTO_COL_BAD_ID,     /* bool: $3 is not a message of the conversation */
    MSG_UPTO_COL_LAST_READ,  /* the new last_read_seq */
    MSG_UPTO_COL_MESSAGE_ID, /* the message at it (NULL: none) */
};

/*
 * The JSON of a message, without read_status (computed per viewer).
 * Returns a new reference or NULL when out of memory.
 */
json_t *msg_row_to_json(const struct msg_row *m);

/*
 * Read id, seq and sender_id from a message's JSON text without parsing it
 * into a tree. The text must be msg_row_to_json() dumped with JSON_COMPACT
 * (what the Redis cache of recent messages holds): jansson keeps keys in
 * insertion order, so it starts {"id":"<uuid>","conversation_id":"<uuid>",
 * "seq":N,"sender_id":"<uuid>"|null and ends with '}'. sender is "" for a
 * deleted sender. Returns 0, or -1 when the text has another shape (the
 * caller then reads the database instead).
 */
int msg_text_scan(const char *text, size_t len, char id[UUID_STR_LEN], long long *seq,
                  char sender[UUID_STR_LEN]);

/* Consume literal s at *p (before end); false, with nothing consumed, if it is not there. */
bool msg_take(const char **p, const char *end, const char *s);

/*
 * Consume the decimal digits at *p (before end, no terminator needed) into
 * *out. False, with nothing consumed, when there is no digit or it overflows.
 */
bool msg_take_seq(const char **p, const char *end, long long *out);

/* "sent" | "delivered" | "read" from the other members' lowest watermarks. */
const char *msg_read_status(long long seq, long long min_read_seq, long long min_delivered_seq);

#endif
