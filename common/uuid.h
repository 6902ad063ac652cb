/*
 * uuid.h - UUIDs for every id we hand out.
 *
 * New ids are UUIDv7 (RFC 9562): 48 bits of Unix milliseconds then random
 * bits from libsodium, so ids sort in creation order and B-tree inserts stay
 * at the right edge of the index.
 */
#ifndef CHAT_UUID_H
#define CHAT_UUID_H

#include <stdbool.h>
#include <stdint.h>

#define UUID_STR_LEN 37 /* 36 characters + NUL */

void uuid_v7_generate(uint8_t out[16]);
void uuid_to_string(const uint8_t in[16], char out[UUID_STR_LEN]);

/* Parse the canonical 8-4-4-4-12 form (either case). Returns 0 or -1. */
int uuid_from_string(const char *s, uint8_t out[16]);

/* True when s is a canonical UUID. */
bool uuid_is_valid(const char *s);

/*
 * Lower-case the UUID s in place: every id is canonical from the moment it
 * is parsed, because Redis keys, stream events and the gateways compare ids
 * as text (PostgreSQL alone ignores case). Returns false, s unchanged, when
 * s is not a UUID.
 */
bool uuid_canon(char *s);

/* Write a fresh UUIDv7 in canonical lower-case form. */
void uuid_v7_string(char out[UUID_STR_LEN]);

#endif
