/*
 * fuzz_wsframe - libFuzzer target for what a WebSocket client (and the
 * database's announcements) hand the gateway as text: the client frame
 * parser (frame_parse, then the send path's check of a message frame, as
 * client.c runs them), the handshake's path, since_seq, ?since= resume
 * list and Authorization header (handshake.h), and the membership and
 * account announcements (member_parse, account_parse). Every input goes
 * through all of them: the frame as an exact-size buffer (a read past
 * its length is caught by AddressSanitizer), the others NUL-terminated
 * as lws and libpq hand them over. Ids that come out must be canonical
 * (lower-case UUIDs), else abort(). Run by scripts/fuzz.sh.
 */
#include "account.h"
#include "frame.h"
#include "handshake.h"
#include "member.h"
#include "send.h"
#include "uuid.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* "" or a lower-case UUID. */
static bool is_canonical_or_empty(const char *s)
{
    if (s[0] == '\0')
        return true;
    if (!uuid_is_valid(s))
        return false;
    for (; *s != '\0'; s++)
        if (*s >= 'A' && *s <= 'F')
            return false;
    return true;
}

static void check_frame(const uint8_t *data, size_t size)
{
    static const char own[] = "0191e3a0-0000-7000-8000-00000000000a";
    char *text = malloc(size ? size : 1); /* exactly size bytes: no NUL after them */
    struct frame f;
    struct frame_error err;
    struct send_input in;
    struct send_error serr;

    if (text == NULL)
        return;
    memcpy(text, data, size);
    if (frame_parse(text, size, &f, &err) != 0) {
        if (f.json != NULL || err.code == NULL || err.message == NULL)
            abort();
        goto out;
    }
    if (!json_is_object(f.json) || f.type > FRAME_UNKNOWN ||
        !is_canonical_or_empty(f.conversation_id) || !is_canonical_or_empty(f.message_id))
        abort();
    if (f.type == FRAME_MESSAGE &&
        send_validate(f.json, f.conversation_id[0] ? f.conversation_id : own, NULL, 4000, &in,
                      &serr) == 0 &&
        in.content == NULL)
        abort();
    frame_free(&f);
out:
    free(text);
}

static void check_handshake(const char *s)
{
    static struct hs_resume points[HS_RESUME_MAX];
    char conv[UUID_STR_LEN];
    long long seq;
    int n;

    if (hs_parse_path(s, "/api/v1/ws", conv) == 0 && !is_canonical_or_empty(conv))
        abort();
    if (hs_parse_since(s, &seq) == 0 && seq < 0)
        abort();
    n = hs_parse_resume(s, points, HS_RESUME_MAX);
    if (n > HS_RESUME_MAX)
        abort();
    for (int i = 0; i < n; i++)
        if (points[i].conv_id[0] == '\0' || !is_canonical_or_empty(points[i].conv_id) ||
            points[i].seq < 0)
            abort();
    (void)hs_bearer(s);
}

static void check_announcements(const char *s)
{
    char conv[UUID_STR_LEN], user[UUID_STR_LEN];
    int added;
    long long seq;

    if (member_parse(s, conv, user, &added, &seq) == 0 &&
        (conv[0] == '\0' || user[0] == '\0' || !is_canonical_or_empty(conv) ||
         !is_canonical_or_empty(user) || (added && seq < 0) || (!added && seq < -1)))
        abort();
    if (account_parse(s, user) == 0 && (user[0] == '\0' || !is_canonical_or_empty(user)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s;

    check_frame(data, size);
    if ((s = malloc(size + 1)) == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    check_handshake(s);
    check_announcements(s);
    free(s);
    return 0;
}
