/* PID-file acquire+release cycle, the C references for bench/compare.sh.
 *
 * usage: pidfile_cycle MODE PATH OPS BATCHES
 *   floor       open(O_CREAT|O_RDWR|O_CLOEXEC|O_NOFOLLOW) + flock(LOCK_EX|LOCK_NB) + write
 *               + unlink + close: the least any locked PID file can do
 *   trunc-len   floor, writing with pwrite at offset 0 then ftruncate to the length written
 *               (a reader never sees an empty file)
 *   trunc-zero  floor, with ftruncate(0) before the write (what O_TRUNC-style writers do)
 * Prints the median over BATCHES batches of OPS cycles, in ns per cycle, after one warm-up
 * batch. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

enum mode { FLOOR, TRUNC_LEN, TRUNC_ZERO };

static void die(const char *what, const char *path) {
    fprintf(stderr, "pidfile_cycle: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

static void cycle(enum mode mode, const char *path) {
    char buf[24];
    int len = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) die("open", path);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) die("flock", path);
    switch (mode) {
    case FLOOR:
        if (write(fd, buf, len) != len) die("write", path);
        break;
    case TRUNC_LEN:
        if (pwrite(fd, buf, len, 0) != len) die("pwrite", path);
        if (ftruncate(fd, len) != 0) die("ftruncate", path);
        break;
    case TRUNC_ZERO:
        if (ftruncate(fd, 0) != 0) die("ftruncate", path);
        if (pwrite(fd, buf, len, 0) != len) die("pwrite", path);
        break;
    }
    if (unlink(path) != 0) die("unlink", path);
    if (close(fd) != 0) die("close", path);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: pidfile_cycle floor|trunc-len|trunc-zero PATH OPS BATCHES\n");
        return 2;
    }
    enum mode mode;
    if (strcmp(argv[1], "floor") == 0) mode = FLOOR;
    else if (strcmp(argv[1], "trunc-len") == 0) mode = TRUNC_LEN;
    else if (strcmp(argv[1], "trunc-zero") == 0) mode = TRUNC_ZERO;
    else {
        fprintf(stderr, "pidfile_cycle: unknown mode %s\n", argv[1]);
        return 2;
    }
    const char *path = argv[2];
    long ops = arg_long(argv[3], "OPS"), batches = arg_long(argv[4], "BATCHES");
    uint64_t *per_op = calloc((size_t)batches, sizeof *per_op);
    for (long i = 0; i < ops; i++) cycle(mode, path); /* warm-up */
    for (long b = 0; b < batches; b++) {
        uint64_t t0 = now_ns();
        for (long i = 0; i < ops; i++) cycle(mode, path);
        per_op[b] = (now_ns() - t0) / (uint64_t)ops;
    }
    printf("c-%s ns/op %.0f\n", argv[1], median_u64(per_op, (size_t)batches));
    return 0;
}
