/* ready_child TSFILE: a service that declares readiness over the sd_notify protocol.
 *
 * Reads NOTIFY_SOCKET (a path, or an abstract name starting with '@'), takes a CLOCK_MONOTONIC
 * timestamp right before sending "READY=1", sends it, then writes "PID TIMESTAMP_NS\n" to
 * TSFILE (through a temporary file and rename, so a reader sees all of it or nothing) and
 * waits for a signal. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: ready_child TSFILE\n");
        return 2;
    }
    const char *sock = getenv("NOTIFY_SOCKET");
    if (!sock || !*sock) {
        fprintf(stderr, "ready_child: NOTIFY_SOCKET is not set\n");
        return 1;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(sock);
    if (len >= sizeof addr.sun_path) {
        fprintf(stderr, "ready_child: NOTIFY_SOCKET too long\n");
        return 1;
    }
    memcpy(addr.sun_path, sock, len);
    if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (sock[0] != '@'));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("ready_child: socket");
        return 1;
    }
    static const char msg[] = "READY=1";
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (sendto(fd, msg, sizeof msg - 1, 0, (struct sockaddr *)&addr, alen) < 0) {
        perror("ready_child: sendto NOTIFY_SOCKET");
        return 1;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        perror("ready_child: open TSFILE");
        return 1;
    }
    fprintf(f, "%d %llu\n", (int)getpid(),
            (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec);
    fclose(f);
    rename(tmp, argv[1]);
    for (;;) pause(); /* until TERM */
}
