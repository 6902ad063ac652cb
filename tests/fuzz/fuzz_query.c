/*
 * fuzz_query - libFuzzer target for chat-api's query strings: the input
 * is the query (what follows '?', as nginx passes it), looked up with
 * http_query() under every name a route reads, at the buffer sizes the
 * routes use, then each value through the parse its route applies (limit,
 * use_cache, cursor and other_user_id as UUIDs). Run by scripts/fuzz.sh.
 */
#include "http.h"
#include "messages.h"
#include "validate.h"
#include "uuid.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The value of name at outlen bytes, checked; NULL when absent. */
static const char *lookup(const struct http_req *req, const char *name, char *out, size_t outlen)
{
    /* a guard byte past the buffer: http_query must stay inside outlen */
    out[outlen] = 'G';
    if (!http_query(req, name, out, outlen))
        return NULL;
    if (out[outlen] != 'G' || strlen(out) >= outlen)
        abort();
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"limit", "cursor", "use_cache", "other_user_id", ""};
    static const size_t sizes[] = {1, 2, 16, 32, HTTP_PARAM_LEN};
    struct http_req req;
    char *query, buf[HTTP_PARAM_LEN + 1];
    const char *v;
    int limit;

    if ((query = malloc(size + 1)) == NULL)
        return 0;
    memcpy(query, data, size);
    query[size] = '\0';
    memset(&req, 0, sizeof(req));
    req.query = query;

    for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++)
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
            (void)lookup(&req, names[n], buf, sizes[k]);

    limit = -1;
    if ((v = lookup(&req, "limit", buf, 32)) != NULL &&
        v_limit_parse(v, MSG_PAGE_MAX, &limit) == 0 &&
        (limit < 1 || limit > MSG_PAGE_MAX))
        abort();
    if ((v = lookup(&req, "use_cache", buf, 16)) != NULL)
        (void)msg_query_flag(v);
    for (int i = 0; i < 2; i++) {
        if ((v = lookup(&req, i ? "other_user_id" : "cursor", buf, HTTP_PARAM_LEN)) != NULL &&
            uuid_canon(buf) && !uuid_is_valid(buf))
            abort();
    }
    free(query);
    return 0;
}
