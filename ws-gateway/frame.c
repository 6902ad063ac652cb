/* frame.c - see frame.h. */
#include "frame.h"

#include <string.h>

static const struct {
    const char *name;
    enum frame_type type;
} frame_types[] = {
    {"auth", FRAME_AUTH},     {"ping", FRAME_PING},   {"message", FRAME_MESSAGE},
    {"typing", FRAME_TYPING}, {"read", FRAME_READ},   {"edit", FRAME_EDIT},
    {"delete", FRAME_DELETE}, {"react", FRAME_REACT},
};

static enum frame_type type_of(const char *name)
{
    for (size_t i = 0; i < sizeof(frame_types) / sizeof(frame_types[0]); i++)
        if (strcmp(frame_types[i].name, name) == 0)
            return frame_types[i].type;
    return FRAME_UNKNOWN;
}

/* A UUID field of m, lower-case into out; false when present but not a UUID. */
static bool uuid_field(const json_t *m, const char *name, char out[UUID_STR_LEN])
{
    const char *v = json_string_value(json_object_get(m, name));

    out[0] = '\0';
    if (v == NULL)
        return true;
    if (strlen(v) != UUID_STR_LEN - 1)
        return false;
    memcpy(out, v, UUID_STR_LEN);
    if (uuid_canon(out))
        return true;
    out[0] = '\0';
    return false;
}

/* The fields of f's type, and what is malformed in them. */
static void read_fields(struct frame *f)
{
    json_t *v;

    (void)uuid_field(f->json, "conversation_id", f->conversation_id);
    f->token = json_string_value(json_object_get(f->json, "token"));
    if (f->type == FRAME_TYPING) {
        v = json_object_get(f->json, "is_typing");
        if (json_is_boolean(v))
            f->is_typing = json_is_true(v);
        else
            f->invalid = "is_typing: must be true or false";
    } else if (f->type == FRAME_READ && !uuid_field(f->json, "message_id", f->message_id)) {
        f->invalid = "message_id: must be a UUID";
    } else if (f->type == FRAME_EDIT || f->type == FRAME_DELETE || f->type == FRAME_REACT) {
        if (!uuid_field(f->json, "message_id", f->message_id) || f->message_id[0] == '\0')
            f->invalid = "message_id: field required (a UUID)";
        v = json_object_get(f->json, "on");
        f->on = v == NULL || json_is_true(v);
        if (f->type == FRAME_REACT && v != NULL && !json_is_boolean(v) && f->invalid == NULL)
            f->invalid = "on: must be true or false";
    }
}

int frame_parse(const char *text, size_t len, struct frame *f, struct frame_error *err)
{
    json_error_t jerr;
    const char *type;

    memset(f, 0, sizeof(*f));
    /* NUL allowed in strings, so that the send path names the field (as chat-api does). */
    f->json = json_loadb(text, len, JSON_ALLOW_NUL, &jerr);
    if (f->json == NULL || !json_is_object(f->json)) {
        err->code = "invalid_json";
        err->message = "frames must be JSON objects";
        goto fail;
    }
    if ((type = json_string_value(json_object_get(f->json, "type"))) == NULL) {
        err->code = "validation_error";
        err->message = "type: field required";
        goto fail;
    }
    f->type = type_of(type);
    read_fields(f);
    return 0;
fail:
    frame_free(f);
    return -1;
}

void frame_free(struct frame *f)
{
    json_decref(f->json);
    memset(f, 0, sizeof(*f));
}
