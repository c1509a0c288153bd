//! The set-up steps a started process goes through, prepared before fork, applied after.
//!
//! [`Setup`] describes the process environment a service should run in: root directory,
//! working directory, umask, resource limits, standard streams, extra descriptors, inherited
//! descriptors to close, and the user and groups to switch to. It is used in two places:
//!
//! - by [`Daemon`](super::Daemon), which applies it to the detached process itself;
//! - by [`Prepared::install`], which applies it to the child of a [`std::process::Command`]
//!   in a `pre_exec` hook (this is what `pidward run` does for a supervised command).
//!
//! The steps and their order are described on [`Setup`].
//!
//! It allocates nothing, takes no lock and formats nothing: it is async-signal-safe, which is
//! what a `pre_exec` hook in a possibly multithreaded process requires. A failure is a step
//! and an `errno` (plus a detail prepared in advance), which the status pipe carries to the
//! launcher.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use super::rlimit::Rlimit;
use super::status::{self, MESSAGE_MAX, StatusWriter, Step, StepError};
use crate::privileges::Credentials;

/// Where a standard stream of the started process goes.
///
/// ```
/// use pidward::daemon::Stdio;
///
/// let _quiet = Stdio::null();
/// let _log = Stdio::append("/var/log/app.log").mode(0o640);
/// ```
#[derive(Debug)]
pub struct Stdio(Kind);

#[derive(Debug)]
enum Kind {
    Inherit,
    Null,
    Append { path: PathBuf, mode: u32 },
    Fd(OwnedFd),
}

impl Stdio {
    /// Keep the stream the caller has.
    pub fn inherit() -> Stdio {
        Stdio(Kind::Inherit)
    }

    /// `/dev/null` (opened read-write before any `chroot`).
    pub fn null() -> Stdio {
        Stdio(Kind::Null)
    }

    /// A file opened for appending (`O_APPEND`), created if missing with mode 0640 (exactly:
    /// the umask does not apply). An existing file keeps its mode. Opened by the caller,
    /// before any `chroot` or privilege drop.
    pub fn append(path: impl Into<PathBuf>) -> Stdio {
        Stdio(Kind::Append {
            path: path.into(),
            mode: 0o640,
        })
    }

    /// For [`Stdio::append`]: the mode of a newly created file. No effect on other kinds.
    pub fn mode(self, mode: u32) -> Stdio {
        match self.0 {
            Kind::Append { path, .. } => Stdio(Kind::Append {
                path,
                mode: mode & 0o7777,
            }),
            other => Stdio(other),
        }
    }

    /// The path of an [`append`](Stdio::append) target.
    fn path(&self) -> Option<&Path> {
        match &self.0 {
            Kind::Append { path, .. } => Some(path),
            _ => None,
        }
    }
}

impl From<OwnedFd> for Stdio {
    /// This descriptor (installed with `dup2`).
    fn from(fd: OwnedFd) -> Stdio {
        Stdio(Kind::Fd(fd))
    }
}

impl From<File> for Stdio {
    /// This open file.
    fn from(file: File) -> Stdio {
        Stdio(Kind::Fd(file.into()))
    }
}

/// Opens `path` for appending; creates it with exactly `mode` if it is missing.
///
/// `open(2)` with `O_CREAT | O_EXCL` first, so that the mode (set with `fchmod(2)`, past the
/// umask) is only ever applied to a file this call created.
pub fn open_append(path: &Path, mode: u32) -> io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC);
    match opts.clone().create_new(true).mode(mode).open(path) {
        Ok(file) => {
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
            Ok(file)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => opts.open(path),
        Err(e) => Err(e),
    }
}

