//! The command line of `pidward run`: its options and the parsers of their values.

use std::ffi::OsString;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use pidward::child::Rlimit;
use pidward::notify::Check;
use pidward::stop::Schedule;
use pidward::supervise::{ExitSet, KillMode, Policy};

use super::env;

/// The defaults of `pidward run`'s options, as the command line spells them: what clap
/// parses when an option is absent (and shows in `--help`). [`crate::cli`]'s fast path builds
/// the values these texts parse to without parsing them; `pidward __agree` checks that the
/// two agree.
pub mod defaults {
    pub const OUTPUT_MODE: &str = "640";
    pub const READY_INTERVAL: &str = "0.5";
    pub const READY_TIMEOUT: &str = "60";
    pub const PARENT_DEATH_SIGNAL: &str = "KILL";
    pub const RESTART: &str = "no";
    pub const WATCHDOG_SIGNAL: &str = "ABRT";
    pub const RESTART_DELAY: &str = "1";
    pub const RESTART_MAX_DELAY: &str = "60";
    pub const RESTART_JITTER: &str = "0.1";
    pub const RESTART_RESET: &str = "10";
    pub const STOP_SCHEDULE: &str = "TERM/5/KILL/5";
    pub const KILL_MODE: &str = "tree";
    pub const LOG_MODE: &str = "640";
    pub const LOG_LEVEL: &str = "info";
}

/// Start a command: supervise it (default), detach it (--daemon), or exec it (--exec).
///
/// The options live on the heap: they are many, and the other subcommands' are few.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub options: Box<Options>,
}

/// The options of `pidward run`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Exit codes: the command's own (or 128+N if signal N killed it); 1 already running (0 with
--oknodo); 2 usage error; 122 the command exited before it was ready (with --daemon, or when it
exited 0; its status is in the message); 123 it reported a failure (ERRNO=); 124 readiness not
declared in time; 125 a set-up step failed (the message names it); 126 the command cannot be
executed; 127 the command was not found.

Examples:
  pidward run -p /run/app.pid -u app -o /var/log/app.log -- ./app --serve
  pidward run -d -p /run/app.pid --ready notify --ready-timeout 30 -- ./app
  pidward run --restart on-failure -- ./worker    # also a container's PID 1
")]
pub struct Options {
    /// Detach (double fork, new session); return once the command has started, or is ready
    /// with --ready. Detached, the umask defaults to 077 and the standard streams to
    /// /dev/null.
    #[arg(short = 'd', long)]
    pub daemon: bool,

    /// No supervisor: set up, then replace pidward with the command (which inherits the PID
    /// file's lock, and must keep that descriptor open to keep the lock).
    #[arg(long)]
    pub exec: bool,

    /// PID file for pidward's own process (the supervisor; the command with --exec).
    #[arg(short = 'p', long = "pidfile", value_name = "PATH")]
    pub pidfile: Option<PathBuf>,

    /// Exit 0 instead of 1 when the PID file shows the service already running.
    #[arg(long)]
    pub oknodo: bool,

    /// PID file for the command's process (with a supervisor).
    #[arg(long, value_name = "PATH")]
    pub child_pidfile: Option<PathBuf>,

    /// Run the command as this user (name or number); USER:GROUP also sets the group.
    /// Without a group: the user's primary group and all its supplementary groups.
    #[arg(short = 'u', long, value_name = "USER[:GROUP]")]
    pub user: Option<String>,

    /// Run the command with this group (name or number) as its only group.
    #[arg(short = 'g', long, value_name = "GROUP")]
    pub group: Option<String>,

    /// Change the root directory for the command.
    #[arg(long, value_name = "DIR")]
    pub chroot: Option<PathBuf>,

    /// Change the working directory for the command (inside the --chroot, if any).
    #[arg(short = 'C', long, value_name = "DIR")]
    pub chdir: Option<PathBuf>,

    /// The command's umask, in octal (e.g. 027).
    #[arg(long, value_name = "MODE", value_parser = parse_umask)]
    pub umask: Option<u32>,

