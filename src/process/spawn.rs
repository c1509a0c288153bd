//! Starting the child: `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)`, the work before exec,
//! and the report of a failed step.
//!
//! # Design
//!
//! This is the `posix_spawn` technique (glibc and musl start children the same way), with the
//! pre-exec steps `posix_spawn` cannot express:
//!
//! * **Everything fallible happens in the parent first**: argv, envp and every `PATH`
//!   candidate become `CString`s, the pipes are created, inherited fds are checked, the fd moves
//!   and close ranges are computed. The child only walks these arrays.
//! * **`CLONE_VM | CLONE_VFORK`**: the child shares the parent's memory and runs on a separate
//!   stack (mmap'd once per thread, with a guard page) while the calling thread is suspended
//!   until the child execs or exits. No page tables are copied, which is why this is as fast
//!   as `posix_spawn` even from a large, multithreaded parent. Because memory is shared, the
//!   child reports a failed step by storing the step and errno in the plan it was handed; the
//!   parent reads it when it resumes. That is the same guarantee as a `CLOEXEC` error pipe
//!   (exec success is "no report"), without the pipe.
//! * **`CLONE_PIDFD`**: the kernel returns a pidfd for the child atomically with its creation,
//!   so the handle never has a window in which it only knows a PID that could be reused.
//! * **Signals**: all signals are blocked in the calling thread around `clone`, so no handler of
//!   the parent can run in the child (it would run on shared memory). The child resets every
//!   disposition that is not `SIG_DFL` (handled *and* ignored ones) to `SIG_DFL`, then installs
//!   an empty mask just before `execve`: it starts with a clean slate whatever the parent did.
//!
//! # What the child may do
//!
//! Between `clone` and `execve` the child may only make async-signal-safe calls that touch no
//! shared state: no allocation (the allocator's locks and heap are the parent's), no
//! formatting, no panics, no thread-locals of its own. Credentials are changed with raw system
//! calls, because the C library's `setuid`/`setgroups` wrappers broadcast the change to every
//! thread of the *parent* (whose thread list the child sees through the shared memory).
//! Each `unsafe` block in [`child_main`] says why its call is safe there.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use tokio::io::Interest;

use super::child::{Child, Options};
use super::command::Command;
use super::error::{Error, SpawnStep};
use super::fdmap::{FdMove, FdPlan};
use super::io::{ChildReader, ChildWriter};
use super::pidfd;

/// What the child reads (and, for the report, writes) between `clone` and `execve`.
///
/// Lives on the parent's stack for the duration of the `clone` call; the parent thread is
/// suspended (`CLONE_VFORK`) until the child has exec'd or exited, so every borrow stays valid.
struct ChildPlan<'a> {
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    candidates: &'a [*const libc::c_char],
    moves: &'a mut [FdMove],
    relocate: bool,
    floor: RawFd,
    close_ranges: &'a [(u32, u32)],
    setsid: bool,
    pgroup: Option<i32>,
    umask: Option<libc::mode_t>,
    rlimits: &'a [(libc::c_int, [u64; 2])],
    cwd: Option<&'a CStr>,
    groups: Option<&'a [libc::gid_t]>,
    clear_groups: bool,
    gid: Option<libc::gid_t>,
    uid: Option<libc::uid_t>,
    /// The failed step (`step_code`), or 0 while nothing failed.
    failed_step: AtomicU32,
    /// The errno of the failed step.
    errno: AtomicI32,
    /// Which item of the step failed (fd map index, rlimit index), for the message.
    failed_item: AtomicI32,
}

/// Steps as numbers for the report; 0 means "no failure".
const STEPS: [SpawnStep; 12] = [
    SpawnStep::Signals,
    SpawnStep::Setsid,
    SpawnStep::ProcessGroup,
    SpawnStep::FdMap,
    SpawnStep::CloseFds,
    SpawnStep::Umask,
    SpawnStep::Rlimit,
    SpawnStep::Chdir,
    SpawnStep::Groups,
    SpawnStep::Gid,
    SpawnStep::Uid,
    SpawnStep::Exec,
];

const fn step_code(step: SpawnStep) -> u32 {
    let mut i = 0;
    while i < STEPS.len() {
        if STEPS[i] as u32 == step as u32 {
            return i as u32 + 1;
        }
        i += 1;
    }
    0
}

