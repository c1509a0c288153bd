//! The thin system layer: one wrapper per primitive, used by every other module.
//!
//! pidward talks to the kernel in a handful of recurring ways: read `errno`, wait for one
//! descriptor with a deadline, switch `O_NONBLOCK`, query and reset signal dispositions, close
//! every inherited descriptor, become a child subreaper, read a `/proc` file whole and `/proc/PID/stat`, list a directory, and format an
//! integer without allocating. Each is written once here, so that its corner cases (`EINTR`
//! with the remaining time, flags that must be preserved, signals the C library hides, kernels
//! without `close_range`, command names holding `)`) are handled once.
//!
//! Conventions, after rustix:
//!
//! * **rustix first.** A wrapper calls rustix where rustix has the call, and `libc` (a raw
//!   `syscall` where the C library interferes) only where it has not.
//! * **Each wrapper's first doc line names its system call** and links its manual page.
//! * **Async-signal-safety is stated per item.** [`errno`], [`close_from`],
//!   [`sigaction::reset_raw`] and [`decimal::Decimal`] may run between `fork`/`clone` and
//!   `exec`: they allocate nothing, take no lock and touch no thread-local state other than
//!   `errno`. Everything else is for ordinary code.
//!
//! The layer is crate-private: it is vocabulary for pidward's modules, not an API.

// Not every wrapper has a caller in every feature set (the spawn path exists only with
// `process`), so an unused one is not a mistake.
#![allow(dead_code, unused_imports)]

pub mod cgroup;
mod close_from;
pub mod decimal;
mod dir;
mod errno;
mod nonblocking;
mod poll;
pub mod proc_file;
pub mod proc_stat;
pub mod sigaction;
pub mod subreaper;
pub mod threads;

pub use close_from::close_from;
pub use dir::entry_names;
pub use errno::errno;
pub use nonblocking::set_nonblocking;
pub use poll::poll_fd_until;
