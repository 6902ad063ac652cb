/*
 * setup.c - the data a scenario needs, made through the public API before
 * the clock runs: users (with tokens), groups, message history.
 */
#include "bench.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SETUP_THREADS 4
#define PASSWORD "bench-password-1"

struct job {
    int first, step, n;
    int failed;
};

static int register_user(int i, const char *run)
{
    struct user *u = &B.users[i];
    char body[256], *resp = NULL;
    json_t *j = NULL;
    int st, rc = -1;

    snprintf(u->name, sizeof(u->name), "b%s_%d", run, i);
    snprintf(body, sizeof(body),
             "{\"username\":\"%s\",\"email\":\"%s@bench.example\",\"password\":\"%s\"}", u->name,
             u->name, PASSWORD);
    st = http_fetch(&B.http, "POST", "/api/v1/auth/register", NULL, body, &resp);
    if (st != 201 || (j = json_loads(resp, 0, NULL)) == NULL) {
        fprintf(stderr, "chat-bench: register %s: HTTP %d %s\n", u->name, st, resp ? resp : "");
        goto out;
    }
    snprintf(u->id, sizeof(u->id), "%s",
             json_string_value(json_object_get(json_object_get(j, "user"), "id")) ?: "");
    u->token = strdup(json_string_value(json_object_get(j, "access_token")) ?: "");
    rc = u->token && u->id[0] ? 0 : -1;
out:
    json_decref(j);
    free(resp);
    return rc;
}

static char run_id[16];

static void *register_range(void *arg)
{
    struct job *jb = arg;
    for (int i = jb->first; i < jb->n && !jb->failed; i += jb->step)
        jb->failed = register_user(i, run_id) != 0;
    return NULL;
}

/* Runs fn over [0, n) on SETUP_THREADS threads; -1 if any part failed. */
static int parallel(int n, void *(*fn)(void *))
{
    pthread_t th[SETUP_THREADS];
    struct job jobs[SETUP_THREADS];
    int rc = 0;
    for (int t = 0; t < SETUP_THREADS; t++) {
        jobs[t] = (struct job){t, SETUP_THREADS, n, 0};
        pthread_create(&th[t], NULL, fn, &jobs[t]);
    }
    for (int t = 0; t < SETUP_THREADS; t++) {
        pthread_join(th[t], NULL);
        rc |= jobs[t].failed ? -1 : 0;
    }
    return rc;
}

int setup_users(int n)
{
    snprintf(run_id, sizeof(run_id), "%lx", (unsigned long)(now_us() % 0xffffffffu));
    B.users = calloc((size_t)n, sizeof(*B.users));
    B.nusers = n;
    return B.users ? parallel(n, register_range) : -1;
}

/* Every group has users 0..size-1 (created by user 0). */
int setup_groups(int nconvs, int size)
{
    json_t *req =
        json_pack("{s:s, s:s, s:[]}", "type", "group", "name", "bench", "participant_ids");
    char *body = NULL, *resp = NULL;
    int rc = -1;

    if (size > B.nusers)
        size = B.nusers;
    for (int i = 1; i < size; i++)
        json_array_append_new(json_object_get(req, "participant_ids"), json_string(B.users[i].id));
    body = json_dumps(req, JSON_COMPACT);
    B.convs = calloc((size_t)nconvs, sizeof(*B.convs));
    if (body == NULL || B.convs == NULL)
        goto out;
    for (int c = 0; c < nconvs; c++) {
        json_t *j;
        int st = http_fetch(&B.http, "POST", "/api/v1/conversations/group", B.users[0].token, body,
                            &resp);
        if (st != 201 || (j = json_loads(resp, 0, NULL)) == NULL) {
            fprintf(stderr, "chat-bench: create group: HTTP %d %s\n", st, resp ? resp : "");
            goto out;
        }
        snprintf(B.convs[c], sizeof(B.convs[c]), "%s",
                 json_string_value(json_object_get(j, "id")) ?: "");
        json_decref(j);
        free(resp);
        resp = NULL;
    }
    B.nconvs = nconvs;
    rc = 0;
out:
    free(resp);
    free(body);
    json_decref(req);
    return rc;
}

static int history_per_conv;

static void *fill_range(void *arg)
{
    struct job *jb = arg;
    char path[128], *resp = NULL;
    for (int c = jb->first; c < jb->n && !jb->failed; c += jb->step) {
        snprintf(path, sizeof(path), "/api/v1/conversations/%s/messages", B.convs[c]);
        for (int m = 0; m < history_per_conv && !jb->failed; m++) {
            const struct user *u = &B.users[m % (B.nusers < 2 ? 1 : 2)];
            int st = http_fetch(&B.http, "POST", path, u->token,
                                "{\"content\":\"history message for the bench\"}", &resp);
            jb->failed = st != 201;
            free(resp);
            resp = NULL;
        }
    }
    return NULL;
}

static char *next_cursor(const char *cursor)
{
    char path[256], *resp = NULL, *out = NULL;
    json_t *j;
    snprintf(path, sizeof(path), "/api/v1/conversations/%s/messages?limit=50&use_cache=false%s%s",
             B.convs[0], cursor ? "&cursor=" : "", cursor ? cursor : "");
    if (http_fetch(&B.http, "GET", path, B.users[0].token, NULL, &resp) == 200 &&
        (j = json_loads(resp, 0, NULL)) != NULL) {
        const char *c = json_string_value(json_object_get(j, "next_cursor"));
        out = c ? strdup(c) : NULL;
        json_decref(j);
    }
    free(resp);
    return out;
}

int setup_history(int per_conv)
{
    char *c1;
    history_per_conv = per_conv;
    if (parallel(B.nconvs, fill_range) != 0)
        return -1;
    c1 = next_cursor(NULL);
    B.deep_cursor = c1 ? next_cursor(c1) : NULL;
    free(c1);
    return 0;
}
