/* handshake.c - see handshake.h. */
#include "handshake.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int hs_parse_path(const char *uri, const char *ws_prefix, char conv_id[UUID_STR_LEN])
{
    static const char conv[] = "/conversations/";
    size_t n = strlen(ws_prefix);
    const char *p;

    conv_id[0] = '\0';
    if (strncmp(uri, ws_prefix, n) != 0)
        return -1;
    p = uri + n;
    if (*p == '\0' || strcmp(p, "/") == 0)
        return 0;
    if (strncmp(p, conv, sizeof(conv) - 1) != 0)
        return -1;
    p += sizeof(conv) - 1;
    if (strlen(p) < UUID_STR_LEN - 1 ||
        (p[UUID_STR_LEN - 1] != '\0' && strcmp(p + UUID_STR_LEN - 1, "/") != 0))
        return -1;
    memcpy(conv_id, p, UUID_STR_LEN - 1);
    conv_id[UUID_STR_LEN - 1] = '\0';
    if (uuid_canon(conv_id))
        return 0;
    conv_id[0] = '\0';
    return -1;
}

int hs_parse_since(const char *value, long long *seq)
{
    char *end;
    long long v;

    if (value[0] < '0' || value[0] > '9')
        return -1;
    errno = 0;
    v = strtoll(value, &end, 10);
    if (*end != '\0' || errno != 0)
        return -1;
    *seq = v;
    return 0;
}

int hs_parse_resume(const char *value, struct hs_resume *out, int max)
{
    const char *p = value;
    int n = 0;

    while (*p != '\0') {
        char seq[24];
        size_t k;

        if (n == max || strlen(p) < UUID_STR_LEN || p[UUID_STR_LEN - 1] != ':')
            return -1;
        memcpy(out[n].conv_id, p, UUID_STR_LEN - 1);
        out[n].conv_id[UUID_STR_LEN - 1] = '\0';
        if (!uuid_canon(out[n].conv_id))
            return -1;
        p += UUID_STR_LEN;
        k = strcspn(p, ",");
        if (k == 0 || k >= sizeof(seq))
            return -1;
        memcpy(seq, p, k);
        seq[k] = '\0';
        if (hs_parse_since(seq, &out[n].seq) != 0)
            return -1;
        n++;
        p += k;
        if (*p == ',' && *++p == '\0')
            return -1; /* a trailing comma */
    }
    return n;
}

const char *hs_bearer(const char *authorization)
{
    if (strncasecmp(authorization, "Bearer ", 7) != 0 || authorization[7] == '\0')
        return NULL;
    return authorization + 7;
}
