//! The merged event stream: [`Event`], [`Child::next_event`], and `Child` as a [`Stream`].
//!
//! Twisted delivers a child's life as callbacks: `childDataReceived(fd, data)`,
//! `childConnectionLost(fd)`, `processExited(reason)`, `processEnded(reason)`. Here they are one
//! stream of [`Event`]s, pulled by the caller, which is also what makes flow control work: a
//! chunk is only read from a pipe when the caller asks for the next event, and never from a
//! paused fd. The handle is a [`Stream`] of `Result<Event, Error>` (so `StreamExt` combinators
//! apply to `&mut child`); [`Child::next_event`] is the same without a `futures` import.
//!
//! Ordering rules:
//! * `Exited` comes once, as soon as the child is reaped; pipes may still be open (a grandchild
//!   can hold them), so `Data` and `Closed` can follow it.
//! * `Closed { fd }` comes once per pipe the handle holds: end of file on a pipe the parent
//!   reads, the child's read end gone on a pipe the parent writes (it closed the fd or exited),
//!   or the parent closing its end.
//! * `Ended` comes once, last, after `Exited` *and* after every pipe still held by the handle
//!   has closed. Pipes taken out of the handle are the taker's business and are not waited for.
//!   After `Ended` the stream yields `None`.
//!
//! Readers are polled round robin, so one busy fd cannot starve another.

use std::os::fd::RawFd;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::child::{Child, Pipe};
use super::error::Error;
use super::exit::ExitReason;

/// One thing that happened to a child process; see [`Child::next_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The child wrote `data` to child fd `fd` (Twisted's `childDataReceived`).
    Data {
        /// The child fd number.
        fd: RawFd,
        /// What the pipe held, at most 1 MiB.
        data: Vec<u8>,
    },
    /// The pipe for child fd `fd` closed (Twisted's `childConnectionLost`).
    Closed {
        /// The child fd number.
        fd: RawFd,
    },
    /// The child terminated and was reaped (Twisted's `processExited`).
    Exited(ExitReason),
    /// The child was reaped and all its pipes are closed: nothing more will happen
    /// (Twisted's `processEnded`).
    Ended(ExitReason),
}

impl Child {
    /// The next event, or `None` after [`Event::Ended`]; the [`Stream`] implementation's next
    /// item, without needing `StreamExt`.
    ///
    /// Cancel safe: an event is read and returned in the same poll, so using this in
    /// `tokio::select!` loses nothing.
    ///
    /// ```
    /// use pidward::process::{Command, Event, ExitReason};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), pidward::process::Error> {
    /// let mut child = Command::new("sh")
    ///     .args(["-c", "echo out; echo err >&2; exit 7"])
    ///     .stdio_pipes()
    ///     .spawn()?;
    /// child.close_stdin();
    /// let (mut out, mut err, mut exited) = (Vec::new(), Vec::new(), None);
    /// while let Some(event) = child.next_event().await? {
    ///     match event {
    ///         Event::Data { fd: 1, data } => out.extend(data),
    ///         Event::Data { fd: 2, data } => err.extend(data),
    ///         Event::Exited(reason) => exited = Some(reason),
    ///         Event::Ended(reason) => {
    ///             assert_eq!(exited, Some(reason)); // Exited always comes first
    ///             assert_eq!(reason, ExitReason::Exited(7));
    ///         }
    ///         _ => {}
    ///     }
    /// }
    /// assert_eq!((&out[..], &err[..]), (&b"out\n"[..], &b"err\n"[..]));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn next_event(&mut self) -> Result<Option<Event>, Error> {
        std::future::poll_fn(|cx| self.poll_next_event(cx)).await
    }

    /// Polls for the next event; see [`next_event`](Child::next_event).
    pub(crate) fn poll_next_event(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Event>, Error>> {
        if let Some(event) = self.pending.pop_front() {
            return Poll::Ready(Ok(Some(event)));
        }
        if self.ended_reported {
            return Poll::Ready(Ok(None));
        }
        if !self.exited_reported {
            match self.poll_wait(cx) {
                Poll::Ready(Ok(reason)) => {
                    self.exited_reported = true;
                    return Poll::Ready(Ok(Some(Event::Exited(reason))));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
        }

        // Readers, round robin starting at the cursor.
        let readers: Vec<RawFd> = self
            .pipes
            .iter()
            .filter(|(fd, p)| matches!(p, Pipe::Reader(_)) && !self.paused.contains(fd))
            .map(|(&fd, _)| fd)
            .collect();
        let start = readers.partition_point(|&fd| fd < self.cursor);
        for &fd in readers[start..].iter().chain(&readers[..start]) {
            let Some(Pipe::Reader(reader)) = self.pipes.get_mut(&fd) else {
                continue;
            };
            match reader.poll_chunk(cx) {
                Poll::Ready(Ok(Some(data))) => {
                    self.cursor = fd + 1;
                    return Poll::Ready(Ok(Some(Event::Data { fd, data })));
                }
                Poll::Ready(result) => {
                    if let Err(e) = result {
                        tracing::debug!(fd, error = %e, "reading a child pipe failed; closing it");
                    }
                    self.pipes.remove(&fd);
                    return Poll::Ready(Ok(Some(Event::Closed { fd })));
                }
                Poll::Pending => {}
            }
        }

        // Writers: report when the child's read end is gone.
        let writers: Vec<RawFd> = self
            .pipes
            .iter()
            .filter(|(_, p)| matches!(p, Pipe::Writer(_)))
            .map(|(&fd, _)| fd)
            .collect();
        for fd in writers {
            if let Some(Pipe::Writer(writer)) = self.pipes.get(&fd)
                && writer.poll_peer_closed(cx).is_ready()
            {
                self.pipes.remove(&fd);
                return Poll::Ready(Ok(Some(Event::Closed { fd })));
            }
        }

        if self.exited_reported
            && self.pipes.is_empty()
            && let Some(reason) = self.reason
        {
            self.ended_reported = true;
            return Poll::Ready(Ok(Some(Event::Ended(reason))));
        }
        Poll::Pending
    }
}

impl Stream for Child {
    /// An event, or the error that ends the stream (the child could not be reaped).
    type Item = Result<Event, Error>;

    /// The next event; `None` after [`Event::Ended`]. See [`Child::next_event`].
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use pidward::process::{ChildFd, Command, Event};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), pidward::process::Error> {
    /// let mut child = Command::new("sh")
    ///     .args(["-c", "echo one; echo two"])
    ///     .stdout(ChildFd::Output)
    ///     .spawn()?;
    /// let data: Vec<u8> = (&mut child)
    ///     .filter_map(|event| async move {
    ///         match event {
    ///             Ok(Event::Data { data, .. }) => Some(data),
    ///             _ => None,
    ///         }
    ///     })
    ///     .concat()
    ///     .await;
    /// assert_eq!(data, b"one\ntwo\n");
    /// assert!(child.try_wait()?.unwrap().success()); // the stream ran to Ended
    /// # Ok(())
    /// # }
    /// ```
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_event(cx).map(Result::transpose)
    }
}