    /// Where the command's stdout and stderr go: a FILE appended to, or a DEST as --log
    /// takes: syslog[:FACILITY[.LEVEL]] and journal (a record per line: stdout info, stderr
    /// err unless LEVEL says), stderr (pidward's), none.
    #[arg(short = 'o', long, value_name = "FILE|DEST", conflicts_with_all = ["stdout", "stderr"],
        value_parser = super::log_args::parse_dest)]
    pub output: Option<pidward::log::Dest>,

    /// Where the command's stdout goes (as -o).
    #[arg(long, value_name = "FILE|DEST", value_parser = super::log_args::parse_dest)]
    pub stdout: Option<pidward::log::Dest>,

    /// Where the command's stderr goes (as -o).
    #[arg(long, value_name = "FILE|DEST", value_parser = super::log_args::parse_dest)]
    pub stderr: Option<pidward::log::Dest>,

    /// Mode of output files that pidward creates, in octal.
    #[arg(long, value_name = "MODE", value_parser = parse_umask, default_value = defaults::OUTPUT_MODE)]
    pub output_mode: u32,

    /// Set an environment variable for the command (repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = env::parse_pair)]
    pub env: Vec<(OsString, OsString)>,

    /// Read KEY=VALUE lines from FILE into the command's environment (repeatable).
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,

    /// Start the command with an empty environment (then --env-file, then --env).
    #[arg(long)]
    pub clear_env: bool,

    /// Set a resource limit, like prlimit(1): nofile=64, core=0:unlimited (repeatable).
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    pub rlimit: Vec<Rlimit>,

    /// When the start counts as done: exec (the command was spawned; the default), notify
    /// (it sent READY=1 to $NOTIFY_SOCKET), fd:N (it wrote a newline to descriptor N), or a
    /// probe pidward runs every --ready-interval: tcp:HOST:PORT (a connection succeeds),
    /// exec:CMD (the shell command CMD exits 0), file:PATH (PATH exists).
    #[arg(long, value_name = "exec|notify|fd:N|tcp:HOST:PORT|exec:CMD|file:PATH")]
    pub ready: Option<ReadyMode>,

    /// How often a readiness probe (tcp:, exec:, file:) is tried, in seconds.
    #[arg(long, value_name = "SECS", default_value = defaults::READY_INTERVAL, value_parser = parse_seconds)]
    pub ready_interval: Duration,

    /// How long to wait for readiness, in seconds.
    #[arg(long, value_name = "SECS", default_value = defaults::READY_TIMEOUT, value_parser = parse_seconds)]
    pub ready_timeout: Duration,

    /// A forking daemon (one that detaches by itself and writes its PID to FILE): the start
    /// is over when the command has exited 0 and FILE names a process it left; that process
    /// is then supervised as the service (systemd's Type=forking with PIDFile=).
    #[arg(long, value_name = "FILE", conflicts_with = "ready")]
    pub follow_pidfile: Option<PathBuf>,

    /// The signal the command gets if pidward itself dies (killed with KILL, say), so that
    /// it never runs on unsupervised behind a stale PID file; `none` to let it run on.
    #[arg(long, value_name = "SIG|none", default_value = defaults::PARENT_DEATH_SIGNAL,
        value_parser = parse_death_signal)]
    pub parent_death_signal: DeathSignal,

    /// Start the command again when it ends: no (the default), on-failure, on-abnormal,
    /// on-abort, on-watchdog, on-success or always (systemd's table of exit causes; see the
    /// README). Never after pidward was told to stop (TERM, INT, QUIT), nor after a set-up
    /// or exec failure. During the delay TERM/INT/QUIT end pidward at once and HUP starts
    /// the command now.
    #[arg(long, value_name = "POLICY", default_value = defaults::RESTART, value_parser = parse_policy)]
    pub restart: RestartPolicy,

    /// Exit codes and signals that count as a clean end, besides 0 and HUP, INT, TERM, PIPE
    /// (e.g. 0,75,100-110,TERM,SEGV).
    #[arg(long, value_name = "LIST", value_parser = parse_exit_set)]
    pub success_status: Option<ExitSet>,

    /// Exit codes and signals after which the command is never started again, whatever the
    /// policy (same grammar as --success-status).
    #[arg(long, value_name = "LIST", value_parser = parse_exit_set)]
    pub restart_prevent: Option<ExitSet>,

    /// Treat this exit code as success: it is a clean end, and pidward exits 0 for it
    /// (repeatable).
    #[arg(long, value_name = "CODE")]
    pub remap_exit: Vec<u8>,

    /// Give up after N failed runs in a row, or N within SECS; pidward then exits with the
    /// last run's status and the state says failed. Default: never.
    #[arg(long, value_name = "N[/SECS]", value_parser = parse_limit)]
    pub restart_limit: Option<RestartLimit>,

    /// A watchdog: once started, the command must send WATCHDOG=1 to $NOTIFY_SOCKET at
    /// least every SECS seconds (it gets WATCHDOG_USEC; WATCHDOG_USEC= and WATCHDOG=trigger
    /// are honoured), or it gets --watchdog-signal, then the stop schedule; the run's cause is
    /// then "watchdog" for --restart.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub watchdog: Option<Duration>,

    /// The signal for a missed watchdog deadline.
    #[arg(long, value_name = "SIG", default_value = defaults::WATCHDOG_SIGNAL, value_parser = parse_signal)]
    pub watchdog_signal: pidward::Signal,

    /// The first restart delay, in seconds; it doubles after each failed run.
    #[arg(long, value_name = "SECS", default_value = defaults::RESTART_DELAY, value_parser = parse_seconds)]
    pub restart_delay: Duration,

    /// The longest restart delay, in seconds.
    #[arg(long, value_name = "SECS", default_value = defaults::RESTART_MAX_DELAY, value_parser = parse_seconds)]
    pub restart_max_delay: Duration,

    /// The delay's jitter, as a fraction (uniform, ±).
    #[arg(long, value_name = "FRACTION", default_value = defaults::RESTART_JITTER, value_parser = parse_fraction)]
    pub restart_jitter: f64,

    /// A run that lasted this long (in seconds) starts the backoff over.
    #[arg(long, value_name = "SECS", default_value = defaults::RESTART_RESET, value_parser = parse_seconds)]
    pub restart_reset: Duration,

    /// How the command and what is left of its tree are stopped: after a failed start, and
    /// the orphans once the command has exited (signals and waits, e.g. TERM/5/KILL/5).
    #[arg(long, value_name = "SCHEDULE", default_value = defaults::STOP_SCHEDULE,
        value_parser = parse_schedule)]
    pub stop_schedule: Schedule,

    /// What ends with the command: tree (everything it started, the default: in a cgroup of
    /// its own where pidward can make one, otherwise what was re-parented to pidward and the
    /// command's process group), cgroup (tree, but fail with 125 where no cgroup can be
    /// made), group (the command's process group only) or main (only the command; orphans
    /// that outlive it run on).
    #[arg(long, value_name = "tree|cgroup|group|main", default_value = defaults::KILL_MODE,
        value_parser = parse_kill_mode)]
    pub kill_mode: KillMode,

    #[command(flatten)]
    pub logging: super::log_args::LogArgs,
    /// Start the command in a process group of its own and forward signals to that group,
    /// not only to the command (tini -g), so that `sh -c 'app; cleanup'` passes a TERM on.
    #[arg(long)]
    pub signal_group: bool,

    /// Forward signal FROM as TO (dumb-init --rewrite), e.g. TERM:QUIT; TO 0 drops it
    /// (repeatable). TERM, INT and QUIT still count as a stop of pidward.
    #[arg(long, value_name = "FROM:TO", value_parser = parse_rewrite)]
    pub rewrite_signal: Vec<Rewrite>,

    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// `--ready`: what counts as a finished start.
