//! The one child set-up engine: everything between `fork`/`clone` and `execve`.
//!
//! Starting a process properly is two jobs with opposite constraints, so it is two phases:
//!
//! 1. **A plan, built before forking** ([`Setup`] → [`Setup::prepare`] → [`Plan`]): users and
//!    groups are resolved ([`privileges`](crate::privileges)), output files opened with the
//!    caller's privileges, paths turned into `CString`s, descriptor moves laid out so that no
//!    move can clobber a pending source, the descriptors to keep listed, resource limits
//!    checked, and the detail text of every possible failure written. All allocation and
//!    every look-up happens here, where errors can be reported with words.
//! 2. **One `apply`** (`apply.rs`, the only code in pidward that runs between fork and exec),
//!    which makes system calls on the plan's values, in a fixed order (see [`Setup`]), and
//!    reports a failure as a [`Step`], an errno and an index. It is safe both after `fork`
//!    and inside a `clone(CLONE_VM | CLONE_VFORK)` child; the argument is made once, at the
//!    top of that file.
//!
//! The plan is used three ways: [`Daemon`](crate::daemon::Daemon) applies it to its detached
//! process (or to itself); [`spawn`] starts a program with it, synchronously, the way
//! `posix_spawn` does, returning the PID and a pidfd (`spawn.rs`; a child that is to join a
//! cgroup whose directory the plan holds is made in it by `clone3(CLONE_INTO_CGROUP)`,
//! `clone3.rs`); and
//! [`process::Command`](crate::process) (async) and the supervisor start their children
//! through [`spawn`]. A failure is an [`Error`]: the step, the errno, a detail such as the
//! path involved.
//!
//! ```
//! use pidward::child::{Exec, Setup, Stdio};
//!
//! let spawned = Setup::new()
//!     .working_directory("/")
//!     .umask(0o027)
//!     .stdout(Stdio::null())
//!     .rlimit("nofile=256".parse()?)
//!     .spawn(Exec::new("sh").args(["-c", "exit 3"]))?;
//! let (pid, pidfd) = spawned.into_parts();
//! # let _ = (pid, pidfd);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod apply;
mod clone3;
mod env_file;
mod exec;
mod plan;
mod rlimit;
mod setup;
mod spawn;
mod stdio;
mod step;

pub use env_file::{EnvFileError, parse_env_file};
pub use exec::Exec;
pub use plan::Plan;
pub use rlimit::{Resource, Rlimit, RlimitParseError};
pub use setup::Setup;
pub use spawn::{Spawned, spawn};
pub use stdio::Stdio;
pub use step::{Error, Step};

pub(crate) use apply::Mode;
#[cfg(feature = "process")]
pub(crate) use setup::Session;
pub(crate) use spawn::exec_here;
