/* idle_children N: peak RSS of a C parent holding N idle children, a reference.
 *
 * Spawns N `sleep 1000` children, each with pipes on stdin, stdout and stderr whose parent
 * ends stay open, waits 200 ms, prints VmHWM of this process in KiB, then kills and reaps the
 * children. */
#define _GNU_SOURCE
#include "common.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static long vm_hwm_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kib;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: idle_children N\n");
        return 2;
    }
    long n = arg_long(argv[1], "N");
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    char *cargv[] = {"sleep", "1000", NULL};
    for (long i = 0; i < n; i++) {
        int p[3][2];
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        for (int j = 0; j < 3; j++) {
            if (pipe2(p[j], O_CLOEXEC) != 0) {
                perror("idle_children: pipe2");
                return 1;
            }
            posix_spawn_file_actions_adddup2(&fa, j == 0 ? p[j][0] : p[j][1], j);
        }
        int err = posix_spawnp(&pids[i], "sleep", &fa, NULL, cargv, environ);
        if (err) {
            fprintf(stderr, "idle_children: spawn: %s\n", strerror(err));
            return 1;
        }
        posix_spawn_file_actions_destroy(&fa);
        close(p[0][0]);
        close(p[1][1]);
        close(p[2][1]);
    }
    usleep(200000);
    long kib = vm_hwm_kib();
    for (long i = 0; i < n; i++) kill(pids[i], SIGKILL);
    for (long i = 0; i < n; i++) waitpid(pids[i], NULL, 0);
    printf("c peak RSS KiB %ld\n", kib);
    return 0;
}
