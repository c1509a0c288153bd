//! [`Error`]: why a supervised start failed, or why the loop could not go on.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use crate::child::{Error as StepError, Step};

/// Why [`Service::start`](super::Service::start) or a wait of
/// [`Running`](super::Running) failed. Every variant that ends a start has stopped the
/// command and its orphans first: a failed start leaves no process behind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A set-up step failed before `execve(2)`, or `execve(2)` itself ([`Step::Exec`]: see
    /// [`exec_error_code`](super::exec_error_code)).
    #[error(transparent)]
    Setup(#[from] StepError),
    /// The readiness channel (the sd_notify socket, the notify-fd pipe) could not be made.
    #[error("ready: cannot create the readiness channel: {source}")]
    Channel {
        /// What failed.
        #[source]
        source: crate::notify::Error,
    },
    /// Reading the readiness channel failed; the command has been stopped.
    #[error("ready: {source}")]
    Readiness {
        /// What failed.
        #[source]
        source: crate::notify::Error,
    },
    /// The command did not declare readiness before the deadline; it has been stopped.
    #[error("readiness not declared in time ({})", timeout_detail(.program, *.timeout,
        *.stopped_in, .status.as_deref()))]
    Timeout {
        /// The program, as given.
        program: String,
        /// The readiness timeout, as given (`EXTEND_TIMEOUT_USEC=` may have moved the
        /// deadline further).
        timeout: Duration,
        /// The last `STATUS=` it sent, if any.
        status: Option<String>,
        /// How long stopping it (and its orphans) took.
        stopped_in: Duration,
    },
    /// The command reported a failure (`ERRNO=` without `READY=1`); it has been stopped.
    #[error("{}", reported_detail(.program, *.errno, .status.as_deref()))]
    Reported {
        /// The program, as given.
        program: String,
        /// The errno it reported.
        errno: i32,
        /// The last `STATUS=` it sent, if any.
        status: Option<String>,
    },
    /// The command closed its notify-fd descriptor without writing a newline, and lives on.
    #[error("ready ({program} closed descriptor {fd} without declaring readiness)")]
    Closed {
        /// The program, as given.
        program: String,
        /// The descriptor number it was given.
        fd: i32,
    },
    /// The command exited before it declared readiness.
    #[error("{program} {} before it reported{}", describe(.status),
        self::last_status(.last_status.as_deref()))]
    Exited {
        /// The program, as given.
        program: String,
        /// How it ended.
        status: ExitStatus,
        /// The last `STATUS=` it sent, if any.
        last_status: Option<String>,
    },
    /// A system call of the supervision loop failed (after five tries, 10 ms apart),
    /// and the stop schedule that followed left nothing of the service running.
    #[error("{call}: {source}")]
    Loop {
        /// The call that failed.
        call: Call,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A system call of the supervision loop or of the stop failed (after
    /// five tries, 10 ms apart), and the stop schedule that followed, through to
    /// `SIGKILL`, did not end the service: these processes live on, unsupervised. Nothing
    /// that names them (the PID file, its state file) may be removed.
    #[error("{call}: {source}; gave up with PIDs {} of the service still running{}",
        pid_list(.left), cgroup_detail(.cgroup.as_deref()))]
    GaveUp {
        /// The first call given up on.
        call: Call,
        /// Its OS error.
        #[source]
        source: io::Error,
        /// The processes left (the cgroup's members, or the command and our other children).
        left: Vec<u32>,
        /// The run's cgroup, where they are, when it has one.
        cgroup: Option<std::path::PathBuf>,
    },
}

fn pid_list(pids: &[u32]) -> String {
    let text: Vec<String> = pids.iter().map(u32::to_string).collect();
    text.join(", ")
}

fn cgroup_detail(cgroup: Option<&std::path::Path>) -> String {
    cgroup
        .map(|c| format!(" in {} (pidward stop stops them)", c.display()))
        .unwrap_or_default()
}

