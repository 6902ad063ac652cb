/*
 * login_limit.h - failed-login throttling that a stranger cannot turn into
 * a lockout.
 *
 * Three counts per account (in Redis, one hash tag per account so they
 * share a cluster slot), consulted before any password is hashed:
 *  - failures of one address on the account (LOGIN_FAILURES_PER_ADDRESS per
 *    15 minutes): stops one client's guessing;
 *  - failures of the account from addresses it never logged in from
 *    (LOGIN_FAILURES_PER_ACCOUNT per hour): stops guessing spread over many
 *    addresses;
 *  - the addresses the account logged in from (the last 64, 30 days): they
 *    are not subject to the account-wide count, so the owner still gets in
 *    while strangers are being throttled.
 * The account is its user id whichever name was typed (username or
 * e-mail); a name that matches no account has counts of its own, so the
 * answers do not tell which names exist. Redis down: no throttling (logged).
 */
#ifndef CHAT_LOGIN_LIMIT_H
#define CHAT_LOGIN_LIMIT_H

#include "http.h"

#include <stdbool.h>

#define LOGIN_ACCOUNT_LEN 40

/* The account key of a login: its user id, else a digest of the typed name. */
void login_account(const char *user_id, const char *typed, char out[LOGIN_ACCOUNT_LEN]);

/* Whether the client may try a password on account now; else answers 429 and false. */
bool login_allowed(struct http_req *req, const char *account);

/* Count a wrong password (or unknown name) from the client's address. */
void login_failed(struct http_req *req, const char *account);

/* A correct password: the address becomes familiar and its failures are forgotten. */
void login_succeeded(struct http_req *req, const char *account);

#endif