/// The process environment a service runs in.
///
/// Everything fallible that can be done early is done in [`Setup::prepare`], in the caller:
/// users and groups are resolved, output files are opened (with the caller's privileges, in
/// the caller's root: "open everything privileged first"), paths become `CString`s, and every
/// descriptor that will be installed is moved above the numbers it will be installed at.
/// After the fork ([`Daemon`](super::Daemon)) or in a `pre_exec` hook
/// ([`Prepared::install`]), the steps then only make system calls on those values, in this
/// order:
///
/// 1. `setrlimit(2)` for each limit (while still privileged: raising a hard limit needs it);
/// 2. `chroot(2)`, then `chdir("/")` inside it;
/// 3. `chdir(2)` to the working directory (inside the new root, if any);
/// 4. `umask(2)`;
/// 5. `dup2(2)` of the standard streams and of the extra descriptors to their numbers;
/// 6. `close_range(2)` of every other inherited descriptor (or marking them close-on-exec,
///    when an `exec` follows), keeping the ones asked for;
/// 7. the privilege drop of [`Credentials::drop_privileges`]: `setgroups` → `setresgid` →
///    `setresuid` → check that root cannot be regained.
///
/// Nothing is changed unless asked: a default `Setup` applies no step.
///
/// ```
/// use pidward::daemon::{Setup, Stdio};
///
/// let setup = Setup::new()
///     .working_directory("/")
///     .umask(0o027)
///     .stdout(Stdio::null())
///     .rlimit("nofile=1024".parse()?)
///     .close_fds(true);
/// let prepared = setup.prepare()?; // resolves and opens everything, forks nothing
/// # drop(prepared);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct Setup {
    chroot: Option<PathBuf>,
    working_directory: Option<PathBuf>,
    umask: Option<u32>,
    stdin: Option<Stdio>,
    stdout: Option<Stdio>,
    stderr: Option<Stdio>,
    user: Option<String>,
    group: Option<String>,
    credentials: Option<Credentials>,
    effective_only: bool,
    rlimits: Vec<Rlimit>,
    fds: Vec<(RawFd, OwnedFd)>,
    keep_fds: Vec<RawFd>,
    close_fds: bool,
}

impl Setup {
    /// A set-up that changes nothing.
    pub fn new() -> Setup {
        Setup::default()
    }

    /// Change the root directory (`chroot(2)`), then the working directory to `/` inside it.
    /// Needs root (`CAP_SYS_CHROOT`).
    pub fn chroot(mut self, dir: impl Into<PathBuf>) -> Setup {
        self.chroot = Some(dir.into());
        self
    }

    /// Change the working directory (`chdir(2)`), after any `chroot` (so a path inside it).
    pub fn working_directory(mut self, dir: impl Into<PathBuf>) -> Setup {
        self.working_directory = Some(dir.into());
        self
    }

    /// Set the file mode creation mask (`umask(2)`).
    pub fn umask(mut self, mask: u32) -> Setup {
        self.umask = Some(mask & 0o777);
        self
    }

    /// Where standard input comes from.
    pub fn stdin(mut self, stdio: Stdio) -> Setup {
        self.stdin = Some(stdio);
        self
    }

    /// Where standard output goes.
    pub fn stdout(mut self, stdio: Stdio) -> Setup {
        self.stdout = Some(stdio);
        self
    }

    /// Where standard error goes.
    pub fn stderr(mut self, stdio: Stdio) -> Setup {
        self.stderr = Some(stdio);
        self
    }

    /// Switch to this user (name or number), with its primary group and all its
    /// supplementary groups unless [`group`](Setup::group) names one.
    pub fn user(mut self, user: impl Into<String>) -> Setup {
        self.user = Some(user.into());
        self
    }

    /// Switch to this group (name or number), which becomes the only supplementary group.
    pub fn group(mut self, group: impl Into<String>) -> Setup {
        self.group = Some(group.into());
        self
    }

    /// Switch to credentials resolved beforehand (instead of [`user`](Setup::user) and
    /// [`group`](Setup::group)).
    pub fn credentials(mut self, credentials: Credentials) -> Setup {
        self.credentials = Some(credentials);
        self
    }

    /// Change only the effective user and group ids (see
    /// [`Credentials::effective_only`]).
    pub fn effective_only(mut self, yes: bool) -> Setup {
        self.effective_only = yes;
        self
    }

    /// Set a resource limit.
    pub fn rlimit(mut self, limit: Rlimit) -> Setup {
        self.rlimits.push(limit);
        self
    }

    /// Install `fd` at descriptor number `target` (at least 3) in the started process, and
    /// keep it open there.
    pub fn fd(mut self, target: RawFd, fd: OwnedFd) -> Setup {
        self.fds.push((target, fd));
        self
    }

    /// Keep this inherited descriptor open when [`close_fds`](Setup::close_fds) is on.
    pub fn keep_fd(mut self, fd: BorrowedFd<'_>) -> Setup {
        self.keep_fds.push(fd.as_raw_fd());
        self
    }

