//! The status-pipe protocol: how a detached or forked process tells its launcher what
//! happened (the steps themselves are [`child::Step`](crate::child::Step)).
//!
//! A start-up report travels over a pipe whose write end is `O_CLOEXEC` and lives only in the
//! process being started. Each message is one line of at most [`MESSAGE_MAX`] bytes, written
//! with a single `write(2)`; since that is below `PIPE_BUF`, a message is never interleaved
//! with another one. The format is plain text, so a message that was cut short (by a process
//! dying mid-report, or by the length bound) still reads as far as it goes:
//!
//! ```text
//! P <pid>                      the process being started has this PID
//! O                            started: set-up is done (or the command has been spawned)
//! R                            ready: the service declared itself ready
//! X                            exec follows: end of file from now on means exec succeeded
//! E <step> <code> <detail>     failed: the step, its errno (or exit code), a short detail
//! T <text>                     before an E: one line of the command's last standard error
//! ```
//!
//! The detail is truncated at a UTF-8 character boundary and marked with `...` when it does not
//! fit, and decoded lossily, so a cut message never turns into garbage (twistd's status pipe
//! could cut a message in the middle of an escape sequence).
//!
//! The writing side ([`StatusWriter`]) formats into a stack buffer and makes one system call:
//! it is async-signal-safe, for use between `fork` and `exec`. The reading side
//! ([`read_report`](super::report::read_report)) runs in the launcher and may allocate.

use std::borrow::Cow;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use crate::child::{Error as StepError, Step};

/// The largest status message, newline included. Below `PIPE_BUF` (4096), so every message is
/// written atomically.
pub(crate) const MESSAGE_MAX: usize = 256;

/// The most a launcher reads from a status pipe before it stops listening for more.
pub(crate) const REPORT_MAX: usize = 32 * MESSAGE_MAX;

/// The most of the command's standard error a failure report carries (`T` lines): it must fit
/// in [`REPORT_MAX`] with the rest.
pub(crate) const TAIL_MAX: usize = TAIL_LINES * (MESSAGE_MAX - 3);

/// The most lines of it.
pub(crate) const TAIL_LINES: usize = 16;

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    Pid(u32),
    Started,
    Ready,
    Exec,
    Failed(StepError),
    Tail(Vec<u8>),
}

/// Decodes one line (without its newline), which may have been cut short.
pub(crate) fn decode(line: &[u8]) -> Option<Message> {
    let mut fields = line.splitn(4, |&b| b == b' ');
    let kind = fields.next()?;
    match kind {
        b"P" => {
            let pid = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
            Some(Message::Pid(pid))
        }
        b"O" => Some(Message::Started),
        b"R" => Some(Message::Ready),
        b"X" => Some(Message::Exec),
        b"T" => Some(Message::Tail(line.get(2..).unwrap_or_default().to_vec())),
        b"E" => {
            let name = fields.next().unwrap_or(b"");
            let step = Step::from_name(name);
            let code = fields
                .next()
                .and_then(|c| std::str::from_utf8(c).ok())
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let detail = fields
                .next()
                .map(String::from_utf8_lossy)
                .map(Cow::into_owned)
                .unwrap_or_default();
            Some(Message::Failed(
                if step == Step::Unknown && !name.is_empty() {
                    StepError::unknown(name, code, detail)
                } else {
                    StepError::new(step, code, detail)
                },
            ))
        }
        _ => None,
    }
}

/// The write end of a status pipe, used by the process being started.
///
/// Every method formats into a stack buffer and makes a single `write(2)`: async-signal-safe.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StatusWriter {
    fd: RawFd,
}

impl StatusWriter {
    pub(crate) fn new(fd: BorrowedFd<'_>) -> StatusWriter {
        StatusWriter { fd: fd.as_raw_fd() }
    }

    pub(crate) fn pid(&self, pid: u32) -> io::Result<()> {
        let mut buf = Buf::new();
        buf.push(b"P ");
        buf.push_int(i64::from(pid));
        self.send(buf)
    }

    pub(crate) fn started(&self) -> io::Result<()> {
        let mut buf = Buf::new();
        buf.push(b"O");
        self.send(buf)
    }

    pub(crate) fn ready(&self) -> io::Result<()> {
        let mut buf = Buf::new();
        buf.push(b"R");
        self.send(buf)
    }

    pub(crate) fn exec(&self) -> io::Result<()> {
        let mut buf = Buf::new();
        buf.push(b"X");
        self.send(buf)
    }

    /// Reports a failed step. The detail is cut to fit (at a character boundary, marked with
    /// `...`); newlines in it become spaces.
    pub(crate) fn failed(&self, step: Step, code: i32, detail: &[u8]) -> io::Result<()> {
        let mut buf = Buf::new();
        buf.push(b"E ");
        buf.push(step.name().as_bytes());
        buf.push(b" ");
        buf.push_int(i64::from(code));
        if !detail.is_empty() {
            buf.push(b" ");
            buf.push_detail(detail);
        }
        self.send(buf)
    }

