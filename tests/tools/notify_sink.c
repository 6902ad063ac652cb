/*
 * notify_sink - the systemd side of sd_notify, for tests/integration/systemd.test.mjs.
 *
 *   notify_sink PATH
 *
 * Binds a unix datagram socket at PATH (what NOTIFY_SOCKET names), writes
 * "listening" once it is bound, then one line per datagram received, its
 * newlines turned into spaces ("READY=1", "WATCHDOG=1", ...). Node has no
 * unix datagram sockets, hence this. Exits when stdin closes or on a signal,
 * removing PATH.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char buf[4096];
    int fd = -1, rc = 1;

    if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "usage: notify_sink PATH (shorter than %zu bytes)\n", sizeof(sa.sun_path));
        return 2;
    }
    strcpy(sa.sun_path, argv[1]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("notify_sink");
        goto out;
    }
    printf("listening\n");
    for (;;) {
        struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
        if (poll(pfd, 2, -1) < 0)
            break;
        if (pfd[1].revents != 0) { /* stdin readable means closed: the test is done */
            rc = 0;
            break;
        }
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n < 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] == '\n' || buf[i] == '\0')
                buf[i] = ' ';
        while (n > 0 && buf[n - 1] == ' ')
            n--;
        buf[n] = '\0';
        printf("%s\n", buf);
    }
out:
    if (fd >= 0)
        close(fd);
    unlink(sa.sun_path);
    return rc;
}
