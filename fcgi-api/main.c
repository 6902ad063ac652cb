/*
 * chat-api - the FastCGI responder for every REST endpoint.
 *
 *   chat-api [--env-file FILE] serve | migrate | check-config | routes
 *
 * serve: opens the unix socket FCGI_SOCKET (mode 0660: only the web
 * server's group may connect) and runs FCGI_THREADS worker threads, each
 * with its own PostgreSQL and Redis connection. With fastcgi_keep_conn a
 * thread stays pinned to one web-server connection, so FCGI_THREADS must
 * cover the web server's kept-alive upstream connections.
 */
#include "config.h"
#include "http.h"
#include "log.h"
#include "migrate.h"
#include "router.h"

#include <errno.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct server {
    struct chat_config cfg;
    int listen_fd;
    atomic_bool stopping;
    int nworkers;
    pthread_t *threads;
    struct worker *workers;
    atomic_int *conn_fds; /* each worker's current web-server connection, or -1 */
};

static struct server the_server; /* one per process; the threads borrow it */

static void serve_one(struct worker *w, FCGX_Request *fr)
{
    struct http_req req;
    http_req_begin(&req, fr, w);
    router_dispatch(&req);
    http_req_end(&req);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    FCGX_Request fr;

    db_init(&w->db, the_server.cfg.database_url, the_server.cfg.db_echo);
    rds_init(&w->rds, &the_server.cfg);
    FCGX_InitRequest(&fr, the_server.listen_fd, 0);
    while (!atomic_load(&the_server.stopping)) {
        if (FCGX_Accept_r(&fr) != 0)
            break;
        atomic_store(&the_server.conn_fds[w->id], fr.ipcFd);
        serve_one(w, &fr);
        FCGX_Finish_r(&fr);
    }
    atomic_store(&the_server.conn_fds[w->id], -1);
    FCGX_Free(&fr, 1);
    db_close(&w->db);
    rds_close(&w->rds);
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
static void stop_workers(struct server *srv)
{
    atomic_store(&srv->stopping, true);
    FCGX_ShutdownPending();
    shutdown(srv->listen_fd, SHUT_RDWR);
    for (int i = 0; i < srv->nworkers; i++) {
        int fd = atomic_load(&srv->conn_fds[i]);
        if (fd >= 0)
            shutdown(fd, SHUT_RD);
    }
    for (int i = 0; i < srv->nworkers; i++)
        pthread_join(srv->threads[i], NULL);
}

static int serve(struct server *srv)
{
    sigset_t set;
    int sig, rc = 1;

    if (FCGX_Init() != 0 || open_socket(srv) != 0)
        return 1;
    srv->nworkers = srv->cfg.fcgi_threads;
    srv->threads = calloc((size_t)srv->nworkers, sizeof(*srv->threads));
    srv->workers = calloc((size_t)srv->nworkers, sizeof(*srv->workers));
    srv->conn_fds = calloc((size_t)srv->nworkers, sizeof(*srv->conn_fds));
    if (srv->threads == NULL || srv->workers == NULL || srv->conn_fds == NULL)
        goto out;

    /* Block the stop signals in every thread; main waits for them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (int i = 0; i < srv->nworkers; i++) {
        srv->workers[i].id = i;
        srv->workers[i].cfg = &srv->cfg;
        atomic_init(&srv->conn_fds[i], -1);
        if (pthread_create(&srv->threads[i], NULL, worker_main, &srv->workers[i]) != 0) {
            log_error(NULL, "cannot start worker thread %d", i);
            srv->nworkers = i;
            stop_workers(srv);
            goto out;
        }
    }
    log_info(NULL, "chat-api listening on %s with %d threads", srv->cfg.fcgi_socket, srv->nworkers);
    sigwait(&set, &sig);
    log_info(NULL, "signal %d: stopping", sig);
    stop_workers(srv);
    rc = 0;
out:
    close(srv->listen_fd);
    unlink(srv->cfg.fcgi_socket);
    free(srv->threads);
    free(srv->workers);
    free(srv->conn_fds);
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