    /// Close every inherited descriptor above 2 except the kept ones and those given with
    /// [`fd`](Setup::fd).
    pub fn close_fds(mut self, yes: bool) -> Setup {
        self.close_fds = yes;
        self
    }

    pub(crate) fn has_stdin(&self) -> bool {
        self.stdin.is_some()
    }

    pub(crate) fn has_stdout(&self) -> bool {
        self.stdout.is_some()
    }

    pub(crate) fn has_stderr(&self) -> bool {
        self.stderr.is_some()
    }

    pub(crate) fn has_umask(&self) -> bool {
        self.umask.is_some()
    }

    pub(crate) fn has_working_directory(&self) -> bool {
        self.working_directory.is_some() || self.chroot.is_some()
    }

    pub(crate) fn has_close_fds(&self) -> bool {
        self.close_fds
    }

    /// Resolves and opens everything, in the calling process: users and groups, output files,
    /// `/dev/null`, paths. Nothing is forked and no process state changes.
    ///
    /// Errors name their step: [`Step::User`] for an unknown user or group (or a switch that
    /// needs root), [`Step::Stdout`] and the like for a file that cannot be opened.
    pub fn prepare(self) -> Result<Prepared, StepError> {
        let credentials = match self.credentials {
            Some(c) => Some(c.effective_only(self.effective_only)),
            None if self.user.is_some() || self.group.is_some() => Some(
                Credentials::resolve(self.user.as_deref(), self.group.as_deref())
                    .map_err(|e| StepError::new(Step::User, 0, e.to_string()))?
                    .effective_only(self.effective_only),
            ),
            None => None,
        };
        let cred_detail = credentials
            .as_ref()
            .map(|c| {
                let show = |v: Option<u32>| v.map_or("-".to_owned(), |v| v.to_string());
                format!("uid {} gid {}", show(c.uid()), show(c.gid()))
            })
            .unwrap_or_default();

        // Every descriptor we install is first moved above the numbers it could collide with.
        let mut floor: RawFd = 3;
        for (target, _) in &self.fds {
            if *target < 3 {
                return Err(StepError::new(
                    Step::Fd,
                    libc::EINVAL,
                    format!("{target} (use stdin, stdout or stderr for descriptors 0 to 2)"),
                ));
            }
            floor = floor.max(target + 1);
        }
        let lift = |fd: OwnedFd, step: Step, detail: &str| -> Result<OwnedFd, StepError> {
            if fd.as_raw_fd() >= floor {
                return Ok(fd);
            }
            rustix::io::fcntl_dupfd_cloexec(&fd, floor)
                .map_err(|e| StepError::from_io(step, &e.into(), detail))
        };

        let mut stdio: [Option<OwnedFd>; 3] = [None, None, None];
        let mut stdio_detail: [Vec<u8>; 3] = Default::default();
        for (i, (stream, step)) in [
            (self.stdin, Step::Stdin),
            (self.stdout, Step::Stdout),
            (self.stderr, Step::Stderr),
        ]
        .into_iter()
        .enumerate()
        {
            let Some(stream) = stream else { continue };
            let detail = stream
                .path()
                .map(|p| p.as_os_str().as_bytes().to_vec())
                .unwrap_or_else(|| b"/dev/null".to_vec());
            let shown = String::from_utf8_lossy(&detail).into_owned();
            let fd: OwnedFd = match stream.0 {
                Kind::Inherit => continue,
                Kind::Null => std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_CLOEXEC | libc::O_NOCTTY)
                    .open("/dev/null")
                    .map_err(|e| StepError::from_io(step, &e, "/dev/null"))?
                    .into(),
                Kind::Append { path, mode } => open_append(&path, mode)
                    .map_err(|e| StepError::from_io(step, &e, path.display().to_string()))?
                    .into(),
                Kind::Fd(fd) => fd,
            };
            stdio[i] = Some(lift(fd, step, &shown)?);
            stdio_detail[i] = detail;
        }

        let mut fds = Vec::with_capacity(self.fds.len());
        for (target, fd) in self.fds {
            fds.push((target, lift(fd, Step::Fd, &target.to_string())?));
        }

