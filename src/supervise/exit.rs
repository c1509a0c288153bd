//! Exit codes: how a supervisor passes its command's end on, the shells' way.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

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
