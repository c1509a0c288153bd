//! Exit codes: how a supervisor passes its command's end on, the shells' way; and which
//! signals it passes on.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use crate::Signal;

/// Every signal a supervisor can pass on to its command: all catchable ones, the real-time
/// ones included, but `CHLD` (the supervisor's own) and the synchronous ones (`ILL`, `TRAP`,
/// `BUS`, `FPE`, `SEGV`: a fault of the supervisor itself, never a request). A `PIPE` that the
/// supervisor's own write to a closed pipe raised is not passed on (its sender is the
/// supervisor). `TSTP`, `TTIN` and `TTOU` are passed on too, as tini does with `TSTP`:
/// blocked in the supervisor, they stop the command and never the supervisor (which stays
/// in the foreground of the shell's job control; `fg` or `kill -CONT` resumes the command
/// through it).
///
/// ```
/// use pidward::Signal;
/// let all = pidward::supervise::forwardable();
/// assert!(all.contains(&"PWR".parse()?) && all.contains(&"RTMIN+3".parse()?));
/// assert!(!all.contains(&Signal::CHLD) && !all.contains(&Signal::SEGV));
/// assert!(all.contains(&Signal::PIPE) && all.contains(&Signal::TSTP));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn forwardable() -> Vec<Signal> {
    (1..=libc::SIGRTMAX())
        .filter(|&s| s < 32 || s >= libc::SIGRTMIN())
        .filter(|&s| {
            !matches!(
                s,
                libc::SIGKILL
                    | libc::SIGSTOP
                    | libc::SIGCHLD
                    | libc::SIGILL
                    | libc::SIGTRAP
                    | libc::SIGBUS
                    | libc::SIGFPE
                    | libc::SIGSEGV
            )
        })
        .filter_map(Signal::from_raw)
        .collect()
}

/// The exit code a supervisor should exit with: the child's code, or 128+N when signal N
/// killed it (the shells' convention).
///
/// ```
/// use std::os::unix::process::ExitStatusExt;
/// use std::process::ExitStatus;
/// use pidward::supervise::exit_code;
///
/// assert_eq!(exit_code(ExitStatus::from_raw(23 << 8)), 23);
/// assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGTERM)), 143);
/// ```
pub fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(signo)) => 128u8.saturating_add(signo as u8),
        (None, None) => 1,
    }
}

/// The exit code for a command that could not be executed, as the shells and `env(1)` give
/// it: 127 when `execve(2)` did not find it (`ENOENT`), 126 otherwise (not executable,
/// `EACCES`, `ENOEXEC`…).
///
/// ```
/// use std::io;
/// use pidward::supervise::exec_error_code;
///
/// assert_eq!(exec_error_code(&io::Error::from_raw_os_error(libc::ENOENT)), 127);
/// assert_eq!(exec_error_code(&io::Error::from_raw_os_error(libc::EACCES)), 126);
/// ```
pub fn exec_error_code(error: &io::Error) -> u8 {
    match error.kind() {
        io::ErrorKind::NotFound => 127,
        _ => 126,
    }
}
