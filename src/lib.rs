//! pidward: the lifecycle of long-running Unix processes, done correctly.
//!
//! (crate documentation is written as the capabilities land)

#![warn(missing_docs)]

pub mod daemon;
pub mod flock;
pub mod liveness;
pub mod lockfile;
pub mod notify;
pub mod pidfd;
pub mod pidfile;
pub mod privileges;
#[cfg(feature = "process")]
pub mod process;
pub mod signal;
pub mod stop;
pub mod supervise;
mod timefmt;

pub use signal::Signal;
