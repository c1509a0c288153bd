//! The command's standard error kept during the start (the last few KiB): for a detached
//! start with nowhere else to write it, so that a failed start can say what the command said.
//!
//! The command's descriptor 2 is the write end of a pipe (`pipe2(2)`, `O_CLOEXEC`); the
//! supervisor holds the read end, non-blocking, in every `poll(2)` of its loop, and drains it
//! whenever it is readable, keeping only the last [`Capture::max`] bytes. It keeps draining
//! after readiness (a full pipe would block the command), so what the command writes later
//! goes nowhere, as `/dev/null` would have it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// The read end of the command's stderr pipe and the tail read so far.
#[derive(Debug)]
pub(crate) struct Capture {
    read: OwnedFd,
    tail: RefCell<VecDeque<u8>>,
    max: usize,
}

impl Capture {
    /// A pipe: the capture, and the write end for the command's descriptor 2.
    pub(crate) fn new(max: usize) -> io::Result<(Capture, OwnedFd)> {
        let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        crate::sys::set_nonblocking(read.as_fd(), true)?;
        Ok((
            Capture {
                read,
                tail: RefCell::new(VecDeque::with_capacity(max)),
                max,
            },
            write,
        ))
    }

    /// Reads what is waiting (`read(2)`, bounded so that a flood cannot hold the loop).
    pub(crate) fn drain(&self) {
        let mut buf = [0u8; 4096];
        let mut tail = self.tail.borrow_mut();
        for _ in 0..16 {
            match rustix::io::read(&self.read, &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    tail.extend(&buf[..n]);
                    let over = tail.len().saturating_sub(self.max);
                    tail.drain(..over);
                }
            }
        }
    }

    /// The tail read so far, as text (lossily; a line cut at the front is dropped).
    pub(crate) fn text(&self) -> String {
        self.drain();
        let tail = self.tail.borrow();
        let bytes: Vec<u8> = tail.iter().copied().collect();
        let start = if tail.len() >= self.max {
            bytes.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1)
        } else {
            0
        };
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }
}

impl AsFd for Capture {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}
