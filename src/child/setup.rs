//! [`Setup`]: the public description of a started process's environment.
//!
//! A `Setup` is plain data. [`Setup::prepare`] turns it into a [`Plan`](super::Plan) in the
//! caller (resolving, opening, allocating); the plan is then applied after `fork` or `clone`.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::PathBuf;

use super::rlimit::Rlimit;
use super::stdio::{Source, Stdio};
use super::{Error, Exec, Plan, Spawned};
use crate::privileges::Credentials;

/// The session and process group of the started process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Session {
    /// The caller's.
    #[default]
    Inherit,
    /// A new session (`setsid(2)`), which is also a new process group.
    New,
    /// This process group (`setpgid(0, pgid)`; 0 makes a new one).
    Group(i32),
}

/// The process environment a started process runs in.
///
/// Everything fallible that can be done early is done in [`Setup::prepare`], in the caller:
/// users and groups are resolved, output files are opened (with the caller's privileges, in
/// the caller's root: "open everything privileged first"), paths become `CString`s, and every
/// descriptor that will be installed is moved above the numbers it will be installed at.
/// After the fork or clone the steps only make system calls on those values, in this order:
///
/// 1. signal dispositions back to `SIG_DFL` (when spawning a command);
/// 2. `setsid(2)` or `setpgid(2)`;
/// 3. `dup2(2)` of the standard streams and of the extra descriptors to their numbers;
/// 4. `close_range(2)` of every other inherited descriptor, keeping the ones asked for;
/// 5. `setrlimit(2)` for each limit (while still privileged: raising a hard limit needs it);
/// 6. `umask(2)`;
/// 7. `chroot(2)`, then `chdir("/")` inside it; `chdir(2)` to the working directory;
/// 8. the privilege drop: `setgroups` → `setresgid` → `setresuid` → check that root cannot
///    be regained;
/// 9. an empty signal mask and `execve(2)` (when spawning a command).
///
/// Nothing is changed unless asked: a default `Setup` applies no step.
///
/// ```
/// use pidward::child::{Setup, Stdio};
///
/// let setup = Setup::new()
///     .working_directory("/")
///     .umask(0o027)
///     .stdout(Stdio::null())
///     .rlimit("nofile=1024".parse()?)
///     .close_fds(true);
/// let plan = setup.prepare()?; // resolves and opens everything, forks nothing
/// # drop(plan);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Setup {
    /// On the heap: a set-up is built by value, a call at a time, and handed from call to
    /// call on its way to the spawn, so each move is a pointer's, not 500 bytes more of the
    /// stack (a supervisor keeps the pages of stack it has touched for its whole life).
    parts: Box<Parts>,
}

/// What a [`Setup`] asks for.
#[derive(Debug, Default)]
pub(super) struct Parts {
    pub(super) chroot: Option<PathBuf>,
    pub(super) working_directory: Option<PathBuf>,
    pub(super) umask: Option<u32>,
    pub(super) stdio: [Option<Stdio>; 3],
    pub(super) user: Option<String>,
    pub(super) group: Option<String>,
    pub(super) credentials: Option<Credentials>,
    pub(super) effective_only: bool,
    pub(super) rlimits: Vec<Rlimit>,
    pub(super) fds: Vec<(RawFd, Source)>,
    pub(super) keep_fds: Vec<RawFd>,
    pub(super) close_fds: bool,
    pub(super) close_unmapped: bool,
    pub(super) session: Session,
    pub(super) keep_ignored: bool,
    /// The caller's dispositions, read when it could not change before the spawn.
    pub(super) dispositions: Option<crate::sys::sigaction::Dispositions>,
    pub(super) parent_death: Option<crate::Signal>,
    pub(super) cgroup: Option<(OwnedFd, PathBuf)>,
    pub(super) cgroup_dir: Option<(OwnedFd, PathBuf)>,
}

impl Setup {
    /// A set-up that changes nothing.
    pub fn new() -> Setup {
        Setup::default()
    }

    /// Change the root directory (`chroot(2)`), then the working directory to `/` inside it.
    /// Needs root (`CAP_SYS_CHROOT`).
    pub fn chroot(mut self, dir: impl Into<PathBuf>) -> Setup {
        self.parts.chroot = Some(dir.into());
        self
    }

    /// Change the working directory (`chdir(2)`), after any `chroot` (so a path inside it).
    /// A relative program path is found from there.
    pub fn working_directory(mut self, dir: impl Into<PathBuf>) -> Setup {
        self.parts.working_directory = Some(dir.into());
        self
    }

    /// Set the file mode creation mask (`umask(2)`).
    pub fn umask(mut self, mask: u32) -> Setup {
        self.parts.umask = Some(mask & 0o777);
        self
    }

    /// Where standard input comes from.
    pub fn stdin(mut self, stdio: Stdio) -> Setup {
        self.parts.stdio[0] = Some(stdio);
        self
    }

    /// Where standard output goes.
    pub fn stdout(mut self, stdio: Stdio) -> Setup {
        self.parts.stdio[1] = Some(stdio);
        self
    }