        let cstring = |step: Step, p: &Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| StepError::new(step, libc::EINVAL, p.display().to_string()))
        };
        let chroot = self
            .chroot
            .as_deref()
            .map(|p| cstring(Step::Chroot, p))
            .transpose()?;
        let chdir = self
            .working_directory
            .as_deref()
            .map(|p| cstring(Step::Chdir, p))
            .transpose()?;

        let mut keep: Vec<RawFd> = self.keep_fds;
        keep.extend(fds.iter().map(|(t, _)| *t));
        keep.sort_unstable();
        keep.dedup();

        Ok(Prepared {
            chroot,
            chdir,
            umask: self.umask,
            stdio,
            stdio_detail,
            rlimits: self.rlimits,
            credentials,
            cred_detail: cred_detail.into_bytes(),
            fds,
            keep,
            close_fds: self.close_fds,
        })
    }
}

/// How [`Prepared::apply`] deals with inherited descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseMode {
    /// Close them now (the process goes on running this program).
    Close,
    /// Mark them close-on-exec (an `exec` follows; descriptors that the `exec` machinery
    /// itself still needs, such as std's error pipe, keep working until then).
    Cloexec,
}

/// A failed step of [`Prepared::apply`]: the step, `errno`, and the detail prepared for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Failure<'a> {
    pub(crate) step: Step,
    pub(crate) errno: i32,
    pub(crate) detail: &'a [u8],
}

impl Failure<'_> {
    pub(crate) fn to_step_error(self) -> StepError {
        StepError::new(
            self.step,
            self.errno,
            String::from_utf8_lossy(self.detail).into_owned(),
        )
    }

    /// Reports this failure on a status pipe. Async-signal-safe.
    pub(crate) fn report(&self, writer: &StatusWriter) {
        // Nothing useful can be done if the launcher is gone.
        let _ = writer.failed(self.step, self.errno, self.detail);
    }
}

/// A [`Setup`] with everything resolved and opened, ready to apply after fork.
#[derive(Debug)]
pub struct Prepared {
    chroot: Option<CString>,
    chdir: Option<CString>,
    umask: Option<u32>,
    stdio: [Option<OwnedFd>; 3],
    stdio_detail: [Vec<u8>; 3],
    rlimits: Vec<Rlimit>,
    credentials: Option<Credentials>,
    cred_detail: Vec<u8>,
    fds: Vec<(RawFd, OwnedFd)>,
    keep: Vec<RawFd>,
    close_fds: bool,
}

