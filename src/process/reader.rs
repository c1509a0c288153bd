//! [`ChildReader`]: a pipe the child writes and the parent reads ([`ChildFd::Output`]).
//!
//! Three ways to read it: as an [`AsyncRead`] (tokio's `read`, `BufReader`, `copy`, codecs), as
//! a [`Stream`] of chunks (each what the pipe held, sized with `FIONREAD` so that a small
//! message does not carry a 1 MiB allocation), or all of it into one buffer (`read_to_end`,
//! what [`output`](super::Command::output) uses: reads go straight into the buffer's spare
//! room, no chunk is copied twice).
//!
//! `read_to_end` reads a grown pipe a quarter at a time. The kernel wakes a writer blocked on
//! a full pipe only when a `read(2)` returns, and the child's write wakes the parent only
//! when it returns or finds the pipe full; a read that empties a full 1 MiB pipe in one go
//! therefore makes the two take turns, each waiting, once per MiB, for the scheduler to run
//! the other (a wait that dominates on a loaded machine: 0.76x tokio's `output()`, whose
//! 64 KiB pipes take turns often but briefly). Read in quarters, the child is woken while
//! three quarters are still in the pipe, so its wake-up overlaps the parent's next reads and
//! the parent rarely finds the pipe empty.
//!
//! [`ChildFd::Output`]: super::ChildFd::Output

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::Stream;
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, Interest, ReadBuf};

use super::io::{register, resize_pipe};

/// The largest chunk [`ChildReader::chunk`] returns: the default pipe size.
const MAX_CHUNK: usize = 1 << 20;
/// What a chunk read asks for when `FIONREAD` says the pipe is empty (EOF or a race).
const PROBE_CHUNK: usize = 16 * 1024;
/// The kernel's default pipe size.
const PIPE_DEFAULT: usize = 64 * 1024;
/// A read at least this large found a default-sized (64 KiB) pipe nearly full.
const BUSY_READ: usize = 60 * 1024;
/// `read_to_end` reads a grown pipe in pieces of this fraction of its size (a default-sized
/// one whole: pieces are at least twice its size, so a read that empties it is a short one).
const READ_FRACTION: usize = 4;

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

/// A pipe from one of the child's fds that the parent reads ([`ChildFd::Output`]).
///
/// Read it as an [`AsyncRead`] (with [`tokio::io::AsyncReadExt`], a
/// [`BufReader`](tokio::io::BufReader), `tokio::io::copy`), or as a [`Stream`] of chunks
/// (`futures`' `StreamExt`, or [`chunk`](ChildReader::chunk) without it). Dropping it closes
/// the pipe: the child's later writes to that fd fail with `EPIPE`.
///
/// ```
/// use pidward::process::{ChildFd, Command};
/// use tokio::io::{AsyncBufReadExt, BufReader};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), pidward::process::Error> {
/// let mut child = Command::new("printf").arg("one\ntwo\n").stdout(ChildFd::Output).spawn()?;
/// let mut lines = BufReader::new(child.take_stdout().unwrap()).lines();
/// assert_eq!(lines.next_line().await?.as_deref(), Some("one"));
/// assert_eq!(lines.next_line().await?.as_deref(), Some("two"));
/// assert_eq!(lines.next_line().await?, None);
/// child.wait().await?;
/// # Ok(())
/// # }
/// ```
///
/// [`ChildFd::Output`]: super::ChildFd::Output
#[derive(Debug)]
pub struct ChildReader {
    fd: AsyncFd<OwnedFd>,
    child_fd: RawFd,
    /// The size to grow the pipe to when it is first found full; 0 once done (or never).
    grow_to: usize,
    /// The pipe's size, as far as we set it.
    pipe_size: usize,
}

