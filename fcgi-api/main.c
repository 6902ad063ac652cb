/*
 * chat-api - the FastCGI responder for every REST endpoint.
 *
 *   chat-api [--env-file FILE] serve | migrate | check-config | routes
 *
 * serve: opens the unix socket FCGI_SOCKET (mode 0660: only the web
 * server's group may connect) and runs FCGI_THREADS connection threads.
 * libfcgi pins a thread to one web-server connection for as long as the
 * web server keeps it alive (fastcgi_keep_conn), idle or not, so threads
 * are cheap and plentiful, and what is scarce is pooled instead: a thread
 * borrows a backend (one PostgreSQL and one Redis connection, with their
 * prepared statements) only while it serves a request. Up to DB_POOL_SIZE
 * + DB_MAX_OVERFLOW backends are opened, on demand, and kept. A request
 * waits at most DB_POOL_WAIT_MS for one, then answers 503: while
 * PostgreSQL hangs every backend may be held by a statement waiting out
 * its timeout, and a queue of waiters would only grow.
 *
 * Under systemd (Type=notify, notify.h): READY=1 once every thread accepts,
 * WATCHDOG=1 from the main thread while they all still do, STOPPING=1 on
 * SIGTERM/SIGINT, before the threads are stopped.
 */
#include "config.h"
#include "http.h"
#include "api_stats.h"
#include "log.h"
#include "migrate.h"
#include "notify.h"
#include "router.h"

#include <errno.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The backends: a thread waits for one only when all are busy. */
struct pool {
    pthread_mutex_t mu;
    pthread_cond_t freed;
    struct backend *all; /* cap of them, the first `opened` initialised */
    struct backend **idle;
    int cap, opened, nidle;
};

struct server {
    struct chat_config cfg;
    int listen_fd;
    atomic_bool stopping;
    int nthreads;
    pthread_t *threads;
    atomic_int *conn_fds; /* each thread's current web-server connection, or -1 */
    atomic_int running;   /* connection threads still in their accept loop */
    struct pool pool;
};

static struct server the_server; /* one per process; the threads borrow it */

static int pool_init(struct pool *p, int cap)
{
    pthread_condattr_t attr;

    p->cap = cap;
    p->all = calloc((size_t)cap, sizeof(*p->all));
    p->idle = calloc((size_t)cap, sizeof(*p->idle));
    pthread_mutex_init(&p->mu, NULL);
    /* Waits are timed on the monotonic clock: a clock step changes no wait. */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->freed, &attr);
    pthread_condattr_destroy(&attr);
    return p->all != NULL && p->idle != NULL ? 0 : -1;
}

static struct timespec deadline_after_ms(int ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

/*
 * An idle backend, a new one while under the cap, else wait for one, at
 * most cfg->db_pool_wait_ms. NULL when none came free in time.
 */
static struct backend *pool_get(struct pool *p, const struct chat_config *cfg)
{
    struct timespec until = deadline_after_ms(cfg->db_pool_wait_ms);
    struct backend *be = NULL;
    int rc = 0;

    pthread_mutex_lock(&p->mu);
    if (p->nidle == 0 && p->opened == p->cap)
        mx_inc(api_stats.backend_waits, NULL);
    while (p->nidle == 0 && p->opened == p->cap && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&p->freed, &p->mu, &until);
    if (p->nidle == 0 && p->opened == p->cap) {
        pthread_mutex_unlock(&p->mu);
        mx_inc(api_stats.backend_busy, NULL);
        return NULL;
    }
    if (p->nidle > 0) {
        be = p->idle[--p->nidle];
        pthread_mutex_unlock(&p->mu);
        return be;
    }
    be = &p->all[p->opened++];
    pthread_mutex_unlock(&p->mu);
    /* Connections are made lazily by db/rds on first use (and re-made). */
    be->id = (int)(be - p->all);
    be->cfg = cfg;
    db_init(&be->db, cfg);
    rds_init(&be->rds, cfg);
    return be;
}

static void pool_put(struct pool *p, struct backend *be)
{
    pthread_mutex_lock(&p->mu);
    p->idle[p->nidle++] = be;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->mu);
}

/* The pool's gauges, at scrape time. */
static void pool_collect(struct mx_family *f, void *arg)
{
    struct pool *p = arg;
    int opened, idle;

    pthread_mutex_lock(&p->mu);
    opened = p->opened;
    idle = p->nidle;
    pthread_mutex_unlock(&p->mu);
    mx_emit(f, "state=\"in_use\"", opened - idle);
    mx_emit(f, "state=\"idle\"", idle);
}

