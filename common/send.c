/* send.c - see send.h. */
#include "send.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int refuse(struct send_error *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int refuse(struct send_error *err, int status, const char *code, const char *fmt, ...)
{
    va_list ap;

    err->status = status;
    err->code = code;
    err->retry_after = 0;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}

/* An optional string field: NULL when absent or null; -1 when it is not a string. */
static int optional_string(const json_t *body, const char *field, const char **out)
{
    const json_t *v = json_object_get(body, field);

    *out = NULL;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = json_string_value(v);
    /* an embedded NUL would be cut off by every C string consumer after us */
    return strlen(*out) == json_string_length(v) ? 0 : -2;
}

int send_content_valid(const json_t *content, int max_chars, const char **out,
                       struct send_error *err)
{
    const char *problem;

    if (!json_is_string(content))
        return refuse(err, 422, "validation_error", "content: field required (string)");
    problem =
        msg_content_problem(json_string_value(content), json_string_length(content), max_chars);
    if (problem != NULL)
        return refuse(err, 422, "validation_error", "content: %s (at most %d characters)", problem,
                      max_chars);
    *out = json_string_value(content);
    return 0;
}

/* reply_to_id and mention_ids of body into in; the content's @names too. */
static int reply_and_mentions(const json_t *body, struct send_input *in, struct send_error *err)
{
    const char *reply;
    const json_t *ids = json_object_get(body, "mention_ids"), *v;
    size_t i, at = 0;

    in->reply_to[0] = in->names[0] = in->ids[0] = '\0';
    if (optional_string(body, "reply_to_id", &reply) != 0 ||
        (reply != NULL && (strlen(reply) >= UUID_STR_LEN || !uuid_is_valid(reply))))
        return refuse(err, 422, "validation_error", "reply_to_id: must be a message id (UUID)");
    if (reply != NULL) {
        snprintf(in->reply_to, sizeof(in->reply_to), "%s", reply);
        uuid_canon(in->reply_to);
    }
    if (ids != NULL && !json_is_null(ids)) {
        if (!json_is_array(ids) || json_array_size(ids) > MSGTEXT_MENTIONS_MAX)
            return refuse(err, 422, "validation_error",
                          "mention_ids: at most %d user ids (UUIDs)", MSGTEXT_MENTIONS_MAX);
        json_array_foreach(ids, i, v)
        {
            const char *id = json_string_value(v);
            if (id == NULL || json_string_length(v) != UUID_STR_LEN - 1 || !uuid_is_valid(id))
                return refuse(err, 422, "validation_error", "mention_ids: each must be a user id (UUID)");
            at += (size_t)snprintf(in->ids + at, sizeof(in->ids) - at, "%s%s", at ? " " : "", id);
        }
        for (char *p = in->ids; *p; p++)
            *p = (char)tolower((unsigned char)*p); /* canonical, as every id we keep */
    }
    msgtext_mentions(in->content, strlen(in->content), in->names, sizeof(in->names));
    return 0;
}

int send_validate(const json_t *body, const char *conversation_id, const char *fallback_client_id,
                  int max_chars, struct send_input *in, struct send_error *err)
{
    const char *body_cid;
    int rc;

    if (send_content_valid(json_object_get(body, "content"), max_chars, &in->content, err) != 0)
        return -1;
    rc = optional_string(body, "client_message_id", &in->client_message_id);
    if (rc == 0 && in->client_message_id == NULL)
        in->client_message_id = fallback_client_id;
    if (rc != 0 || (in->client_message_id != NULL && !msg_client_id_valid(in->client_message_id)))
        return refuse(err, 422, "validation_error",
                      "client_message_id: 1 to %d printable ASCII characters", MSG_CLIENT_ID_MAX);
    if (reply_and_mentions(body, in, err) != 0)
        return -1;
    rc = optional_string(body, "conversation_id", &body_cid);
    if (rc != 0)
        return refuse(err, 422, "validation_error", "conversation_id: must be a string");
    if (body_cid != NULL && strcasecmp(body_cid, conversation_id) != 0)
        return refuse(err, 422, "validation_error",
                      "conversation_id: does not match the conversation in the path");
    return 0;
}

void send_params(const char *conversation_id, const char *id, const char *sender_id,
                 const struct send_input *in, const char *params[MSG_SEND_NPARAMS])
{
    params[0] = conversation_id;
    params[1] = id;
    params[2] = sender_id;
    params[3] = in->content;
    params[4] = in->client_message_id;
    params[5] = in->reply_to[0] ? in->reply_to : NULL;
    params[6] = in->names[0] ? in->names : NULL;
    params[7] = in->ids[0] ? in->ids : NULL;
}

bool send_should_retry(enum db_err err, int attempt)
{
    return err == DB_ERR_UNIQUE && attempt + 1 < SEND_ATTEMPTS;
}

int send_result(const PGresult *r, const char *conversation_id, struct msg_row *m, bool *fresh,
                struct send_error *err)
{
    if (!db_has_row(r) || db_get(r, 0, MSG_COL_ID) == NULL) {
        if (db_has_row(r) && PQgetvalue(r, 0, MSG_SEND_COL_BAD_REPLY)[0] == 't')
            return refuse(err, 422, "validation_error",
                          "reply_to_id: not a message of this conversation");
        return refuse(err, 404, "not_found", "conversation not found");
    }
    msg_row_from_result(r, 0, 0, conversation_id, m);
    *fresh = PQgetvalue(r, 0, MSG_SEND_COL_FRESH)[0] == 't';
    return 0;
}

void send_db_error(enum db_err err, struct send_error *out)
{
    const struct db_err_answer *a = db_err_answer(err);
    refuse(out, a->status, a->code, "%s", a->message);
}

void send_rate_limited(const struct rl_result *rl, struct send_error *out)
{
    refuse(out, 429, "rate_limited", "too many messages, retry in %d seconds", rl->retry_after);
    out->retry_after = rl->retry_after;
}
