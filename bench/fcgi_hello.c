/*
 * fcgi-hello - the trivial FastCGI responder of bench/run.sh: the same
 * libfcgi thread-per-accept model as chat-api, answering a fixed JSON body
 * with no work behind it, so nginx + FastCGI alone give the web tier's
 * limit on this machine.
 *
 *   fcgi-hello SOCKET_PATH [THREADS]
 */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int listen_fd;

static void *serve(void *arg)
{
    static const char reply[] = "Status: 200 OK\r\nContent-Type: application/json\r\n"
                                "Content-Length: 15\r\n\r\n{\"status\":\"ok\"}";
    FCGX_Request req;
    (void)arg;
    FCGX_InitRequest(&req, listen_fd, 0);
    while (FCGX_Accept_r(&req) == 0) {
        FCGX_PutStr(reply, (int)sizeof(reply) - 1, req.out);
        FCGX_Finish_r(&req);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[2]) : 64, sig;
    pthread_t *th;
    sigset_t stop;

    if (argc < 2 || n < 1) {
        fprintf(stderr, "usage: fcgi-hello SOCKET_PATH [THREADS]\n");
        return 2;
    }
    FCGX_Init();
    listen_fd = FCGX_OpenSocket(argv[1], 1024);
    if (listen_fd < 0) {
        fprintf(stderr, "fcgi-hello: cannot listen on %s\n", argv[1]);
        return 1;
    }
    chmod(argv[1], 0666);
    /*
     * libfcgi turns SIGTERM into a flag its blocked accept() never sees:
     * the workers ignore the signals and main waits for one, then exits.
     */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    th = calloc((size_t)n, sizeof(*th));
    if (th == NULL)
        return 1;
    for (int i = 0; i < n; i++)
        pthread_create(&th[i], NULL, serve, NULL);
    sigwait(&stop, &sig);
    free(th);
    return 0;
}
