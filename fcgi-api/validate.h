/*
 * validate.h - reading typed fields out of a request's JSON body.
 *
 * Each reader answers 422 naming the field when the value is missing (and
 * required), of the wrong type, or out of bounds, and returns -1; the
 * handler then just returns. Strings are borrowed from req->json.
 */
#ifndef CHAT_VALIDATE_H
#define CHAT_VALIDATE_H

#include "http.h"

#include <stdbool.h>

/* String field of min..max characters (code points). *out NULL if absent. */
int v_string(struct http_req *req, const char *field, size_t min, size_t max, bool required,
             const char **out);

/* Field that must be a UUID (string). */
int v_uuid(struct http_req *req, const char *field, bool required, const char **out);

/* Boolean field; *present says whether it was given. */
int v_bool(struct http_req *req, const char *field, bool required, bool *out, bool *present);

/* Username rule: 3..50 of [A-Za-z0-9_.-]. */
int v_username(struct http_req *req, const char *field, bool required, const char **out);

/* A plausible e-mail address (one @, a dot in the domain, no spaces), <= 254. */
int v_email(struct http_req *req, const char *field, bool required, const char **out);

/* Path parameter i as a UUID, else 404 (ids that cannot exist are not found). */
int v_path_uuid(struct http_req *req, int i, const char **out);

/*
 * Array field of min..max UUIDs, as a PostgreSQL array literal "{a,b}"
 * (malloc'ed, caller frees; "{}" when absent and min is 0).
 */
int v_uuid_array(struct http_req *req, const char *field, size_t min, size_t max, char **out);

/* A ?limit= value (percent-decoded): 0 with *out, an integer from 1 to max, or -1. Pure. */
int v_limit_parse(const char *value, int max, int *out);

/* Query parameter "limit": 1..max, def when absent; else 422. */
int v_query_limit(struct http_req *req, int def, int max, int *out);

/*
 * Query parameter name as a UUID, canonical (lower case) in out; *present
 * says whether it was given (an empty value is absent). Else 422 naming what.
 */
int v_query_uuid(struct http_req *req, const char *name, const char *what, char out[UUID_STR_LEN],
                 bool *present);

/* Count UTF-8 code points. */
size_t v_utf8_len(const char *s);

#endif