/// The child's side. Never returns: it execs or `_exit(127)`s after storing the failed step.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `ChildPlan` the suspended parent passed to clone; it outlives us.
    let plan = unsafe { &mut *(arg as *mut ChildPlan<'_>) };
    let (step, errno, item) = child_steps(plan);
    plan.failed_item.store(item, Ordering::SeqCst);
    plan.errno.store(errno, Ordering::SeqCst);
    plan.failed_step.store(step_code(step), Ordering::SeqCst);
    // SAFETY: _exit(2) ends the child without running atexit handlers or flushing the parent's
    // stdio buffers (which we share).
    unsafe { libc::_exit(127) }
}

/// The current errno. Reads the calling thread's errno slot (shared with the suspended parent
/// thread, whose own errno no longer matters once clone has returned a PID).
fn errno() -> libc::c_int {
    // SAFETY: __errno_location always returns a valid pointer for the current thread.
    unsafe { *libc::__errno_location() }
}

/// Raw system call numbers for the credential calls (32-bit ids on the old 32-bit ABIs).
#[cfg(any(target_arch = "x86", target_arch = "arm"))]
mod sys_ids {
    pub const SETGROUPS: libc::c_long = libc::SYS_setgroups32;
    pub const SETRESGID: libc::c_long = libc::SYS_setresgid32;
    pub const SETRESUID: libc::c_long = libc::SYS_setresuid32;
}
#[cfg(not(any(target_arch = "x86", target_arch = "arm")))]
mod sys_ids {
    pub const SETGROUPS: libc::c_long = libc::SYS_setgroups;
    pub const SETRESGID: libc::c_long = libc::SYS_setresgid;
    pub const SETRESUID: libc::c_long = libc::SYS_setresuid;
}

/// Runs the child's steps in order; returns only on failure, with (step, errno, item).
///
/// Every call below is a thin system call wrapper (or a raw `syscall`) that is
/// async-signal-safe, allocates nothing and takes no lock; all data was prepared by the parent.
fn child_steps(plan: &mut ChildPlan<'_>) -> (SpawnStep, libc::c_int, i32) {
    // 1. Default dispositions for every signal (handled *and* ignored ones). All signals are
    //    blocked (the parent blocked them around clone), so nothing is delivered meanwhile.
    //    The raw system call, because the C library's sigaction refuses the signals it keeps
    //    for itself (32 and 33 on glibc), which a parent may still have ignored. An all-zero
    //    kernel `struct sigaction` is SIG_DFL with no flags and an empty mask on every layout.
    let dfl = [0u64; 4];
    let mut sig = 1;
    while sig < 65 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: rt_sigaction(sig, &dfl, NULL, 8) only reads our zeroed struct.
            let ret = unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    dfl.as_ptr(),
                    ptr::null_mut::<u64>(),
                    8usize,
                )
            };
            if ret != 0 {
                return (SpawnStep::Signals, errno(), sig);
            }
        }
        sig += 1;
    }

    // 2. Session / process group.
    // SAFETY: setsid and setpgid are plain system calls.
    if plan.setsid && unsafe { libc::setsid() } < 0 {
        return (SpawnStep::Setsid, errno(), 0);
    }
    if let Some(pgid) = plan.pgroup {
        // SAFETY: as above.
        if unsafe { libc::setpgid(0, pgid) } != 0 {
            return (SpawnStep::ProcessGroup, errno(), pgid);
        }
    }

    // 3. The fd map. Sources are open in our copy of the fd table (most are CLOEXEC).
    if plan.relocate {
        for (i, m) in plan.moves.iter_mut().enumerate() {
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) is a plain system call.
            let fd = unsafe { libc::fcntl(m.source, libc::F_DUPFD_CLOEXEC, plan.floor) };
            if fd < 0 {
                return (SpawnStep::FdMap, errno(), i as i32);
            }
            m.scratch = fd;
        }
    } else {
        for m in plan.moves.iter_mut() {
            m.scratch = m.source;
        }
    }
    for (i, m) in plan.moves.iter().enumerate() {
        // dup2 leaves the target without CLOEXEC; an fd that already sits at its number only
        // needs the flag cleared.
        // SAFETY: dup2 and fcntl(F_SETFD) are plain system calls.
        let ret = unsafe {
            if m.scratch == m.target {
                libc::fcntl(m.target, libc::F_SETFD, 0)
            } else {
                libc::dup2(m.scratch, m.target)
            }
        };
        if ret < 0 {
            return (SpawnStep::FdMap, errno(), i as i32);
        }
    }

    // 4. Close everything that is not a target (including relocated scratch fds).
    for &(lo, hi) in plan.close_ranges {
        // SAFETY: close_range(2) is a plain system call on our own fd table.
        let ret = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0) };
        if ret != 0 {
            let e = errno();
            if e != libc::ENOSYS && e != libc::EINVAL {
                return (SpawnStep::CloseFds, e, 0);
            }
            // Kernels before 5.9: close one by one up to the fd limit.
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes into `limit`.
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
            #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on glibc, not everywhere
            let top = (limit.rlim_cur as u64).min(u64::from(hi)).min(1 << 20) as u32;
            let mut fd = lo;
            while fd <= top && fd < u32::MAX {
                // SAFETY: closing fds of our own table; EBADF for closed ones is ignored.
                unsafe { libc::close(fd as RawFd) };
                fd += 1;
            }
        }
    }

    // 5. umask, resource limits.
    if let Some(mask) = plan.umask {
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(mask) };
    }
    for (i, (resource, limit)) in plan.rlimits.iter().enumerate() {
        // SAFETY: prlimit64(0, ...) sets our own limit from a two-u64 array, the kernel's
        // struct rlimit64 layout.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_prlimit64,
                0,
                *resource,
                limit.as_ptr(),
                ptr::null_mut::<u64>(),
            )
        };
        if ret != 0 {
            return (SpawnStep::Rlimit, errno(), i as i32);
        }
    }

    // 6. Working directory, while we still have the parent's credentials.
    if let Some(cwd) = plan.cwd {
        // SAFETY: chdir with a NUL-terminated path prepared by the parent.
        if unsafe { libc::chdir(cwd.as_ptr()) } != 0 {
            return (SpawnStep::Chdir, errno(), 0);
        }
    }

    // 7. Credentials: groups, then gid, then uid (after which we can no longer change them).
    //    Raw system calls: they change this one thread, which is the whole child process.
    if let Some(groups) = plan.groups {
        // SAFETY: setgroups with a length and a pointer to that many gids.
        let ret = unsafe { libc::syscall(sys_ids::SETGROUPS, groups.len(), groups.as_ptr()) };
        if ret != 0 {
            return (SpawnStep::Groups, errno(), 0);
        }
    } else if plan.clear_groups {
        // Dropping root: do not keep root's supplementary groups. Best effort, as std does.
        // SAFETY: setgroups(0, NULL) clears the list.
        unsafe { libc::syscall(sys_ids::SETGROUPS, 0, ptr::null::<libc::gid_t>()) };
    }
    if let Some(gid) = plan.gid {
        // SAFETY: setresgid with three plain ids.
        if unsafe { libc::syscall(sys_ids::SETRESGID, gid, gid, gid) } != 0 {
            return (SpawnStep::Gid, errno(), 0);
        }
    }
    if let Some(uid) = plan.uid {
        // SAFETY: setresuid with three plain ids.
        if unsafe { libc::syscall(sys_ids::SETRESUID, uid, uid, uid) } != 0 {
            return (SpawnStep::Uid, errno(), 0);
        }
    }

    // 8. Empty signal mask, then exec. A signal that arrived meanwhile is delivered now with
    //    its default action, as it would have been in the new program.
    // SAFETY: sigemptyset fills a local set; sigprocmask is a plain system call.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, ptr::null_mut());
    }

    // 9. execve each PATH candidate in turn, like execvp: skip "not there", remember "not
    //    allowed", stop at any other error (a real file that cannot be executed).
    let mut saw_eacces = false;
    let mut last = libc::ENOENT;
    for &path in plan.candidates {
        // SAFETY: execve with NUL-terminated strings and null-terminated arrays from the
        // parent. It only returns on failure.
        unsafe { libc::execve(path, plan.argv, plan.envp) };
        last = errno();
        match last {
            libc::EACCES => saw_eacces = true,
            libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
            _ => return (SpawnStep::Exec, last, 0),
        }
    }
    (
        SpawnStep::Exec,
        if saw_eacces { libc::EACCES } else { last },
        0,
    )
}

