//! [`Relay`]: the service's output moved by the supervisor, from pipes to files (rotated),
//! pidward's standard error, syslog or the journal.
//!
//! The command's descriptor 1 or 2 (or both, when they go to the same file) is the write end
//! of a pipe (`pipe2(2)`, `O_CLOEXEC`, grown to 1 MiB with `F_SETPIPE_SZ` where allowed). The
//! supervisor keeps both ends for its whole life, so every run of the command writes into the
//! same pipe and nothing written is lost between two runs. The read ends are non-blocking and
//! sit behind one `epoll(7)` descriptor, which the supervision loop polls with its own
//! ([`Observer::fd`](crate::supervise::Observer::fd)); each wake-up moves a bounded amount
//! ([`BATCH`] calls per pipe), so a flood of output never holds back the forwarding of a
//! signal. The command is never made to wait on anything but its pipe: a sink that would
//! block drops lines instead, and counts them.
//!
//! **How bytes move.** To a file: non-blocking `read(2)`s into one 128 KiB buffer
//! ([`FILE_BUF`]), until the pipe is empty (a read that comes back short, or `EAGAIN`), the
//! buffer is full or the wake-up's [`BATCH`] reads are spent, then one `write(2)` of what
//! they read to the file, opened `O_APPEND` ([`super::rotate`]). A wake-up for output alone
//! costs the loop's `ppoll(2)`, the `read(2)`s and the `write(2)`: no `waitpid(2)` (the
//! command's pidfd says when it has exited) and no `lseek(2)` away from the rotation point.
//! The buffer is cut at line ends only where a line matters: at the rotation point, at a
//! line that runs past the hard maximum, and for each line with `--output-timestamps` (whose
//! prefixed lines gather in a second buffer, written with one `write(2)` too). Not
//! `splice(2)`: measured against `cat` into the same file, a writer that keeps the pipe near
//! empty left splice some 24 KiB per call, and a splice into the file holds the pipe's lock
//! while the file system takes the bytes, so the command's next `write(2)` waited on it; a
//! `read(2)` holds the lock only for the copy out, and the command writes on while the
//! `write(2)` goes to the file (docs/benchmarks.md, group 8). The price is one copy through
//! the buffer, allocated at the first output. To a syslog, journal or standard error sink, a
//! line at a time ([`Sink::line`]), read with 64 KiB `read(2)`s; a line longer than
//! [`LINE_MAX`] is ended there.
//!
//! **Drops.** A file that cannot be written (`ENOSPC`, `EIO`) loses the lines of that write;
//! the next write that gets through begins with a line of pidward's, `pidward: N lines
//! dropped`. Sinks report theirs as the lifecycle log does ([`Sink::line`]). The total of
//! every drop since the start is [`Relay::dropped_total`].

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::SystemTime;

use super::rotate::{LINE_MAX, Rotating, Rotation};

mod file;
use super::{Dest, OpenError, Sink};
use crate::time::Rfc3339;

/// How many `read(2)` calls one wake-up makes per pipe.
pub const BATCH: usize = 16;

/// The pipe size asked for (`F_SETPIPE_SZ`; `/proc/sys/fs/pipe-max-size` allows 1 MiB).
const PIPE_SIZE: i32 = 1 << 20;

/// The buffer a file's bytes go through: filled by up to [`BATCH`] reads, written at once.
const FILE_BUF: usize = 128 * 1024;

/// The read buffer of a sink.
const READ_BUF: usize = 64 * 1024;

/// Which of the command's streams a route carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streams {
    /// Descriptor 1.
    Stdout,
    /// Descriptor 2.
    Stderr,
    /// Both, into one pipe (and one file): the lines interleave as the command wrote them.
    Both,
}

impl Streams {
    /// `stdout`, `stderr` or `output`: the journal's `PIDWARD_STREAM`, the RFC 5424 MSGID.
    pub fn name(self) -> &'static str {
        match self {
            Streams::Stdout => "stdout",
            Streams::Stderr => "stderr",
            Streams::Both => "output",
        }
    }

    /// The syslog severity of a line: `info` from stdout, `err` from stderr.
    fn severity(self) -> u8 {
        match self {
            Streams::Stderr => 3,
            _ => 6,
        }
    }
}

/// How the relay writes (for every route).
#[derive(Debug, Clone, Default)]
pub struct RelayOptions {
    /// Rotation of the files.
    pub rotation: Option<Rotation>,
    /// Each line prefixed with the time it began (RFC 3339 UTC, milliseconds), in files and
    /// on the standard error.
    pub timestamps: bool,
    /// Mode of a file the relay creates.
    pub mode: u32,
    /// The syslog identifier and journal `SYSLOG_IDENTIFIER`.
    pub tag: String,
}

/// Where one pipe's lines go.
#[derive(Debug)]
enum Out {
    File(Rotating),
    Sink(Sink),
}

