/*
 * routes_docs.c - the OpenAPI document (embedded at build time from
 * fcgi-api/openapi.json) and a /docs page that renders it with Redoc.
 *
 * The page loads its renderer from /docs/redoc.standalone.js, read from
 * DOCS_ASSETS_DIR (installed from npm by scripts/docs-assets.sh): no CDN.
 * Only whitelisted file names are served, and the path is never built from
 * the request beyond picking one of them.
 */
#include "routes.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char openapi_json[];
extern const size_t openapi_json_len;

static const char docs_html[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    "<title>Chat API</title></head><body>"
    "<redoc spec-url=\"/api/v1/openapi.json\"></redoc>"
    "<script src=\"/docs/redoc.standalone.js\"></script>"
    "</body></html>\n";

static const char *const assets[] = {"redoc.standalone.js"};
#define N_ASSETS (sizeof(assets) / sizeof(assets[0]))

/* Loaded once, kept for the life of the process. */
static struct {
    pthread_mutex_t lock;
    char *data[N_ASSETS];
    size_t len[N_ASSETS];
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

void route_openapi(struct http_req *req)
{
    http_reply_raw(req, 200, "application/json; charset=utf-8", openapi_json, openapi_json_len);
}

void route_docs(struct http_req *req)
{
    http_reply_raw(req, 200, "text/html; charset=utf-8", docs_html, sizeof(docs_html) - 1);
}

/* Read dir/name whole. Returns malloc'ed data or NULL. */
static char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[1024];
    FILE *f;
    long n;
    char *buf = NULL;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > 16 * 1024 * 1024 ||
        fseek(f, 0, SEEK_SET) != 0)
        goto out;
    buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    *len = (size_t)n;
out:
    fclose(f);
    return buf;
}

void route_docs_asset(struct http_req *req)
{
    size_t i;

    for (i = 0; i < N_ASSETS; i++)
        if (strcmp(req->params[0], assets[i]) == 0)
            break;
    if (i == N_ASSETS) {
        http_error(req, 404, "not_found", "no such documentation asset");
        return;
    }
    pthread_mutex_lock(&cache.lock);
    if (cache.data[i] == NULL)
        cache.data[i] = read_file(req->cfg->docs_assets_dir, assets[i], &cache.len[i]);
    pthread_mutex_unlock(&cache.lock);
    if (cache.data[i] == NULL) {
        http_error(req, 404, "not_found",
                   "%s is not installed in DOCS_ASSETS_DIR (%s): run scripts/docs-assets.sh %s",
                   assets[i], req->cfg->docs_assets_dir, req->cfg->docs_assets_dir);
        return;
    }
    http_header(req, "Cache-Control: public, max-age=86400");
    http_reply_raw(req, 200, "application/javascript; charset=utf-8", cache.data[i],
                   cache.len[i]);
}