#[derive(Debug, Clone)]
pub enum ReadyMode {
    /// The command was spawned (exec succeeded).
    Exec,
    /// `READY=1` over the sd_notify socket.
    Notify,
    /// A newline on descriptor N (notify-fd).
    Fd(i32),
    /// A probe pidward runs.
    Probe(Check),
}

impl FromStr for ReadyMode {
    type Err = String;

    fn from_str(s: &str) -> Result<ReadyMode, String> {
        if let Some(target) = s.strip_prefix("tcp:") {
            return Check::tcp(target)
                .map(ReadyMode::Probe)
                .map_err(|e| format!("{s:?}: {e} (tcp:HOST:PORT, e.g. tcp:127.0.0.1:8080)"));
        }
        if let Some(cmd) = s.strip_prefix("exec:") {
            if cmd.trim().is_empty() {
                return Err(format!("{s:?}: the check command is empty"));
            }
            return Ok(ReadyMode::Probe(Check::shell(cmd)));
        }
        if let Some(path) = s.strip_prefix("file:") {
            if path.is_empty() {
                return Err(format!("{s:?}: the path is empty"));
            }
            return Ok(ReadyMode::Probe(Check::File(path.into())));
        }
        match s {
            "exec" => Ok(ReadyMode::Exec),
            "notify" => Ok(ReadyMode::Notify),
            _ => match s.strip_prefix("fd:").map(str::parse::<i32>) {
                Some(Ok(n)) if n >= 3 => Ok(ReadyMode::Fd(n)),
                Some(_) => Err(format!(
                    "{s:?}: the descriptor must be a number of at least 3 (0 to 2 are the standard streams)"
                )),
                None => Err(format!(
                    "{s:?} is not exec, notify, fd:N, tcp:HOST:PORT, exec:CMD or file:PATH"
                )),
            },
        }
    }
}

