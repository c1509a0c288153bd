/* spawn+wait of a child, the C floor for bench/compare.sh.
 *
 * usage: spawn_wait N [PROGRAM]   (PROGRAM defaults to /bin/true)
 * posix_spawn(PROGRAM) then waitpid, N times after 20 warm-up spawns; each spawn+wait is
 * timed on its own and the median is printed in ns. The child inherits stdio. */
#include "common.h"

#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: spawn_wait N [PROGRAM]\n");
        return 2;
    }
    long n = arg_long(argv[1], "N");
    char *prog = argc == 3 ? argv[2] : "/bin/true";
    char *child_argv[] = {prog, NULL};
    uint64_t *t = calloc((size_t)n, sizeof *t);
    for (long i = -20; i < n; i++) {
        uint64_t t0 = now_ns();
        pid_t pid;
        int err = posix_spawn(&pid, prog, NULL, NULL, child_argv, environ);
        if (err != 0) {
            fprintf(stderr, "spawn_wait: posix_spawn %s: %s\n", prog, strerror(err));
            return 1;
        }
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "spawn_wait: %s failed\n", prog);
            return 1;
        }
        if (i >= 0) t[i] = now_ns() - t0;
    }
    printf("c-posix_spawn ns/op %.0f\n", median_u64(t, (size_t)n));
    return 0;
}