impl ChildReader {
    pub(crate) fn new(child_fd: RawFd, fd: OwnedFd, grow_to: usize) -> io::Result<ChildReader> {
        Ok(ChildReader {
            fd: register(fd, Interest::READABLE).map_err(|(_, e)| e)?,
            child_fd,
            grow_to,
            pipe_size: PIPE_DEFAULT,
        })
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
    /// Cancel safe. The same as the [`Stream`] implementation's next item.
    ///
    /// ```
    /// use pidward::process::{ChildFd, Command};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), pidward::process::Error> {
    /// let mut child = Command::new("echo").arg("hi").stdout(ChildFd::Output).spawn()?;
    /// let mut out = child.take_stdout().unwrap();
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

    /// One `read(2)` of up to `len` bytes into `buf` once the pipe is readable; `Ok(0)` at end
    /// of file. `drained` says whether the read left the pipe empty as far as the caller
    /// knows (then readiness is cleared, see `io`).
    fn poll_read_raw(
        &mut self,
        cx: &mut Context<'_>,
        buf: *mut u8,
        len: usize,
        drained: impl Fn(usize) -> bool,
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            match read_raw(self.fd.as_raw_fd(), buf, len) {
                Ok(n) => {
                    if n > 0 && drained(n) {
                        guard.clear_ready();
                    }
                    // Grows the pipe if this read found it nearly full.
                    if n >= BUSY_READ && self.grow_to > 0 {
                        let grow_to = std::mem::take(&mut self.grow_to);
                        if let Some(size) = resize_pipe(self.fd.as_raw_fd(), grow_to) {
                            self.pipe_size = size;
                        }
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Polls for the next chunk; see [`chunk`](ChildReader::chunk).
    pub(crate) fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Vec<u8>>>> {
        // Size the chunk by what is in the pipe, asked once the pipe is readable.
        let available = match self.fd.poll_read_ready(cx) {
            Poll::Ready(Ok(_)) => bytes_available(self.fd.as_raw_fd()),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        let want = if available == 0 {
            PROBE_CHUNK
        } else {
            available.min(MAX_CHUNK)
        };
        let mut chunk: Vec<u8> = Vec::with_capacity(want);
        // We took everything that was there when we looked, unless it was more than a chunk.
        let drained = |n: usize| n < want || available <= MAX_CHUNK;
        let n = ready!(self.poll_read_raw(cx, chunk.as_mut_ptr(), want, drained))?;
        if n == 0 {
            return Poll::Ready(Ok(None));
        }
        // SAFETY: read(2) initialised the first n bytes.
        unsafe { chunk.set_len(n) };
        Poll::Ready(Ok(Some(chunk)))
    }

    /// Reads into `out` until end of file, growing it as needed; `Ready` at end of file. Each
    /// read goes straight into `out`'s spare room, a quarter of a grown pipe at most (see the
    /// module header). Cancel safe: what was read is in `out`.
    pub(crate) fn poll_read_to_end(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<u8>,
    ) -> Poll<io::Result<()>> {
        loop {
            // Room for a default-sized pipe at first, then for a grown one, doubling with the
            // output (amortised like `Vec::push`). A read that fills the room is followed by
            // another one at once.
            let room = MAX_CHUNK.min(out.len().max(PIPE_DEFAULT));
            if out.capacity() - out.len() < room {
                out.reserve(room.max(out.len()));
            }
            let piece = (self.pipe_size / READ_FRACTION).max(2 * PIPE_DEFAULT);
            let spare = out.spare_capacity_mut();
            let len = spare.len().min(piece);
            let n = ready!(self.poll_read_raw(cx, spare.as_mut_ptr().cast(), len, |n| n < len))?;
            if n == 0 {
                return Poll::Ready(Ok(()));
            }
            // SAFETY: read(2) initialised the n bytes after the old length.
            unsafe { out.set_len(out.len() + n) };
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
        // SAFETY: read(2) writes at most `want` bytes into the unfilled part and we only mark
        // as initialised what it reports.
        let unfilled = unsafe { buf.unfilled_mut() };
        let n = ready!(this.poll_read_raw(cx, unfilled.as_mut_ptr().cast(), want, |n| n < want))?;
        // SAFETY: the kernel filled n bytes.
        unsafe { buf.assume_init(n) };
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl Stream for ChildReader {
    /// A chunk of what the child wrote (at most 1 MiB), or the error that ends the stream.
    type Item = io::Result<Vec<u8>>;

    /// The next chunk; `None` at end of file. See [`chunk`](ChildReader::chunk).
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_chunk(cx).map(Result::transpose)
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
