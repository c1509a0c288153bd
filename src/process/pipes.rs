//! Taking pipes out of a [`Child`] and closing them.
//!
//! A pipe taken out is the taker's: the handle's event stream and
//! [`wait_with_output`](Child::wait_with_output) no longer see it, and it closes when the
//! taker drops it. The `take_std*` shorthands return an `Option`, as tokio's
//! `child.stdout.take()` does; [`take_reader`](Child::take_reader) and
//! [`take_writer`](Child::take_writer) say why with [`Error::NotReadable`] and
//! [`Error::NotWritable`].

use std::os::fd::RawFd;

use super::child::{Child, Pipe};
use super::error::Error;
use super::events::Event;
use super::io::{ChildReader, ChildWriter};

impl Child {
    // ----- taking pipes out -----

    /// Takes the writer of child fd `fd` out of the handle, to write from elsewhere;
    /// [`Error::NotWritable`] if the handle holds no pipe it writes at `fd`.
    pub fn take_writer(&mut self, fd: RawFd) -> Result<ChildWriter, Error> {
        match self.pipes.remove(&fd) {
            Some(Pipe::Writer(w)) => Ok(w),
            Some(other) => {
                self.pipes.insert(fd, other);
                Err(Error::NotWritable { fd })
            }
            None => Err(Error::NotWritable { fd }),
        }
    }

    /// Takes the reader of child fd `fd` out of the handle, to read from elsewhere;
    /// [`Error::NotReadable`] if the handle holds no pipe it reads at `fd`.
    pub fn take_reader(&mut self, fd: RawFd) -> Result<ChildReader, Error> {
        match self.pipes.remove(&fd) {
            Some(Pipe::Reader(r)) => {
                self.paused.remove(&fd);
                Ok(r)
            }
            Some(other) => {
                self.pipes.insert(fd, other);
                Err(Error::NotReadable { fd })
            }
            None => Err(Error::NotReadable { fd }),
        }
    }

    /// The stdin pipe, if stdin is one and it was not taken or closed (tokio's
    /// `child.stdin.take()`).
    pub fn take_stdin(&mut self) -> Option<ChildWriter> {
        self.take_writer(0).ok()
    }

    /// The stdout pipe, if stdout is one and it was not taken or closed (tokio's
    /// `child.stdout.take()`).
    pub fn take_stdout(&mut self) -> Option<ChildReader> {
        self.take_reader(1).ok()
    }

    /// The stderr pipe, if stderr is one and it was not taken or closed (tokio's
    /// `child.stderr.take()`).
    pub fn take_stderr(&mut self) -> Option<ChildReader> {
        self.take_reader(2).ok()
    }

    // ----- closing -----

    /// Closes the parent's end of child fd `fd`: for a pipe the parent writes the child reads
    /// end of file; for one it reads, the child's writes fail with `EPIPE`. The event stream
    /// reports [`Event::Closed`]. Fds the handle holds no pipe for are ignored.
    #[doc(alias = "closeChildFD", alias = "closeStdout", alias = "closeStderr")]
    pub fn close_fd(&mut self, fd: RawFd) {
        if self.pipes.remove(&fd).is_some() {
            self.paused.remove(&fd);
            self.pending.push_back(Event::Closed { fd });
        }
    }

    /// `close_fd(0)`: the child reads end of file on stdin.
    #[doc(alias = "closeStdin")]
    pub fn close_stdin(&mut self) {
        self.close_fd(0);
    }

    /// Closes every pipe the handle holds.
    #[doc(alias = "loseConnection")]
    pub fn close_all(&mut self) {
        let fds: Vec<RawFd> = self.pipes.keys().copied().collect();
        for fd in fds {
            self.close_fd(fd);
        }
    }
}
