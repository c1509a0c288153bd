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
//! **How bytes move.** To a file without `--output-timestamps`, with `splice(2)` straight
//! from the pipe into the file (no copy through the supervisor's memory), until the rotation
//! point; from there, and always with timestamps, with `read(2)` into a 64 KiB buffer and
//! `pwrite(2)`, line by line where lines matter ([`super::rotate`] for rotation). To a
//! syslog, journal or standard error sink, a line at a time ([`Sink::line`]); a line longer
//! than [`LINE_MAX`] is ended there.
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
use super::{Dest, OpenError, Sink};
use crate::time::Rfc3339;

/// How many `splice(2)` or `read(2)` calls one wake-up makes per pipe.
pub const BATCH: usize = 16;

/// The pipe size asked for (`F_SETPIPE_SZ`; `/proc/sys/fs/pipe-max-size` allows 1 MiB).
const PIPE_SIZE: i32 = 1 << 20;

/// The largest `splice(2)` asked for.
const SPLICE_MAX: usize = 1 << 20;

/// The read buffer of the line-by-line mode.
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

    /// Moves what the pipes hold, at most [`BATCH`] calls per pipe (module docs).
    pub fn pump(&self) {
        for s in self.sources.borrow_mut().iter_mut() {
            s.pump(&self.opts, self.pid.get(), Some(BATCH));
        }
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

/// What one `splice(2)` or `read(2)` found.
enum Got {
    Moved,
    /// The pipe is empty (or its writers are gone).
    Empty,
    Failed,
}

impl Source {
    /// Up to `budget` calls (`None`: until the pipe is empty).
    fn pump(&mut self, opts: &RelayOptions, pid: u32, budget: Option<usize>) {
        if let Out::File(f) = &mut self.out {
            f.sync_offset();
        }
        let mut calls = 0;
        while budget.is_none_or(|b| calls < b) {
            calls += 1;
            let spliced = match self.try_splice(opts) {
                Some(got) => got,
                None => self.read_lines(opts, pid),
            };
            if matches!(spliced, Got::Empty) {
                return;
            }
        }
    }

    /// `splice(2)` from the pipe into the file, when the file can take bytes unseen: no
    /// timestamps, no report of drops owed, and room before the rotation point. `None` when
    /// lines must be looked at.
    fn try_splice(&mut self, opts: &RelayOptions) -> Option<Got> {
        let Out::File(f) = &mut self.out else {
            return None;
        };
        if opts.timestamps || self.dropped > 0 || self.broken {
            return None;
        }
        let room = f.room();
        if room == 0 {
            // At the rotation point: rotate now if the last byte ends a line, else read on
            // to the line's end.
            if last_byte(f) == Some(b'\n') && f.rotate_if_full().is_ok() {
                self.at_line_start = true;
                return Some(Got::Moved);
            }
            self.at_line_start = false;
            return None;
        }
        let len = room.min(SPLICE_MAX as u64) as usize;
        let mut off = f.offset as libc::loff_t;
        // SAFETY: splice(2) from our non-blocking pipe into our file at `off`, a live local.
        let n = unsafe {
            libc::splice(
                self.read.as_raw_fd(),
                std::ptr::null_mut(),
                f.file.as_raw_fd(),
                &mut off,
                len,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
            )
        };
        if n > 0 {
            f.offset += n as u64;
            return Some(Got::Moved);
        }
        let e = io::Error::last_os_error();
        match (n, e.raw_os_error()) {
            (0, _) | (_, Some(libc::EAGAIN)) => Some(Got::Empty),
            (_, Some(libc::EINTR)) => Some(Got::Moved),
            // The file cannot take it (ENOSPC, EIO, EINVAL on a file system without
            // splice): the bytes are read and written, or dropped, line by line.
            _ => None,
        }
    }

    /// One `read(2)` into the buffer, and the lines in it written out.
    fn read_lines(&mut self, opts: &RelayOptions, pid: u32) -> Got {
        let keep = match self.out {
            Out::Sink(_) => self.buf.len(),
            Out::File(_) => 0,
        };
        self.buf.resize(keep.max(READ_BUF).max(keep + 4096), 0);
        let n = loop {
            // SAFETY: read(2) into the live tail of our buffer.
            let n = unsafe {
                libc::read(
                    self.read.as_raw_fd(),
                    self.buf[keep..].as_mut_ptr().cast(),
                    self.buf.len() - keep,
                )
            };
            if n >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                break n;
            }
        };
        if n <= 0 {
            self.buf.truncate(keep);
            return if n == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN) {
                Got::Empty
            } else {
                Got::Failed
            };
        }
        let n = n as usize;
        self.buf.truncate(keep + n);
        let data = std::mem::take(&mut self.buf);
        match self.out {
            Out::File(_) => {
                self.write_file(&data, opts);
                self.buf = data;
                self.buf.clear();
            }
            Out::Sink(_) => self.buf = self.emit_lines(data, opts, pid),
        }
        Got::Moved
    }

    /// Writes `data` to the file: a timestamp at each line start (with `timestamps`), the
    /// report of drops owed before the next line, a rotation at each line end past the size.
    fn write_file(&mut self, data: &[u8], opts: &RelayOptions) {
        let mut out: Vec<u8> = Vec::with_capacity(data.len() + 64);
        let mut rest = data;
        while !rest.is_empty() {
            let Out::File(f) = &self.out else { return };
            // A line under way may run to the hard maximum, no further.
            let cap = match self.at_line_start {
                true => usize::MAX,
                false => f.line_room(f.offset + out.len() as u64),
            };
            if cap == 0 {
                out.push(b'\n');
                self.at_line_start = true;
                self.flush_file(&mut out, opts);
                self.rotate();
                continue;
            }
            if self.at_line_start && opts.timestamps {
                out.extend_from_slice(stamp().as_bytes());
            }
            let end = match rest.iter().position(|&b| b == b'\n') {
                Some(i) if i < cap => i + 1,
                _ => rest.len().min(cap),
            };
            out.extend_from_slice(&rest[..end]);
            rest = &rest[end..];
            self.at_line_start = out.last() == Some(&b'\n');
            let Out::File(f) = &self.out else { return };
            if self.at_line_start && f.room() <= out.len() as u64 {
                self.flush_file(&mut out, opts);
                self.rotate();
            }
        }
        self.flush_file(&mut out, opts);
    }

    /// Rotates the file if it is full (a failed rename is tried again at the next line).
    fn rotate(&mut self) {
        if let Out::File(f) = &mut self.out {
            let _ = f.rotate_if_full();
        }
    }

    /// Writes `out` (then empties it), reporting owed drops first; counts the lines a failed
    /// write loses.
    fn flush_file(&mut self, out: &mut Vec<u8>, opts: &RelayOptions) {
        let Out::File(f) = &mut self.out else { return };
        if out.is_empty() {
            return;
        }
        let mut head = Vec::new();
        if self.broken {
            head.push(b'\n');
        }
        if self.dropped > 0 {
            if opts.timestamps {
                head.extend_from_slice(stamp().as_bytes());
            }
            head.extend_from_slice(format!("pidward: {} lines dropped\n", self.dropped).as_bytes());
        }
        if !head.is_empty() {
            match f.write(&head) {
                Ok(()) => (self.broken, self.dropped) = (false, 0),
                Err((done, _)) => {
                    self.broken = done > 0;
                    let lost = lines(out);
                    self.dropped += lost;
                    self.total += lost;
                    out.clear();
                    return;
                }
            }
        }
        if let Err((done, _)) = f.write(out) {
            let lost = lines(&out[done..]);
            self.dropped += lost;
            self.total += lost;
            self.broken = done > 0 && out[done - 1] != b'\n';
        }
        out.clear();
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
            let mut stamped = stamp().into_bytes();
            stamped.extend_from_slice(line);
            sink.line(&stamped, name, severity, &opts.tag, pid);
        } else {
            sink.line(line, name, severity, &opts.tag, pid);
        }
    }
}

/// The file's last byte (`pread(2)`), if it has one.
fn last_byte(f: &Rotating) -> Option<u8> {
    if f.offset == 0 {
        return None;
    }
    let mut b = 0u8;
    // SAFETY: pread(2) of one byte into a live local.
    let n = unsafe {
        libc::pread(
            f.file.as_raw_fd(),
            (&mut b as *mut u8).cast(),
            1,
            (f.offset - 1) as libc::off_t,
        )
    };
    (n == 1).then_some(b)
}

/// How many lines `bytes` ends (its newlines, and a last unfinished one).
fn lines(bytes: &[u8]) -> u64 {
    let n = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    n + u64::from(bytes.last().is_some_and(|&b| b != b'\n'))
}

/// The timestamp a line begins with: `2026-11-22T09:12:44.310Z ` (the lifecycle log's).
fn stamp() -> String {
    format!("{} ", Rfc3339(SystemTime::now()))
}
