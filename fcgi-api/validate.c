/* validate.c - see validate.h. */
#include "validate.h"
#include "uuid.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t v_utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

static json_t *field_value(struct http_req *req, const char *field)
{
    json_t *v = req->json ? json_object_get(req->json, field) : NULL;
    return v != NULL && !json_is_null(v) ? v : NULL;
}

int v_string(struct http_req *req, const char *field, size_t min, size_t max, bool required,
             const char **out)
{
    json_t *v = field_value(req, field);
    size_t len;

    *out = NULL;
    if (v == NULL) {
        if (!required)
            return 0;
        http_error(req, 422, "validation_error", "%s: field required", field);
        return -1;
    }
    if (!json_is_string(v)) {
        http_error(req, 422, "validation_error", "%s: must be a string", field);
        return -1;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        http_error(req, 422, "validation_error", "%s: must not contain NUL characters", field);
        return -1;
    }
    len = v_utf8_len(json_string_value(v));
    if (len < min || len > max) {
        http_error(req, 422, "validation_error", "%s: length must be from %zu to %zu characters",
                   field, min, max);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

int v_uuid(struct http_req *req, const char *field, bool required, const char **out)
{
    if (v_string(req, field, 1, 64, required, out) != 0)
        return -1;
    if (*out != NULL && !uuid_is_valid(*out)) {
        http_error(req, 422, "validation_error", "%s: must be a UUID", field);
        return -1;
    }
    if (*out != NULL && strpbrk(*out, "ABCDEF") != NULL) {
        /* the canonical spelling replaces the body's, so every later use sees it */
        char id[UUID_STR_LEN];
        snprintf(id, sizeof(id), "%s", *out);
        uuid_canon(id);
        json_object_set_new(req->json, field, json_string(id));
        *out = json_string_value(json_object_get(req->json, field));
    }
    return 0;
}

int v_bool(struct http_req *req, const char *field, bool required, bool *out, bool *present)
{
    json_t *v = field_value(req, field);
    *present = v != NULL;
    if (v == NULL) {
        if (!required)
            return 0;
        http_error(req, 422, "validation_error", "%s: field required", field);
        return -1;
    }
    if (!json_is_boolean(v)) {
        http_error(req, 422, "validation_error", "%s: must be true or false", field);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

int v_username(struct http_req *req, const char *field, bool required, const char **out)
{
    if (v_string(req, field, 3, 50, required, out) != 0)
        return -1;
    for (const char *p = *out; p != NULL && *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-') {
            http_error(req, 422, "validation_error",
                       "%s: only letters, digits, '_', '.' and '-' are allowed", field);
            return -1;
        }
    }
    return 0;
}

int v_email(struct http_req *req, const char *field, bool required, const char **out)
{
    const char *at, *dot;
    if (v_string(req, field, 3, 254, required, out) != 0)
        return -1;
    if (*out == NULL)
        return 0;
    at = strchr(*out, '@');
    dot = at ? strrchr(at, '.') : NULL;
    if (at == NULL || at == *out || strchr(at + 1, '@') != NULL || dot == NULL || dot == at + 1 ||
        dot[1] == '\0' || strpbrk(*out, " \t\r\n") != NULL) {
        http_error(req, 422, "validation_error", "%s: not a valid e-mail address", field);
        return -1;
    }
    return 0;
}

int v_path_uuid(struct http_req *req, int i, const char **out)
{
    if (i >= req->nparams || !uuid_is_valid(req->params[i])) {
        http_error(req, 404, "not_found", "not found");
        return -1;
    }
    *out = req->params[i];
    return 0;
}

int v_uuid_array(struct http_req *req, const char *field, size_t min, size_t max, char **out)
{
    json_t *ids = json_object_get(req->json, field), *v;
    size_t i, used = 0;
    char *arr;

    *out = NULL;
    if (ids == NULL || json_is_null(ids))
        ids = NULL;
    if ((ids == NULL && min > 0) || (ids != NULL && !json_is_array(ids)) ||
        json_array_size(ids) < min || json_array_size(ids) > max) {
        http_error(req, 422, "validation_error", "%s: must be an array of %zu to %zu user ids",
                   field, min, max);
        return -1;
    }
    arr = malloc(json_array_size(ids) * (UUID_STR_LEN + 1) + 3);
    if (arr == NULL) {
        http_error(req, 503, "unavailable", "out of memory");
        return -1;
    }
    arr[used++] = '{';
    json_array_foreach(ids, i, v)
    {
        const char *s = json_string_value(v);
        if (s == NULL || !uuid_is_valid(s)) {
            free(arr);
            http_error(req, 422, "validation_error", "%s[%zu]: must be a UUID", field, i);
            return -1;
        }
        used += (size_t)sprintf(arr + used, "%s%s", i ? "," : "", s);
    }
    arr[used++] = '}';
    arr[used] = '\0';
    *out = arr;
    return 0;
}

int v_limit_parse(const char *value, int max, int *out)
{
    char *end;
    long n = strtol(value, &end, 10);

    if (end == value || *end != '\0' || n < 1 || n > max)
        return -1;
    *out = (int)n;
    return 0;
}

int v_query_limit(struct http_req *req, int def, int max, int *out)
{
    char buf[32];

    *out = def;
    if (!http_query(req, "limit", buf, sizeof(buf)) || v_limit_parse(buf, max, out) == 0)
        return 0;
    http_error(req, 422, "validation_error", "limit: must be an integer from 1 to %d", max);
    return -1;
}

int v_query_uuid(struct http_req *req, const char *name, const char *what, char out[UUID_STR_LEN],
                 bool *present)
{
    char buf[HTTP_PARAM_LEN];

    *present = http_query(req, name, buf, sizeof(buf)) && buf[0] != '\0';
    if (!*present)
        return 0;
    if (!uuid_canon(buf)) {
        http_error(req, 422, "validation_error", "%s: must be %s (UUID)", name, what);
        return -1;
    }
    memcpy(out, buf, UUID_STR_LEN);
    return 0;
}
