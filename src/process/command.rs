//! [`Command`]: the builder that describes a child process.
//!
//! A `Command` is the set-up engine's two descriptions plus the fd map: an [`Exec`] (program,
//! `argv[0]`, arguments, environment) and a [`Setup`] (working directory, credentials,
//! process group or session, umask, resource limits), the very types
//! [`Daemon`](crate::daemon::Daemon) and the supervisor start processes with, so a user, a
//! group or a limit means the same thing everywhere. On top of them it holds the child fd map
//! ([`ChildFd`]) and what the handle does when dropped.
//!
//! Nothing is checked or allocated for the child until it is started, which validates
//! everything (NUL bytes, open fds, users and groups, PATH lookup) before creating the
//! process, so that bad input is an error that changes nothing. A `Command` can be started any
//! number of times.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::fd::RawFd;
use std::path::Path;

use super::child::Child;
use super::error::Error;
use super::fdmap::{ChildFd, Stdio};
use crate::child::{Exec, Rlimit, Session, Setup};
use crate::privileges::Credentials;

/// The size a busy pipe grows to by default: 1 MiB, the kernel's default
/// `/proc/sys/fs/pipe-max-size`. Large pipes move data in fewer, larger system calls.
pub const DEFAULT_PIPE_SIZE: usize = 1 << 20;

/// A description of a child process to start.
///
/// As with `std::process::Command` and `tokio::process::Command`, the standard fds that are not
/// mapped are inherited by [`spawn`](Command::spawn) and [`status`](Command::status), while
/// [`output`](Command::output) reads stdout and stderr and gives stdin `/dev/null`. Pipes are
/// asked for per fd ([`ChildFd::Input`], [`ChildFd::Output`]), or all three at once with
/// [`stdio_pipes`](Command::stdio_pipes), Twisted's layout.
///
/// ```
/// use pidward::process::{ChildFd, Command};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), pidward::process::Error> {
/// let output = Command::new("sh").args(["-c", "echo hello; exit 3"]).output().await?;
/// assert_eq!(output.stdout, b"hello\n");
/// assert_eq!(output.status.code(), Some(3));
///
/// let mut child = Command::new("sh")
///     .args(["-c", "read name; echo \"hello, $name\""])
///     .stdin(ChildFd::Input)
///     .stdout(ChildFd::Output)
///     .spawn()?;
/// child.write_all(b"world\n").await?;
/// let output = child.wait_with_output().await?;
/// assert_eq!(output.stdout, b"hello, world\n");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Command {
    pub(crate) exec: Exec,
    pub(crate) setup: Setup,
    pub(crate) fds: BTreeMap<RawFd, ChildFd>,
    pub(crate) kill_on_drop: bool,
    pub(crate) kill_group: bool,
    pub(crate) pipe_size: usize,
}

