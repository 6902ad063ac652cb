/*
 * send_group.h - group commit of message sends.
 *
 * Every send is one transaction, and PostgreSQL's cost per transaction
 * (the statement's round trip, snapshot, commit record and WAL flush) is
 * most of a send's cost: alone, a send costs the database about ten times
 * what it costs inside a batch. Sends that arrive while another of this
 * process' sends is in flight are stored together, in one statement and
 * one commit (msg_send_many_sql), by whichever waiting thread runs next: a
 * lone send runs at once, as before, and a busy process commits more
 * messages per transaction instead of queueing more transactions. Each
 * caller still gets its own row, only after the commit.
 */
#ifndef CHAT_SEND_GROUP_H
#define CHAT_SEND_GROUP_H

#include "db.h"

/*
 * Store one message: params as msg_send_stmt's ($1 conversation, $2 new
 * id, $3 sender, $4 content, $5 client id or NULL), borrowed until the
 * call returns. db is the caller's connection; it may run other callers'
 * messages too. Returns what db_exec() of msg_send_stmt would return
 * (a row; no row when the sender is not a member; NULL with *err).
 */
PGresult *send_group_store(struct db_conn *db, const char *const *params, enum db_err *err);

#endif
