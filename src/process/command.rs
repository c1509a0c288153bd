//! [`Command`]: the builder that describes a child process.
//!
//! A `Command` is plain data: program, arguments, environment, working directory,
//! credentials, process group or session, umask, resource limits, the fd map, and what the
//! handle does when dropped. Nothing is checked or allocated for the child until
//! [`Command::spawn`], which validates everything (NUL bytes, open fds, PATH lookup) before
//! creating the process, so that bad input is an error that changes nothing. A `Command` can
//! be spawned any number of times.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use super::child::Child;
use super::error::Error;
use super::fdmap::ChildFd;
use crate::child::Rlimit;

/// The size a busy pipe grows to by default: 1 MiB, the kernel's default
/// `/proc/sys/fs/pipe-max-size`. Large pipes move data in fewer, larger system calls.
pub const DEFAULT_PIPE_SIZE: usize = 1 << 20;

/// A description of a child process to start.
///
/// ```
/// use pidward::process::Command;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), pidward::process::Error> {
/// let mut child = Command::new("sh")
///     .arg("-c")
///     .arg("read name; echo \"hello, $name\"; exit 3")
///     .spawn()?;
/// child.write_all(b"world\n").await?;
/// child.close_stdin();
/// let output = child.read_to_end(1).await?;
/// assert_eq!(output, b"hello, world\n");
/// assert_eq!(child.wait().await?.code(), Some(3));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Command {
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) env_clear: bool,
    pub(crate) env: BTreeMap<OsString, Option<OsString>>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) user: Option<String>,
    pub(crate) group: Option<String>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) groups: Option<Vec<u32>>,
    pub(crate) pgroup: Option<i32>,
    pub(crate) setsid: bool,
    pub(crate) umask: Option<u32>,
    pub(crate) rlimits: Vec<Rlimit>,
    pub(crate) fds: BTreeMap<RawFd, ChildFd>,
    pub(crate) kill_on_drop: bool,
    pub(crate) kill_group: bool,
    pub(crate) pipe_size: usize,
}