impl Command {
    /// A command that runs `program`, found in `PATH` unless it contains a `/`.
    ///
    /// `PATH` is the child's (when the environment given to the child has one), else the
    /// parent's, else `/usr/bin:/bin`. The child's `argv[0]` is `program` as given, unless
    /// [`arg0`](Command::arg0) says otherwise.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command {
            exec: Exec::new(program),
            setup: Setup::new().close_unmapped(),
            fds: BTreeMap::new(),
            kill_on_drop: false,
            kill_group: false,
            pipe_size: DEFAULT_PIPE_SIZE,
        }
    }

    /// Applies one of [`Setup`]'s by-value settings.
    fn set(&mut self, f: impl FnOnce(Setup) -> Setup) -> &mut Command {
        self.setup = f(std::mem::take(&mut self.setup));
        self
    }

    /// Adds one argument; any bytes but NUL arrive in the child unchanged.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.exec.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.exec.args(args);
        self
    }

    /// The child's `argv[0]` (what `ps` shows, a shell's `$0`); the program is still found by
    /// the name given to [`new`](Command::new).
    ///
    /// ```
    /// use pidward::process::Command;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), pidward::process::Error> {
    /// let out = Command::new("sh").arg0("my-shell").args(["-c", "echo $0"]).output().await?;
    /// assert_eq!(out.stdout, b"my-shell\n");
    /// # Ok(())
    /// # }
    /// ```
    pub fn arg0(&mut self, arg0: impl AsRef<OsStr>) -> &mut Command {
        self.exec.arg0(arg0);
        self
    }

    /// Sets an environment variable for the child (on top of the inherited environment,
    /// unless [`env_clear`](Command::env_clear) was called).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.exec.env(key, value);
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
            self.exec.env(k, v);
        }
        self
    }

    /// Removes a variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.exec.env_remove(key);
        self
    }

    /// Starts the child with an empty environment: nothing is inherited, and variables set
    /// before this call are forgotten (as with `std::process::Command`). Variables set after
    /// it are the child's whole environment: "exactly this map".
    pub fn env_clear(&mut self) -> &mut Command {
        self.exec.env_clear();
        self
    }

    /// The child's working directory (`chdir(2)` before exec; a relative program path is
    /// resolved against it).
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        let dir = dir.as_ref().to_owned();
        self.set(|s| s.working_directory(dir))
    }

    /// Runs the child as this user (name or number), with its primary group and all its
    /// supplementary groups unless [`group`](Command::group) names one: resolved when the
    /// child is started, by [`Credentials::resolve`], as for
    /// [`Setup::user`]. The switch is checked: a child that could regain root fails to start
    /// ([`Step::RegainRoot`](crate::child::Step::RegainRoot)). Excludes
    /// [`credentials`](Command::credentials) and the numeric [`uid`](Command::uid),
    /// [`gid`](Command::gid) and [`groups`](Command::groups).
    pub fn user(&mut self, user: impl Into<String>) -> &mut Command {
        let user = user.into();
        self.set(|s| s.user(user))
    }

    /// Runs the child with this group (name or number) as its primary and only
    /// supplementary group; see [`user`](Command::user).
    pub fn group(&mut self, group: impl Into<String>) -> &mut Command {
        let group = group.into();
        self.set(|s| s.group(group))
    }

    /// Runs the child with credentials resolved beforehand ([`Credentials::resolve`]: look a
    /// user up once, start many children), as [`Setup::credentials`] does.
    pub fn credentials(&mut self, credentials: Credentials) -> &mut Command {
        self.set(|s| s.credentials(credentials))
    }

    /// Changes the numeric ids of the credentials (given or empty).
    fn ids(&mut self, uid: Option<u32>, gid: Option<u32>, groups: Option<Vec<u32>>) {
        let old = self.setup.get_credentials();
        let creds = Credentials::from_ids(
            uid.or_else(|| old.and_then(Credentials::uid)),
            gid.or_else(|| old.and_then(Credentials::gid)),
            groups.or_else(|| old.and_then(|c| c.groups().map(<[u32]>::to_vec))),
        );
        self.set(|s| s.credentials(creds));
    }

    /// Runs the child as this user id (`setresuid(2)`), then checks that root cannot be
    /// regained. When the parent is root and no [`groups`](Command::groups) were given, the
    /// supplementary groups are cleared too.
    pub fn uid(&mut self, uid: u32) -> &mut Command {
        self.ids(Some(uid), None, None);
        self
    }

    /// Runs the child with this group id (`setresgid(2)`).
    pub fn gid(&mut self, gid: u32) -> &mut Command {
        self.ids(None, Some(gid), None);
        self
    }

    /// Exactly these supplementary groups in the child (`setgroups(2)`).
    pub fn groups(&mut self, groups: &[u32]) -> &mut Command {
        self.ids(None, None, Some(groups.to_vec()));
        self
    }

    /// Puts the child in process group `pgid` (`setpgid(2)`); `0` makes a new group whose id
    /// is the child's PID. Replaces [`setsid`](Command::setsid): the session and the process
    /// group are one setting.
    pub fn process_group(&mut self, pgid: i32) -> &mut Command {
        self.set(|s| s.process_group(pgid))
    }

    /// Starts the child in a new session (`setsid(2)`), which also makes a new process group;
    /// replaces [`process_group`](Command::process_group). `false` keeps the parent's session
    /// and group.
    pub fn setsid(&mut self, setsid: bool) -> &mut Command {
        if setsid {
            self.set(Setup::new_session)
        } else {
            if self.setup.session() == Session::New {
                self.setup.set_session(Session::Inherit);
            }
            self
        }
    }

    /// The child's umask (`umask(2)`).
    pub fn umask(&mut self, mask: u32) -> &mut Command {
        self.set(|s| s.umask(mask))
    }

    /// Sets a resource limit in the child (`setrlimit(2)`), the [`Rlimit`] that
    /// [`Setup::rlimit`] takes; a later limit for the same resource replaces an earlier one.
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
        self.set(|s| s.rlimit(limit))
    }

    /// Connects child fd number `child_fd` to `what`. Every fd above 2 not in the map is
    /// closed in the child; for 0, 1 and 2 see [`Command`].
    #[doc(alias = "childFDs")]
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

    /// Pipes on all three standard fds, Twisted's `spawnProcess` layout: `0 => Input`,
    /// `1 => Output`, `2 => Output`. A child that reads stdin then waits for
    /// [`Child::close_stdin`] (or its end of file).
    pub fn stdio_pipes(&mut self) -> &mut Command {
        self.fd(0, ChildFd::Input)
            .fd(1, ChildFd::Output)
            .fd(2, ChildFd::Output)
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
    /// is best effort.
    pub fn pipe_size(&mut self, bytes: usize) -> &mut Command {
        self.pipe_size = bytes;
        self
    }

    /// Starts the child. Must be called from inside a tokio runtime with I/O enabled.
    ///
    /// Standard fds that are not mapped are inherited. Returns only once the child has exec'd
    /// the program, or with the error of the step that failed ([`Error::Spawn`], e.g.
    /// `NotFound` for a missing program) and no child left behind.
    pub fn spawn(&mut self) -> Result<Child, Error> {
        super::spawn::spawn(self, [Stdio::Inherit; 3])
    }

    /// Starts the child with `defaults` for the standard fds that are not mapped.
    pub(crate) fn spawn_with(&mut self, defaults: [Stdio; 3]) -> Result<Child, Error> {
        super::spawn::spawn(self, defaults)
    }
}

