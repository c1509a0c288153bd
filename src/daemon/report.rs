//! The launcher's side of the status pipe: reading a start-up report (see
//! [`status`](super::status) for the format).

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use super::status::{MESSAGE_MAX, Message, REPORT_MAX, decode};
use crate::child::Error as StepError;

/// What a launcher learned from the status pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Report {
    /// The PID announced by the process being started, if any.
    pub(crate) pid: Option<u32>,
    pub(crate) outcome: Outcome,
}

/// How the report ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// `O`: started.
    Started,
    /// `R`: ready.
    Ready,
    /// `X` then end of file: exec succeeded.
    Execed,
    /// `E ...`: a step failed.
    Failed(StepError),
    /// End of file with no final message: the process died (or closed the pipe) silently.
    Silent,
    /// No final message before the deadline.
    TimedOut,
}

/// Reads a status pipe until a final message, end of file, or the timeout.
///
/// Returns at the first `O`, `R` or `E`; after `X`, waits for end of file (exec succeeded) or
/// an `E` (exec failed). Reads at most a few kilobytes; a final line without its newline (a
/// cut message) is decoded too.
pub(crate) fn read_report(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<Report> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let mut data: Vec<u8> = Vec::with_capacity(MESSAGE_MAX);
    let mut report = Report {
        pid: None,
        outcome: Outcome::Silent,
    };
    let mut exec_announced = false;
    let mut consumed = 0;
    let mut tail: Vec<u8> = Vec::new();
    loop {
        // Decode every complete line received so far.
        while let Some(nl) = data[consumed..].iter().position(|&b| b == b'\n') {
            let line = &data[consumed..consumed + nl];
            consumed += nl + 1;
            match decode(line) {
                Some(Message::Pid(pid)) => report.pid = Some(pid),
                Some(Message::Started) => {
                    report.outcome = Outcome::Started;
                    return Ok(report);
                }
                Some(Message::Ready) => {
                    report.outcome = Outcome::Ready;
                    return Ok(report);
                }
                Some(Message::Exec) => exec_announced = true,
                Some(Message::Failed(e)) => {
                    let output = String::from_utf8_lossy(&tail).into_owned();
                    report.outcome = Outcome::Failed(e.with_output(Some(output)));
                    return Ok(report);
                }
                Some(Message::Tail(line)) => {
                    tail.extend_from_slice(&line);
                    tail.push(b'\n');
                }
                None => {}
            }
        }
        if data.len() >= REPORT_MAX {
            // A flood of chatter: stop reading and judge by what we have.
            report.outcome = Outcome::Silent;
            return Ok(report);
        }
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if !wait_readable(fd, left)? {
                report.outcome = Outcome::TimedOut;
                return Ok(report);
            }
        }
        let mut chunk = [0u8; MESSAGE_MAX];
        let n = match rustix::io::read(fd, &mut chunk) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            // End of file: decode a cut final line, if any.
            if consumed < data.len()
                && let Some(Message::Failed(e)) = decode(&data[consumed..])
            {
                report.outcome = Outcome::Failed(e);
                return Ok(report);
            }
            report.outcome = if exec_announced {
                Outcome::Execed
            } else {
                Outcome::Silent
            };
            return Ok(report);
        }
        data.extend_from_slice(&chunk[..n]);
    }
}

/// Waits until `fd` is readable (or hung up), for at most `timeout`.
fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let revents = crate::sys::poll_fd_until(
        fd,
        rustix::event::PollFlags::IN,
        Some(Instant::now() + timeout),
    )?;
    Ok(!revents.is_empty())
}

/// After a final report: waits (at most `timeout`) for the end of file that says the process
/// being started has closed its end too, so that a launcher that returns leaves the started
/// process holding nothing of the start-up. Anything read meanwhile is ignored.
pub(crate) fn wait_closed(fd: BorrowedFd<'_>, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let mut chunk = [0u8; MESSAGE_MAX];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if !wait_readable(fd, left).unwrap_or(false) {
            return;
        }
        match rustix::io::read(fd, &mut chunk) {
            Ok(0) => return,
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => return,
        }
    }
}
