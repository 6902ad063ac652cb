/*
 * users.h - the user record as the API shows it.
 * USER_COLS selects, in order: id, username, email, display_name, created_at.
 */
#ifndef CHAT_USERS_H
#define CHAT_USERS_H

#include "message.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#define USER_COLS "id, username, email, display_name, " MSG_TS("created_at")
#define USER_NCOLS 5

/* The user at (row, first column col0) of r; email only when self. */
json_t *user_to_json(const PGresult *r, int row, int col0, bool self);

#endif
