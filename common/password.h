/*
 * password.h - password hashing with libsodium's argon2id.
 *
 * Parameters are OWASP's minimum for argon2id (19 MiB, t=2, p=1): about
 * 20 ms here, an order of magnitude faster than the seed's bcrypt-12 while
 * memory-hard. Hashes are self-describing strings ($argon2id$v=19$...), so
 * the parameters can be raised later and old hashes still verify.
 */
#ifndef CHAT_PASSWORD_H
#define CHAT_PASSWORD_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>

#define PW_HASH_LEN crypto_pwhash_STRBYTES
#define PW_OPSLIMIT 2
#define PW_MEMLIMIT 19922944 /* 19 MiB, in bytes */

/* Returns 0, or -1 when out of memory. */
int pw_hash(const char *password, size_t len, char out[PW_HASH_LEN]);

/* Constant-time verification; false for a malformed hash. */
bool pw_verify(const char *hash, const char *password, size_t len);

/*
 * Verify against a fixed dummy hash, to spend the same time when the
 * account does not exist (no user enumeration by timing).
 */
void pw_verify_dummy(const char *password, size_t len);

#endif
