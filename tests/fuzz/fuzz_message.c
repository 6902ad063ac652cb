/*
 * fuzz_message - libFuzzer target for the parsers that read message and
 * event text without building a JSON tree (msg_text_scan, the split of a
 * message event), for the content and client-id checks, and for
 * msgtext.c (mentions: only [a-z0-9_.- ] within the buffer; reactions:
 * never more than MSGTEXT_EMOJI_MAX bytes accepted). The input is
 * passed as an exact-size buffer, so a scanner that reads past its length
 * is caught by AddressSanitizer. Run by scripts/fuzz.sh.
 */
#include "events.h"
#include "message.h"
#include "msgtext.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The mentions buffer is small so that the cap is often what stops it. */
#define MENTIONS_CAP 64

/* Abort unless out (cap bytes) is NUL-terminated and only [a-z0-9_.- ]. */
static void check_mentions(const char *out, size_t cap)
{
    const char *nul = memchr(out, '\0', cap);

    if (nul == NULL)
        abort();
    for (const char *p = out; p < nul; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
              *p == '-' || *p == ' '))
            abort();
}

static void fuzz_msgtext(const char *text, size_t size)
{
    /* A guard after the cap catches a write past it. */
    char out[MENTIONS_CAP + 1];
    int n;

    out[MENTIONS_CAP] = 'G';
    n = msgtext_mentions(text, size, out, MENTIONS_CAP);
    if (n < 0 || n > MSGTEXT_MENTIONS_MAX || out[MENTIONS_CAP] != 'G')
        abort();
    check_mentions(out, MENTIONS_CAP);
    if (msgtext_emoji_problem(text, size) == NULL && size > MSGTEXT_EMOJI_MAX)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char id[UUID_STR_LEN], sender[UUID_STR_LEN], cid[64], *copy;
    const char *text = (const char *)data, *msg;
    long long seq;
    size_t msg_len;

    if (msg_text_scan(text, size, id, &seq, sender) == 0 && (strlen(id) != 36 || seq < 0))
        abort();
    if (ev_message_text_split(text, size, cid, &seq, &msg, &msg_len) == 0 &&
        (msg < text || msg + msg_len > text + size || seq < 0))
        abort();
    (void)msg_content_problem(text, size, 4000);
    fuzz_msgtext(text, size);
    if ((copy = malloc(size + 1)) == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    (void)msg_client_id_valid(copy);
    free(copy);
    return 0;
}