impl Prepared {
    /// The credentials that will be switched to, if any.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Descriptors of the prepared streams and extra fds, which a caller that closes
    /// descriptors itself must keep until [`apply`](Prepared::apply) has run.
    pub(crate) fn own_fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.stdio
            .iter()
            .flatten()
            .map(AsRawFd::as_raw_fd)
            .chain(self.fds.iter().map(|(_, fd)| fd.as_raw_fd()))
    }

    /// Called after [`apply`](Prepared::apply) ran in this process: the prepared descriptors
    /// were installed, and closed by the close-fds step if it ran, in which case their numbers
    /// may already be reused and must not be closed again.
    pub(crate) fn finish(mut self) {
        if self.close_fds {
            for fd in std::mem::take(&mut self.stdio).into_iter().flatten() {
                std::mem::forget(fd);
            }
            for (_, fd) in std::mem::take(&mut self.fds) {
                std::mem::forget(fd);
            }
        }
    }

    /// Installs this set-up on a command: its standard streams, and a `pre_exec` hook that
    /// applies every other step in the child (inherited descriptors are marked close-on-exec
    /// rather than closed). Returns a [`SpawnCheck`] that turns the spawn's error into the
    /// failed step.
    ///
    /// When no step but the standard streams is asked for, no hook is installed, so that std
    /// can start the command with `posix_spawn(3)` rather than `fork(2)`.
    ///
    /// ```
    /// use std::process::Command;
    /// use pidward::daemon::{Setup, Step};
    ///
    /// let mut cmd = Command::new("true");
    /// let check = Setup::new()
    ///     .working_directory("/no/such/directory")
    ///     .prepare()?
    ///     .install(&mut cmd)?;
    /// let err = check.check(cmd.status()).unwrap_err();
    /// assert_eq!(err.step(), Step::Chdir);
    /// assert_eq!(err.detail(), "/no/such/directory");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn install(mut self, cmd: &mut Command) -> io::Result<SpawnCheck> {
        let [stdin, stdout, stderr] = std::mem::take(&mut self.stdio);
        if let Some(fd) = stdin {
            cmd.stdin(fd);
        }
        if let Some(fd) = stdout {
            cmd.stdout(fd);
        }
        if let Some(fd) = stderr {
            cmd.stderr(fd);
        }
        let program = cmd.get_program().to_string_lossy().into_owned();
        if !self.has_child_steps() {
            // Nothing to do between fork and exec: without a hook, std can use posix_spawn(3).
            return Ok(SpawnCheck {
                read: None,
                program,
            });
        }
        let (read, write) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )?;
        let shared = Arc::new((self, write));
        let hook = Arc::clone(&shared);
        // SAFETY: the hook only runs Prepared::apply (async-signal-safe, see its docs) and
        // one write(2) of a stack buffer on failure.
        unsafe {
            cmd.pre_exec(move || {
                let (prepared, write) = &*hook;
                match prepared.apply(CloseMode::Cloexec, &[]) {
                    Ok(()) => Ok(()),
                    Err(failure) => {
                        failure.report(&StatusWriter::new(write.as_fd()));
                        Err(io::Error::from_raw_os_error(failure.errno.max(1)))
                    }
                }
            });
        }
        drop(shared);
        Ok(SpawnCheck {
            read: Some(read),
            program,
        })
    }

    /// Whether any step besides the standard streams must run in the child.
    fn has_child_steps(&self) -> bool {
        self.chroot.is_some()
            || self.chdir.is_some()
            || self.umask.is_some()
            || !self.rlimits.is_empty()
            || self.credentials.as_ref().is_some_and(|c| !c.is_noop())
            || !self.fds.is_empty()
            || self.close_fds
    }

    /// Applies the steps to the calling process; see the [module documentation](self) for
    /// the order. `keep` lists descriptors to keep open besides those of the set-up.
    ///
    /// Async-signal-safe: only system calls on values prepared beforehand, no allocation.
    pub(crate) fn apply(&self, close: CloseMode, keep: &[RawFd]) -> Result<(), Failure<'_>> {
        let fail = |step, detail: &'static [u8]| Failure {
            step,
            errno: errno(),
            detail,
        };
        for limit in &self.rlimits {
            limit.apply().map_err(|errno| Failure {
                step: Step::Rlimit,
                errno,
                detail: limit.resource().name().as_bytes(),
            })?;
        }
        if let Some(root) = &self.chroot {
            // SAFETY: valid NUL-terminated paths.
            if unsafe { libc::chroot(root.as_ptr()) } != 0 {
                return Err(Failure {
                    detail: root.as_bytes(),
                    ..fail(Step::Chroot, b"")
                });
            }
            // SAFETY: as above.
            if unsafe { libc::chdir(c"/".as_ptr()) } != 0 {
                return Err(fail(Step::Chdir, b"/"));
            }
        }
        if let Some(dir) = &self.chdir {
            // SAFETY: valid NUL-terminated path.
            if unsafe { libc::chdir(dir.as_ptr()) } != 0 {
                return Err(Failure {
                    detail: dir.as_bytes(),
                    ..fail(Step::Chdir, b"")
                });
            }
        }
        if let Some(mask) = self.umask {
            // SAFETY: umask cannot fail.
            unsafe { libc::umask(mask as libc::mode_t) };
        }
        for (i, (fd, step)) in self
            .stdio
            .iter()
            .zip([Step::Stdin, Step::Stdout, Step::Stderr])
            .enumerate()
        {
            if let Some(fd) = fd
                && let Err(errno) = dup_to(fd.as_raw_fd(), i as RawFd)
            {
                return Err(Failure {
                    step,
                    errno,
                    detail: &self.stdio_detail[i],
                });
            }
        }
        for (target, fd) in &self.fds {
            dup_to(fd.as_raw_fd(), *target).map_err(|errno| Failure {
                step: Step::Fd,
                errno,
                detail: b"",
            })?;
        }
        if self.close_fds {
            close_inherited(close, &self.keep, keep).map_err(|errno| Failure {
                step: Step::CloseFds,
                errno,
                detail: b"",
            })?;
        }
        if let Some(creds) = &self.credentials {
            creds.drop_privileges().map_err(|e| Failure {
                step: e.step.into(),
                errno: e.errno,
                detail: &self.cred_detail,
            })?;
        }
        Ok(())
    }
}

