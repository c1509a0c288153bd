//! `pidward lock --help`: flock(1)'s text under our name, and what pidward adds.

use super::Name;

/// `--help`: flock's, under our name, and what pidward adds.
pub fn help(name: &Name) -> String {
    let n = name.as_str();
    let exit_status = EXIT_STATUS;
    format!(
        "
Usage:
 {n} [options] <file>|<directory> <command> [<argument>...]
 {n} [options] <file>|<directory> -c <command>
 {n} [options] <file descriptor number>
 {n} [options] --fd <file descriptor number> -c <command>
 {n} [options] --fd <file descriptor number> <command> [<argument>...]

Manage file locks from shell scripts.

Options:
 -s, --shared             get a shared lock
 -x, --exclusive          get an exclusive lock (default)
 -u, --unlock             remove a lock
 -n, --nb, --nonblocking  fail rather than wait
 -w, --timeout <secs>     wait for a limited amount of time
 -E, --conflict-exit-code <number>  exit code after conflict or timeout
 -o, --close              close file descriptor before running command
 -c, --command <command>  run a single command string through the shell
 -F, --no-fork            execute command without forking
     --wait               same as --timeout
     --fcntl              use fcntl(F_OFD_SETLK) rather than flock()
     --start <offset>     starting offset for lock (implies --fcntl)
     --length <number>    number of bytes to lock (implies --fcntl)
     --fd <number>        use the file descriptor number to wrap the
                          lock around the command execution
     --verbose            increase verbosity

 -h, --help               display this help
 -V, --version            display version

Cluster lock on etcd (as etcdctl lock takes it; the command is stopped if the lock is lost):
     --etcd <endpoints>   lock <name> (the <file> operand) on etcd: http(s)://host:port,...
                          (an empty list reads $PIDWARD_ETCD_ENDPOINTS)
     --cacert <file>      verify etcd's TLS certificate with these CA certificates (PEM)
     --cert <file>        client certificate for TLS (PEM), with --key
     --key <file>         its private key (PEM)
                          (also $PIDWARD_ETCD_CACERT, $PIDWARD_ETCD_CERT, $PIDWARD_ETCD_KEY)
     --ttl <secs>         lease TTL (default 10, at least 2)
     --kill-after <secs>  SIGTERM to SIGKILL once the lock is lost (default min(5, TTL/3))
     --lost-exit-code <n> exit code when the lock was lost (default 75)

Beyond flock(1): signals are forwarded to the command and the lock is kept until it exits;
a conflict names the holder with --verbose or on a terminal; <file> -- <command> skips the --.

{exit_status}
"
    )
}

/// The exit codes, as `--help` and the man page give them.
pub const EXIT_STATUS: &str =
    "Exit status: the command's, or 128+N if signal N killed it; 1 (or -E) if the lock was not
obtained; 64 usage, 65 cannot lock the descriptor, 66 cannot open (73 create) the file,
69 cannot run the command, 71 system error; with --etcd, 64 also for an unusable TLS file,
68 etcd cannot be reached (or TLS with it fails) and 75 the lock was lost while the command
ran.";