/* After every thread has stopped. */
static void pool_free(struct pool *p)
{
    for (int i = 0; i < p->opened; i++) {
        db_close(&p->all[i].db);
        rds_close(&p->all[i].rds);
    }
    free(p->all);
    free(p->idle);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->freed);
}

/*
 * One request: a backend from the pool when the route needs one (waiting
 * at most DB_POOL_WAIT_MS, else 503), then the router.
 */
static void serve_request(FCGX_Request *fr)
{
    struct http_req req;
    struct backend *be = NULL;

    http_req_begin(&req, fr, &the_server.cfg, NULL);
    if (router_wants_backend(&req) &&
        (be = req.be = pool_get(&the_server.pool, &the_server.cfg)) == NULL) {
        http_header(&req, "Retry-After: 1");
        http_error(&req, 503, "unavailable", "every backend is busy, retry later");
    } else {
        router_dispatch(&req);
    }
    http_req_end(&req);
    if (be != NULL)
        pool_put(&the_server.pool, be);
}

/*
 * Read stdin to its end (the web server's empty FCGI_STDIN record) whether
 * the handler wanted the body or not: libfcgi would read what is left of it
 * as the next request's first record on a kept connection, a protocol error
 * on which it closes the connection, and a web server reusing it meanwhile
 * gets an EOF for its next request (Apache's enablereuse: a 503). A GET's
 * end record mostly arrives with its parameters, so this rarely waits.
 */
static void drain_stdin(FCGX_Request *fr)
{
    char buf[8192];
    while (FCGX_GetStr(buf, sizeof(buf), fr->in) > 0)
        ;
}

static void *thread_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    FCGX_Request fr;

    FCGX_InitRequest(&fr, the_server.listen_fd, 0);
    while (!atomic_load(&the_server.stopping)) {
        if (FCGX_Accept_r(&fr) != 0)
            break;
        atomic_store(&the_server.conn_fds[id], fr.ipcFd);
        serve_request(&fr);
        drain_stdin(&fr);
        FCGX_Finish_r(&fr);
    }
    atomic_store(&the_server.conn_fds[id], -1);
    atomic_fetch_sub(&the_server.running, 1);
    if (!atomic_load(&the_server.stopping))
        log_error(NULL, "connection thread %d left its accept loop", id);
    FCGX_Free(&fr, 1);
    return NULL;
}

