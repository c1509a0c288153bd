//! [`ChildWriter`]: a pipe the parent writes and the child reads ([`ChildFd::Input`]).
//!
//! Writes go straight to `writev(2)` and wait for readiness only after `EAGAIN` (see `io`);
//! a full pipe grows once to the command's pipe size. A closed read end is `BrokenPipe`,
//! never `SIGPIPE` (`sigpipe`).
//!
//! [`ChildFd::Input`]: super::ChildFd::Input

use std::io;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncWrite, Interest};

use super::io::{register, resize_pipe};
use super::sigpipe;

/// A pipe to one of the child's fds that the parent writes ([`ChildFd::Input`]).
///
/// An [`AsyncWrite`]: use it with [`tokio::io::AsyncWriteExt`] (`write`, `write_all`,
/// `write_vectored`, `write_all_buf`), `tokio::io::copy` or a codec's sink. Dropping it closes
/// the pipe: the child sees end of file (`shutdown` does not close it; nothing is buffered).
///
/// ```
/// use pidward::process::{ChildFd, Command};
/// use tokio::io::AsyncWriteExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), pidward::process::Error> {
/// let mut child = Command::new("wc").arg("-c").stdin(ChildFd::Input).stdout(ChildFd::Output).spawn()?;
/// let mut stdin = child.take_stdin().unwrap();
/// let parts: [&[u8]; 3] = [b"one ", b"two ", b"three"];
/// for part in parts {
///     stdin.write_all(part).await?;
/// }
/// drop(stdin); // end of file
/// let out = child.wait_with_output().await?;
/// assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "13");
/// # Ok(())
/// # }
/// ```
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
        size > 0 && resize_pipe(self.fd.as_raw_fd(), size).is_some()
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
