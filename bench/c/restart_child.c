/* A service that crashes at once, for the restart-latency rows of bench/compare.sh.
 *
 * usage: restart_child LOG N
 *
 * Each run appends "S <ns>" (CLOCK_MONOTONIC at its start) to LOG; until LOG holds N starts it
 * then appends "E <ns>" and exits 1 (a crash); the Nth run waits to be stopped. The latency of
 * restart k is S(k+1) - E(k): from the crash to the next exec'd program running. The log is
 * opened with O_APPEND and each line written with one write(2), so the lines never interleave.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static void append(int fd, char kind, uint64_t t) {
    char line[40];
    int n = snprintf(line, sizeof line, "%c %llu\n", kind, (unsigned long long)t);
    if (write(fd, line, (size_t)n) != n) _exit(3);
}

int main(int argc, char **argv) {
    uint64_t start = now_ns();
    if (argc != 3) {
        fprintf(stderr, "usage: restart_child LOG N\n");
        return 2;
    }
    long n = arg_long(argv[2], "N");
    int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return 3;
    append(fd, 'S', start);
    /* Count the starts so far: each line is one write, "S " lines are the starts. */
    FILE *f = fopen(argv[1], "r");
    long starts = 0;
    char buf[64];
    while (f && fgets(buf, sizeof buf, f)) starts += buf[0] == 'S';
    if (f) fclose(f);
    if (starts >= n) {
        for (;;) pause();
    }
    append(fd, 'E', now_ns());
    _exit(1);
}