/// The stack the child runs on: 256 KiB of lazily backed memory above a guard page.
struct ChildStack {
    base: *mut libc::c_void,
    len: usize,
}

const STACK_SIZE: usize = 256 * 1024;

impl ChildStack {
    /// `mmap(2)` a stack and `mprotect(2)` its lowest page as a guard.
    fn new() -> io::Result<ChildStack> {
        // SAFETY: an anonymous private mapping; checked for MAP_FAILED.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                STACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = ChildStack {
            base,
            len: STACK_SIZE,
        };
        // SAFETY: sysconf is always safe; mprotect on the first page of our own mapping.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE).max(4096) as usize;
            if libc::mprotect(base, page, libc::PROT_NONE) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(stack)
    }

    /// The initial stack pointer: the (page-aligned, so 16-byte aligned) top of the mapping.
    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of our own mapping.
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping we own; no child runs on it any more.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

thread_local! {
    /// One stack per thread, reused: a `CLONE_VFORK` child is done with it (exec'd or exited)
    /// before the thread can start another.
    static STACK: Cell<Option<ChildStack>> = const { Cell::new(None) };
}

/// `clone(2)` with `CLONE_VM | CLONE_VFORK | CLONE_PIDFD` and `SIGCHLD` as exit signal, running
/// [`child_main`] on a separate stack. Returns the child's PID and pidfd once the child has
/// exec'd or exited.
fn clone_child(plan: &mut ChildPlan<'_>) -> io::Result<(libc::pid_t, OwnedFd)> {
    let stack = match STACK.try_with(Cell::take) {
        Ok(Some(stack)) => stack,
        _ => ChildStack::new()?,
    };
    let mut pidfd: libc::c_int = -1;
    let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD;
    // SAFETY: sigfillset/pthread_sigmask on local sets; clone runs child_main on a stack we own
    // with a plan that outlives the call (we are suspended until the child execs or exits).
    // The trailing arguments are parent_tid (where CLONE_PIDFD stores the pidfd), tls and
    // child_tid (unused without CLONE_SETTLS / CLONE_CHILD_*TID).
    let (pid, err) = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(
            child_main,
            stack.top(),
            flags,
            (plan as *mut ChildPlan<'_>).cast(),
            &mut pidfd as *mut libc::c_int,
            ptr::null_mut::<libc::c_void>(),
            ptr::null_mut::<libc::pid_t>(),
        );
        let err = io::Error::last_os_error();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut());
        (pid, err)
    };
    // If the thread-local is gone (thread exiting), the stack is unmapped here instead.
    let mut stack = Some(stack);
    let _ = STACK.try_with(|slot| slot.set(stack.take()));
    drop(stack);
    if pid < 0 {
        return Err(err);
    }
    // SAFETY: CLONE_PIDFD stored a new CLOEXEC pidfd that nothing else owns.
    Ok((pid, unsafe { OwnedFd::from_raw_fd(pidfd) }))
}

