/*
 * users.h - the user record as the API shows it.
 * USER_COLS selects, in the order of enum user_col: id, username, email,
 * display_name, created_at.
 */
#ifndef CHAT_USERS_H
#define CHAT_USERS_H

#include "message.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#define USER_COLS "id, username, email, display_name, " MSG_TS("created_at")

enum user_col {
    USER_COL_ID,
    USER_COL_USERNAME,
    USER_COL_EMAIL,
    USER_COL_DISPLAY_NAME,
    USER_COL_CREATED_AT,
    USER_NCOLS
};

/* The user at (row, USER_COLS from column col0) of r; email only when self. */
json_t *user_to_json(const PGresult *r, int row, int col0, bool self);

#endif
