/*
 * frame.h - what a client's text frame says, read without acting on it.
 *
 * A frame is a JSON object with a "type" (client.h lists them). Parsing
 * is pure (no connection, no I/O): frame_parse() turns the text into the
 * frame's type and its fields in canonical form, or into the error the
 * socket answers; client.c decides what the frame does given the
 * connection's state. Kept apart so the parser is fuzzed alone
 * (tests/fuzz/fuzz_wsframe.c).
 */
#ifndef GW_FRAME_H
#define GW_FRAME_H

#include "uuid.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum frame_type {
    FRAME_AUTH,
    FRAME_PING,
    FRAME_MESSAGE,
    FRAME_TYPING,
    FRAME_READ,
    FRAME_EDIT,   /* {"message_id","content"}: edit one's own message */
    FRAME_DELETE, /* {"message_id"} */
    FRAME_REACT,  /* {"message_id","emoji","on"?}: add (on absent or true) or remove a reaction */
    FRAME_UNKNOWN
};

struct frame {
    enum frame_type type;
    json_t *json; /* the whole frame, owned; token borrows from it */
    /* "conversation_id", lower-case; "" when absent, not a string or not a UUID */
    char conversation_id[UUID_STR_LEN];
    const char *token; /* "token" when a string, else NULL */
    /* read, edit, delete, react: "message_id", lower-case; "" when absent (read only) */
    char message_id[UUID_STR_LEN];
    bool is_typing; /* typing: "is_typing" */
    bool on;        /* react: "on" (true when absent) */
    /*
     * A field this type needs is malformed: the validation_error message
     * the socket answers once the frame's conversation is known; NULL
     * when none. (A message's content and client id are checked by the
     * send path, common/send.h, as chat-api checks them; an edit's content
     * and a reaction's emoji by client.c with the same checks.)
     */
    const char *invalid;
};

/* An unreadable frame, as the socket answers it: {"type":"error","code","message"}. */
struct frame_error {
    const char *code;    /* static */
    const char *message; /* static */
};

/*
 * Parse text[0..len) (not NUL-terminated). 0 with *f filled (release it
 * with frame_free), or -1 with *err when the text is not a JSON object
 * (invalid_json) or has no string "type" (validation_error); *f is then
 * empty and needs no frame_free.
 */
int frame_parse(const char *text, size_t len, struct frame *f, struct frame_error *err);

void frame_free(struct frame *f);

#endif
