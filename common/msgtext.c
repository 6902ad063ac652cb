/*
 * msgtext.c - see msgtext.h.
 *
 * Unicode questions (UTF-8 validity, general categories, grapheme
 * clusters) go to libunistring rather than to tables of our own.
 * Measured with libunistring 1.0 (Debian 12): u8_grapheme_next() asks
 * uc_is_grapheme_break() about each pair of code points alone, so it
 * splits ZWJ sequences (the family U+1F468 ZWJ U+1F469 ZWJ U+1F467 comes
 * out as 3 clusters) and flags (U+1F1EB U+1F1F7 as 2); u8_grapheme_breaks()
 * looks at the whole string (UAX #29 rules GB11, GB12, GB13) and gets both
 * right. So a reaction is one cluster when u8_grapheme_breaks() finds no
 * break inside it.
 */
#include "msgtext.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unictype.h>
#include <unigbrk.h>
#include <unistr.h>

/* [A-Za-z0-9_.-], as v_username() allows; ASCII only, so bytes of a
 * multi-byte UTF-8 character are never username characters. */
static bool is_username_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

/* Whether the '@' at content[at] starts a mention (not "a@b", not "@@b"). */
static bool starts_mention(const char *content, size_t at)
{
    unsigned char prev;

    if (at == 0)
        return true;
    prev = (unsigned char)content[at - 1];
    return prev != '@' && !is_username_char(prev);
}

/* Whether the n-byte lower-case name is already among the used bytes of out. */
static bool mentions_has(const char *out, size_t used, const char *name, size_t n)
{
    size_t i = 0;

    while (i < used) {
        const char *sp = memchr(out + i, ' ', used - i);
        size_t tok = (sp != NULL ? (size_t)(sp - out) : used) - i;

        if (tok == n && memcmp(out + i, name, n) == 0)
            return true;
        i += tok + 1;
    }
    return false;
}

/*
 * Append the n-byte name, lower-cased, to out (used bytes so far, a space
 * first unless empty), keeping room for the terminating NUL. Returns false,
 * writing nothing, when it would not fit.
 */
static bool mentions_append(char *out, size_t cap, size_t *used, const char *name, size_t n)
{
    size_t sep = *used > 0 ? 1 : 0;

    if (*used + sep + n + 1 > cap)
        return false;
    if (sep)
        out[(*used)++] = ' ';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        out[(*used)++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out[*used] = '\0';
    return true;
}

int msgtext_mentions(const char *content, size_t len, char *out, size_t cap)
{
    char name[MSGTEXT_USERNAME_MAX];
    size_t used = 0, i = 0;
    int count = 0;

    if (cap == 0)
        return 0;
    out[0] = '\0';
    while (i < len && count < MSGTEXT_MENTIONS_MAX) {
        size_t start, n;

        if (content[i] != '@' || !starts_mention(content, i)) {
            i++;
            continue;
        }
        start = ++i;
        while (i < len && is_username_char((unsigned char)content[i]))
            i++;
        n = i - start;
        /* End of sentence: "hi @bob." mentions bob. */
        while (n > 0 && (content[start + n - 1] == '.' || content[start + n - 1] == '-'))
            n--;
        if (n < MSGTEXT_USERNAME_MIN || n > MSGTEXT_USERNAME_MAX)
            continue;
        /* Compare lower-cased, as the output is. */
        for (size_t k = 0; k < n; k++) {
            unsigned char c = (unsigned char)content[start + k];
            name[k] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
        if (mentions_has(out, used, name, n))
            continue;
        if (!mentions_append(out, cap, &used, name, n))
            break;
        count++;
    }
    return count;
}

/* ":name:", name 1..62 of [a-z0-9_+-]; s is 1..64 bytes starting with ':'. */
static const char *shortcode_problem(const char *s, size_t len)
{
    if (len < 3 || s[len - 1] != ':')
        return "emoji: a :name: needs a name and a closing ':'";
    for (size_t i = 1; i + 1 < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '+' || c == '-'))
            return "emoji: a :name: is lower-case letters, digits, '_', '+' and '-'";
    }
    return NULL;
}

/* Whether any byte of s is outside ASCII, i.e. it has a non-ASCII code point. */
static bool has_non_ascii(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] >= 0x80)
            return true;
    return false;
}

/* One extended grapheme cluster of valid UTF-8; s is 1..64 bytes. */
static const char *cluster_problem(const uint8_t *s, size_t len)
{
    /* Neither invisible nor attached to something before it. */
    const uint32_t bad_first =
        UC_CATEGORY_MASK_Cc | UC_CATEGORY_MASK_Cf | UC_CATEGORY_MASK_Z | UC_CATEGORY_MASK_M;
    char breaks[MSGTEXT_EMOJI_MAX];
    ucs4_t first;

    if (u8_check(s, len) != NULL)
        return "emoji: invalid UTF-8";
    if (!has_non_ascii(s, len))
        return "emoji: must be one emoji or :name:";
    u8_mbtouc(&first, s, len);
    if (uc_is_general_category_withtable(first, bad_first))
        return "emoji: must not start with a control, space or combining mark";
    u8_grapheme_breaks(s, len, breaks);
    for (size_t i = 1; i < len; i++)
        if (breaks[i])
            return "emoji: must be one emoji or :name:";
    return NULL;
}

const char *msgtext_emoji_problem(const char *s, size_t len)
{
    if (len == 0 || len > MSGTEXT_EMOJI_MAX)
        return "emoji: must be 1..64 bytes";
    if (memchr(s, '\0', len) != NULL)
        return "emoji: must not contain NUL";
    if (s[0] == ':')
        return shortcode_problem(s, len);
    return cluster_problem((const uint8_t *)s, len);
}