impl Command {
    /// A command that runs `program`, found in `PATH` unless it contains a `/`.
    ///
    /// `PATH` is the child's (when the environment given to the child has one), else the
    /// parent's, else `/usr/bin:/bin`. The child's `argv[0]` is `program` as given.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        let fds = BTreeMap::from([
            (0, ChildFd::Input),
            (1, ChildFd::Output),
            (2, ChildFd::Output),
        ]);
        Command {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env_clear: false,
            env: BTreeMap::new(),
            cwd: None,
            user: None,
            group: None,
            uid: None,
            gid: None,
            groups: None,
            pgroup: None,
            setsid: false,
            umask: None,
            rlimits: Vec::new(),
            fds,
            kill_on_drop: false,
            kill_group: false,
            pipe_size: DEFAULT_PIPE_SIZE,
        }
    }

    /// Adds one argument; any bytes but NUL arrive in the child unchanged.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the child (on top of the inherited environment,
    /// unless [`env_clear`](Command::env_clear) was called).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.env
            .insert(key.as_ref().to_owned(), Some(value.as_ref().to_owned()));
        self
    }

    /// Sets several environment variables.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// Removes a variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.env.insert(key.as_ref().to_owned(), None);
        self
    }

    /// Starts the child with an empty environment: nothing is inherited, and variables set
    /// before this call are forgotten (as with `std::process::Command`). Variables set after
    /// it are the child's whole environment: "exactly this map".
    pub fn env_clear(&mut self) -> &mut Command {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// The child's working directory (`chdir(2)` before exec; a relative program path is
    /// resolved against it).
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Runs the child as this user (name or number), with its primary group and all its
    /// supplementary groups unless [`group`](Command::group) names one: resolved at
    /// [`spawn`](Command::spawn) as [`Credentials::resolve`](crate::privileges::Credentials::resolve)
    /// does. The switch is checked: a child that could regain root fails to start
    /// ([`Step::RegainRoot`](crate::child::Step::RegainRoot)). Excludes the numeric
    /// [`uid`](Command::uid), [`gid`](Command::gid) and [`groups`](Command::groups).
    pub fn user(&mut self, user: impl Into<String>) -> &mut Command {
        self.user = Some(user.into());
        self
    }

    /// Runs the child with this group (name or number) as its primary and only
    /// supplementary group; see [`user`](Command::user).
    pub fn group(&mut self, group: impl Into<String>) -> &mut Command {
        self.group = Some(group.into());
        self
    }

    /// Runs the child as this user id (`setresuid(2)`), then checks that root cannot be
    /// regained. When the parent is root and no [`groups`](Command::groups) were given, the
    /// supplementary groups are cleared too.
    pub fn uid(&mut self, uid: u32) -> &mut Command {
        self.uid = Some(uid);
        self
    }

    /// Runs the child with this group id (`setresgid(2)`).
    pub fn gid(&mut self, gid: u32) -> &mut Command {
        self.gid = Some(gid);
        self
    }

    /// Exactly these supplementary groups in the child (`setgroups(2)`).
    pub fn groups(&mut self, groups: &[u32]) -> &mut Command {
        self.groups = Some(groups.to_vec());
        self
    }

    /// Puts the child in process group `pgid` (`setpgid(2)`); `0` makes a new group whose id
    /// is the child's PID.
    pub fn process_group(&mut self, pgid: i32) -> &mut Command {
        self.pgroup = Some(pgid);
        self
    }

    /// Starts the child in a new session (`setsid(2)`), which also makes a new process group.
    pub fn setsid(&mut self, setsid: bool) -> &mut Command {
        self.setsid = setsid;
        self
    }

    /// The child's umask (`umask(2)`).
    pub fn umask(&mut self, mask: u32) -> &mut Command {
        self.umask = Some(mask);
        self
    }

    /// Sets a resource limit in the child (`setrlimit(2)`); a later limit for the same
    /// resource replaces an earlier one.
    ///
    /// ```
    /// use pidward::child::{Resource, Rlimit};
    /// use pidward::process::Command;
    ///
    /// let mut cmd = Command::new("true");
    /// cmd.rlimit(Rlimit::new(Resource::CORE, Some(0), None)?)
    ///     .rlimit("nofile=256".parse()?);
    /// # Ok::<(), pidward::child::RlimitParseError>(())
    /// ```
    pub fn rlimit(&mut self, limit: Rlimit) -> &mut Command {
        self.rlimits.retain(|l| l.resource() != limit.resource());
        self.rlimits.push(limit);
        self
    }

    /// Connects child fd number `child_fd` to `what`. Every fd not in the map is closed in
    /// the child; the map starts as `0 => Input, 1 => Output, 2 => Output`.
    pub fn fd(&mut self, child_fd: RawFd, what: impl Into<ChildFd>) -> &mut Command {
        self.fds.insert(child_fd, what.into());
        self
    }

    /// Shorthand for `fd(0, what)`.
    pub fn stdin(&mut self, what: impl Into<ChildFd>) -> &mut Command {
        self.fd(0, what)
    }

    /// Shorthand for `fd(1, what)`.
    pub fn stdout(&mut self, what: impl Into<ChildFd>) -> &mut Command {
        self.fd(1, what)
    }

    /// Shorthand for `fd(2, what)`.
    pub fn stderr(&mut self, what: impl Into<ChildFd>) -> &mut Command {
        self.fd(2, what)
    }

    /// Whether dropping the [`Child`] before it was reaped sends it `SIGKILL` (default: no;
    /// either way the handle never leaves a zombie).
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// Whether [`Child::signal`] and kill-on-drop address the child's whole process group.
    ///
    /// Implies [`process_group(0)`](Command::process_group) unless a session was asked for:
    /// the child leads its group. Group signals go through the child's pidfd
    /// (`pidfd_send_signal(2)` with `PIDFD_SIGNAL_PROCESS_GROUP`), so they can never reach a
    /// group whose id was reused; kernels before 6.9 lack that, and the signal is refused
    /// ([`Error::GroupSignalUnsupported`]) rather than sent by number.
    pub fn kill_process_group(&mut self, group: bool) -> &mut Command {
        self.kill_group = group;
        self
    }

    /// The size a busy pipe grows to (`F_SETPIPE_SZ`), [`DEFAULT_PIPE_SIZE`] unless set; `0`
    /// keeps the kernel's default (64 KiB).
    ///
    /// Pipes start at the kernel's default size and grow, once, the first time the parent
    /// finds one full (a write that does not fit, a read of a nearly full pipe). Quiet pipes
    /// stay small, which matters for unprivileged users: the kernel shrinks every new pipe of
    /// a user whose pipes hold more than `/proc/sys/fs/pipe-user-pages-soft` (64 MiB). Growing
    /// is best effort; a refusal leaves the pipe as it was.
    pub fn pipe_size(&mut self, bytes: usize) -> &mut Command {
        self.pipe_size = bytes;
        self
    }

    /// Starts the child. Must be called from inside a tokio runtime with I/O enabled.
    ///
    /// Returns only once the child has exec'd the program, or with the error of the step
    /// that failed ([`Error::Spawn`], e.g. `NotFound` for a missing program) and no child
    /// left behind.
    pub fn spawn(&mut self) -> Result<Child, Error> {
        super::spawn::spawn(self)
    }
}
