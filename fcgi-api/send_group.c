/*
 * send_group.c - see send_group.h.
 *
 * A caller queues its message and waits. A waiting caller whose message is
 * still queued becomes the leader when fewer than GROUP_LEADERS statements
 * are in flight: it takes the queue (its own message among others, in
 * arrival order), runs them on its own connection and hands every owner
 * its row. A batch that failed without committing (a duplicate client id,
 * a conflict) is given back: each owner then runs its message alone, as
 * the statement's contract asks.
 */
#include "send_group.h"
#include "api_stats.h"
#include "log.h"
#include "message.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define GROUP_MAX 256   /* messages per statement */
#define GROUP_LEADERS 2 /* statements in flight per process */

enum item_state {
    ITEM_QUEUED, /* waiting for a leader */
    ITEM_TAKEN,  /* in a leader's statement */
    ITEM_DONE,   /* res / err are the answer */
    ITEM_SOLO    /* its batch rolled back: the owner runs it alone */
};

struct item {
    const char *const *params;
    enum item_state state; /* read and written under group.mu */
    PGresult *res;         /* written by the leader before it sets ITEM_DONE */
    enum db_err err;
    struct item *next;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t settled; /* a statement ended: items changed state */
    struct item *head, *tail;
    int leaders;
} group = {.mu = PTHREAD_MUTEX_INITIALIZER, .settled = PTHREAD_COND_INITIALIZER};

static struct db_stmt send_many_stmt = {.name = "msg_send_many", .sql = msg_send_many_sql};

/* Under group.mu: take queued items, oldest first, up to the statement's limits. */
static int take(struct item **batch)
{
    size_t bytes = 0;
    int k = 0;

    while (group.head != NULL && k < GROUP_MAX && bytes < DB_BATCH_BYTES) {
        struct item *it = group.head;
        group.head = it->next;
        it->state = ITEM_TAKEN;
        for (int i = 0; i < MSG_SEND_NPARAMS; i++)
            bytes += it->params[i] ? strlen(it->params[i]) : 0;
        batch[k++] = it;
    }
    if (group.head == NULL)
        group.tail = NULL;
    return k;
}

/*
 * The batch's statement; sets each item's answer (without group.mu: owners
 * read it only after DONE). Returns true when nothing was stored,
 * certainly: the statement failed and rolled back, or was never sent.
 */
static bool run_many(struct db_conn *db, struct item **batch, int k)
{
    const char *const *rows[GROUP_MAX];
    char *arrays[MSG_SEND_NPARAMS];
    PGresult *one[GROUP_MAX];
    enum db_err err = DB_ERR_OTHER;
    PGresult *r = NULL;

    for (int m = 0; m < k; m++)
        rows[m] = batch[m]->params;
    if (db_batch_arrays(rows, k, MSG_SEND_NPARAMS, arrays) == 0) {
        r = db_exec(db, &send_many_stmt, MSG_SEND_NPARAMS, (const char *const *)arrays, &err);
        for (int i = 0; i < MSG_SEND_NPARAMS; i++)
            free(arrays[i]);
    }
    if (r == NULL) {
        for (int m = 0; m < k; m++)
            batch[m]->err = err;
        return err != DB_ERR_DOWN; /* a broken connection may have committed */
    }
    db_batch_split(r, k, one);
    PQclear(r);
    for (int m = 0; m < k; m++) {
        batch[m]->res = one[m];
        batch[m]->err = one[m] != NULL ? DB_OK : DB_ERR_DOWN; /* stored: answer, never re-run */
    }
    return false;
}

/* Under group.mu, which it releases while the statement runs: take the queue and store it on db. */
static void lead(struct db_conn *db)
{
    struct item *batch[GROUP_MAX];
    int k = take(batch);
    bool rolled_back = false;

    group.leaders++;
    pthread_mutex_unlock(&group.mu);
    mx_observe(api_stats.batch_size, NULL, k);
    if (k == 1)
        batch[0]->res =
            db_exec(db, &msg_send_stmt, MSG_SEND_NPARAMS, batch[0]->params, &batch[0]->err);
    else
        rolled_back = run_many(db, batch, k);
    pthread_mutex_lock(&group.mu);
    group.leaders--;
    for (int m = 0; m < k; m++)
        batch[m]->state = rolled_back ? ITEM_SOLO : ITEM_DONE;
    pthread_cond_broadcast(&group.settled);
}

PGresult *send_group_store(struct db_conn *db, const char *const *params, enum db_err *err)
{
    struct item me = {.params = params, .state = ITEM_QUEUED};

    pthread_mutex_lock(&group.mu);
    if (group.tail != NULL)
        group.tail->next = &me;
    else
        group.head = &me;
    group.tail = &me;
    while (me.state == ITEM_QUEUED || me.state == ITEM_TAKEN) {
        if (me.state == ITEM_QUEUED && group.leaders < GROUP_LEADERS)
            lead(db);
        else
            pthread_cond_wait(&group.settled, &group.mu);
    }
    pthread_mutex_unlock(&group.mu);
    if (me.state == ITEM_SOLO)
        return db_exec(db, &msg_send_stmt, MSG_SEND_NPARAMS, params, err);
    *err = me.err;
    return me.res;
}
