//! How `run` fails: one exit code per cause, and a message that says why (with the tail of
//! the command's stderr when the command itself ended the start).

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;

use pidward::child::{Error as StepError, Step};
use pidward::daemon;
use pidward::supervise;

use super::Plan;

/// How `run` ends when it does not pass the command's status through: an exit code and a
/// message for stderr (none for a quiet success).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: Option<String>,
    /// The command (or the detached process) ended before the start was over: its stderr
    /// file, if any, tells why.
    pub early_exit: bool,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: Some(message.into()),
            early_exit: false,
        }
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(2, message)
    }

    pub fn setup(message: impl Into<String>) -> Failure {
        Failure::new(125, message)
    }
}

impl From<StepError> for Failure {
    fn from(e: StepError) -> Failure {
        Failure {
            early_exit: e.step() == Step::Exited,
            ..Failure::new(exit_code_of(&e), e.to_string())
        }
    }
}

/// Exit code: the command exited before it was ready (detached: its own code is in the
/// message; in the foreground, only when it exited 0).
pub const EXITED_EARLY: u8 = 122;
/// Exit code: the command reported a failure (`ERRNO=`) instead of readiness.
pub const REPORTED_FAILURE: u8 = 123;
/// Exit code when a detached start's outcome is unknown: the launcher could not read the
/// report (or none came) and the detached process still holds the PID file, so it may be
/// running; the PID file is left for `status` and `stop`.
pub const OUTCOME_UNKNOWN: u8 = 121;

/// In the foreground, a command that ends the start passes its own status on (the shells'
/// convention); 0 would read as success, so that one is [`EXITED_EARLY`].
impl From<&supervise::Error> for Failure {
    fn from(e: &supervise::Error) -> Failure {
        let step = e.step_error();
        let code = match e {
            supervise::Error::Exited { status, .. } => {
                Some(supervise::exit_code(*status)).filter(|&c| c != 0)
            }
            _ => None,
        };
        Failure {
            early_exit: step.step() == Step::Exited,
            ..Failure::new(code.unwrap_or(exit_code_of(&step)), e.to_string())
        }
    }
}

/// The exit code for a failed step, one per cause: 127 not found, 126 not executable, 124
/// readiness timeout, 123 the command reported a failure, 122 it exited before it was ready,
/// 125 any other set-up step.
fn exit_code_of(e: &StepError) -> u8 {
    match e.step() {
        Step::Exec => supervise::exec_error_code(&e.os_error()),
        Step::Timeout => 124,
        Step::Service => REPORTED_FAILURE,
        Step::Exited => EXITED_EARLY,
        _ => 125,
    }
}

impl Plan {
    /// The launcher's side of a failed detached start: the error, with the tail of the
    /// command's stderr when it went to a file and the command exited early.
    pub fn launcher_failure(&self, e: daemon::Error) -> Failure {
        let failure = match e {
            daemon::Error::Step(e) => {
                let output = e.output().and_then(|o| indented(o, 10));
                let mut failure = Failure::from(e);
                if let (Some(output), Some(message)) = (output, failure.message.as_mut()) {
                    message.push_str(&format!("\nlast lines of its stderr:\n{output}"));
                }
                failure
            }
            daemon::Error::Died { status, .. } => {
                let code = status
                    .map(pidward::supervise::exit_code)
                    .filter(|&c| c != 0)
                    .unwrap_or(125);
                Failure {
                    early_exit: true,
                    ..Failure::new(code, e.to_string())
                }
            }
            daemon::Error::Timeout { .. } => Failure::new(124, e.to_string()),
            daemon::Error::Unknown { .. } => Failure::new(OUTCOME_UNKNOWN, e.to_string()),
            other => Failure::setup(other.to_string()),
        };
        self.with_stderr_tail(failure)
    }

    /// Adds the last lines of the command's stderr file, if there is one, to a failure
    /// caused by the command's early exit.
    pub fn with_stderr_tail(&self, mut failure: Failure) -> Failure {
        if let (true, Some(path), Some(message)) = (
            failure.early_exit,
            self.stderr_file(),
            failure.message.as_mut(),
        ) && let Some(tail) = tail(&path, 10, 2048)
        {
            message.push_str(&format!("\nlast lines of {}:\n{tail}", path.display()));
        }
        failure
    }
}

/// The last `lines` lines (at most `max` bytes) of a file, indented; `None` if empty or
/// unreadable.
fn tail(path: &Path, lines: usize, max: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(max))).ok()?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf).ok()?;
    indented(&String::from_utf8_lossy(&buf), lines)
}

/// The last `lines` lines of `text`, indented; `None` if there are none.
fn indented(text: &str, lines: usize) -> Option<String> {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let shown: Vec<String> = all[start..].iter().map(|l| format!("  {l}")).collect();
    (!shown.is_empty()).then(|| shown.join("\n"))
}

/// Prints a failure on a saved descriptor (the original stderr) and returns it without a
/// message, so that it is not printed again on the redirected one.
pub fn report_to(fd: &Option<OwnedFd>, failure: Failure) -> Failure {
    match (fd, &failure.message) {
        (Some(fd), Some(message)) => {
            let mut file = std::fs::File::from(fd.try_clone().expect("dup of a saved stderr"));
            let _ = writeln!(file, "pidward run: {message}");
            Failure {
                message: None,
                ..failure
            }
        }
        _ => failure,
    }
}
