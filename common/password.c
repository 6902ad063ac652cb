/* password.c - see password.h. */
#include "password.h"

#include <pthread.h>
#include <string.h>

int pw_hash(const char *password, size_t len, char out[PW_HASH_LEN])
{
    return crypto_pwhash_str(out, password, len, PW_OPSLIMIT, PW_MEMLIMIT) == 0 ? 0 : -1;
}

bool pw_verify(const char *hash, const char *password, size_t len)
{
    if (hash == NULL || strncmp(hash, "$argon2", 7) != 0)
        return false;
    return crypto_pwhash_str_verify(hash, password, len) == 0;
}

static char dummy_hash[PW_HASH_LEN];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_init(void)
{
    if (pw_hash("dummy-password-for-timing", 25, dummy_hash) != 0)
        dummy_hash[0] = '\0';
}

void pw_verify_dummy(const char *password, size_t len)
{
    pthread_once(&dummy_once, dummy_init);
    (void)pw_verify(dummy_hash, password, len);
}
