//! Taking pipes out of a [`Child`] and closing them.

use std::os::fd::RawFd;

use super::child::{Child, Pipe};
use super::events::Event;
use super::io::{ChildReader, ChildWriter};

impl Child {
    // ----- taking pipes out -----

    /// Takes the writer of child fd `fd` out of the handle, to write from elsewhere.
    pub fn take_writer(&mut self, fd: RawFd) -> Option<ChildWriter> {
        match self.pipes.remove(&fd) {
            Some(Pipe::Writer(w)) => Some(w),
            Some(other) => {
                self.pipes.insert(fd, other);
                None
            }
            None => None,
        }
    }

    /// Takes the reader of child fd `fd` out of the handle, to read from elsewhere.
    pub fn take_reader(&mut self, fd: RawFd) -> Option<ChildReader> {
        match self.pipes.remove(&fd) {
            Some(Pipe::Reader(r)) => {
                self.paused.remove(&fd);
                Some(r)
            }
            Some(other) => {
                self.pipes.insert(fd, other);
                None
            }
            None => None,
        }
    }

    /// `take_writer(0)`.
    pub fn take_stdin(&mut self) -> Option<ChildWriter> {
        self.take_writer(0)
    }

    /// `take_reader(1)`.
    pub fn take_stdout(&mut self) -> Option<ChildReader> {
        self.take_reader(1)
    }

    /// `take_reader(2)`.
    pub fn take_stderr(&mut self) -> Option<ChildReader> {
        self.take_reader(2)
    }

    // ----- closing -----

    /// Closes the parent's end of child fd `fd` (Twisted's `closeChildFD`): for a pipe the
    /// parent writes the child reads EOF; for one it reads, the child's writes fail with
    /// `EPIPE`. The event stream reports [`Event::Closed`]. Unknown fds are ignored.
    pub fn close_fd(&mut self, fd: RawFd) {
        if self.pipes.remove(&fd).is_some() {
            self.paused.remove(&fd);
            self.pending.push_back(Event::Closed { fd });
        }
    }

    /// `close_fd(0)`: the child reads EOF on stdin.
    pub fn close_stdin(&mut self) {
        self.close_fd(0);
    }

    /// `close_fd(1)`.
    pub fn close_stdout(&mut self) {
        self.close_fd(1);
    }

    /// `close_fd(2)`.
    pub fn close_stderr(&mut self) {
        self.close_fd(2);
    }

    /// Closes every pipe the handle holds (Twisted's `loseConnection`).
    pub fn close_all(&mut self) {
        let fds: Vec<RawFd> = self.pipes.keys().copied().collect();
        for fd in fds {
            self.close_fd(fd);
        }
    }
}
