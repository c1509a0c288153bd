//! The parent's ends of the child's pipes: [`ChildWriter`] and [`ChildReader`].
//!
//! Both are a non-blocking pipe end registered with tokio's reactor ([`AsyncFd`]). Reads and
//! writes are plain `read(2)`/`writev(2)` on the fd; when the kernel says `EAGAIN`, the
//! readiness is cleared and the task waits for the next edge. A short read also
//! clears readiness, because the pipe was drained at that moment: that saves one
//! `EAGAIN` round trip per chunk, and tokio's readiness tick makes it race-free (an event that
//! arrived after we looked is not cleared). Writes are attempted first and wait for readiness
//! only after `EAGAIN`.
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
//! * **Chunks**: [`ChildReader::chunk`] returns what is in the pipe as one `Vec`, sized with
//!   `FIONREAD` so that a small message does not carry a 1 MiB allocation.

use std::io;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

use super::sigpipe;

/// The largest chunk [`ChildReader::chunk`] returns: the default pipe size.
const MAX_CHUNK: usize = 1 << 20;
/// What a chunk read asks for when `FIONREAD` says the pipe is empty (EOF or a race).
const PROBE_CHUNK: usize = 16 * 1024;

/// Registers `fd` with the current runtime's reactor for `interest`; on failure gives the fd
/// back with the error.
pub(crate) fn register(
    fd: OwnedFd,
    interest: Interest,
) -> Result<AsyncFd<OwnedFd>, (OwnedFd, io::Error)> {
    // SAFETY: an OwnedFd is a valid open fd that stays open and keeps its number for as long
    // as the AsyncFd owns it, which is what registration requires.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(|e| e.into_parts())
}

/// A read at least this large found a default-sized (64 KiB) pipe nearly full.
const BUSY_READ: usize = 60 * 1024;

/// `fcntl(F_SETPIPE_SZ)`: asks the kernel to resize the pipe to `bytes`; best effort (the
/// kernel refuses beyond `/proc/sys/fs/pipe-max-size` or the user's pipe quota).
fn resize_pipe(fd: RawFd, bytes: usize) -> bool {
    let bytes = bytes.min(i32::MAX as usize) as libc::c_int;
    // SAFETY: plain fcntl on an fd we own.
    unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, bytes) >= 0 }
}

/// `read(2)` into raw memory.
fn read_raw(fd: RawFd, buf: *mut u8, len: usize) -> io::Result<usize> {
    // SAFETY: the caller passes `len` writable bytes at `buf`.
    let n = unsafe { libc::read(fd, buf.cast(), len) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `ioctl(FIONREAD)`: the number of bytes waiting in a pipe.
fn bytes_available(fd: RawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    if unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) } == 0 {
        n.max(0) as usize
    } else {
        0
    }
}

/// A pipe to one of the child's fds that the parent writes ([`ChildFd::Input`]).
///
/// Use it through [`tokio::io::AsyncWriteExt`] (`write`, `write_all`, `write_vectored`) or the
/// same methods on [`Child`](super::Child). Dropping it closes the pipe: the child sees EOF.
///
/// [`ChildFd::Input`]: super::ChildFd::Input
#[derive(Debug)]
pub struct ChildWriter {
    fd: AsyncFd<OwnedFd>,
    child_fd: RawFd,
    /// The size to grow the pipe to when it first fills up; 0 once done (or never).
    grow_to: usize,
}

impl ChildWriter {
    pub(crate) fn new(child_fd: RawFd, fd: OwnedFd, grow_to: usize) -> io::Result<ChildWriter> {
        Ok(ChildWriter {
            fd: register(fd, Interest::WRITABLE).map_err(|(_, e)| e)?,
            child_fd,
            grow_to,
        })
    }

    /// Grows the pipe the first time it is found full; true if it grew.
    fn grow(&mut self) -> bool {
        let size = std::mem::take(&mut self.grow_to);
        size > 0 && resize_pipe(self.fd.as_raw_fd(), size)
    }

    /// The child fd number this pipe feeds.
    pub fn child_fd(&self) -> RawFd {
        self.child_fd
    }

    /// Closes the pipe and gives back the (non-blocking) fd, unregistered from the runtime.
    pub fn into_owned_fd(self) -> OwnedFd {
        self.fd.into_inner()
    }