impl From<&std::process::Command> for Command {
    /// The program, arguments, environment changes and working directory of a
    /// `std::process::Command` (or of a tokio one, through `as_std()`).
    ///
    /// What `std` does not let anyone read back is not carried over: whether `env_clear` was
    /// called (the variables removed one by one are), `arg0`, stdio, `uid`/`gid`, `pre_exec`
    /// hooks and the process group.
    ///
    /// ```
    /// use pidward::process::Command;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), pidward::process::Error> {
    /// let mut std_cmd = std::process::Command::new("sh");
    /// std_cmd.args(["-c", "echo $GREETING from $PWD"]).env("GREETING", "hi").current_dir("/");
    /// let out = Command::from(&std_cmd).output().await?;
    /// assert_eq!(out.stdout, b"hi from /\n");
    /// # Ok(())
    /// # }
    /// ```
    fn from(std: &std::process::Command) -> Command {
        let mut cmd = Command::new(std.get_program());
        cmd.args(std.get_args());
        for (key, value) in std.get_envs() {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        if let Some(dir) = std.get_current_dir() {
            cmd.current_dir(dir);
        }
        cmd
    }
}

impl From<std::process::Command> for Command {
    /// See `From<&std::process::Command>`.
    fn from(std: std::process::Command) -> Command {
        Command::from(&std)
    }
}
