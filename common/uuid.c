/*
 * uuid.c - see uuid.h. Debian's libuuid only makes v1/v4 ids; v7 is a few
 * lines over libsodium's randombytes, so it is written here.
 */
#include "uuid.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

void uuid_v7_generate(uint8_t out[16])
{
    struct timespec ts;
    uint64_t ms;

    clock_gettime(CLOCK_REALTIME, &ts);
    ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    randombytes_buf(out + 6, 10);
    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)(ms >> (40 - 8 * i));
    out[6] = (uint8_t)(0x70 | (out[6] & 0x0f)); /* version 7 */
    out[8] = (uint8_t)(0x80 | (out[8] & 0x3f)); /* variant 10 */
}

void uuid_to_string(const uint8_t in[16], char out[UUID_STR_LEN])
{
    static const char hex[] = "0123456789abcdef";
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[in[i] >> 4];
        out[o++] = hex[in[i] & 0x0f];
    }
    out[o] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int uuid_from_string(const char *s, uint8_t out[16])
{
    int o = 0;
    if (s == NULL || strlen(s) != 36)
        return -1;
    for (int i = 0; i < 36;) {
        int hi, lo;
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return -1;
            i++;
            continue;
        }
        hi = hexval(s[i]);
        lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[o++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return 0;
}

bool uuid_is_valid(const char *s)
{
    uint8_t b[16];
    return uuid_from_string(s, b) == 0;
}

bool uuid_canon(char *s)
{
    if (!uuid_is_valid(s))
        return false;
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'F')
            *s = (char)(*s - 'A' + 'a');
    return true;
}

void uuid_v7_string(char out[UUID_STR_LEN])
{
    uint8_t b[16];
    uuid_v7_generate(b);
    uuid_to_string(b, out);
}
