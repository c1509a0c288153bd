//! [`spawn`]: start a program with a [`Plan`], synchronously, the way `posix_spawn` does.
//!
//! `clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD)` (the technique of glibc's and musl's
//! `posix_spawn`, with the steps it cannot express):
//!
//! * **No copy of the parent.** The child shares the parent's memory and runs on a separate
//!   stack (mapped once and reused, with a guard page) while the calling thread is suspended
//!   until the child execs or exits. No page tables are copied, which is why this is as fast
//!   as `posix_spawn` even from a large, multithreaded parent.
//! * **The report is shared memory.** A failed step is stored as step, errno and index in a
//!   structure on the parent's stack; the parent reads it when it resumes. That is the
//!   guarantee of a `CLOEXEC` error pipe (exec success is "no report"), without the pipe.
//! * **A pidfd from the start.** `CLONE_PIDFD` returns a pidfd atomically with the child's
//!   creation, so there is no window in which only a reusable PID names it.
//! * **Signals.** Every signal is blocked in the calling thread around `clone`, so no handler
//!   of the parent can run in the child (it would run on shared memory); the child resets
//!   every disposition and unblocks everything just before `execve`.
//!
//! What the child runs is [`apply`](super::apply), the one file to read to check that.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, Ordering};

use super::apply::{Shared, entry};
use super::plan::Failure;
use super::{Error, Exec, Plan, Step};

/// A started child: its PID and its pidfd. The caller reaps it.
#[derive(Debug)]
pub struct Spawned {
    pid: u32,
    pidfd: OwnedFd,
}

impl Spawned {
    /// The child's PID (meaningful until it is reaped).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The child's pidfd.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// The PID and the pidfd.
    pub fn into_parts(self) -> (u32, OwnedFd) {
        (self.pid, self.pidfd)
    }
}

/// Starts `exec` in a child set up by `plan`; returns once the child has exec'd the program,
/// or with the step that failed (the child is then reaped: nothing is left behind).
///
/// Blocks the calling thread only for as long as the child takes to reach `execve`. The child
/// starts with every signal disposition at `SIG_DFL` (unless
/// [`keep_ignored_signals`](super::Setup::keep_ignored_signals)) and an empty signal mask.
///
/// ```
/// use pidward::child::{Exec, Setup, Step};
///
/// let err = Setup::new()
///     .working_directory("/no/such/directory")
///     .spawn(&Exec::new("true"))
///     .unwrap_err();
/// assert_eq!(err.step(), Step::Chdir);
/// assert_eq!(err.detail(), "/no/such/directory");
/// # Ok::<(), pidward::child::Error>(())
/// ```
pub fn spawn(plan: &Plan, exec: &Exec) -> Result<Spawned, Error> {
    let program = exec.prepare(plan.single_threaded)?;
    let shared = Shared {
        plan,
        program: &program,
        step: AtomicU32::new(0),
        errno: AtomicI32::new(0),
        index: AtomicU32::new(0),
        in_cgroup: AtomicBool::new(false),
    };
    let (pid, pidfd) = clone_child(&shared).map_err(|(step, e)| match step {
        Step::Cgroup => plan.error(&Failure {
            step,
            errno: e.raw_os_error().unwrap_or(libc::EIO),
            index: 0,
        }),
        _ => Error::from_io(step, &e, exec.get_program().to_string_lossy()),
    })?;
    let code = shared.step.load(Ordering::SeqCst);
    if code == 0 {
        return Ok(Spawned {
            pid: pid as u32,
            pidfd,
        });
    }
    let failure = Failure {
        step: Step::from_code(code),
        errno: shared.errno.load(Ordering::SeqCst),
        index: shared.index.load(Ordering::SeqCst),
    };
    // The child is exiting: reap it now so that no zombie is left.
    reap(pidfd.as_fd());
    Err(match failure.step {
        Step::Exec => Error::new(
            Step::Exec,
            failure.errno,
            exec.get_program().to_string_lossy(),
        ),
        _ => plan.error(&failure),
    })
}

/// Replaces the calling process with `exec` (`execve(2)` over the `PATH` candidates, after
/// emptying the signal mask); returns only on failure. A process with no other thread (no
/// thread can start but from this one) hands over its own `environ`.
pub(crate) fn exec_here(exec: &Exec) -> Error {
    let single_threaded = crate::sys::threads::count() == Some(1);
    match exec.prepare(single_threaded) {
        Ok(program) => {
            let failure = super::apply::exec(&program);
            Error::new(
                failure.step,
                failure.errno,
                exec.get_program().to_string_lossy(),
            )
        }
        Err(e) => e,
    }
}

