//! Doors into parsers that have no public entry point of their own, for the fuzz targets
//! (`fuzz/`) and the corpus replay (`tests/fuzz_corpus.rs`). Built only with the
//! `test-helpers` feature; not part of the public interface.
//!
//! The status-pipe protocol ([`crate::daemon`]'s start-up report) is spoken only between a
//! launcher and the process it forks, so these functions run both of its ends over a real
//! pipe: [`encode_status`] formats one message exactly as the started process does (one
//! `write(2)` of the async-signal-safe writer), and [`read_status`] reads a byte stream the
//! way the launcher does, end of file included.

use std::os::fd::AsFd;

use crate::child::{Error as StepError, Step};
use crate::daemon::report::{Outcome, read_report};
use crate::daemon::status::StatusWriter;

/// One status message, as the started process would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusMessage<'a> {
    /// `P <pid>`.
    Pid(u32),
    /// `O`: started.
    Started,
    /// `R`: ready.
    Ready,
    /// `X`: exec follows.
    Exec,
    /// `E <step> <code> <detail>`.
    Failed {
        /// The failed step.
        step: Step,
        /// Its errno or exit code.
        code: i32,
        /// The detail (cut to fit by the writer).
        detail: &'a [u8],
    },
}

/// How the launcher judged a status stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusOutcome {
    /// `O`.
    Started,
    /// `R`.
    Ready,
    /// `X`, then end of file.
    Execed,
    /// `E ...`, possibly cut.
    Failed(StepError),
    /// End of file without a final message.
    Silent,
}

/// Every step a status message can name.
pub fn steps() -> &'static [Step] {
    &Step::ALL
}

/// The bytes the started process writes for `message`.
pub fn encode_status(message: &StatusMessage<'_>) -> Vec<u8> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe(2)");
    let writer = StatusWriter::new(write.as_fd());
    match message {
        StatusMessage::Pid(pid) => writer.pid(*pid),
        StatusMessage::Started => writer.started(),
        StatusMessage::Ready => writer.ready(),
        StatusMessage::Exec => writer.exec(),
        StatusMessage::Failed { step, code, detail } => writer.failed(*step, *code, detail),
    }
    .expect("write(2) to a pipe");
    drop(write);
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match rustix::io::read(&read, &mut buf).expect("read(2) from a pipe") {
            0 => return out,
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// The launcher's reading of `stream` followed by end of file: the announced PID and the
/// outcome. `stream` must fit in a pipe (64 KiB).
pub fn read_status(stream: &[u8]) -> (Option<u32>, StatusOutcome) {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe(2)");
    let mut rest = stream;
    while !rest.is_empty() {
        let n = rustix::io::write(&write, rest).expect("write(2) to a pipe");
        rest = &rest[n..];
    }
    drop(write);
    let report = read_report(read.as_fd(), None).expect("read(2) from a pipe");
    let outcome = match report.outcome {
        Outcome::Started => StatusOutcome::Started,
        Outcome::Ready => StatusOutcome::Ready,
        Outcome::Execed => StatusOutcome::Execed,
        Outcome::Failed(e) => StatusOutcome::Failed(e),
        Outcome::Silent | Outcome::TimedOut => StatusOutcome::Silent,
    };
    (report.pid, outcome)
}
