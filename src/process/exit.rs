//! Why a child process ended: [`ExitReason`].
//!
//! The reason comes from `waitid(2)`'s `siginfo_t`, which says exactly what happened: `si_code`
//! is `CLD_EXITED` (then `si_status` is the exit code), `CLD_KILLED` or `CLD_DUMPED` (then
//! `si_status` is the signal number, and `CLD_DUMPED` means a core file was written). There is
//! no packed wait status to decode and no guessing between "exit code 143" and "SIGTERM".
//!
//! It converts both ways with [`std::process::ExitStatus`], the type `std` and tokio return:
//! every reason is an `ExitStatus`; an `ExitStatus` is a reason when it says the process
//! terminated (not when it was stopped or continued, which `waitpid` can also report).

use std::fmt;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use crate::Signal;

/// How a child process ended.
///
/// ```
/// use pidward::process::ExitReason;
/// use pidward::Signal;
///
/// assert_eq!(ExitReason::Exited(23).to_string(), "exit code 23");
/// let killed = ExitReason::Signaled { signal: Signal::TERM, core_dumped: false };
/// assert_eq!(killed.to_string(), "killed by signal 15");
/// assert_eq!(killed.signal(), Some(Signal::TERM));
/// assert_eq!(killed.code(), None);
/// assert!(ExitReason::Exited(0).success());
///
/// // The same facts as std's ExitStatus, both ways.
/// let status = std::process::ExitStatus::from(killed);
/// assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(15));
/// assert_eq!(ExitReason::try_from(status), Ok(killed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitReason {
    /// The child exited by itself with this code (`0..=255`).
    Exited(i32),
    /// The child was killed by a signal.
    Signaled {
        /// The signal that ended the child.
        signal: Signal,
        /// Whether the kernel wrote a core dump for it.
        core_dumped: bool,
    },
}

impl ExitReason {
    /// The exit code, if the child exited by itself.
    pub fn code(&self) -> Option<i32> {
        match *self {
            ExitReason::Exited(code) => Some(code),
            ExitReason::Signaled { .. } => None,
        }
    }

    /// The signal that killed the child, if one did.
    pub fn signal(&self) -> Option<Signal> {
        match *self {
            ExitReason::Exited(_) => None,
            ExitReason::Signaled { signal, .. } => Some(signal),
        }
    }

    /// Whether the kernel dumped core for the killing signal.
    pub fn core_dumped(&self) -> bool {
        matches!(
            *self,
            ExitReason::Signaled {
                core_dumped: true,
                ..
            }
        )
    }

    /// Whether the child exited with code 0.
    pub fn success(&self) -> bool {
        *self == ExitReason::Exited(0)
    }

    /// The shell's convention for this reason: the exit code, or 128 + the signal number.
    pub fn shell_code(&self) -> i32 {
        match *self {
            ExitReason::Exited(code) => code,
            ExitReason::Signaled { signal, .. } => 128 + signal.as_raw(),
        }
    }

    /// Decodes the `si_code`/`si_status` pair that `waitid(2)` reports for a terminated child.
    pub(crate) fn from_siginfo(code: i32, status: i32) -> io::Result<ExitReason> {
        let signal = || {
            Signal::from_raw(status).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("waitid reported unknown signal number {status}"),
                )
            })
        };
        match code {
            libc::CLD_EXITED => Ok(ExitReason::Exited(status)),
            libc::CLD_KILLED => Ok(ExitReason::Signaled {
                signal: signal()?,
                core_dumped: false,
            }),
            libc::CLD_DUMPED => Ok(ExitReason::Signaled {
                signal: signal()?,
                core_dumped: true,
            }),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("waitid reported si_code {other}, which is not a termination"),
            )),
        }
    }
}

impl From<ExitReason> for ExitStatus {
    /// The wait status `waitpid(2)` would have reported: the code in bits 8-15, or the signal
    /// in bits 0-6 and the core-dump flag in bit 7.
    fn from(reason: ExitReason) -> ExitStatus {
        ExitStatus::from_raw(match reason {
            ExitReason::Exited(code) => (code & 0xff) << 8,
            ExitReason::Signaled {
                signal,
                core_dumped,
            } => signal.as_raw() | if core_dumped { 0x80 } else { 0 },
        })
    }
}

impl TryFrom<ExitStatus> for ExitReason {
    /// The status itself, when it is not a termination (a stopped or continued process) or
    /// names a signal number this system does not have.
    type Error = ExitStatus;

    fn try_from(status: ExitStatus) -> Result<ExitReason, ExitStatus> {
        if let Some(code) = status.code() {
            return Ok(ExitReason::Exited(code));
        }
        match status.signal().and_then(Signal::from_raw) {
            Some(signal) => Ok(ExitReason::Signaled {
                signal,
                core_dumped: status.core_dumped(),
            }),
            None => Err(status),
        }
    }
}

impl PartialEq<ExitStatus> for ExitReason {
    fn eq(&self, other: &ExitStatus) -> bool {
        ExitStatus::from(*self) == *other
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExitReason::Exited(code) => write!(f, "exit code {code}"),
            ExitReason::Signaled {
                signal,
                core_dumped,
            } => {
                write!(f, "killed by signal {}", signal.as_raw())?;
                if core_dumped {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_siginfo() {
        assert_eq!(
            ExitReason::from_siginfo(libc::CLD_EXITED, 255).unwrap(),
            ExitReason::Exited(255)
        );
        let dumped = ExitReason::from_siginfo(libc::CLD_DUMPED, libc::SIGSEGV).unwrap();
        assert_eq!(dumped.signal(), Some(Signal::SEGV));
        assert!(dumped.core_dumped());
        assert_eq!(dumped.to_string(), "killed by signal 11 (core dumped)");
        assert_eq!(dumped.shell_code(), 139);
        assert!(ExitReason::from_siginfo(libc::CLD_STOPPED, 19).is_err());
        assert!(ExitReason::from_siginfo(libc::CLD_KILLED, 0).is_err());
    }
}
