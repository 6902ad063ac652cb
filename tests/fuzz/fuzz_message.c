/*
 * fuzz_message - libFuzzer target for the parsers that read message and
 * event text without building a JSON tree (msg_text_scan, the split of a
 * message event) and for the content and client-id checks. The input is
 * passed as an exact-size buffer, so a scanner that reads past its length
 * is caught by AddressSanitizer. Run by scripts/fuzz.sh.
 */
#include "events.h"
#include "message.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    if ((copy = malloc(size + 1)) == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    (void)msg_client_id_valid(copy);
    free(copy);
    return 0;
}