    /// One line of the command's output tail (cut to fit; a newline in it becomes a space).
    pub(crate) fn tail(&self, line: &[u8]) -> io::Result<()> {
        let mut buf = Buf::new();
        buf.push(b"T ");
        buf.push_detail(line);
        self.send(buf)
    }

    fn send(&self, mut buf: Buf) -> io::Result<()> {
        buf.finish();
        let bytes = &buf.bytes[..buf.len];
        loop {
            // SAFETY: writing a live stack buffer to a descriptor we were given.
            let n = unsafe { libc::write(self.fd, bytes.as_ptr().cast(), bytes.len()) };
            if n >= 0 {
                // A pipe write of at most PIPE_BUF bytes is all or nothing.
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

/// A message being formatted on the stack: one line of at most `MESSAGE_MAX` bytes.
struct Buf {
    bytes: [u8; MESSAGE_MAX],
    len: usize,
}

impl Buf {
    fn new() -> Buf {
        Buf {
            bytes: [0; MESSAGE_MAX],
            len: 0,
        }
    }

    /// Room left, keeping one byte for the newline.
    fn room(&self) -> usize {
        MESSAGE_MAX - 1 - self.len
    }

    fn push(&mut self, s: &[u8]) {
        let n = s.len().min(self.room());
        self.bytes[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }

    fn push_int(&mut self, value: i64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = value.unsigned_abs();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        if value < 0 {
            self.push(b"-");
        }
        self.push(&digits[i..]);
    }

    fn push_detail(&mut self, detail: &[u8]) {
        const MARK: &[u8] = b"...";
        let room = self.room();
        let (take, cut) = if detail.len() <= room {
            (detail.len(), false)
        } else {
            let mut end = room.saturating_sub(MARK.len());
            // Do not split a UTF-8 sequence: back up over continuation bytes.
            while end > 0 && detail[end] & 0xC0 == 0x80 {
                end -= 1;
            }
            (end, true)
        };
        for &b in &detail[..take] {
            self.bytes[self.len] = if b == b'\n' { b' ' } else { b };
            self.len += 1;
        }
        if cut {
            self.push(MARK);
        }
    }

    fn finish(&mut self) {
        self.bytes[self.len] = b'\n';
        self.len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::super::report::{Outcome, read_report};
    use super::*;
    use std::os::fd::{AsFd, OwnedFd};

    fn pipe() -> (OwnedFd, OwnedFd) {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap()
    }

    #[test]
    fn messages_round_trip() {
        let (r, w) = pipe();
        let writer = StatusWriter::new(w.as_fd());
        writer.pid(4242).unwrap();
        writer.failed(Step::Chdir, 2, b"/no/such").unwrap();
        drop(w);
        let report = read_report(r.as_fd(), None).unwrap();
        assert_eq!(report.pid, Some(4242));
        assert_eq!(
            report.outcome,
            Outcome::Failed(StepError::new(Step::Chdir, 2, "/no/such"))
        );
    }

    #[test]
    fn exec_then_eof_is_success_and_silence_is_not() {
        let (r, w) = pipe();
        StatusWriter::new(w.as_fd()).exec().unwrap();
        drop(w);
        assert_eq!(
            read_report(r.as_fd(), None).unwrap().outcome,
            Outcome::Execed
        );
        let (r, w) = pipe();
        StatusWriter::new(w.as_fd()).pid(7).unwrap();
        drop(w);
        assert_eq!(
            read_report(r.as_fd(), None).unwrap().outcome,
            Outcome::Silent
        );
    }

    #[test]
    fn long_details_are_cut_at_a_character_boundary() {
        let detail = "é".repeat(400);
        let (r, w) = pipe();
        StatusWriter::new(w.as_fd())
            .failed(Step::Stdout, 13, detail.as_bytes())
            .unwrap();
        drop(w);
        let mut raw = [0u8; 1024];
        let n = rustix::io::read(&r, &mut raw).unwrap();
        assert!(n <= MESSAGE_MAX);
        let Some(Message::Failed(e)) = decode(&raw[..n - 1]) else {
            panic!("not a failure")
        };
        assert_eq!(e.step(), Step::Stdout);
        assert_eq!(e.code(), 13);
        assert!(e.detail().ends_with("é..."), "{}", e.detail());
        assert!(!e.detail().contains('\u{FFFD}'));
    }

    #[test]
    fn a_cut_message_still_reads() {
        let Some(Message::Failed(e)) = decode(b"E chroot 2 /sr") else {
            panic!()
        };
        assert_eq!(
            e.to_string(),
            "chroot /sr: No such file or directory (os error 2)"
        );
        let Some(Message::Failed(e)) = decode(b"E chro") else {
            panic!()
        };
        assert_eq!(e.step(), Step::Unknown);
        assert_eq!(e.to_string(), "chro");
        // Cut in the middle of a multi-byte character: decoded lossily.
        let Some(Message::Failed(e)) = decode(b"E exec 2 caf\xC3") else {
            panic!()
        };
        assert_eq!(e.detail(), "caf\u{FFFD}");
    }
}