    /// Where standard error goes.
    pub fn stderr(mut self, stdio: Stdio) -> Setup {
        self.parts.stdio[2] = Some(stdio);
        self
    }

    /// Switch to this user (name or number), with its primary group and all its
    /// supplementary groups unless [`group`](Setup::group) names one.
    pub fn user(mut self, user: impl Into<String>) -> Setup {
        self.parts.user = Some(user.into());
        self
    }

    /// Switch to this group (name or number), which becomes the only supplementary group.
    pub fn group(mut self, group: impl Into<String>) -> Setup {
        self.parts.group = Some(group.into());
        self
    }

    /// Switch to credentials resolved beforehand (instead of [`user`](Setup::user) and
    /// [`group`](Setup::group)).
    pub fn credentials(mut self, credentials: Credentials) -> Setup {
        self.parts.credentials = Some(credentials);
        self
    }

    /// Change only the effective user and group ids (see
    /// [`Credentials::effective_only`]).
    pub fn effective_only(mut self, yes: bool) -> Setup {
        self.parts.effective_only = yes;
        self
    }

    /// Set a resource limit (a later limit for the same resource replaces an earlier one).
    pub fn rlimit(mut self, limit: Rlimit) -> Setup {
        self.parts
            .rlimits
            .retain(|l| l.resource() != limit.resource());
        self.parts.rlimits.push(limit);
        self
    }

    /// Install `fd` at descriptor number `target` (at least 3) in the started process, and
    /// keep it open there.
    pub fn fd(mut self, target: RawFd, fd: OwnedFd) -> Setup {
        self.parts.fds.push((target, Source::Owned(fd)));
        self
    }

