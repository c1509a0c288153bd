# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_pidward_global_optspecs
    string join \n h/help V/version
end

function __fish_pidward_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_pidward_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_pidward_using_subcommand
    set -l cmd (__fish_pidward_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c pidward -n "__fish_pidward_needs_command" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_needs_command" -s V -l version -d 'Print version'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "status" -d 'Report whether the program named by a PID file is running (LSB exit codes)'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "stop" -d 'Stop the program named by a PID file, following a signal schedule'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "run" -d 'Start a command: supervise it, detach it, or exec it, with a PID file and readiness'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "notify" -d 'Send a readiness notification (sd_notify protocol) to the supervisor'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "locks" -d 'List the file locks on this machine, their holders and records (like lslocks)'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "completions" -d 'Write a shell completion script (bash, zsh, fish) to stdout'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "__man" -d 'Write the man pages into a directory (for maintainers)'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "lock" -d 'Run a command while holding a file lock (flock(1)-compatible)'
complete -c pidward -n "__fish_pidward_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pidward -n "__fish_pidward_using_subcommand status" -l json -d 'Print JSON instead of text: one object for one file, an array for a listing'
complete -c pidward -n "__fish_pidward_using_subcommand status" -s n -l no-headings -d 'Leave out the header line of a listing (a directory, or several files)'
complete -c pidward -n "__fish_pidward_using_subcommand status" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand stop" -s s -l signal -d 'Signal to send first (name or number: TERM, SIGTERM, 15, RTMIN+3)' -r
complete -c pidward -n "__fish_pidward_using_subcommand stop" -s R -l retry -d 'Schedule: SECS (= SIG/SECS/KILL/5) or SIG/SECS/SIG/SECS[/forever]...' -r
complete -c pidward -n "__fish_pidward_using_subcommand stop" -l remove-pidfile -d 'Remove the PID file once the process is gone (and a stale one)'
complete -c pidward -n "__fish_pidward_using_subcommand stop" -l strict -d 'Exit 7 when nothing was running (LSB "program is not running")'
complete -c pidward -n "__fish_pidward_using_subcommand stop" -s t -l test -d 'Print what would be sent; send nothing'
complete -c pidward -n "__fish_pidward_using_subcommand stop" -s v -l verbose -d 'Say what was done'
complete -c pidward -n "__fish_pidward_using_subcommand stop" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand run" -s p -l pidfile -d 'PID file for pidward\'s own process (the supervisor; the command with --exec)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand run" -l child-pidfile -d 'PID file for the command\'s process (with a supervisor)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand run" -s u -l user -d 'Run the command as this user (name or number); USER:GROUP also sets the group. Without a group: the user\'s primary group and all its supplementary groups' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -s g -l group -d 'Run the command with this group (name or number) as its only group' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l chroot -d 'Change the root directory for the command' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand run" -s C -l chdir -d 'Change the working directory for the command (inside the --chroot, if any)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand run" -l umask -d 'The command\'s umask, in octal (e.g. 027)' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -s o -l output -d 'Where the command\'s stdout and stderr go: a FILE appended to, or a DEST as --log takes: syslog[:FACILITY[.LEVEL]] and journal (a record per line: stdout info, stderr err unless LEVEL says), stderr (pidward\'s), none' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l stdout -d 'Where the command\'s stdout goes (as -o)' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l stderr -d 'Where the command\'s stderr goes (as -o)' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l output-mode -d 'Mode of output files that pidward creates, in octal' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -s e -l env -d 'Set an environment variable for the command (repeatable)' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l env-file -d 'Read KEY=VALUE lines from FILE into the command\'s environment (repeatable)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand run" -l rlimit -d 'Set a resource limit, like prlimit(1): nofile=64, core=0:unlimited (repeatable)' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l ready -d 'When the start counts as done: exec (the command was spawned; the default), notify (it sent READY=1 to $NOTIFY_SOCKET), fd:N (it wrote a newline to descriptor N), or a probe pidward runs every --ready-interval: tcp:HOST:PORT (a connection succeeds), exec:CMD (the shell command CMD exits 0), file:PATH (PATH exists)' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l ready-interval -d 'How often a readiness probe (tcp:, exec:, file:) is tried, in seconds' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l ready-timeout -d 'How long to wait for readiness, in seconds' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l follow-pidfile -d 'A forking daemon (one that detaches by itself and writes its PID to FILE): the start is over when the command has exited 0 and FILE names a process it left; that process is then supervised as the service (systemd\'s Type=forking with PIDFile=)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand run" -l parent-death-signal -d 'The signal the command gets if pidward itself dies (killed with KILL, say), so that it never runs on unsupervised behind a stale PID file; `none` to let it run on' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l restart -d 'Start the command again when it ends: no (the default), on-failure, on-abnormal, on-abort, on-watchdog, on-success or always (systemd\'s table of exit causes; see the README). Never after pidward was told to stop (TERM, INT, QUIT), nor after a set-up or exec failure. During the delay TERM/INT/QUIT end pidward at once and HUP starts the command now' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l success-status -d 'Exit codes and signals that count as a clean end, besides 0 and HUP, INT, TERM, PIPE (e.g. 0,75,100-110,TERM,SEGV)' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l restart-prevent -d 'Exit codes and signals after which the command is never started again, whatever the policy (same grammar as --success-status)' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l remap-exit -d 'Treat this exit code as success: it is a clean end, and pidward exits 0 for it (repeatable)' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l restart-limit -d 'Give up after N failed runs in a row, or N within SECS; pidward then exits with the last run\'s status and the state says failed. Default: never' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l watchdog -d 'A watchdog: once started, the command must send WATCHDOG=1 to $NOTIFY_SOCKET at least every SECS seconds (it gets WATCHDOG_USEC; WATCHDOG_USEC= and WATCHDOG=trigger are honoured), or it gets --watchdog-signal, then the stop schedule; the run\'s cause is then "watchdog" for --restart' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l watchdog-signal -d 'The signal for a missed watchdog deadline' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l restart-delay -d 'The first restart delay, in seconds; it doubles after each failed run' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l restart-max-delay -d 'The longest restart delay, in seconds' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l restart-jitter -d 'The delay\'s jitter, as a fraction (uniform, ±)' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l restart-reset -d 'A run that lasted this long (in seconds) starts the backoff over' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l stop-schedule -d 'How the command and what is left of its tree are stopped: after a failed start, and the orphans once the command has exited (signals and waits, e.g. TERM/5/KILL/5)' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l kill-mode -d 'What ends with the command: tree (everything it started, the default: in a cgroup of its own where pidward can make one, otherwise what was re-parented to pidward and the command\'s process group), cgroup (tree, but fail with 125 where no cgroup can be made), group (the command\'s process group only) or main (only the command; orphans that outlive it run on)' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -s l -l log -d 'Where pidward logs the service\'s life (start, spawned, ready, status, exited, restart-scheduled, stop-requested, exit): stderr (the default in the foreground), none (the default with --daemon or --exec), a file path, syslog[:FACILITY[.LEVEL]][@SOCKET] (RFC 3164 to /dev/log; syslog5424 for RFC 5424; LEVEL: the least severe level sent there), or journal[@SOCKET] (journald\'s native protocol; `<N>` lines on stderr when $JOURNAL_STREAM names it). Repeatable' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l log-mode -d 'Mode of a log file that pidward creates, in octal' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l log-format -d 'The lines\' format: text (the default on a terminal), logfmt (elsewhere) or json' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l log-level -d 'The least severe events logged: error, warning, info (the default) or debug (also each signal pidward passes on)' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -s T -l tag -d 'The tag of every line and the syslog identifier (default: the command\'s base name)' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l output-max -d 'Relay the command\'s output files through pidward and rotate them once past SIZE bytes (K, M, G: powers of 1024), at the end of a line, to FILE.1 ... FILE.KEEP (default 5, at most 999; the oldest is replaced). A line still running 64K past SIZE is ended there. Without it, an output file is the command\'s own O_APPEND descriptor' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l reopen-on -d 'On this signal (HUP, USR2...), reopen pidward\'s own files (the log files and the relayed output files) at their paths, as after logrotate renamed them; the signal is still passed on to the command. An output file that is not relayed is reopened for the command at its next start' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -l rewrite-signal -d 'Forward signal FROM as TO (dumb-init --rewrite), e.g. TERM:QUIT; TO 0 drops it (repeatable). TERM, INT and QUIT still count as a stop of pidward' -r
complete -c pidward -n "__fish_pidward_using_subcommand run" -s d -l daemon -d 'Detach (double fork, new session); return once the command has started, or is ready with --ready. Detached, the umask defaults to 077 and the standard streams to /dev/null'
complete -c pidward -n "__fish_pidward_using_subcommand run" -l exec -d 'No supervisor: set up, then replace pidward with the command (which inherits the PID file\'s lock, and must keep that descriptor open to keep the lock)'
complete -c pidward -n "__fish_pidward_using_subcommand run" -l oknodo -d 'Exit 0 instead of 1 when the PID file shows the service already running'
complete -c pidward -n "__fish_pidward_using_subcommand run" -l clear-env -d 'Start the command with an empty environment (then --env-file, then --env)'
complete -c pidward -n "__fish_pidward_using_subcommand run" -l output-timestamps -d 'Prefix each line of the command\'s output with the time it began (RFC 3339 UTC, milliseconds; in files and on stderr). Relays the output through pidward'
complete -c pidward -n "__fish_pidward_using_subcommand run" -l signal-group -d 'Start the command in a process group of its own and forward signals to that group, not only to the command (tini -g), so that `sh -c \'app; cleanup\'` passes a TERM on'
complete -c pidward -n "__fish_pidward_using_subcommand run" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand notify" -l status -d 'Describe the service\'s state: STATUS=TEXT (one line)' -r
complete -c pidward -n "__fish_pidward_using_subcommand notify" -l pid -d 'Name the main process: MAINPID=PID. PID is a number, `parent` (the default when given without a value: the calling shell) or `self`' -r
complete -c pidward -n "__fish_pidward_using_subcommand notify" -l ready -d 'Declare start-up finished: READY=1'
complete -c pidward -n "__fish_pidward_using_subcommand notify" -l stopping -d 'Announce shutdown: STOPPING=1'
complete -c pidward -n "__fish_pidward_using_subcommand notify" -l reloading -d 'Announce a configuration reload: RELOADING=1 (send --ready when done)'
complete -c pidward -n "__fish_pidward_using_subcommand notify" -l no-block -d 'Do not wait for the listener to confirm that it read the message'
complete -c pidward -n "__fish_pidward_using_subcommand notify" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand locks" -s p -l pid -d 'Only the locks this process holds or waits for' -r
complete -c pidward -n "__fish_pidward_using_subcommand locks" -l json -d 'Print {\\"locks\\": [...]} as `lslocks -J` does, with pidward\'s fields added'
complete -c pidward -n "__fish_pidward_using_subcommand locks" -s n -l no-headings -d 'Leave out the header line'
complete -c pidward -n "__fish_pidward_using_subcommand locks" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand completions" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand __man" -l completions -d 'The directory to write the completion scripts into (created if missing)' -r -F
complete -c pidward -n "__fish_pidward_using_subcommand __man" -s h -l help -d 'Print help'
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s w -l timeout -l wait -d 'Wait for at most this long' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s E -l conflict-exit-code -d 'Exit code after a conflict or a timeout (default 1)' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l start -d 'Start of the locked byte range (implies --fcntl)' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l length -d 'Length of the locked byte range (implies --fcntl; 0: to the end)' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l fd -d 'Lock this inherited descriptor around the command' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l etcd -d 'Take the lock NAME (the FILE operand) on etcd: http(s)://host:port,... (empty: $PIDWARD_ETCD_ENDPOINTS)' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l ttl -d 'The etcd lease\'s TTL (default 10, at least 2)' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l kill-after -d 'SIGTERM to SIGKILL once the cluster lock is lost (default min(5, TTL/3))' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l lost-exit-code -d 'Exit code when the cluster lock was lost (default 75)' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l cacert -d 'Verify etcd\'s TLS certificate with these CA certificates (PEM; default the system\'s; also $PIDWARD_ETCD_CACERT)' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l cert -d 'Client certificate for etcd\'s TLS (PEM, with --key; also $PIDWARD_ETCD_CERT)' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l key -d 'The client certificate\'s private key (PEM; also $PIDWARD_ETCD_KEY)' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s c -l command -d 'Run a single command string through the shell' -r
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s s -l shared -d 'Get a shared lock'
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s x -s e -l exclusive -d 'Get an exclusive lock (the default)'
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s u -l unlock -d 'Remove a lock (of a descriptor)'
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s n -l nonblocking -l nb -d 'Fail rather than wait'
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s o -l close -d 'Close the locked descriptor before running the command'
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s F -l no-fork -d 'Execute the command without forking (the lock goes with it)'
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l verbose -d 'Say how long it waited, or who holds the lock'
complete -c pidward -n "__fish_pidward_using_subcommand lock" -l fcntl -d 'Use an open file description lock (fcntl F_OFD_SETLK) rather than flock(2)'
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s h -l help -d 'Display the help'
complete -c pidward -n "__fish_pidward_using_subcommand lock" -s V -l version -d 'Display the version'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from status stop run notify locks completions __man lock help" -f -a "status" -d 'Report whether the program named by a PID file is running (LSB exit codes)'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from status stop run notify locks completions __man lock help" -f -a "stop" -d 'Stop the program named by a PID file, following a signal schedule'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from status stop run notify locks completions __man lock help" -f -a "run" -d 'Start a command: supervise it, detach it, or exec it, with a PID file and readiness'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from status stop run notify locks completions __man lock help" -f -a "notify" -d 'Send a readiness notification (sd_notify protocol) to the supervisor'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from status stop run notify locks completions __man lock help" -f -a "locks" -d 'List the file locks on this machine, their holders and records (like lslocks)'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from status stop run notify locks completions __man lock help" -f -a "completions" -d 'Write a shell completion script (bash, zsh, fish) to stdout'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from status stop run notify locks completions __man lock help" -f -a "__man" -d 'Write the man pages into a directory (for maintainers)'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from status stop run notify locks completions __man lock help" -f -a "lock" -d 'Run a command while holding a file lock (flock(1)-compatible)'
complete -c pidward -n "__fish_pidward_using_subcommand help; and not __fish_seen_subcommand_from status stop run notify locks completions __man lock help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
