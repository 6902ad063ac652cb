/*
 * auth.h - who is calling: bearer access tokens, and the token pair that
 * register/login/refresh hand out (with server-side refresh rotation).
 */
#ifndef CHAT_AUTH_H
#define CHAT_AUTH_H

#include "http.h"

/*
 * Authenticate the request from "Authorization: Bearer <jwt>". On success
 * fills req->user_id and returns 0. Otherwise answers 401 (or 503 when the
 * database is down) and returns -1. With check_live, a token of a deleted
 * user is rejected here (one query); without, the route must prove it
 * itself (see R_LIVE_BY_MEMBERSHIP and auth_not_found()).
 */
int auth_authenticate(struct http_req *req, bool check_live);

/*
 * The not-a-member answer of an R_LIVE_BY_MEMBERSHIP route: 401 when the
 * caller's user has been deleted since the token was issued, else 404
 * "<what> not found".
 */
void auth_not_found(struct http_req *req, const char *what);

/*
 * Issue an access token and a new refresh token for user_id. family is the
 * refresh family to continue (NULL starts a new one). Stores the refresh
 * token (hashed). Returns the response object
 * {access_token, refresh_token, token_type, expires_in} or NULL after
 * having answered an error.
 */
json_t *auth_issue_pair(struct http_req *req, const char *user_id, const char *family);

#endif