/// `value` as a C string, or an error naming what contained a NUL byte.
fn cstring(what: &str, value: &OsStr) -> Result<CString, Error> {
    CString::new(value.as_bytes())
        .map_err(|_| Error::InvalidCommand(format!("{what} {value:?} contains a NUL byte")))
}

/// The child's environment as `KEY=VALUE` strings.
fn environment(cmd: &Command) -> Result<(Vec<CString>, Option<OsString>), Error> {
    let mut env: BTreeMap<OsString, OsString> = if cmd.env_clear {
        BTreeMap::new()
    } else {
        std::env::vars_os().collect()
    };
    for (key, value) in &cmd.env {
        let bytes = key.as_bytes();
        if bytes.is_empty() || bytes.contains(&b'=') || bytes.contains(&0) {
            return Err(Error::InvalidCommand(format!(
                "environment variable name {key:?} is empty or contains '=' or NUL"
            )));
        }
        match value {
            Some(v) => env.insert(key.clone(), v.clone()),
            None => env.remove(key),
        };
    }
    let path = env.get(OsStr::new("PATH")).cloned();
    let mut out = Vec::with_capacity(env.len());
    for (key, value) in env {
        let mut entry = key.into_vec();
        entry.push(b'=');
        entry.extend_from_slice(value.as_bytes());
        out.push(CString::new(entry).map_err(|e| {
            Error::InvalidCommand(format!(
                "environment entry {:?} contains a NUL byte",
                OsStr::from_bytes(&e.into_vec())
            ))
        })?);
    }
    Ok((out, path))
}

