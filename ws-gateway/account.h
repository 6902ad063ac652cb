/*
 * account.h - sockets follow the account: when a user's sessions are
 * revoked (logout, a reused refresh token, a password change, account
 * deletion: sql/003_sessions_valid_after.sql), PostgreSQL announces it at
 * commit and every gateway closes that user's sockets opened with an
 * access token from before (4401). When the listener reconnects, every
 * local socket is checked again.
 */
#ifndef GW_ACCOUNT_H
#define GW_ACCOUNT_H

#include "uuid.h"

/* gw_hooks.account_change: "<user>". */
void account_changed(const char *payload);

/* The listener is (back) up: every local socket's account checked again. */
void account_recheck_all(void);

/*
 * Parse an announcement: 0 with the user id (lower-case), or -1 for any
 * text but one UUID. Pure; for the tests.
 */
int account_parse(const char *payload, char user_id[UUID_STR_LEN]);

#endif
