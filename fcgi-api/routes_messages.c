/*
 * routes_messages.c - history, send, per-message read receipts.
 *
 * Receipts: POST .../messages/{id}/read stores an explicit receipt and
 * moves the reader's watermark up to that message (reading a message
 * implies having seen the ones before it). The receipt list of a message
 * is every other member who read it: explicit receipts, or a read
 * watermark at or past it (read_at is then when the watermark moved).
 */
#include "conversations.h"
#include "message.h"
#include "events.h"
#include "messages.h"
#include "routes.h"
#include "validate.h"

#include <stdlib.h>
#include <string.h>

/*
 * Store the receipt and move the watermark. Columns: the receipt's
 * message_id, user_id and read_at, then the message's conversation_id and
 * seq (no row: no such message for this reader).
 */
/* clang-format off */
static struct db_stmt msg_read_stmt = {
    .name = "msg_read",
    .sql =
        "WITH msg AS ("
        "  SELECT m.id, m.conversation_id, m.seq FROM messages m"
        "  JOIN conversation_members cm ON cm.conversation_id = m.conversation_id"
        "   AND cm.user_id = $2 WHERE m.id = $1"
        "), rc AS ("
        "  INSERT INTO message_read_receipts (message_id, user_id)"
        "  SELECT id, $2 FROM msg"
        "  ON CONFLICT (message_id, user_id) DO UPDATE SET read_at = message_read_receipts.read_at"
        "  RETURNING message_id, user_id, read_at"
        "), wm AS ("
        "  UPDATE conversation_members cm SET"
        "    last_read_seq = greatest(cm.last_read_seq, msg.seq), last_read_at = now(),"
        "    delivered_seq = greatest(cm.delivered_seq, msg.seq)"
        "  FROM msg WHERE cm.conversation_id = msg.conversation_id AND cm.user_id = $2"
        ") "
        "SELECT rc.message_id, rc.user_id, " MSG_TS("rc.read_at") ","
        "       msg.conversation_id, msg.seq"
        "  FROM rc, msg",
};
/* clang-format on */
enum {
    MSG_READ_COL_MESSAGE_ID,
    MSG_READ_COL_USER_ID,
    MSG_READ_COL_READ_AT,
    MSG_READ_COL_CONVERSATION_ID,
    MSG_READ_COL_SEQ
};

/* Columns: member (bool), then user_id, username, read_at (NULL row when none). */
/* clang-format off */
static struct db_stmt receipts_stmt = {
    .name = "msg_receipts",
    .sql =
        "WITH msg AS ("
        "  SELECT m.id, m.conversation_id, m.seq, m.sender_id FROM messages m"
        "  JOIN conversation_members cm ON cm.conversation_id = m.conversation_id"
        "   AND cm.user_id = $2 WHERE m.id = $1"
        ") "
        "SELECT EXISTS (SELECT 1 FROM msg), x.user_id, x.username, x.read_at"
        "  FROM (SELECT 1) one LEFT JOIN ("
        "    SELECT cm.user_id, u.username,"
        "           " MSG_TS("coalesce(r.read_at, cm.last_read_at)") " AS read_at,"
        "           coalesce(r.read_at, cm.last_read_at) AS t"
        "      FROM msg JOIN conversation_members cm ON cm.conversation_id = msg.conversation_id"
        "      JOIN users u ON u.id = cm.user_id"
        "      LEFT JOIN message_read_receipts r ON r.message_id = msg.id"
        "           AND r.user_id = cm.user_id"
        "     WHERE cm.user_id IS DISTINCT FROM msg.sender_id"
        "       AND (r.user_id IS NOT NULL OR cm.last_read_seq >= msg.seq)"
        "  ) x ON true"
        " ORDER BY x.t NULLS FIRST",
};
/* clang-format on */
enum {
    MSG_RECEIPTS_COL_MEMBER,
    MSG_RECEIPTS_COL_USER_ID,
    MSG_RECEIPTS_COL_USERNAME,
    MSG_RECEIPTS_COL_READ_AT
};

void route_msg_list(struct http_req *req)
{
    const char *cid;
    if (v_path_uuid(req, 0, &cid) == 0)
        msg_page_reply(req, cid);
}

void route_msg_send(struct http_req *req)
{
    const char *cid;
    if (v_path_uuid(req, 0, &cid) == 0)
        msg_send_reply(req, cid);
}

void route_msg_read(struct http_req *req)
{
    const char *mid, *params[2];
    enum db_err err;
    PGresult *r;
    json_t *ev;

    if (v_path_uuid(req, 0, &mid) != 0 ||
        http_limit(req, "read", req->user_id, req->cfg->rl_read_per_minute, "read marks"))
        return;
    params[0] = mid;
    params[1] = req->user_id;
    r = db_exec(&req->be->db, &msg_read_stmt, 2, params, &err);
    if (r == NULL) {
        http_db_error(req, err);
        return;
    }
    if (!db_has_row(r)) {
        PQclear(r);
        http_error(req, 404, "not_found", "message not found");
        return;
    }
    ev = ev_read(PQgetvalue(r, 0, MSG_READ_COL_CONVERSATION_ID), req->user_id,
                 atoll(PQgetvalue(r, 0, MSG_READ_COL_SEQ)), mid);
    if (ev != NULL)
        ev_publish(&req->be->rds, req->cfg->stream_shards,
                   PQgetvalue(r, 0, MSG_READ_COL_CONVERSATION_ID), ev);
    json_decref(ev);
    http_reply(req, 200,
               json_pack("{s:s, s:s, s:s, s:s}", "message_id",
                         PQgetvalue(r, 0, MSG_READ_COL_MESSAGE_ID), "user_id",
                         PQgetvalue(r, 0, MSG_READ_COL_USER_ID), "read_at",
                         PQgetvalue(r, 0, MSG_READ_COL_READ_AT), "conversation_id",
                         PQgetvalue(r, 0, MSG_READ_COL_CONVERSATION_ID)));
    PQclear(r);
}

void route_msg_receipts(struct http_req *req)
{
    const char *mid, *params[2];
    enum db_err err;
    PGresult *r;
    json_t *list;

    if (v_path_uuid(req, 0, &mid) != 0)
        return;
    params[0] = mid;
    params[1] = req->user_id;
    r = db_exec(&req->be->db, &receipts_stmt, 2, params, &err);
    if (r == NULL) {
        http_db_error(req, err);
        return;
    }
    if (PQgetvalue(r, 0, MSG_RECEIPTS_COL_MEMBER)[0] != 't') {
        PQclear(r);
        http_error(req, 404, "not_found", "message not found");
        return;
    }
    list = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        if (db_get(r, i, MSG_RECEIPTS_COL_USER_ID) == NULL)
            continue;
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s?}", "message_id", mid, "user_id",
                                              db_get(r, i, MSG_RECEIPTS_COL_USER_ID), "username",
                                              db_get(r, i, MSG_RECEIPTS_COL_USERNAME), "read_at",
                                              db_get(r, i, MSG_RECEIPTS_COL_READ_AT)));
    }
    PQclear(r);
    http_reply(req, 200, json_pack("{s:s, s:o}", "message_id", mid, "receipts", list));
}
