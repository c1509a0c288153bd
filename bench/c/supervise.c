/* supervise COMMAND [ARGS...]: the smallest supervising parent, a C reference for peak RSS.
 *
 * posix_spawnp COMMAND, wait for it, exit with its status (128+N for a signal). */
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: supervise COMMAND [ARGS...]\n");
        return 2;
    }
    pid_t pid;
    int err = posix_spawnp(&pid, argv[1], NULL, NULL, argv + 1, environ);
    if (err) {
        fprintf(stderr, "supervise: %s: %s\n", argv[1], strerror(err));
        return 127;
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) return 1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