/// The other half of [`Prepared::install`]: reads which step failed when a spawn fails.
#[derive(Debug)]
pub struct SpawnCheck {
    read: Option<OwnedFd>,
    program: String,
}

impl SpawnCheck {
    /// Passes a successful spawn through; turns a failed one into the step that failed: a
    /// set-up step reported by the child, or [`Step::Exec`] with the error of `execvp`
    /// (`ENOENT`: not found; `EACCES`, `ENOEXEC`: not executable).
    pub fn check<T>(self, spawned: io::Result<T>) -> Result<T, StepError> {
        let error = match spawned {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        let mut buf = [0u8; MESSAGE_MAX];
        if let Some(Ok(n)) = self.read.as_ref().map(|r| rustix::io::read(r, &mut buf)) {
            let line = buf[..n].strip_suffix(b"\n").unwrap_or(&buf[..n]);
            if let Some(status::Message::Failed(e)) = status::decode(line) {
                return Err(e);
            }
        }
        Err(StepError::from_io(Step::Exec, &error, self.program))
    }
}

/// `dup2(2)` of `fd` onto `target`; when they are already equal, clears `FD_CLOEXEC` instead
/// (`dup2` of a descriptor onto itself would keep the flag). Async-signal-safe.
fn dup_to(fd: RawFd, target: RawFd) -> Result<(), i32> {
    // SAFETY: plain system calls with integer arguments.
    let r = unsafe {
        if fd == target {
            libc::fcntl(fd, libc::F_SETFD, 0)
        } else {
            libc::dup2(fd, target)
        }
    };
    if r < 0 { Err(errno()) } else { Ok(()) }
}

/// Closes (or marks close-on-exec) every descriptor from 3 up, except those in `keep_a` and
/// `keep_b` (`keep_a` sorted; `keep_b` in any order). Uses `close_range(2)` on the gaps, and
/// falls back to one `close`/`fcntl` per descriptor up to `RLIMIT_NOFILE` on kernels without
/// it. Async-signal-safe: no allocation.
fn close_inherited(mode: CloseMode, keep_a: &[RawFd], keep_b: &[RawFd]) -> Result<(), i32> {
    let mut low: u32 = 3;
    loop {
        // The smallest kept descriptor at or above `low`.
        let next = keep_a
            .iter()
            .chain(keep_b)
            .filter(|&&fd| fd >= 0 && fd as u32 >= low)
            .min()
            .map(|&fd| fd as u32);
        match next {
            Some(fd) => {
                if fd > low {
                    close_range(low, fd - 1, mode)?;
                }
                low = fd + 1;
            }
            None => return close_range(low, u32::MAX, mode),
        }
    }
}

/// `close_range(2)` with or without `CLOSE_RANGE_CLOEXEC`, with a fallback loop.
fn close_range(low: u32, high: u32, mode: CloseMode) -> Result<(), i32> {
    let flags = match mode {
        CloseMode::Close => 0,
        CloseMode::Cloexec => libc::CLOSE_RANGE_CLOEXEC as libc::c_int,
    };
    // SAFETY: plain system call with integer arguments.
    if unsafe { libc::close_range(low, high, flags) } == 0 {
        return Ok(());
    }
    let e = errno();
    if e != libc::ENOSYS && e != libc::EINVAL {
        return Err(e);
    }
    // Old kernel: walk the descriptors up to the limit.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: pointer to a live struct.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        lim.rlim_cur.min(1 << 20) as u32
    } else {
        1024
    };
    for fd in low..=high.min(max.saturating_sub(1)) {
        // SAFETY: closing or flagging descriptors we own by inheritance; EBADF is fine.
        unsafe {
            match mode {
                CloseMode::Close => libc::close(fd as RawFd),
                CloseMode::Cloexec => libc::fcntl(fd as RawFd, libc::F_SETFD, libc::FD_CLOEXEC),
            };
        }
    }
    Ok(())
}

/// The calling thread's `errno`.
fn errno() -> i32 {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() }
}
