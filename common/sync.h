/*
 * sync.h - a conversation's durable events after a seq, read back from
 * PostgreSQL: the one shape behind GET .../events, the gateway's catch-up
 * after a gap and its offline delivery on connect.
 *
 * Every seq of a conversation is either a message's creation (a row of
 * messages) or another durable event (a row of conversation_events), so
 * "everything after N" is the union of both over their (conversation_id,
 * seq) keys, in seq order, with no hole. Each event is rendered from the
 * message as it is now, never as it was: a message edited twice then
 * deleted while a client was away reaches it as its tombstone, followed by
 * the edits and the delete (each also showing the tombstone).
 */
#ifndef CHAT_SYNC_H
#define CHAT_SYNC_H

#include "db.h"
#include "message.h"

#include <jansson.h>

/*
 * $1 conversation, $2 after this seq, $3 at most this many events. Rows in
 * seq order: SYNC_COL_*, then the message's MSG_COLS (all NULL for a
 * member event).
 */
extern const char sync_sql[];

/*
 * The same from the connect's start point: $2 the member's read watermark
 * (or resume point), $3 the newest this many messages at most: when more
 * messages than that follow $2, the events start after the one before them.
 * Also at most FANOUT-style batches of $4 events.
 */
extern const char sync_offline_sql[];

enum { SYNC_COL_SEQ, SYNC_COL_KIND, SYNC_COL_USER, SYNC_COL_EMOJI, SYNC_COL_COUNT, SYNC_COL_MSG };

/*
 * Row `row` of a sync result as the event clients get (events.h shapes).
 * A message's creation is {"type":"message","conversation_id","seq","message"}
 * when flat is NULL, else the message object itself with "type": flat (the
 * gateway's "message" / "offline_message" frame). *seq gets the row's seq,
 * *sender (borrowed; NULL for none) the message's sender for a creation.
 * Returns a new reference, or NULL when out of memory.
 */
json_t *sync_row_event(const PGresult *r, int row, const char *conversation_id, const char *flat,
                       long long *seq, const char **sender);

#endif
