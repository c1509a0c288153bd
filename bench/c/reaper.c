/* reaper COMMAND [ARGS...]: run COMMAND as a child subreaper and reap every orphan at once.
 *
 * Processes that a benchmark leaves behind (a daemon whose launcher exited, a target that a
 * prepare script started in the background) are re-parented here instead of to PID 1, and are
 * reaped the moment they exit. That matters for tools that poll with kill(pid, 0): a zombie
 * answers that call, so an unreaped target would look alive. Exits with COMMAND's status. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: reaper COMMAND [ARGS...]\n");
        return 2;
    }
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        perror("reaper: PR_SET_CHILD_SUBREAPER");
        return 1;
    }
    pid_t main_child = fork();
    if (main_child < 0) {
        perror("reaper: fork");
        return 1;
    }
    if (main_child == 0) {
        execvp(argv[1], argv + 1);
        fprintf(stderr, "reaper: exec %s: %s\n", argv[1], strerror(errno));
        _exit(127);
    }
    int code = 1;
    for (;;) {
        int status;
        pid_t pid = wait(&status);
        if (pid < 0) {
            if (errno == EINTR) continue;
            break; /* ECHILD: nothing left */
        }
        if (pid == main_child) {
            code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            /* Reap what has already exited, leave the rest to init. */
            while (waitpid(-1, &status, WNOHANG) > 0) {
            }
            break;
        }
    }
    return code;
}
