//! The child's file descriptor map: [`ChildFd`], and turning a map into pipes and moves.
//!
//! Twisted's `childFDs` in Rust: every child fd number the caller names gets one source (a new
//! pipe, an fd of the parent, `/dev/null`, a file), and every other fd is closed in the child.
//! A standard fd (0, 1, 2) that the caller did not name gets the default of the call that
//! starts the child ([`Stdio`]): inherited for `spawn` and `status`, as with std and tokio;
//! `/dev/null` on stdin and pipes on stdout and stderr for `output`. Before the child is
//! created the parent
//!
//! 1. creates the pipes (`pipe2(O_CLOEXEC)`, at the kernel's default size; the parent's end
//!    grows a pipe once it proves busy, see `io`) and makes its own ends non-blocking;
//! 2. checks that every inherited parent fd is open, so that a typo is an error naming the fd;
//! 3. lists the `(target, source)` moves, which the child set-up ([`crate::child`]) lays out
//!    so that overlapping sources and targets never clobber each other.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::error::Error;
use crate::child::{self, Step};

/// What a child fd number is connected to.
///
/// Every fd above 2 that is not in the map is closed in the child. Standard fds not in the map
/// are inherited by [`spawn`](super::Command::spawn) and [`status`](super::Command::status)
/// (as `std::process::Stdio::inherit()`), and set up for collecting by
/// [`output`](super::Command::output); [`stdio_pipes`](super::Command::stdio_pipes) maps all
/// three to pipes (Twisted's layout).
///
/// | `std`/tokio `Stdio` | `ChildFd` |
/// |---|---|
/// | `piped()` on stdin | [`Input`](ChildFd::Input) (the parent writes) |
/// | `piped()` on stdout, stderr | [`Output`](ChildFd::Output) (the parent reads) |
/// | `inherit()` | [`Inherit(n)`](ChildFd::Inherit), any parent fd |
/// | `null()` | [`Null`](ChildFd::Null) |
/// | `From<File>`, `From<OwnedFd>` | [`File`](ChildFd::File) (`From` too) |
///
/// ```
/// use pidward::process::{ChildFd, Command};
///
/// let mut cmd = Command::new("sh");
/// cmd.arg("-c").arg("echo to-three >&3")
///     .stdout(ChildFd::Null)   // discard stdout; stdin and stderr stay inherited
///     .fd(3, ChildFd::Output); // a fourth pipe the parent reads
/// ```
#[derive(Debug)]
pub enum ChildFd {
    /// A pipe that the parent writes and the child reads (Twisted's `"w"`).
    Input,
    /// A pipe that the child writes and the parent reads (Twisted's `"r"`).
    Output,
    /// The parent's open file descriptor with this number, shared with the child.
    Inherit(RawFd),
    /// `/dev/null`, open for reading and writing.
    Null,
    /// An open file (or any fd converted into a `File`), shared with the child.
    File(File),
    /// Nothing: the fd is closed in the child (use it to remove a default).
    Closed,
}

impl From<File> for ChildFd {
    fn from(file: File) -> ChildFd {
        ChildFd::File(file)
    }
}

impl From<OwnedFd> for ChildFd {
    fn from(fd: OwnedFd) -> ChildFd {
        ChildFd::File(File::from(fd))
    }
}

/// What a standard fd the command did not map becomes, for one way of starting the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stdio {
    /// The parent's fd of the same number, if it is open (else closed in the child).
    Inherit,
    /// `/dev/null`.
    Null,
    /// A pipe: the parent writes fd 0 and reads the others.
    Pipe,
}

/// Which way a pipe runs, seen from the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// The parent writes.
    Write,
    /// The parent reads.
    Read,
}