static int open_socket(struct server *srv)
{
    const char *path = srv->cfg.fcgi_socket;

    if (unlink(path) != 0 && errno != ENOENT) {
        log_error(NULL, "cannot remove stale socket %s: %s", path, strerror(errno));
        return -1;
    }
    srv->listen_fd = FCGX_OpenSocket(path, 1024);
    if (srv->listen_fd < 0) {
        log_error(NULL, "cannot listen on %s", path);
        return -1;
    }
    if (chmod(path, 0660) != 0) {
        log_error(NULL, "chmod %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * Stop: no new requests, wake threads blocked on accept or on an idle
 * kept-alive connection, let the busy ones finish, join them all.
 */
static void stop_threads(struct server *srv)
{
    atomic_store(&srv->stopping, true);
    FCGX_ShutdownPending();
    shutdown(srv->listen_fd, SHUT_RDWR);
    for (int i = 0; i < srv->nthreads; i++) {
        int fd = atomic_load(&srv->conn_fds[i]);
        if (fd >= 0)
            shutdown(fd, SHUT_RD);
    }
    for (int i = 0; i < srv->nthreads; i++)
        pthread_join(srv->threads[i], NULL);
}

/*
 * Fit to serve: every connection thread still accepts. A thread leaves its
 * loop only when accept fails, and is not replaced, so one gone is capacity
 * lost for good: the watchdog lets systemd restart the process. PostgreSQL
 * and Redis are deliberately not part of it (their outage is /readyz's
 * business, and a restart would not bring them back).
 */
static bool server_is_healthy(struct server *srv)
{
    return atomic_load(&srv->running) == srv->nthreads;
}

/*
 * Wait for a stop signal (blocked in `set`); meanwhile ping the systemd
 * watchdog at half its interval while the server is healthy. Returns the
 * signal.
 */
static int wait_for_stop(struct server *srv, const sigset_t *set)
{
    uint64_t usec = notify_watchdog_usec() / 2;
    struct timespec every = {.tv_sec = (time_t)(usec / 1000000),
                             .tv_nsec = (long)(usec % 1000000) * 1000};
    bool was_healthy = true;
    int sig;

    if (usec == 0) {
        while (sigwait(set, &sig) != 0)
            ;
        return sig;
    }
    for (;;) {
        sig = sigtimedwait(set, NULL, &every);
        if (sig > 0)
            return sig;
        if (errno != EAGAIN)
            continue; /* EINTR */
        bool healthy = server_is_healthy(srv);
        if (healthy)
            notify_watchdog();
        else if (was_healthy)
            log_error(NULL, "%d of %d connection threads left: no watchdog ping",
                      srv->nthreads - atomic_load(&srv->running), srv->nthreads);
        was_healthy = healthy;
    }
}

static int serve(struct server *srv)
{
    sigset_t set;
    int sig, rc = 1;

    if (FCGX_Init() != 0 || open_socket(srv) != 0)
        return 1;
    srv->nthreads = srv->cfg.fcgi_threads;
    srv->threads = calloc((size_t)srv->nthreads, sizeof(*srv->threads));
    srv->conn_fds = calloc((size_t)srv->nthreads, sizeof(*srv->conn_fds));
    if (srv->threads == NULL || srv->conn_fds == NULL ||
        pool_init(&srv->pool, srv->cfg.db_pool_size + srv->cfg.db_max_overflow) != 0)
        goto out;
    api_stats_init(pool_collect, &srv->pool);

    /* Block the stop signals in every thread; main waits for them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    atomic_init(&srv->running, srv->nthreads);
    for (int i = 0; i < srv->nthreads; i++)
        atomic_init(&srv->conn_fds[i], -1);
    for (int i = 0; i < srv->nthreads; i++) {
        if (pthread_create(&srv->threads[i], NULL, thread_main, (void *)(intptr_t)i) != 0) {
            log_error(NULL, "cannot start connection thread %d", i);
            atomic_fetch_sub(&srv->running, srv->nthreads - i);
            srv->nthreads = i;
            stop_threads(srv);
            goto out;
        }
    }
    log_info(NULL, "chat-api listening on %s with %d threads and up to %d backends",
             srv->cfg.fcgi_socket, srv->nthreads, srv->pool.cap);
    notify_ready(); /* the socket listens and every thread accepts on it */
    sig = wait_for_stop(srv, &set);
    notify_stopping();
    log_info(NULL, "signal %d: stopping", sig);
    stop_threads(srv);
    rc = 0;
out:
    close(srv->listen_fd);
    unlink(srv->cfg.fcgi_socket);
    free(srv->threads);
    free(srv->conn_fds);
    pool_free(&srv->pool);
    return rc;
}

static int migrate(struct server *srv)
{
    char err[512];
    int n;
    PGconn *pg = PQconnectdb(srv->cfg.database_url);

    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "chat-api: cannot connect to DATABASE_URL: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return 1;
    }
    /* A migration may rewrite a big table: not bounded like a request. */
    PQclear(PQexec(pg, "SET statement_timeout = 0"));
    n = migrate_run(pg, err, sizeof(err));
    PQfinish(pg);
    if (n < 0) {
        fprintf(stderr, "chat-api: %s\n", err);
        return 1;
    }
    log_info(NULL, "migrations: %d applied, schema up to date", n);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: chat-api [--env-file FILE] serve|migrate|check-config|routes\n");
}

int main(int argc, char **argv)
{
    const char *env_file = NULL, *cmd = "serve";
    char err[512];
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc)
            env_file = argv[++i];
        else if (argv[i][0] != '-')
            cmd = argv[i];
        else {
            usage();
            return 2;
        }
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "chat-api: libsodium failed to initialise\n");
        return 1;
    }
    if (cfg_load(&the_server.cfg, env_file, err, sizeof(err)) != 0) {
        fprintf(stderr, "chat-api: configuration error: %s\n", err);
        return 2;
    }
    log_init("chat-api", the_server.cfg.log_level);
    if (strcmp(cmd, "serve") == 0)
        rc = serve(&the_server);
    else if (strcmp(cmd, "migrate") == 0)
        rc = migrate(&the_server);
    else if (strcmp(cmd, "check-config") == 0)
        rc = 0;
    else if (strcmp(cmd, "routes") == 0) {
        router_print(&the_server.cfg);
        rc = 0;
    } else {
        usage();
        rc = 2;
    }
    cfg_free(&the_server.cfg);
    return rc;
}
