/*
 * fuzz_router - libFuzzer target for request-path matching: every route
 * pattern against an arbitrary path (what a client puts in the URL after
 * nginx's decoding). Run by scripts/fuzz.sh.
 */
#include "router.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char params[HTTP_MAX_PARAMS][HTTP_PARAM_LEN], *path;
    int n;

    if ((path = malloc(size + 1)) == NULL)
        return 0;
    memcpy(path, data, size);
    path[size] = '\0';
    for (int i = 0; i < router_count; i++)
        if (router_match(router_table[i].pattern, path, params, &n) &&
            (n < 0 || n > HTTP_MAX_PARAMS))
            abort();
    free(path);
    return 0;
}