/// Everything the parent prepared for one spawn's fd map.
pub(crate) struct FdPlan {
    /// `(child fd, source fd)`, in child fd order; sources stay open until the child exec'd.
    pub moves: Vec<(RawFd, RawFd)>,
    /// The child's ends of the pipes and `/dev/null`: kept open until the child has exec'd.
    pub child_ends: Vec<OwnedFd>,
    /// The parent's ends of the pipes, by child fd.
    pub parent_ends: Vec<(RawFd, Direction, OwnedFd)>,
}

/// `pipe2(2)` with `O_CLOEXEC`, returning `(read end, write end)`.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two new fds that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `fcntl(F_GETFD)`: whether `fd` is open in this process.
fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor flags; EBADF means closed.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1
}

impl FdPlan {
    /// Creates the pipes and the move list for `map`, with `defaults` for the standard fds
    /// that `map` does not name.
    pub(crate) fn new(
        map: &BTreeMap<RawFd, ChildFd>,
        defaults: [Stdio; 3],
    ) -> Result<FdPlan, Error> {
        let mut unmapped = Vec::new();
        for (fd, default) in (0..3).zip(defaults) {
            if map.contains_key(&fd) {
                continue;
            }
            match default {
                Stdio::Inherit if is_open(fd) => unmapped.push((fd, ChildFd::Inherit(fd))),
                Stdio::Inherit => {}
                Stdio::Null => unmapped.push((fd, ChildFd::Null)),
                Stdio::Pipe if fd == 0 => unmapped.push((fd, ChildFd::Input)),
                Stdio::Pipe => unmapped.push((fd, ChildFd::Output)),
            }
        }
        let entries = map
            .iter()
            .chain(unmapped.iter().map(|(fd, spec)| (fd, spec)));
        FdPlan::lay_out(entries, map.len() + unmapped.len())
    }

    fn lay_out<'a>(
        entries: impl Iterator<Item = (&'a RawFd, &'a ChildFd)>,
        count: usize,
    ) -> Result<FdPlan, Error> {
        let pipes_err = |detail: &str, e: io::Error| Error::Spawn {
            program: String::new(),
            step: Step::Pipes,
            source: child::Error::from_io(Step::Pipes, &e, detail),
        };
        let mut moves = Vec::with_capacity(count);
        let mut child_ends = Vec::new();
        let mut parent_ends = Vec::new();
        let mut null: Option<RawFd> = None;
        for (&target, spec) in entries {
            if target < 0 {
                return Err(Error::InvalidCommand(format!(
                    "child fd {target} is negative"
                )));
            }
            let source = match spec {
                ChildFd::Closed => continue,
                ChildFd::Input | ChildFd::Output => {
                    let (read, write) = pipe().map_err(|e| pipes_err("creating a pipe", e))?;
                    let (ours, theirs, dir) = match spec {
                        ChildFd::Input => (write, read, Direction::Write),
                        _ => (read, write, Direction::Read),
                    };
                    crate::sys::set_nonblocking(ours.as_fd(), true)
                        .map_err(|e| pipes_err("making a pipe non-blocking", e))?;
                    let source = theirs.as_raw_fd();
                    child_ends.push(theirs);
                    parent_ends.push((target, dir, ours));
                    source
                }
                ChildFd::Inherit(fd) => {
                    if !is_open(*fd) {
                        return Err(Error::InvalidCommand(format!(
                            "parent fd {fd} (for child fd {target}) is not open"
                        )));
                    }
                    *fd
                }
                ChildFd::Null => match null {
                    Some(fd) => fd,
                    None => {
                        let file = File::options()
                            .read(true)
                            .write(true)
                            .open("/dev/null")
                            .map_err(|e| pipes_err("opening /dev/null", e))?;
                        let fd = OwnedFd::from(file);
                        let raw = fd.as_raw_fd();
                        child_ends.push(fd);
                        null = Some(raw);
                        raw
                    }
                },
                ChildFd::File(file) => file.as_raw_fd(),
            };
            moves.push((target, source));
        }
        Ok(FdPlan {
            moves,
            child_ends,
            parent_ends,
        })
    }
}
