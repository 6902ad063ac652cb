/* password.c - see password.h. */
#include "password.h"

#include <pthread.h>
#include <semaphore.h>
#include <string.h>
#include <unistd.h>

/*
 * Each argon2 call takes 19 MiB for ~20 ms. With 64 FastCGI threads a
 * login storm would hold 1.2 GiB; more concurrent hashes than cores only
 * queue for CPU anyway, so at most 2 x cores run at once.
 */
static sem_t pw_slots;
static pthread_once_t pw_slots_once = PTHREAD_ONCE_INIT;

static void pw_slots_init(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    sem_init(&pw_slots, 0, (unsigned)(n > 0 ? 2 * n : 4));
}

static void pw_slot_take(void)
{
    pthread_once(&pw_slots_once, pw_slots_init);
    while (sem_wait(&pw_slots) != 0)
        ; /* EINTR: try again */
}

int pw_hash(const char *password, size_t len, char out[PW_HASH_LEN])
{
    int rc;
    pw_slot_take();
    rc = crypto_pwhash_str(out, password, len, PW_OPSLIMIT, PW_MEMLIMIT) == 0 ? 0 : -1;
    sem_post(&pw_slots);
    return rc;
}

bool pw_verify(const char *hash, const char *password, size_t len)
{
    bool ok;
    if (hash == NULL || strncmp(hash, "$argon2", 7) != 0)
        return false;
    pw_slot_take();
    ok = crypto_pwhash_str_verify(hash, password, len) == 0;
    sem_post(&pw_slots);
    return ok;
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