    /// Install the caller's descriptor `fd` at `target` (any number, 0-2 included); the
    /// caller keeps it open until the spawn returns. Used by the async process API.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn fd_borrowed(mut self, target: RawFd, fd: RawFd) -> Setup {
        self.parts.fds.push((target, Source::Borrowed(fd)));
        self
    }

    /// Keep this inherited descriptor open when [`close_fds`](Setup::close_fds) is on.
    pub fn keep_fd(mut self, fd: BorrowedFd<'_>) -> Setup {
        self.parts.keep_fds.push(fd.as_raw_fd());
        self
    }

    /// Close every inherited descriptor above 2 except the kept ones and those given with
    /// [`fd`](Setup::fd).
    pub fn close_fds(mut self, yes: bool) -> Setup {
        self.parts.close_fds = yes;
        self
    }

    /// Close every descriptor, 0-2 included, that is not installed with an `fd` call (the fd
    /// map of the async process API).
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn close_unmapped(mut self) -> Setup {
        self.parts.close_unmapped = true;
        self
    }

    /// Start a new session (`setsid(2)`), which is also a new process group.
    pub fn new_session(mut self) -> Setup {
        self.parts.session = Session::New;
        self
    }

    /// Join process group `pgid` (`setpgid(2)`); 0 makes a new group led by the process.
    pub fn process_group(mut self, pgid: i32) -> Setup {
        self.parts.session = Session::Group(pgid);
        self
    }

    /// The caller's signal dispositions as they will be at the spawn, read by a single-threaded
    /// caller that changes none of them before it: the plan takes the ignored signals from them
    /// instead of reading them again, and the child resets only the signals not at `SIG_DFL`
    /// (a child of `clone(CLONE_VM)` must not run the caller's handlers, but a signal at
    /// `SIG_DFL` needs no reset).
    pub(crate) fn known_dispositions(mut self, d: crate::sys::sigaction::Dispositions) -> Setup {
        self.parts.dispositions = Some(d);
        self
    }

    /// When spawning: leave the signals the caller ignores (`SIG_IGN`) ignored, as POSIX
    /// `execve(2)` does and `nohup` relies on (default: every disposition back to
    /// `SIG_DFL`). glibc's two internal signals (32 and 33) are reset either way.
    pub fn keep_ignored_signals(mut self, yes: bool) -> Setup {
        self.parts.keep_ignored = yes;
        self
    }

    /// The signal the process gets when its parent (the caller) dies (`prctl(2)`
    /// `PR_SET_PDEATHSIG`), set after the privilege drop (which clears it). A caller that died
    /// before the setting took effect makes the process get the signal at once.
    pub fn parent_death_signal(mut self, signal: Option<crate::Signal>) -> Setup {
        self.parts.parent_death = signal;
        self
    }

    /// Move the process into a cgroup (v2) before anything else: `procs` is that cgroup's
    /// `cgroup.procs` file, opened for writing by the caller (`path` names it in a failure).
    /// The child writes `0` to it, which moves the writing process (a `write(2)`, nothing to
    /// format after the fork); a process it forks later is born in the cgroup.
    ///
    /// ```no_run
    /// use pidward::child::{Exec, Setup};
    ///
    /// let path = "/sys/fs/cgroup/myservice/cgroup.procs";
    /// let procs = std::fs::OpenOptions::new().write(true).open(path)?;
    /// let spawned = Setup::new().cgroup(procs.into(), path).spawn(&Exec::new("true"))?;
    /// # drop(spawned);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cgroup(mut self, procs: OwnedFd, path: impl Into<PathBuf>) -> Setup {
        self.parts.cgroup = Some((procs, path.into()));
        self
    }

    /// Start the process in the cgroup whose directory the caller opened (`O_PATH |
    /// O_DIRECTORY`; `procs` names its `cgroup.procs` in a failure): the child is made in the
    /// cgroup by `clone3(CLONE_INTO_CGROUP)` (Linux 5.7) rather than moved into it by a write
    /// to `cgroup.procs`, which the kernel serialises against every fork and exit of the
    /// system (a migration takes `cgroup_threadgroup_rwsem` for writing). Only where `clone3`
    /// refuses is `cgroup.procs` opened (in the caller, before the fallback `clone`) and the
    /// child writes to it, as with [`cgroup`](Setup::cgroup): the file is not opened for a
    /// fallback that the kernel makes rare (opening it makes its inode, at every start).
    pub(crate) fn cgroup_dir(mut self, dir: OwnedFd, procs: PathBuf) -> Setup {
        self.parts.cgroup_dir = Some((dir, procs));
        self
    }

    /// Resolves and opens everything, in the calling process; see [`Plan`].
    ///
    /// Errors name their step: [`Step::User`](super::Step::User) for an unknown user or
    /// group (or a switch that needs root), [`Step::Stdout`](super::Step::Stdout) and the
    /// like for a file that cannot be opened.
    pub fn prepare(self) -> Result<Plan, Error> {
        Plan::new(self)
    }

    /// Prepares, then starts `exec` with this set-up; see [`spawn`](super::spawn).
    pub fn spawn(self, exec: &Exec) -> Result<Spawned, Error> {
        super::spawn(&self.prepare()?, exec)
    }

    /// A copy of this set-up; every descriptor it holds is duplicated (`fcntl(2)`
    /// `F_DUPFD_CLOEXEC`), so the copy can be prepared while the original is kept.
    pub fn try_clone(&self) -> std::io::Result<Setup> {
        let stdio = |s: &Option<Stdio>| s.as_ref().map(Stdio::try_clone).transpose();
        let mut fds = Vec::with_capacity(self.parts.fds.len());
        for (target, source) in &self.parts.fds {
            fds.push((*target, source.try_clone()?));
        }
        Ok(Setup {
            parts: Box::new(Parts {
                chroot: self.parts.chroot.clone(),
                working_directory: self.parts.working_directory.clone(),
                umask: self.parts.umask,
                stdio: [
                    stdio(&self.parts.stdio[0])?,
                    stdio(&self.parts.stdio[1])?,
                    stdio(&self.parts.stdio[2])?,
                ],
                user: self.parts.user.clone(),
                group: self.parts.group.clone(),
                credentials: self.parts.credentials.clone(),
                effective_only: self.parts.effective_only,
                rlimits: self.parts.rlimits.clone(),
                fds,
                keep_fds: self.parts.keep_fds.clone(),
                close_fds: self.parts.close_fds,
                close_unmapped: self.parts.close_unmapped,
                session: self.parts.session,
                keep_ignored: self.parts.keep_ignored,
                // A snapshot for one spawn, not part of the set-up a copy is made for.
                dispositions: None,
                parent_death: self.parts.parent_death,
                cgroup: match &self.parts.cgroup {
                    Some((fd, path)) => Some((fd.try_clone()?, path.clone())),
                    None => None,
                },
                cgroup_dir: match &self.parts.cgroup_dir {
                    Some((fd, procs)) => Some((fd.try_clone()?, procs.clone())),
                    None => None,
                },
            }),
        })
    }

    /// What it asks for, for [`Plan::new`] to take apart.
    pub(super) fn into_parts(self) -> Parts {
        *self.parts
    }

    /// The session and process group asked for.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn session(&self) -> Session {
        self.parts.session
    }

    /// Sets the session and process group (also back to the caller's).
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn set_session(&mut self, session: Session) {
        self.parts.session = session;
    }

    /// The user and group named with [`user`](Setup::user) and [`group`](Setup::group).
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn names(&self) -> (Option<&str>, Option<&str>) {
        (self.parts.user.as_deref(), self.parts.group.as_deref())
    }

    /// The credentials given with [`credentials`](Setup::credentials).
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn get_credentials(&self) -> Option<&Credentials> {
        self.parts.credentials.as_ref()
    }

    pub(crate) fn has_stdio(&self, fd: usize) -> bool {
        self.parts.stdio[fd].is_some()
    }

    pub(crate) fn has_umask(&self) -> bool {
        self.parts.umask.is_some()
    }

    pub(crate) fn has_working_directory(&self) -> bool {
        self.parts.working_directory.is_some() || self.parts.chroot.is_some()
    }

    pub(crate) fn has_close_fds(&self) -> bool {
        self.parts.close_fds
    }
}