/// One pipe and what it feeds.
#[derive(Debug)]
struct Source {
    read: OwnedFd,
    write: OwnedFd,
    streams: Streams,
    out: Out,
    /// A partial line (sinks) or the read buffer (files), allocated at first use.
    buf: Vec<u8>,
    /// The lines of a batch with their timestamps (files with `--output-timestamps`).
    stamped: Vec<u8>,
    /// Whether the next byte begins a line.
    at_line_start: bool,
    /// A write failed in the middle of a line: the next write starts a line of its own.
    broken: bool,
    /// Lines a file lost and has not reported yet.
    dropped: u64,
    /// Every line lost since the start.
    total: u64,
    created: Option<PathBuf>,
}

/// The output relay (module docs).
#[derive(Debug)]
pub struct Relay {
    epoll: OwnedFd,
    sources: RefCell<Vec<Source>>,
    opts: RelayOptions,
    pid: Cell<u32>,
}

impl Relay {
    /// Opens every route's destination and makes its pipe. A failure names the destination,
    /// and takes back the files the others created.
    pub fn open(routes: &[(Streams, Dest)], opts: RelayOptions) -> Result<Relay, OpenError> {
        let fail = |dest: &Dest, source: io::Error| OpenError {
            dest: dest.to_string(),
            source,
        };
        // SAFETY: epoll_create1(2) with a valid flag; the descriptor is owned below.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Err(fail(&routes[0].1, io::Error::last_os_error()));
        }
        // SAFETY: a descriptor epoll_create1 just returned.
        let epoll = unsafe { OwnedFd::from_raw_fd(ep) };
        let relay = Relay {
            epoll,
            sources: RefCell::new(Vec::with_capacity(routes.len())),
            opts,
            pid: Cell::new(std::process::id()),
        };
        for (streams, dest) in routes {
            match relay.add(*streams, dest) {
                Ok(source) => relay.sources.borrow_mut().push(source),
                Err(e) => {
                    relay.discard();
                    return Err(fail(dest, e));
                }
            }
        }
        Ok(relay)
    }

    fn add(&self, streams: Streams, dest: &Dest) -> io::Result<Source> {
        let (out, created) = match dest {
            Dest::File(path) => {
                let (file, new) = Rotating::open(path, self.opts.mode, self.opts.rotation)?;
                (Out::File(file), new.then(|| path.clone()))
            }
            other => (Out::Sink(Sink::open(other, self.opts.mode)?), None),
        };
        let source = |read, write| Source {
            read,
            write,
            streams,
            out,
            buf: Vec::new(),
            stamped: Vec::new(),
            at_line_start: true,
            broken: false,
            dropped: 0,
            total: 0,
            created,
        };
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let source = source(read, write);
        crate::sys::set_nonblocking(source.read.as_fd(), true)?;
        // SAFETY: fcntl(2) F_SETPIPE_SZ on our pipe; refused (EPERM) past the system's
        // maximum, which only costs throughput.
        unsafe { libc::fcntl(source.read.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE) };
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: self.sources.borrow().len() as u64,
        };
        // SAFETY: epoll_ctl(2) EPOLL_CTL_ADD of a live descriptor with a live event.
        let r = unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                source.read.as_raw_fd(),
                &mut ev,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(source)
    }

    /// The write end for the command's `stream` (a new descriptor each call, for each run's
    /// set-up), if the relay carries it.
    pub fn stdio(&self, stream: Streams) -> Option<io::Result<OwnedFd>> {
        let sources = self.sources.borrow();
        let s = sources
            .iter()
            .find(|s| s.streams == stream || s.streams == Streams::Both)?;
        Some(s.write.try_clone())
    }

    /// The descriptor the supervision loop polls: readable when a pipe is.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }

    /// Every descriptor the relay holds, for a detached process to keep.
    pub fn fds(&self) -> Vec<i32> {
        let mut out = vec![self.epoll.as_raw_fd()];
        for s in self.sources.borrow().iter() {
            out.extend([s.read.as_raw_fd(), s.write.as_raw_fd()]);
            match &s.out {
                Out::File(f) => out.push(f.file.as_raw_fd()),
                Out::Sink(sink) => out.extend(sink.as_fd().map(|fd| fd.as_raw_fd())),
            }
        }
        out
    }

    /// The PID syslog and journal records name from now on (the service's main process;
    /// until it is set, pidward's own).
    pub fn set_pid(&self, pid: u32) {
        self.pid.set(pid);
    }

    /// Moves what the pipes hold, at most [`BATCH`] calls per pipe (module docs); whether
    /// that emptied them.
    pub fn pump(&self) -> bool {
        let mut drained = true;
        for s in self.sources.borrow_mut().iter_mut() {
            drained &= s.pump(&self.opts, self.pid.get(), Some(BATCH));
        }
        drained
    }

    /// Moves everything the pipes hold, then ends a partial line a sink holds: at the end
    /// of a run, and before pidward exits.
    pub fn flush(&self) {
        for s in self.sources.borrow_mut().iter_mut() {
            s.pump(&self.opts, self.pid.get(), None);
            if let Out::Sink(_) = s.out
                && !s.buf.is_empty()
            {
                let mut line = std::mem::take(&mut s.buf);
                line.push(b'\n');
                s.emit(&line, &self.opts, self.pid.get());
            }
        }
    }

    /// Opens every file again at its path (`--reopen-on`: after logrotate renamed it); the
    /// first error, naming the file.
    pub fn reopen(&self) -> Result<(), OpenError> {
        let mut first = Ok(());
        for s in self.sources.borrow_mut().iter_mut() {
            if let Out::File(f) = &mut s.out
                && let Err(source) = f.reopen()
                && first.is_ok()
            {
                first = Err(OpenError {
                    dest: f.path().display().to_string(),
                    source,
                });
            }
        }
        first
    }

    /// Every line dropped since the start, over all routes.
    pub fn dropped_total(&self) -> u64 {
        self.sources
            .borrow()
            .iter()
            .map(|s| match &s.out {
                Out::File(_) => s.total,
                Out::Sink(sink) => sink.total_dropped(),
            })
            .sum()
    }

    /// Removes the files the relay created, for a start that failed before it began.
    pub fn discard(&self) {
        for s in self.sources.borrow_mut().drain(..) {
            if let (Some(path), Out::File(f)) = (&s.created, &s.out) {
                super::stream::remove_created(path, &f.file);
            }
        }
    }
}