/// The system calls of the supervision loop, as named in [`Error::Loop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Call {
    /// Catching, blocking and opening a signalfd for the forwarded signals around the spawn
    /// (`sigaction(2)`, `sigprocmask(2)`, `signalfd(2)`, `prctl(2)`).
    Spawn,
    /// `poll(2)` on the signalfd, the pidfd and the readiness channel.
    Poll,
    /// `waitpid(2)` on the command.
    Wait,
    /// `waitid(2)` reaping the orphans the command left us.
    Reap,
    /// `read(2)` of the signalfd.
    ReadSignals,
    /// `pidfd_send_signal(2)` to the command: a forwarded stop request, or a stop step.
    Signal,
    /// The write of `1` to the cgroup's `cgroup.kill`.
    CgroupKill,
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Call::Spawn => "setting up signal forwarding",
            Call::Poll => "poll",
            Call::Wait => "waitpid",
            Call::Reap => "waitid",
            Call::ReadSignals => "reading the signalfd",
            Call::Signal => "pidfd_send_signal",
            Call::CgroupKill => "writing cgroup.kill",
        })
    }
}

impl Error {
    /// The same failure in the vocabulary of a detached start's status pipe
    /// ([`Started::fail`](crate::daemon::Started::fail)), which carries a step, a number
    /// and a detail; its `Display` reads as this error's.
    pub fn step_error(&self) -> StepError {
        match self {
            Error::Setup(e) => e.clone(),
            Error::Channel { source } | Error::Readiness { source } => {
                StepError::new(Step::Ready, libc::EIO, format!("({source})"))
            }
            Error::Timeout {
                program,
                timeout,
                status,
                stopped_in,
            } => StepError::new(
                Step::Timeout,
                0,
                format!(
                    "({})",
                    timeout_detail(program, *timeout, *stopped_in, status.as_deref())
                ),
            ),
            // The service's own failure, with its own words: the errno travels in the text.
            Error::Reported {
                program,
                errno,
                status,
            } => StepError::new(
                Step::Service,
                0,
                reported_detail(program, *errno, status.as_deref()),
            ),
            Error::Closed { program, fd } => StepError::new(
                Step::Ready,
                0,
                format!("({program} closed descriptor {fd} without declaring readiness)"),
            ),
            Error::Exited {
                program,
                status,
                last_status: last,
            } => StepError::new(
                Step::Exited,
                i32::from(super::exit_code(*status)),
                format!("{program}{}", last_status(last.as_deref())),
            ),
            Error::Loop { source, .. } => StepError::from_io(Step::Unknown, source, ""),
            Error::GaveUp { source, .. } => {
                StepError::from_io(Step::Unknown, source, format!("({self})"))
            }
        }
    }
}

/// "PROGRAM did not declare readiness within 2s; stopped in 0.1s; last status: TEXT".
fn timeout_detail(
    program: &str,
    timeout: Duration,
    stopped_in: Duration,
    status: Option<&str>,
) -> String {
    format!(
        "{program} did not declare readiness within {}; stopped in {}{}",
        seconds(timeout),
        seconds(stopped_in),
        last_status(status)
    )
}

/// "PROGRAM reported a failure: Address already in use (os error 98); last status: TEXT".
fn reported_detail(program: &str, errno: i32, status: Option<&str>) -> String {
    format!(
        "{program} reported a failure: {}{}",
        io::Error::from_raw_os_error(errno),
        last_status(status)
    )
}

/// "; last status: TEXT" when the command sent a `STATUS=`.
fn last_status(status: Option<&str>) -> String {
    status
        .map(|s| format!("; last status: {s}"))
        .unwrap_or_default()
}

/// A duration in seconds as people write it: `0.5s`, `12s`, `3m04s`.
fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(60) {
        format!("{:#}s", crate::time::Seconds(d, 1))
    } else {
        crate::time::Human(d).to_string()
    }
}

/// "exited with status N" or "was killed by signal NAME".
fn describe(status: &ExitStatus) -> String {
    match (
        status.code(),
        status.signal().and_then(crate::Signal::from_raw),
    ) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "ended".to_owned(),
    }
}
