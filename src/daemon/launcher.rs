//! The launcher's side of a detached start: read the report, exit 0 or say what happened,
//! and remove the PID file only when it is ours alone.
//!
//! The launcher and the detached process share one open file description of the PID file,
//! and so one lock: while the detached process lives, "the path still names the inode we
//! locked" is true for the launcher too, and proves nothing. So after any start that did not
//! report success, the launcher first gives the detached process a moment to end (it is our
//! child: the launcher is a subreaper during the start), then closes its own descriptor
//! without removing anything, and removes the file only if the lock can then be taken anew,
//! that is, if nobody holds it any more
//! ([`PidFile::release_unless_held`](crate::pidfile::PidFile)). A detached process that
//! still holds it may be running: the launcher says so ([`Error::Unknown`]) and leaves the
//! file, whose lock keeps telling the truth.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::process::ExitStatus;
use std::time::Duration;

use super::reap::wait_pid;
use super::report::{self, Outcome};
use super::{Daemon, Error, Started};
use crate::pidfile::Held;

/// How long a launcher waits for a detached process that failed (or went silent) to end.
const SETTLE: Duration = Duration::from_secs(1);

/// Whether the detached process is gone, after a start that did not report success.
enum Settled {
    /// It ended (its status, when it was our child) and holds nothing.
    Gone(Option<ExitStatus>),
    /// It (or whoever holds the PID file now: this PID) may be running.
    Alive(Option<u32>),
}

impl Daemon {
    /// In the launcher: reap the middle process, read the report, exit 0 or return `Err`.
    pub(super) fn launcher(mut self, middle: i32, read: OwnedFd) -> Result<Started, Error> {
        let middle_status = wait_pid(middle, None);
        let report = match report::read_report(read.as_fd(), self.report_timeout) {
            Ok(report) => report,
            Err(source) => {
                // Closing our end first: a report written from now on fails, and a detached
                // process whose report fails gives up (see `Daemon::start`).
                drop(read);
                return Err(match self.settle(None) {
                    Settled::Gone(_) => Error::Report { pid: None, source },
                    Settled::Alive(pid) => self.unknown(pid, Some(source)),
                });
            }
        };
        let pid = report.pid;
        match report.outcome {
            Outcome::Started | Outcome::Ready | Outcome::Execed => {
                report::wait_closed(read.as_fd(), Duration::from_secs(1));
                if let Some(pf) = self.pid_file.take() {
                    pf.disown();
                }
                std::process::exit(0);
            }
            Outcome::TimedOut => {
                if let Some(pf) = self.pid_file.take() {
                    pf.disown();
                }
                Err(Error::Timeout {
                    pid,
                    timeout: self.report_timeout.unwrap_or_default(),
                })
            }
            Outcome::Failed(e) => {
                // It exits right after reporting; the file goes only once it has.
                drop(read);
                let _ = self.settle(pid);
                Err(e.into())
            }
            Outcome::Silent => {
                drop(read);
                match self.settle(pid) {
                    Settled::Gone(status) => Err(Error::Died {
                        pid,
                        status: if pid.is_some() { status } else { middle_status },
                    }),
                    Settled::Alive(holder) => Err(self.unknown(holder.or(pid), None)),
                }
            }
        }
    }

    /// After a start that did not report success: wait (briefly) for the detached process to
    /// end, then remove the PID file if nobody holds it (module docs).
    fn settle(&mut self, pid: Option<u32>) -> Settled {
        let status = pid.and_then(|p| wait_pid(p as i32, Some(SETTLE)));
        match self.pid_file.take().map(|pf| pf.release_unless_held()) {
            Some(Held::Free) => Settled::Gone(status),
            Some(Held::By(holder)) => Settled::Alive(holder.or(pid)),
            // Without a lock to ask, only its reaped status says it ended.
            Some(Held::Unknown) | None if status.is_none() => Settled::Alive(pid),
            Some(Held::Unknown) | None => Settled::Gone(status),
        }
    }

    fn unknown(&self, pid: Option<u32>, source: Option<io::Error>) -> Error {
        Error::Unknown {
            pid,
            pid_file: self.pid_file_path.clone(),
            source,
        }
    }
}