/// An octal mode such as `027` or `0o640`.
pub fn parse_umask(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o7777 && !digits.is_empty() => Ok(mode),
        _ => Err(format!("{s:?} is not an octal mode (such as 022 or 0640)")),
    }
}

/// Seconds, possibly fractional.
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    pidward::time::parse_seconds(s).map_err(|e| e.to_string())
}

/// A stop schedule (`TERM/5/KILL/5`, or a bare number of seconds before KILL).
pub fn parse_schedule(s: &str) -> Result<Schedule, String> {
    Schedule::parse(s, pidward::Signal::TERM).map_err(|e| e.to_string())
}

/// `tree`, `cgroup`, `group` or `main`.
pub fn parse_kill_mode(s: &str) -> Result<KillMode, String> {
    match s {
        "tree" => Ok(KillMode::Tree),
        "cgroup" => Ok(KillMode::Cgroup),
        "group" => Ok(KillMode::Group),
        "main" => Ok(KillMode::Main),
        _ => Err(format!("{s:?} is not tree, cgroup, group or main")),
    }
}

/// `--rewrite-signal FROM:TO`: TO `None` drops FROM.
#[derive(Debug, Clone, Copy)]
pub struct Rewrite(pub pidward::Signal, pub Option<pidward::Signal>);

/// `FROM:TO`, each a signal name or number, TO 0 to drop.
pub fn parse_rewrite(s: &str) -> Result<Rewrite, String> {
    let (from, to) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not FROM:TO (such as TERM:QUIT)"))?;
    let signal = |name: &str| {
        name.parse::<pidward::Signal>()
            .map_err(|e| format!("{s:?}: {e}"))
    };
    let from = signal(from)?;
    if !from.is_catchable() {
        return Err(format!(
            "{s:?}: {from} cannot be caught, so never forwarded"
        ));
    }
    let to = match to {
        "0" => None,
        to => Some(signal(to)?),
    };
    Ok(Rewrite(from, to))
}

/// `--parent-death-signal`: a signal, or none.
#[derive(Debug, Clone, Copy)]
pub struct DeathSignal(pub Option<pidward::Signal>);

/// A signal name or number, or `none`.
pub fn parse_death_signal(s: &str) -> Result<DeathSignal, String> {
    match s {
        "none" => Ok(DeathSignal(None)),
        _ => s
            .parse()
            .map(|sig| DeathSignal(Some(sig)))
            .map_err(|e| format!("{e}")),
    }
}

/// `--restart`.
#[derive(Debug, Clone, Copy)]
pub struct RestartPolicy(pub Policy);

/// A signal name or number.
pub fn parse_signal(s: &str) -> Result<pidward::Signal, String> {
    s.parse().map_err(|e: pidward::signal::Error| e.to_string())
}

/// A policy by name.
pub fn parse_policy(s: &str) -> Result<RestartPolicy, String> {
    s.parse().map(RestartPolicy)
}

/// A list of exit codes and signals (s6-permafailon's grammar).
pub fn parse_exit_set(s: &str) -> Result<ExitSet, String> {
    s.parse()
        .map_err(|e: pidward::supervise::ExitSetError| e.to_string())
}

/// `--restart-limit`: N failures, in a row or within a window.
#[derive(Debug, Clone, Copy)]
pub struct RestartLimit(pub u32, pub Option<Duration>);

/// `N` or `N/SECS`.
pub fn parse_limit(s: &str) -> Result<RestartLimit, String> {
    let (n, window) = s.split_once('/').map_or((s, None), |(n, w)| (n, Some(w)));
    let n = n
        .parse::<u32>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("'{s}': the count must be a whole number of at least 1"))?;
    let window = window
        .map(|w| parse_seconds(w).map_err(|e| format!("'{s}': {e}")))
        .transpose()?;
    Ok(RestartLimit(n, window))
}

/// A number from 0 to 1.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .ok()
        .filter(|f| (0.0..=1.0).contains(f))
        .ok_or_else(|| format!("{s:?} is not a fraction from 0 to 1"))
}
