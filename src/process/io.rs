//! The parent's ends of the child's pipes ([`ChildWriter`] in `writer`, [`ChildReader`] in
//! `reader`), and what both share.
//!
//! Both are a non-blocking pipe end registered with tokio's reactor ([`AsyncFd`]), and both
//! implement tokio's I/O traits ([`AsyncWrite`](tokio::io::AsyncWrite),
//! [`AsyncRead`](tokio::io::AsyncRead)), so `tokio::io::copy`, `BufReader::lines`, codecs and
//! `AsyncWriteExt` work on them as on tokio's own pipes. Reads and writes are plain
//! `read(2)`/`writev(2)` on the fd; when the kernel says `EAGAIN`, the readiness is cleared and
//! the task waits for the next edge. A short read also clears readiness, because the pipe was
//! drained at that moment: that saves one `EAGAIN` round trip per chunk, and tokio's readiness
//! tick makes it race-free (an event that arrived after we looked is not cleared). Writes are
//! attempted first and wait for readiness only after `EAGAIN`.
//!
//! * **Backpressure**: a write waits while the pipe is full; with nothing read by the child,
//!   at most one pipe buffer (1 MiB by default) is in flight.
//! * **Broken pipe**: writes never raise `SIGPIPE` in the parent (see `sigpipe`); a child that
//!   closed its end gives `BrokenPipe`.
//! * **Flow control**: a reader reads only when asked. Not polling it (or pausing it in the
//!   event stream) leaves the data in the pipe, and a fast child blocks on the full pipe: the
//!   parent's memory stays bounded by what it chose to hold.
//! * **Pipe size**: pipes start at the kernel's default (64 KiB) and grow once to the
//!   command's pipe size (1 MiB by default, `F_SETPIPE_SZ`) the first time they prove busy: a
//!   write that found the pipe full, or a read that found it (nearly) full. Big pipes halve the
//!   system calls per byte and let both sides run longer without waking each other.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

pub use super::reader::ChildReader;
pub use super::writer::ChildWriter;

/// Registers `fd` with the current runtime's reactor for `interest`; on failure gives the fd
/// back with the error.
pub(crate) fn register<T: AsRawFd>(
    fd: T,
    interest: Interest,
) -> Result<AsyncFd<T>, (T, io::Error)> {
    // SAFETY: the fd is a valid open fd that stays open and keeps its number for as long as
    // the AsyncFd owns it (`T` owns it), which is what registration requires.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(|e| e.into_parts())
}

/// `fcntl(F_SETPIPE_SZ)`: asks the kernel to resize the pipe to `bytes`; returns the size it
/// got (rounded up to a power of two pages), or `None`: best effort (the kernel refuses beyond
/// `/proc/sys/fs/pipe-max-size` or the user's pipe quota).
pub(crate) fn resize_pipe(fd: RawFd, bytes: usize) -> Option<usize> {
    let bytes = bytes.min(i32::MAX as usize) as libc::c_int;
    // SAFETY: plain fcntl on an fd we own.
    let size = unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, bytes) };
    usize::try_from(size).ok()
}