    fn poll_write_slices(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let want: usize = bufs.iter().map(|b| b.len()).sum();
        if want == 0 {
            return Poll::Ready(Ok(0));
        }
        // Write first, wait for readiness only after EAGAIN: the event stream also watches
        // this fd's write readiness (to see the child close its end) and clears it, so the
        // readiness flag alone cannot be trusted to mean "there is room".
        loop {
            match sigpipe::write_vectored(self.fd.get_ref().as_fd(), bufs) {
                Ok(n) => {
                    if n < want {
                        // Full: the next write finds room in a bigger pipe.
                        self.grow();
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.grow() {
                        continue;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
            // The pipe is full. Clearing a readiness we already saw and trying again is
            // race-free: an event newer than the one returned here is not cleared.
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            guard.clear_ready();
        }
    }

    /// Ready when the child has no open read end any more (it closed the fd or exited).
    /// Never consumes data; used by the event stream to report the pipe closed.
    pub(crate) fn poll_peer_closed(&self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let mut guard = match self.fd.poll_write_ready(cx) {
                Poll::Ready(Ok(guard)) => guard,
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            };
            let ready = guard.ready();
            if ready.is_write_closed() || ready.is_error() || peer_closed(self.fd.get_ref()) {
                return Poll::Ready(());
            }
            // Merely writable: wait for the next edge (the read end closing produces one).
            guard.clear_ready();
        }
    }
}

/// `poll(2)` with no timeout: whether the pipe's read side is gone (`POLLERR` on a write end).
fn peer_closed(fd: &OwnedFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n == 1 && pfd.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

impl AsyncWrite for ChildWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_slices(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_slices(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered in user space.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The pipe closes when the writer is dropped.
        Poll::Ready(Ok(()))
    }
}

impl AsFd for ChildWriter {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.get_ref().as_fd()
    }
}

impl AsRawFd for ChildWriter {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A pipe from one of the child's fds that the parent reads ([`ChildFd::Output`]).
///
/// Read it as an [`AsyncRead`] (with [`tokio::io::AsyncReadExt`] or a
/// [`BufReader`](tokio::io::BufReader)) or as a stream of chunks with
/// [`chunk`](ChildReader::chunk). Dropping it closes the pipe: the child's later writes to that
/// fd fail with `EPIPE`.
///
/// [`ChildFd::Output`]: super::ChildFd::Output
#[derive(Debug)]
pub struct ChildReader {
    fd: AsyncFd<OwnedFd>,
    child_fd: RawFd,
    /// The size to grow the pipe to when it is first found full; 0 once done (or never).
    grow_to: usize,
}

impl ChildReader {
    pub(crate) fn new(child_fd: RawFd, fd: OwnedFd, grow_to: usize) -> io::Result<ChildReader> {
        Ok(ChildReader {
            fd: register(fd, Interest::READABLE).map_err(|(_, e)| e)?,
            child_fd,
            grow_to,
        })
    }

    /// Grows the pipe after a read of `n` bytes if that read found it nearly full.
    fn grow_if_busy(&mut self, n: usize) {
        if n >= BUSY_READ && self.grow_to > 0 {
            resize_pipe(self.fd.as_raw_fd(), std::mem::take(&mut self.grow_to));
        }
    }

    /// The child fd number this pipe drains.
    pub fn child_fd(&self) -> RawFd {
        self.child_fd
    }

    /// Closes the pipe and gives back the (non-blocking) fd, unregistered from the runtime.
    pub fn into_owned_fd(self) -> OwnedFd {
        self.fd.into_inner()
    }

    /// The next chunk of output: what the pipe holds (up to 1 MiB), or `None` at end of file.
    /// Cancel safe.
    ///
    /// ```
    /// use pidward::process::Command;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), pidward::process::Error> {
    /// let mut child = Command::new("echo").arg("hi").spawn()?;
    /// let mut out = child.take_stdout().expect("stdout is a pipe by default");
    /// let mut all = Vec::new();
    /// while let Some(chunk) = out.chunk().await? {
    ///     all.extend_from_slice(&chunk);
    /// }
    /// assert_eq!(all, b"hi\n");
    /// child.wait().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        std::future::poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// Polls for the next chunk; see [`chunk`](ChildReader::chunk).
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Vec<u8>>>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let raw = self.fd.as_raw_fd();
            let available = bytes_available(raw);
            let want = if available == 0 {
                PROBE_CHUNK
            } else {
                available.min(MAX_CHUNK)
            };
            let mut chunk: Vec<u8> = Vec::with_capacity(want);
            let n = match read_raw(raw, chunk.as_mut_ptr(), want) {
                Ok(0) => return Poll::Ready(Ok(None)),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    guard.clear_ready();
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Err(e)),
            };
            // SAFETY: read(2) initialised the first n bytes.
            unsafe { chunk.set_len(n) };
            if n < want || available <= MAX_CHUNK {
                // We took everything that was there when we looked.
                guard.clear_ready();
            }
            self.grow_if_busy(n);
            return Poll::Ready(Ok(Some(chunk)));
        }
    }
}

impl AsyncRead for ChildReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let want = buf.remaining();
        if want == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            let mut guard = ready!(this.fd.poll_read_ready(cx))?;
            // SAFETY: read(2) writes at most `want` bytes into the unfilled part and we only
            // mark as initialised what it reports.
            let unfilled = unsafe { buf.unfilled_mut() };
            let n = match read_raw(this.fd.as_raw_fd(), unfilled.as_mut_ptr().cast(), want) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    guard.clear_ready();
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Err(e)),
            };
            if n > 0 && n < want {
                guard.clear_ready();
            }
            // SAFETY: the kernel filled n bytes.
            unsafe { buf.assume_init(n) };
            buf.advance(n);
            this.grow_if_busy(n);
            return Poll::Ready(Ok(()));
        }
    }
}

impl AsFd for ChildReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.get_ref().as_fd()
    }
}

impl AsRawFd for ChildReader {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
