/*
 * msgtext.h - pure checks and extractions on message text that the send
 * paths (REST and WebSocket) share: the @mentions of a message's content,
 * and the validation of a reaction emoji. No I/O, no allocation; every
 * function is reentrant.
 */
#ifndef CHAT_MSGTEXT_H
#define CHAT_MSGTEXT_H

#include <stddef.h>

/* At most this many names come out of msgtext_mentions(). */
#define MSGTEXT_MENTIONS_MAX 50
/* A mention's length, as fcgi-api/validate.c v_username() bounds a username. */
#define MSGTEXT_USERNAME_MIN 3
#define MSGTEXT_USERNAME_MAX 50
/* A reaction is at most this many bytes. */
#define MSGTEXT_EMOJI_MAX 64
/* Bytes msgtext_mentions() may need: every name at its longest, a space after each, the NUL. */
#define MSGTEXT_MENTIONS_CAP (MSGTEXT_MENTIONS_MAX * (MSGTEXT_USERNAME_MAX + 1) + 1)

/*
 * Extract the @username candidates of content (len bytes; NUL bytes are
 * separators). A mention is '@' at the start or after a byte that is
 * neither a username character ([A-Za-z0-9_.-]) nor '@', followed by
 * username characters; trailing '.' and '-' are dropped, and a candidate
 * whose length is then outside MSGTEXT_USERNAME_MIN..MAX is ignored.
 * So "a@b.com" and "@@eve" mention nobody, "(@carol)" and "@dave." do.
 *
 * Writes the distinct candidates, ASCII lower-cased, in order of first
 * appearance, separated by single spaces and NUL-terminated, into out (cap
 * bytes, never more; nothing at all when cap is 0). The output holds only
 * [a-z0-9_.-] and spaces: it is fit for SQL string_to_array($n, ' ').
 * Stops at MSGTEXT_MENTIONS_MAX names, or at the first name that would not
 * fit, so the output is always a prefix of the full list.
 * Returns the number of names written.
 */
int msgtext_mentions(const char *content, size_t len, char *out, size_t cap);

/*
 * Check a reaction of len bytes (NUL bytes are rejected). Acceptable: 1..
 * MSGTEXT_EMOJI_MAX bytes, and either ":name:" with name 1..62 of
 * [a-z0-9_+-], or exactly one extended grapheme cluster of valid UTF-8
 * with a non-ASCII code point in it, whose first code point is not a
 * control, format, separator or combining mark. Returns NULL when
 * acceptable, else a static reason.
 */
const char *msgtext_emoji_problem(const char *s, size_t len);

#endif