/// The paths to try for `program`: itself if it contains a `/`, else each `PATH` entry.
fn candidates(program: &OsStr, child_path: Option<OsString>) -> Result<Vec<CString>, Error> {
    let bytes = program.as_bytes();
    if bytes.is_empty() {
        return Err(Error::InvalidCommand(
            "the program name is empty".to_owned(),
        ));
    }
    if bytes.contains(&b'/') {
        return Ok(vec![cstring("program", program)?]);
    }
    let path = child_path
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    let mut out = Vec::new();
    for dir in path.as_bytes().split(|&b| b == b':') {
        let mut full = if dir.is_empty() {
            b".".to_vec()
        } else {
            dir.to_vec()
        };
        full.push(b'/');
        full.extend_from_slice(bytes);
        out.push(cstring("program", OsStr::from_bytes(&full))?);
    }
    Ok(out)
}

/// A null-terminated array of pointers into `strings`.
fn pointers(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(ptr::null()))
        .collect()
}

/// [`Command::spawn`].
pub(crate) fn spawn(cmd: &Command) -> Result<Child, Error> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::Io(io::Error::other(
            "pidward::process::Command::spawn must be called from inside a tokio runtime",
        )));
    }
    let program = cmd.program.to_string_lossy().into_owned();

    // Everything fallible first: strings, lookups, pipes.
    let mut argv_strings = Vec::with_capacity(cmd.args.len() + 1);
    argv_strings.push(cstring("program", &cmd.program)?);
    for arg in &cmd.args {
        argv_strings.push(cstring("argument", arg)?);
    }
    let (env_strings, child_path) = environment(cmd)?;
    let candidate_strings = candidates(&cmd.program, child_path)?;
    let cwd = match &cmd.cwd {
        Some(dir) => Some(cstring("working directory", dir.as_os_str())?),
        None => None,
    };
    let setsid = cmd.setsid;
    if setsid && cmd.pgroup.is_some() {
        return Err(Error::InvalidCommand(
            "setsid and process_group exclude each other (a new session is a new group)".to_owned(),
        ));
    }
    let pgroup = match (cmd.pgroup, cmd.kill_group, setsid) {
        (Some(pgid), _, _) => Some(pgid),
        (None, true, false) => Some(0),
        (None, _, _) => None,
    };
    if matches!(pgroup, Some(pgid) if pgid < 0) {
        return Err(Error::InvalidCommand(format!(
            "process group {} is negative",
            pgroup.unwrap_or_default()
        )));
    }
    let rlimits: Vec<(libc::c_int, [u64; 2])> = cmd
        .rlimits
        .iter()
        .map(|&(r, soft, hard)| (r.as_raw(), [soft, hard]))
        .collect();
    for &(r, soft, hard) in &cmd.rlimits {
        if soft > hard {
            return Err(Error::InvalidCommand(format!(
                "resource limit {r:?}: soft limit {soft} is above hard limit {hard}"
            )));
        }
    }

    let mut fds = FdPlan::new(&cmd.fds).map_err(|e| with_program(e, &program))?;
    // Register our pipe ends with the runtime before the child exists, so that a runtime
    // without I/O is an error that starts nothing.
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for (child_fd, dir, fd) in std::mem::take(&mut fds.parent_ends) {
        match dir {
            super::fdmap::Direction::Read => {
                readers.push(ChildReader::new(child_fd, fd, cmd.pipe_size)?)
            }
            super::fdmap::Direction::Write => {
                writers.push(ChildWriter::new(child_fd, fd, cmd.pipe_size)?)
            }
        }
    }

    let argv = pointers(&argv_strings);
    let envp = pointers(&env_strings);
    let candidate_ptrs: Vec<*const libc::c_char> =
        candidate_strings.iter().map(|s| s.as_ptr()).collect();
    let groups: Option<Vec<libc::gid_t>> = cmd.groups.clone();
    // SAFETY: geteuid cannot fail.
    let clear_groups = cmd.uid.is_some() && cmd.groups.is_none() && unsafe { libc::geteuid() } == 0;

    let mut plan = ChildPlan {
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        candidates: &candidate_ptrs,
        moves: &mut fds.moves,
        relocate: fds.relocate,
        floor: fds.floor,
        close_ranges: &fds.close_ranges,
        setsid,
        pgroup,
        umask: cmd.umask.map(|m| m as libc::mode_t),
        rlimits: &rlimits,
        cwd: cwd.as_deref(),
        groups: groups.as_deref(),
        clear_groups,
        gid: cmd.gid,
        uid: cmd.uid,
        failed_step: AtomicU32::new(0),
        errno: AtomicI32::new(0),
        failed_item: AtomicI32::new(0),
    };

    let (pid, pidfd) = clone_child(&mut plan).map_err(|source| Error::Spawn {
        program: program.clone(),
        step: SpawnStep::Clone,
        detail: "clone".to_owned(),
        source,
    })?;
    // The child has exec'd (or died): our copies of its fds can go.
    drop(std::mem::take(&mut fds.child_ends));

    let code = plan.failed_step.load(Ordering::SeqCst);
    if code != 0 {
        let errno = plan.errno.load(Ordering::SeqCst);
        let item = plan.failed_item.load(Ordering::SeqCst);
        // The child is exiting: reap it now so that no zombie is left.
        let _ = pidfd::wait(pidfd.as_fd(), true);
        let step = STEPS[(code - 1) as usize];
        let detail = describe(cmd, &fds, step, item);
        return Err(Error::Spawn {
            program,
            step,
            detail,
            source: io::Error::from_raw_os_error(errno),
        });
    }

    let pidfd = match super::io::register(pidfd, Interest::READABLE) {
        Ok(fd) => fd,
        Err((pidfd, e)) => {
            // Cannot watch it: do not leave it running unattended.
            let _ = pidfd::send_signal(pidfd.as_fd(), crate::Signal::KILL);
            let _ = pidfd::wait(pidfd.as_fd(), true);
            return Err(Error::Io(e));
        }
    };
    let group = if cmd.kill_group {
        match pgroup {
            Some(0) | None => Some(pid),
            Some(pgid) => Some(pgid),
        }
    } else {
        None
    };
    Ok(Child::new(
        pid as u32,
        pidfd,
        readers,
        writers,
        Options {
            kill_on_drop: cmd.kill_on_drop,
            group,
        },
    ))
}

