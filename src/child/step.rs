//! The steps of starting a process, and the error that names the one that failed.
//!
//! One vocabulary for every way pidward starts something: a [`Daemon`](crate::daemon::Daemon)
//! detaching itself, a command spawned by [`spawn`](super::spawn) (and through it by
//! [`process::Command`](crate::process) and the supervisor), and the status-pipe reports that
//! carry a failure from a detached process to its launcher. Each step has a stable name
//! ([`Step::name`]) which is what the status pipe transmits.

use std::fmt;
use std::io;

/// A start-up step, as named in failure reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// The command as given cannot be run: a NUL byte in an argument, an empty program name.
    Command,
    /// Creating a pipe or opening `/dev/null` for the child, in the parent.
    Pipes,
    /// `fork(2)` or `clone(2)`: creating the process.
    Fork,
    /// `setsid(2)`: a new session.
    Setsid,
    /// `setpgid(2)`: joining or creating a process group.
    ProcessGroup,
    /// Resetting a signal's disposition to `SIG_DFL` (`rt_sigaction(2)`).
    Signals,
    /// Acquiring or writing the PID file.
    PidFile,
    /// Resolving the user or group.
    User,
    /// `chroot(2)`.
    Chroot,
    /// `chdir(2)`.
    Chdir,
    /// `setrlimit(2)`.
    Rlimit,
    /// Opening or installing standard input.
    Stdin,
    /// Opening or installing standard output.
    Stdout,
    /// Opening or installing standard error.
    Stderr,
    /// Installing a file descriptor at a given number.
    Fd,
    /// Closing inherited file descriptors (`close_range(2)`).
    CloseFds,
    /// `setgroups(2)`.
    Setgroups,
    /// `setresgid(2)`.
    Setgid,
    /// `setresuid(2)`.
    Setuid,
    /// Root could be regained after dropping privileges.
    RegainRoot,
    /// `prctl(PR_SET_PDEATHSIG)`: the signal for when the parent dies.
    ParentDeath,
    /// Joining a cgroup: writing to its `cgroup.procs` (opened before the fork).
    Cgroup,
    /// Reading the environment file.
    EnvFile,
    /// `execve(2)` of the command.
    Exec,
    /// Readiness: the service reported a failure (`ERRNO=`) or the listener failed.
    Ready,
    /// Readiness: not declared before the timeout.
    Timeout,
    /// The command (or the detached process) exited before reporting; the code is its exit
    /// status (the exit code, or 128 + the signal number).
    Exited,
    /// A failure reported by the service itself, with its own message.
    Service,
    /// A step name this version does not know (from a cut or foreign message).
    Unknown,
}

impl Step {
    pub(crate) const ALL: [Step; 28] = [
        Step::Command,
        Step::Pipes,
        Step::Fork,
        Step::Setsid,
        Step::ProcessGroup,
        Step::Signals,
        Step::PidFile,
        Step::User,
        Step::Chroot,
        Step::Chdir,
        Step::Rlimit,
        Step::Stdin,
        Step::Stdout,
        Step::Stderr,
        Step::Fd,
        Step::CloseFds,
        Step::Setgroups,
        Step::Setgid,
        Step::Setuid,
        Step::RegainRoot,
        Step::ParentDeath,
        Step::EnvFile,
        Step::Exec,
        Step::Ready,
        Step::Timeout,
        Step::Exited,
        Step::Service,
        Step::Cgroup,
    ];

