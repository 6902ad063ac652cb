/* sync.c - see sync.h. */
#include "sync.h"
#include "events.h"

#include <stdlib.h>
#include <string.h>

/* clang-format off */
#define SYNC_RANGE(after, lim)                                                                     \
    "  (SELECT m.seq, 'message' AS kind, m.sender_id AS user_id, NULL::text AS emoji,"             \
    "          NULL::integer AS count, m.id AS mid"                                                \
    "     FROM messages m WHERE m.conversation_id = $1 AND m.seq > " after                         \
    "    ORDER BY m.seq LIMIT " lim ")"                                                            \
    "  UNION ALL"                                                                                  \
    "  (SELECT e.seq, e.kind, e.user_id, e.emoji, e.count, e.message_id"                           \
    "     FROM conversation_events e WHERE e.conversation_id = $1 AND e.seq > " after              \
    "    ORDER BY e.seq LIMIT " lim ")"

#define SYNC_SELECT                                                                                \
    "SELECT x.seq, x.kind, x.user_id, x.emoji, x.count, " MSG_COLS " FROM ("

#define SYNC_TAIL(lim)                                                                             \
    ") x LEFT JOIN messages m ON m.id = x.mid LEFT JOIN users u ON u.id = m.sender_id"             \
    " ORDER BY x.seq LIMIT " lim

const char sync_sql[] = SYNC_SELECT SYNC_RANGE("$2", "$3") SYNC_TAIL("$3");

const char sync_offline_sql[] =
    "WITH start AS ("
    "  SELECT greatest($2::bigint, coalesce((SELECT seq FROM messages"
    "    WHERE conversation_id = $1 AND seq > $2 ORDER BY seq DESC OFFSET $3 LIMIT 1), 0)) AS s"
    ") " SYNC_SELECT SYNC_RANGE("(SELECT s FROM start)", "$4") SYNC_TAIL("$4");
/* clang-format on */

json_t *sync_row_event(const PGresult *r, int row, const char *conversation_id, const char *flat,
                       long long *seq, const char **sender)
{
    const char *kind = PQgetvalue(r, row, SYNC_COL_KIND), *user = db_get(r, row, SYNC_COL_USER);
    json_t *msg = NULL, *ev = NULL;
    struct msg_row m;

    *seq = atoll(PQgetvalue(r, row, SYNC_COL_SEQ));
    *sender = NULL;
    if (db_get(r, row, SYNC_COL_MSG + MSG_COL_ID) != NULL) {
        msg_row_from_result(r, row, SYNC_COL_MSG, conversation_id, &m);
        if ((msg = msg_row_to_json(&m)) == NULL)
            return NULL;
    }
    if (strcmp(kind, "message") == 0 && msg != NULL) {
        *sender = m.sender_id;
        if (flat == NULL) {
            ev = ev_message(conversation_id, *seq, msg);
        } else {
            ev = json_incref(msg);
            json_object_set_new(ev, "type", json_string(flat));
        }
    } else if (strncmp(kind, "message_", 8) == 0 && msg != NULL) {
        ev = ev_message_change(kind, conversation_id, *seq, user, msg);
    } else if (strncmp(kind, "reaction_", 9) == 0 && msg != NULL) {
        ev = ev_reaction(kind, conversation_id, *seq, m.id, PQgetvalue(r, row, SYNC_COL_EMOJI),
                         user ? user : "", atoll(PQgetvalue(r, row, SYNC_COL_COUNT)));
    } else if (strncmp(kind, "member_", 7) == 0) {
        ev = ev_member(kind, conversation_id, *seq, user ? user : "");
    }
    json_decref(msg);
    return ev;
}
