/* change.c - see change.h. */
#include "change.h"
#include "events.h"
#include "msgtext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char change_edit_sql[] = "SELECT r_status, r_conversation_id, r_seq, NULL"
                               " FROM chat_message_edit($1, $2, $3, $4, string_to_array($5, ' '))";
const char change_delete_sql[] = "SELECT r_status, r_conversation_id, r_seq, NULL"
                                 " FROM chat_message_delete($1, $2)";
const char change_react_sql[] = "SELECT r_status, r_conversation_id, r_seq, r_count"
                                " FROM chat_message_react($1, $2, $3, $4, " CHANGE_MAX_EMOJIS ")";
#define CHANGE_MSG_SELECT "SELECT " MSG_COLS ", m.conversation_id"
#define CHANGE_MSG_FROM " FROM " MSG_FROM " WHERE m.id = $1"

const char change_message_sql[] = CHANGE_MSG_SELECT CHANGE_MSG_FROM;

/* clang-format off */
const char change_message_view_sql[] =
    CHANGE_MSG_SELECT ","
    "  (SELECT min(w.last_read_seq) FROM conversation_members w"
    "   WHERE w.conversation_id = m.conversation_id AND w.user_id IS DISTINCT FROM m.sender_id),"
    "  (SELECT min(greatest(w.delivered_seq, w.last_read_seq)) FROM conversation_members w"
    "   WHERE w.conversation_id = m.conversation_id AND w.user_id IS DISTINCT FROM m.sender_id),"
    "  (SELECT coalesce(json_agg(r.emoji ORDER BY r.created_at, r.emoji), '[]') FROM message_reactions r"
    "   WHERE r.message_id = m.id AND r.user_id = $2::uuid)"
    CHANGE_MSG_FROM;
/* clang-format on */

const char *change_read_status(const PGresult *r, long long seq)
{
    const char *rd = db_get(r, 0, CHANGE_MSG_COL_MIN_READ),
               *dv = db_get(r, 0, CHANGE_MSG_COL_MIN_DLV);

    return msg_read_status(seq, rd ? atoll(rd) : 0, dv ? atoll(dv) : 0);
}

static int answer(struct send_error *err, int status, const char *code, const char *message)
{
    err->status = status;
    err->code = code;
    err->retry_after = 0;
    snprintf(err->message, sizeof(err->message), "%s", message);
    return -1;
}

int change_status(const char *status, const char *what, struct send_error *err)
{
    if (strcmp(status, "ok") == 0)
        return 0;
    if (strcmp(status, "forbidden") == 0)
        return answer(err, 403, "forbidden",
                      strcmp(what, "delete") == 0
                          ? "only the sender or an owner or admin of the group may delete it"
                          : "only the sender may edit a message");
    if (strcmp(status, "expired") == 0)
        return answer(err, 403, "edit_window_expired", "the message is too old to edit");
    if (strcmp(status, "deleted") == 0)
        return answer(err, 409, "message_deleted", "the message was deleted");
    if (strcmp(status, "limit") == 0)
        return answer(err, 409, "limit_exceeded",
                      "the message carries the most distinct reactions it may (" CHANGE_MAX_EMOJIS
                      ")");
    return answer(err, 404, "not_found", "message not found");
}

json_t *change_event(const char *kind, bool on, const char *conversation_id, long long seq,
                     const char *user_id, json_t *message, const char *emoji, long long count)
{
    if (strcmp(kind, "react") == 0)
        return ev_reaction(on ? "reaction_added" : "reaction_removed", conversation_id, seq,
                           json_string_value(json_object_get(message, "id")), emoji, user_id,
                           count);
    return ev_message_change(strcmp(kind, "delete") == 0 ? "message_deleted" : "message_updated",
                             conversation_id, seq, user_id, message);
}

int change_emoji_valid(const json_t *v, const char **emoji, struct send_error *err)
{
    const char *problem;

    if (!json_is_string(v))
        return answer(err, 422, "validation_error", "emoji: field required (string)");
    problem = msgtext_emoji_problem(json_string_value(v), json_string_length(v));
    if (problem != NULL)
        return answer(err, 422, "validation_error", problem);
    *emoji = json_string_value(v);
    return 0;
}