/// Reaps the child that failed a step (`waitid(P_PIDFD)`); it is exiting already.
fn reap(pidfd: BorrowedFd<'_>) {
    let _ = crate::pidfd::reap(pidfd, true);
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

/// The stack of the last spawn, kept for the next: a `CLONE_VFORK` child is done with it
/// (exec'd or exited) by the time the spawn returns. One for the process, taken and given
/// back atomically ([`ChildStack::take`], [`ChildStack::keep`]): a spawn on another thread in
/// the meantime maps one of its own, and unmaps it after if the slot is full again.
///
/// Not a thread-local: a thread-local with a destructor registers it with the C library at
/// its first use (`__cxa_thread_atexit_impl`), whose own first calls are then bound by the
/// loader's lazy-binding trampoline, which saves the CPU's vector registers on the stack: a
/// few kB at the deepest point of a supervisor's start, a page it keeps for its whole life.
static CACHED_STACK: AtomicPtr<libc::c_void> = AtomicPtr::new(ptr::null_mut());

impl ChildStack {
    /// The cached stack, or a new one.
    fn take() -> io::Result<ChildStack> {
        let base = CACHED_STACK.swap(ptr::null_mut(), Ordering::Acquire);
        if base.is_null() {
            return ChildStack::new();
        }
        Ok(ChildStack {
            base,
            len: STACK_SIZE,
        })
    }

    /// Caches the stack for the next spawn, or unmaps it if another is cached already.
    fn keep(self) {
        let stack = std::mem::ManuallyDrop::new(self);
        let cached = CACHED_STACK.compare_exchange(
            ptr::null_mut(),
            stack.base,
            Ordering::Release,
            Ordering::Relaxed,
        );
        if cached.is_err() {
            drop(std::mem::ManuallyDrop::into_inner(stack));
        }
    }
}

/// `clone(2)` with `CLONE_VM | CLONE_VFORK | CLONE_PIDFD` and `SIGCHLD` as exit signal,
/// running [`entry`] on a separate stack. Returns the child's PID and pidfd once the child
/// has exec'd or exited. With the plan's cgroup directory, `clone3(CLONE_INTO_CGROUP)` first
/// (see [`super::clone3`]), and if it refuses, `cgroup.procs` opened (`openat(2)` in the
/// directory; a failure is [`Step::Cgroup`]) for the child to write to, then `clone(2)`.
/// Other failures are [`Step::Fork`].
fn clone_child(shared: &Shared<'_>) -> Result<(libc::pid_t, OwnedFd), (Step, io::Error)> {
    let fork = |e| (Step::Fork, e);
    let stack = ChildStack::take().map_err(fork)?;
    let mut pidfd: libc::c_int = -1;
    let flags = libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD;
    let arg: *mut libc::c_void = (shared as *const Shared<'_>).cast_mut().cast();
    let plan = shared.plan;
    let cgroup = (plan.cgroup_dir.as_ref())
        .map(|(dir, _)| dir)
        .filter(|_| super::clone3::AVAILABLE);
    // SAFETY: sigfillset/pthread_sigmask on local sets; clone3 and clone run `entry` on a
    // stack we own with a `Shared` that outlives the call (we are suspended until the child
    // execs or exits), with every signal blocked. The trailing arguments of clone are
    // parent_tid (where CLONE_PIDFD stores the pidfd), tls and child_tid (unused without
    // CLONE_SETTLS / CLONE_CHILD_*TID); on success that pidfd is new, CLOEXEC and ours alone.
    let spawned = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        shared.in_cgroup.store(cgroup.is_some(), Ordering::SeqCst);
        let born = cgroup.and_then(|dir| {
            super::clone3::clone3_vm(dir.as_raw_fd(), stack.base, stack.len, entry, arg).ok()
        });
        let spawned = born.map(Ok).unwrap_or_else(|| {
            shared.in_cgroup.store(false, Ordering::SeqCst);
            if let (None, Some((dir, _)), None) =
                (&plan.cgroup, &plan.cgroup_dir, plan.cgroup_late.get())
            {
                let procs = rustix::fs::openat(
                    dir,
                    "cgroup.procs",
                    rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                )
                .map_err(|e| (Step::Cgroup, io::Error::from(e)))?;
                let _ = plan.cgroup_late.set(procs);
            }
            let pid = libc::clone(
                entry,
                stack.top(),
                flags,
                arg,
                &mut pidfd as *mut libc::c_int,
                ptr::null_mut::<libc::c_void>(),
                ptr::null_mut::<libc::pid_t>(),
            );
            if pid < 0 {
                return Err(fork(io::Error::last_os_error()));
            }
            Ok((pid, OwnedFd::from_raw_fd(pidfd)))
        });
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, ptr::null_mut());
        spawned
    };
    stack.keep();
    spawned
}
