/* ready_harness N TSFILE [--rm PATH]... -- LAUNCHER [ARGS...]
 *
 * Measures the time from a service's "READY=1" to the return of the command that started it.
 * N times (after 2 warm-up runs): remove TSFILE and every --rm PATH, run LAUNCHER and wait for
 * it, take a CLOCK_MONOTONIC timestamp the moment it returns, read the service's PID and
 * pre-READY timestamp from TSFILE (written by ready_child), then stop the service with TERM
 * and wait until it and everything the launcher left behind are gone. The harness is a child
 * subreaper, so a detached service is re-parented to it and reaped at once, whichever
 * launcher started it. Prints the median latency in ns. */
#include "common.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int read_ts(const char *path, int *pid, uint64_t *ts) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    unsigned long long t;
    int ok = fscanf(f, "%d %llu", pid, &t) == 2;
    fclose(f);
    *ts = t;
    return ok ? 0 : -1;
}

/* Reap everything; return when `target` is gone and no child is left (or after 5 s). */
static void drain(pid_t target) {
    uint64_t deadline = now_ns() + 5000000000ull;
    for (;;) {
        int status;
        pid_t r;
        while ((r = waitpid(-1, &status, WNOHANG)) > 0) {
        }
        int no_children = r < 0 && errno == ECHILD;
        int target_gone = target <= 0 || (kill(target, 0) != 0 && errno == ESRCH);
        if (no_children && target_gone) return;
        if (now_ns() > deadline) {
            if (target > 0) kill(target, SIGKILL);
            fprintf(stderr, "ready_harness: service %d still there after 5 s\n", (int)target);
            deadline = now_ns() + 5000000000ull;
        }
        usleep(1000);
    }
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: ready_harness N TSFILE [--rm PATH]... -- LAUNCHER [ARGS...]\n");
        return 2;
    }
    long n = arg_long(argv[1], "N");
    const char *tsfile = argv[2];
    const char *rm[16];
    int nrm = 0, i = 3;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--rm") == 0 && i + 1 < argc && nrm < 16) rm[nrm++] = argv[++i];
        else {
            fprintf(stderr, "ready_harness: unexpected %s\n", argv[i]);
            return 2;
        }
    }
    if (i + 1 >= argc) {
        fprintf(stderr, "ready_harness: no launcher after --\n");
        return 2;
    }
    char **launcher = argv + i + 1;
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        perror("ready_harness: PR_SET_CHILD_SUBREAPER");
        return 1;
    }
    uint64_t *lat = calloc((size_t)n, sizeof *lat);
    for (long k = -2; k < n; k++) {
        unlink(tsfile);
        for (int j = 0; j < nrm; j++) unlink(rm[j]);
        pid_t pid;
        int err = posix_spawnp(&pid, launcher[0], NULL, NULL, launcher, environ);
        if (err) {
            fprintf(stderr, "ready_harness: spawn %s: %s\n", launcher[0], strerror(err));
            return 1;
        }
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        uint64_t end = now_ns();
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "ready_harness: %s failed (status %d)\n", launcher[0], status);
            drain(0);
            return 1;
        }
        int spid = 0;
        uint64_t ready = 0;
        uint64_t deadline = now_ns() + 2000000000ull;
        while (read_ts(tsfile, &spid, &ready) != 0) {
            if (now_ns() > deadline) {
                fprintf(stderr, "ready_harness: %s returned but no READY timestamp\n", tsfile);
                drain(0);
                return 1;
            }
            usleep(200);
        }
        if (k >= 0) lat[k] = end > ready ? end - ready : 0;
        kill(spid, SIGTERM);
        drain(spid);
    }
    printf("ready->return ns %.0f\n", median_u64(lat, (size_t)n));
    return 0;
}
