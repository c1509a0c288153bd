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

/// A duration for people: `12s`, `4m10s`, `2h5m`, `3d4h`.
pub fn human_duration(d: std::time::Duration) -> String {
    timefmt::human(d)
}

/// A time as RFC 3339 UTC with milliseconds: `2026-11-22T13:21:31.123Z`.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    timefmt::format(t)
}