    /// The step's name in messages: `chroot`, `chdir`, `setuid`, `exec`, `pid-file`...
    pub fn name(self) -> &'static str {
        match self {
            Step::Command => "command",
            Step::Pipes => "pipes",
            Step::Fork => "fork",
            Step::Setsid => "setsid",
            Step::ProcessGroup => "process-group",
            Step::Signals => "signals",
            Step::PidFile => "pid-file",
            Step::User => "user",
            Step::Chroot => "chroot",
            Step::Chdir => "chdir",
            Step::Rlimit => "rlimit",
            Step::Stdin => "stdin",
            Step::Stdout => "stdout",
            Step::Stderr => "stderr",
            Step::Fd => "fd",
            Step::CloseFds => "close-fds",
            Step::Setgroups => "setgroups",
            Step::Setgid => "setgid",
            Step::Setuid => "setuid",
            Step::RegainRoot => "regain-root",
            Step::ParentDeath => "parent-death-signal",
            Step::Cgroup => "cgroup",
            Step::EnvFile => "env-file",
            Step::Exec => "exec",
            Step::Ready => "ready",
            Step::Timeout => "timeout",
            Step::Exited => "exited",
            Step::Service => "service",
            Step::Unknown => "unknown",
        }
    }

    /// The step named `name`, or [`Step::Unknown`].
    pub(crate) fn from_name(name: &[u8]) -> Step {
        Step::ALL
            .into_iter()
            .find(|s| s.name().as_bytes() == name)
            .unwrap_or(Step::Unknown)
    }

    /// The step as a small number (1-based; 0 means "none"), for reports stored in an atomic.
    pub(crate) fn code(self) -> u32 {
        Step::ALL
            .iter()
            .position(|&s| s == self)
            .map_or(u32::MAX, |i| i as u32 + 1)
    }

    /// The step numbered `code` by [`Step::code`].
    pub(crate) fn from_code(code: u32) -> Step {
        Step::ALL
            .get((code as usize).wrapping_sub(1))
            .copied()
            .unwrap_or(Step::Unknown)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed start-up step: which step, the OS error number (or exit status, for
/// [`Step::Exited`]), and a short detail such as the path involved.
///
/// ```
/// use pidward::child::{Error, Step};
///
/// let e = Error::new(Step::Chdir, libc::ENOENT, "/no/such/dir");
/// assert_eq!(e.to_string(), "chdir /no/such/dir: No such file or directory (os error 2)");
/// // The errno is also the error's source, as an `io::Error`.
/// let source = std::error::Error::source(&e).unwrap();
/// let os = source.downcast_ref::<std::io::Error>().unwrap();
/// assert_eq!(os.raw_os_error(), Some(libc::ENOENT));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{}", self.message())]
#[non_exhaustive]
pub struct Error {
    step: Step,
    code: i32,
    detail: String,
    unknown_step: Option<String>,
    /// The command's last standard error, when it was carried along.
    output: Option<String>,
    /// The errno as an error of its own, for error chains (`None` when `code` is not an
    /// errno: an exit status, or 0).
    #[source]
    source: Option<io::Error>,
}

impl Clone for Error {
    fn clone(&self) -> Error {
        Error {
            step: self.step,
            code: self.code,
            detail: self.detail.clone(),
            unknown_step: self.unknown_step.clone(),
            output: self.output.clone(),
            source: os_source(self.step, self.code),
        }
    }
}

/// Equal when the step, the code and the details are (the source follows from the code).
impl PartialEq for Error {
    fn eq(&self, other: &Error) -> bool {
        (self.step, self.code, &self.detail, &self.unknown_step)
            == (other.step, other.code, &other.detail, &other.unknown_step)
    }
}

impl Eq for Error {}

/// The errno `code` as an `io::Error`, when `code` is one for `step`.
fn os_source(step: Step, code: i32) -> Option<io::Error> {
    let errno = code > 0 && !matches!(step, Step::Exited | Step::Timeout | Step::Service);
    errno.then(|| io::Error::from_raw_os_error(code))
}

impl Error {
    /// A failure of `step` with OS error number (or exit status) `code` and a detail.
    pub fn new(step: Step, code: i32, detail: impl Into<String>) -> Error {
        Error {
            step,
            code,
            detail: detail.into(),
            unknown_step: None,
            output: None,
            source: os_source(step, code),
        }
    }

    /// A failure of `step` from an I/O error (its OS error number, or `EIO` if it has none).
    pub fn from_io(step: Step, error: &io::Error, detail: impl Into<String>) -> Error {
        Error::new(step, error.raw_os_error().unwrap_or(libc::EIO), detail)
    }

    /// A failure whose step name this version does not know (kept for the message).
    pub(crate) fn unknown(name: &[u8], code: i32, detail: String) -> Error {
        Error {
            unknown_step: Some(String::from_utf8_lossy(name).into_owned()),
            ..Error::new(Step::Unknown, code, detail)
        }
    }

    /// The step that failed.
    pub fn step(&self) -> Step {
        self.step
    }

    /// The OS error number, or for [`Step::Exited`] the exit status (code, or 128 + signal).
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The OS error as an [`io::Error`] (meaningless for [`Step::Exited`]).
    pub fn os_error(&self) -> io::Error {
        io::Error::from_raw_os_error(self.code)
    }

    /// The detail: a path, a name, or the service's own message.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The last of what the command wrote to its standard error before the start failed,
    /// when it was kept ([`Service::capture_stderr`](crate::supervise::Service::capture_stderr)
    /// in a detached process, carried to the launcher); not part of the message.
    pub fn output(&self) -> Option<&str> {
        self.output.as_deref()
    }

    /// The same failure with the command's output tail attached ([`Error::output`]).
    pub fn with_output(mut self, output: Option<String>) -> Error {
        self.output = output.filter(|o| !o.is_empty());
        self
    }

    fn message(&self) -> String {
        let step = self.unknown_step.as_deref().unwrap_or(self.step.name());
        let detail = if self.detail.is_empty() {
            String::new()
        } else {
            format!(" {}", self.detail)
        };
        match self.step {
            Step::Exited => {
                let subject = if self.detail.is_empty() {
                    "the process"
                } else {
                    &self.detail
                };
                let signal = (self.code > 128)
                    .then(|| crate::Signal::from_raw(self.code - 128))
                    .flatten();
                match signal {
                    Some(sig) => format!("{subject} was killed by signal {sig} before it reported"),
                    None => format!(
                        "{subject} exited with status {} before it reported",
                        self.code
                    ),
                }
            }
            Step::Timeout => format!("readiness not declared in time{detail}"),
            Step::RegainRoot => format!("{step}{detail}: root could be regained after the drop"),
            Step::Service if self.code == 0 => self.detail.clone(),
            _ if self.code == 0 => format!("{step}{detail}"),
            _ => format!("{step}{detail}: {}", self.os_error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exited_reports_code_or_signal() {
        assert_eq!(
            Error::new(Step::Exited, 3, "").to_string(),
            "the process exited with status 3 before it reported"
        );
        assert_eq!(
            Error::new(Step::Exited, 137, "sleep").to_string(),
            "sleep was killed by signal KILL before it reported"
        );
    }

    #[test]
    fn every_step_name_and_code_decodes_to_itself() {
        for step in Step::ALL {
            assert_eq!(Step::from_name(step.name().as_bytes()), step);
            assert_eq!(Step::from_code(step.code()), step);
        }
        assert_eq!(Step::from_code(0), Step::Unknown);
    }
}
