/* BYTES through a child `cat`, the C floor for bench/compare.sh.
 *
 * usage: pipe_cat BYTES [CHUNK [PIPE_SIZE]]
 * Spawns cat with a pipe on its stdin and one on its stdout; one thread writes BYTES to
 * cat's stdin in CHUNK-byte writes (default 64 KiB) while the main thread reads its stdout
 * into a CHUNK-byte buffer. PIPE_SIZE, when given, is set on both pipes with F_SETPIPE_SZ
 * (default: the kernel's 64 KiB). Prints MB/s (10^6 bytes per second) as the last word. */
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static long long total;
static long chunk;
static int to_child;

static void *writer(void *arg) {
    (void)arg;
    char *buf = malloc((size_t)chunk);
    memset(buf, 0x5a, (size_t)chunk);
    long long left = total;
    while (left > 0) {
        size_t n = left < chunk ? (size_t)left : (size_t)chunk;
        ssize_t w = write(to_child, buf, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            perror("pipe_cat: write");
            exit(1);
        }
        left -= w;
    }
    close(to_child);
    free(buf);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: pipe_cat BYTES [CHUNK [PIPE_SIZE]]\n");
        return 2;
    }
    total = arg_long(argv[1], "BYTES");
    chunk = argc > 2 ? arg_long(argv[2], "CHUNK") : 65536;
    long pipe_size = argc > 3 ? arg_long(argv[3], "PIPE_SIZE") : 0;
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
        perror("pipe_cat: pipe2");
        return 1;
    }
    if (pipe_size && (fcntl(in[1], F_SETPIPE_SZ, (int)pipe_size) < 0 ||
                      fcntl(out[0], F_SETPIPE_SZ, (int)pipe_size) < 0)) {
        perror("pipe_cat: F_SETPIPE_SZ");
        return 1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    char *cargv[] = {"cat", NULL};
    pid_t pid;
    int err = posix_spawnp(&pid, "cat", &fa, NULL, cargv, environ);
    if (err) {
        fprintf(stderr, "pipe_cat: spawn cat: %s\n", strerror(err));
        return 1;
    }
    close(in[0]);
    close(out[1]);
    to_child = in[1];
    char *buf = malloc((size_t)chunk);
    uint64_t t0 = now_ns();
    pthread_t th;
    pthread_create(&th, NULL, writer, NULL);
    long long got = 0;
    for (;;) {
        ssize_t r = read(out[0], buf, (size_t)chunk);
        if (r < 0) {
            if (errno == EINTR) continue;
            perror("pipe_cat: read");
            return 1;
        }
        if (r == 0) break;
        got += r;
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    pthread_join(th, NULL);
    int status;
    waitpid(pid, &status, 0);
    if (got != total || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "pipe_cat: sent %lld bytes, got %lld back\n", total, got);
        return 1;
    }
    printf("c: %lld bytes through cat in %.3f s, MB/s %.1f\n", total, secs, (double)total / secs / 1e6);
    return 0;
}
