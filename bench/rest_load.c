/*
 * rest_load.c - the HTTP scenarios: rest-send, rest-history, rest-mixed and
 * login. Each connection is a closed loop: the next request leaves when the
 * previous answer is in, so latency is what one client sees.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rclient {
    struct hconn *h;
    struct worker *w;
    int index;
    uint64_t started;
    unsigned rnd;
    char path[256];
    char body[160];
};

struct rstate {
    struct rclient *clients;
    int n;
};

enum kind { K_SEND, K_HISTORY, K_LIST, K_READ, K_TYPING, K_LOGIN, K_GET };

static enum kind pick(struct rclient *c)
{
    const char *s = B.o.scenario;
    unsigned r;
    if (strcmp(s, "rest-send") == 0)
        return K_SEND;
    if (strcmp(s, "rest-history") == 0)
        return K_HISTORY;
    if (strcmp(s, "login") == 0)
        return K_LOGIN;
    if (strcmp(s, "http-get") == 0)
        return K_GET;
    /* rest-mixed: what a chat screen does, mostly reading */
    c->rnd = c->rnd * 1103515245u + 12345u;
    r = (c->rnd >> 8) % 100;
    return r < 40 ? K_HISTORY : r < 60 ? K_SEND : r < 75 ? K_LIST : r < 90 ? K_READ : K_TYPING;
}

static void issue(struct rclient *c);

static void on_response(struct hconn *h, int status, const char *body, size_t len, void *ud)
{
    struct rclient *c = ud;
    struct worker *w = c->w;
    (void)h;
    (void)body;
    (void)len;
    if (status < 200 || status >= 300) {
        w->st.errors++;
        if (w->st.errors <= 3)
            fprintf(stderr, "chat-bench: %s %s -> %d %.200s\n", B.o.scenario, c->path, status,
                    body ? body : "");
    } else if (w->running) {
        w->st.ops++;
        hist_add(&w->st.lat, now_us() - c->started);
    }
    if (!w->stopped)
        issue(c);
}

static void issue(struct rclient *c)
{
    const struct user *u = B.nusers ? &B.users[c->index % B.nusers] : NULL;
    const char *conv = B.convs ? B.convs[c->index % B.nconvs] : "";
    const char *method = "GET", *json = NULL, *token = u ? u->token : NULL;

    switch (pick(c)) {
    case K_SEND:
        method = "POST";
        snprintf(c->path, sizeof(c->path), "/api/v1/conversations/%s/messages", conv);
        snprintf(c->body, sizeof(c->body), "{\"content\":\"bench message %llu\"}",
                 (unsigned long long)now_us());
        json = c->body;
        break;
    case K_HISTORY:
        if (B.history_mode == 2 && B.deep_cursor)
            snprintf(c->path, sizeof(c->path),
                     "/api/v1/conversations/%s/messages?limit=50&cursor=%s", B.convs[0],
                     B.deep_cursor);
        else
            snprintf(c->path, sizeof(c->path),
                     "/api/v1/conversations/%s/messages?limit=50&use_cache=%s", conv,
                     B.history_mode == 1 ? "false" : "true");
        break;
    case K_LIST:
        snprintf(c->path, sizeof(c->path), "/api/v1/conversations/");
        break;
    case K_READ:
        method = "POST";
        snprintf(c->path, sizeof(c->path), "/api/v1/conversations/%s/read", conv);
        json = "{}";
        break;
    case K_TYPING:
        method = "POST";
        snprintf(c->path, sizeof(c->path), "/api/v1/conversations/%s/typing", conv);
        json = "{\"is_typing\":true}";
        break;
    case K_GET:
        token = NULL;
        snprintf(c->path, sizeof(c->path), "%s", B.o.path);
        break;
    case K_LOGIN:
        method = "POST";
        token = NULL;
        snprintf(c->path, sizeof(c->path), "/api/v1/auth/login");
        snprintf(c->body, sizeof(c->body),
                 "{\"username\":\"%s\",\"password\":\"bench-password-1\"}", u->name);
        json = c->body;
        break;
    }
    c->started = now_us();
    if (hconn_request(c->h, method, c->path, token, json, on_response, c) != 0)
        c->w->st.errors++;
}

void rest_start(struct worker *w)
{
    struct rstate *s = calloc(1, sizeof(*s));
    int per = worker_share(w);

    w->scenario_state = s;
    if (s == NULL || (s->clients = calloc((size_t)per, sizeof(*s->clients))) == NULL)
        return;
    s->n = per;
    for (int i = 0; i < per; i++) {
        struct rclient *c = &s->clients[i];
        c->w = w;
        c->index = i * B.nworkers + w->index;
        c->rnd = (unsigned)c->index * 2654435761u;
        c->h = hconn_new(&w->loop, &B.http);
        if (c->h)
            issue(c);
    }
}

void rest_stop(struct worker *w)
{
    struct rstate *s = w->scenario_state;
    if (s == NULL)
        return;
    for (int i = 0; i < s->n; i++)
        hconn_free(s->clients[i].h);
}

void rest_free(struct worker *w)
{
    struct rstate *s = w->scenario_state;
    if (s)
        free(s->clients);
    free(s);
    w->scenario_state = NULL;
}