/// Puts the program name into an error made before it was known.
fn with_program(e: Error, program: &str) -> Error {
    match e {
        Error::Spawn {
            step,
            detail,
            source,
            ..
        } => Error::Spawn {
            program: program.to_owned(),
            step,
            detail,
            source,
        },
        other => other,
    }
}

/// The failed step with its argument, for the error message.
fn describe(cmd: &Command, fds: &FdPlan, step: SpawnStep, item: i32) -> String {
    match step {
        SpawnStep::Exec => format!("executing {:?}", cmd.program),
        SpawnStep::Chdir => format!(
            "changing directory to {:?}",
            cmd.cwd.as_deref().unwrap_or(std::path::Path::new(""))
        ),
        SpawnStep::FdMap => match fds.moves.get(item as usize) {
            Some(m) => format!("placing fd {} at child fd {}", m.source, m.target),
            None => step.to_string(),
        },
        SpawnStep::Rlimit => match cmd.rlimits.get(item as usize) {
            Some((r, soft, hard)) => format!("setting resource limit {r:?} to {soft}/{hard}"),
            None => step.to_string(),
        },
        SpawnStep::Uid => format!("setting user id {}", cmd.uid.unwrap_or_default()),
        SpawnStep::Gid => format!("setting group id {}", cmd.gid.unwrap_or_default()),
        SpawnStep::Groups => format!("setting supplementary groups {:?}", cmd.groups),
        SpawnStep::ProcessGroup => format!("joining process group {item}"),
        SpawnStep::Signals => format!("resetting signal {item}"),
        other => other.to_string(),
    }
}
