//! One-shot helpers: [`Command::output`], [`Command::status`], [`Child::wait_with_output`],
//! and their [`Output`].
//!
//! `wait_with_output` first closes every pipe the parent writes (the child reads end of file
//! on its stdin), then reads stdout and stderr *concurrently*, in one task: each poll drains
//! whichever pipe has data, straight into that stream's buffer, so a child that fills one pipe
//! while the parent is waiting on the other cannot deadlock, and no chunk is copied twice.
//! Once both pipes reached end of file the child is reaped. Other pipes the handle reads
//! (extra fds) are drained and their data dropped, so the child cannot block on them either;
//! take them out first ([`Child::take_reader`]) to keep what they carry.
//!
//! # Limits
//!
//! * Everything is held in memory: output grows its buffers for as long as the child writes
//!   (amortised doubling, as `Vec::push`; a 1 GiB output takes 1 to 2 GiB while it grows). For
//!   unbounded output read the pipes as they come ([`Child::take_stdout`], the event stream).
//! * The helpers return when both pipes reached end of file *and* the child was reaped, so a
//!   grandchild that inherited stdout or stderr and keeps it open keeps them waiting, as with
//!   tokio and std.
//! * Dropping the future (a timeout) drops the handle: the child is killed if
//!   [`kill_on_drop`](Command::kill_on_drop) was set, and reaped in the background either way.

use std::os::fd::RawFd;
use std::task::{Context, Poll};

use super::child::{Child, Pipe};
use super::command::Command;
use super::error::Error;
use super::exit::ExitReason;
use super::fdmap::Stdio;
use super::io::ChildReader;

/// What a finished child left: how it ended and everything it wrote to stdout and stderr.
///
/// The fields are named as in `std::process::Output` (into which it converts), so
/// `output.status.success()` and `output.status.code()` read the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// How the child ended.
    pub status: ExitReason,
    /// Everything the child wrote to stdout (empty if stdout was not a pipe of the handle).
    pub stdout: Vec<u8>,
    /// Everything the child wrote to stderr (empty if stderr was not a pipe of the handle).
    pub stderr: Vec<u8>,
}

impl From<Output> for std::process::Output {
    fn from(output: Output) -> std::process::Output {
        std::process::Output {
            status: output.status.into(),
            stdout: output.stdout,
            stderr: output.stderr,
        }
    }
}

impl Command {
    /// Runs the command to its end and collects its output: stdout and stderr are pipes read
    /// concurrently, stdin is `/dev/null`, unless mapped otherwise ([`Command::fd`]); see the
    /// limits in [`Child::wait_with_output`].
    ///
    /// ```
    /// use pidward::process::Command;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), pidward::process::Error> {
    /// let out = Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]).output().await?;
    /// assert_eq!((out.stdout, out.stderr), (b"out\n".to_vec(), b"err\n".to_vec()));
    /// assert_eq!(out.status.code(), Some(3));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn output(&mut self) -> Result<Output, Error> {
        let child = self.spawn_with([Stdio::Null, Stdio::Pipe, Stdio::Pipe])?;
        child.wait_with_output().await
    }

    /// Runs the command to its end and returns how it ended. The standard fds are inherited
    /// unless mapped otherwise; pipes that were mapped are closed at once (as tokio does), so
    /// a child that reads one sees end of file and one that writes one gets `EPIPE`.
    ///
    /// ```
    /// use pidward::process::Command;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), pidward::process::Error> {
    /// let status = Command::new("sh").args(["-c", "exit 3"]).status().await?;
    /// assert_eq!(status.code(), Some(3));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn status(&mut self) -> Result<ExitReason, Error> {
        let mut child = self.spawn()?;
        child.close_all();
        child.wait().await
    }
}

impl Child {
    /// Closes stdin (and every other pipe the parent writes), collects stdout and stderr
    /// concurrently until both reach end of file, and reaps the child.
    ///
    /// No deadlock on full pipes: whichever pipe has data is drained, so a child that writes
    /// megabytes to both streams at once finishes. Pipes taken out of the handle are not read
    /// (their field in [`Output`] is empty); other pipes the handle reads are drained and
    /// their data dropped. Everything is held in memory; see the limits in the `output`
    /// module's documentation, summed up in [`Command::output`].
    ///
    /// ```
    /// use pidward::process::Command;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), pidward::process::Error> {
    /// // 4 MiB on each stream at once: more than both pipes hold.
    /// let child = Command::new("sh")
    ///     .args(["-c", "head -c 4194304 /dev/zero & head -c 4194304 /dev/zero >&2; wait"])
    ///     .stdio_pipes()
    ///     .spawn()?;
    /// let out = child.wait_with_output().await?;
    /// assert_eq!((out.stdout.len(), out.stderr.len()), (4 << 20, 4 << 20));
    /// assert!(out.status.success());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn wait_with_output(mut self) -> Result<Output, Error> {
        let writers: Vec<RawFd> = (self.pipes.iter())
            .filter(|(_, p)| matches!(p, Pipe::Writer(_)))
            .map(|(&fd, _)| fd)
            .collect();
        for fd in writers {
            self.close_fd(fd);
        }
        let mut streams: Vec<Collect> = Vec::new();
        for fd in self.pipes.keys().copied().collect::<Vec<_>>() {
            if let Ok(reader) = self.take_reader(fd) {
                streams.push(Collect {
                    fd,
                    reader: Some(reader),
                    data: Vec::new(),
                });
            }
        }
        std::future::poll_fn(|cx| drain(cx, &mut streams)).await?;
        let status = self.wait().await?;
        let mut output = Output {
            status,
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        for collect in streams {
            match collect.fd {
                1 => output.stdout = collect.data,
                2 => output.stderr = collect.data,
                _ => {}
            }
        }
        Ok(output)
    }
}

/// One pipe being read to its end.
struct Collect {
    fd: RawFd,
    /// `None` once at end of file (the pipe is closed then).
    reader: Option<ChildReader>,
    data: Vec<u8>,
}

/// Reads every pipe until all reached end of file; the data of fds other than stdout and
/// stderr is dropped as it comes.
fn drain(cx: &mut Context<'_>, streams: &mut [Collect]) -> Poll<Result<(), Error>> {
    let mut open = false;
    for collect in streams.iter_mut() {
        let Some(reader) = collect.reader.as_mut() else {
            continue;
        };
        match reader.poll_read_to_end(cx, &mut collect.data) {
            Poll::Ready(Ok(())) => collect.reader = None,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
            Poll::Pending => open = true,
        }
        if collect.fd > 2 {
            collect.data.clear();
        }
    }
    if open {
        Poll::Pending
    } else {
        Poll::Ready(Ok(()))
    }
}
