//! Why a child process ended: [`ExitReason`].
//!
//! The reason comes from `waitid(2)`'s `siginfo_t`, which says exactly what happened: `si_code`
//! is `CLD_EXITED` (then `si_status` is the exit code), `CLD_KILLED` or `CLD_DUMPED` (then
//! `si_status` is the signal number, and `CLD_DUMPED` means a core file was written). There is
//! no packed wait status to decode and no guessing between "exit code 143" and "SIGTERM".

use std::fmt;
use std::io;

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