impl Source {
    /// Up to `budget` reads (`None`: until the pipe is empty); whether the pipe is empty.
    fn pump(&mut self, opts: &RelayOptions, pid: u32, budget: Option<usize>) -> bool {
        if let Out::File(_) = self.out {
            return self.pump_file(opts, budget);
        }
        let mut calls = 0;
        while budget.is_none_or(|b| calls < b) {
            calls += 1;
            if !self.read_lines(opts, pid) {
                return true;
            }
        }
        false
    }

    /// One `read(2)` into the buffer, and the whole lines in it sent to the sink; whether
    /// it read anything.
    fn read_lines(&mut self, opts: &RelayOptions, pid: u32) -> bool {
        let keep = self.buf.len();
        self.buf.resize(keep.max(READ_BUF).max(keep + 4096), 0);
        match read_pipe(&self.read, &mut self.buf[keep..]) {
            Read::Got(n) => {
                self.buf.truncate(keep + n);
                let data = std::mem::take(&mut self.buf);
                self.buf = self.emit_lines(data, opts, pid);
                true
            }
            Read::Empty | Read::Failed => {
                self.buf.truncate(keep);
                false
            }
        }
    }

    /// Sends each whole line of `data` to the sink; returns the partial line left (a line
    /// longer than [`LINE_MAX`] is ended there).
    fn emit_lines(&mut self, mut data: Vec<u8>, opts: &RelayOptions, pid: u32) -> Vec<u8> {
        let mut start = 0;
        while let Some(i) = data[start..].iter().position(|&b| b == b'\n') {
            let end = start + i + 1;
            let line = data[start..end].to_vec();
            self.emit(&line, opts, pid);
            start = end;
        }
        data.drain(..start);
        while data.len() as u64 >= LINE_MAX {
            let mut line: Vec<u8> = data.drain(..LINE_MAX as usize).collect();
            line.push(b'\n');
            self.emit(&line, opts, pid);
        }
        data
    }

    /// One line (with its newline) to the sink.
    fn emit(&mut self, line: &[u8], opts: &RelayOptions, pid: u32) {
        let Out::Sink(sink) = &mut self.out else {
            return;
        };
        let (name, severity) = (self.streams.name(), self.streams.severity());
        if opts.timestamps && sink.is_stream() {
            let mut stamped = stamp().to_vec();
            stamped.extend_from_slice(line);
            sink.line(&stamped, name, severity, &opts.tag, pid);
        } else {
            sink.line(line, name, severity, &opts.tag, pid);
        }
    }
}

/// What one `read(2)` of a pipe found.
enum Read {
    /// This many bytes (not 0).
    Got(usize),
    /// Nothing now: the pipe is empty (`EAGAIN`), or its writers are gone.
    Empty,
    /// An error other than `EINTR` (none is expected of our own pipe).
    Failed,
}

/// `read(2)` of the non-blocking pipe `fd` into `buf` (not empty), again after `EINTR`.
fn read_pipe(fd: &OwnedFd, buf: &mut [u8]) -> Read {
    loop {
        // SAFETY: read(2) into a live buffer of `buf.len()` bytes, on a descriptor we own.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            return Read::Got(n as usize);
        }
        if n == 0 {
            return Read::Empty;
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Read::Empty,
            _ => return Read::Failed,
        }
    }
}

/// How long [`stamp`] is: `2026-11-22T09:12:44.310Z `.
const STAMP_LEN: u64 = 25;

/// The timestamp a line begins with: `2026-11-22T09:12:44.310Z ` (the lifecycle log's), in
/// place, with no allocation: one per line. A clock set past the year 9999 stamps the last
/// millisecond of it (the stamp keeps its length).
fn stamp() -> [u8; STAMP_LEN as usize] {
    let mut out = *b"9999-12-31T23:59:59.999Z ";
    if let Some(bytes) = Rfc3339(SystemTime::now()).bytes() {
        out[..24].copy_from_slice(&bytes);
    }
    out
}
