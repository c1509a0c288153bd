//! What `pidward --version` says: the version, the library features built in, and the oldest
//! kernel the binary runs on, so that a bug report or a deployment check has all three.
//!
//! Everything is known at compile time, so the text is one `concat!` of constants: nothing is
//! formatted at start-up.

/// ` etcd` when the cluster lock is built in, else nothing.
#[cfg(feature = "etcd")]
macro_rules! etcd {
    () => {
        " etcd"
    };
}
#[cfg(not(feature = "etcd"))]
macro_rules! etcd {
    () => {
        ""
    };
}

/// ` process` when the async child-process API is built in, else nothing.
#[cfg(feature = "process")]
macro_rules! process {
    () => {
        " process"
    };
}
#[cfg(not(feature = "process"))]
macro_rules! process {
    () => {
        ""
    };
}

/// `pidward --version`: the version, the features built in, and the oldest Linux pidward runs
/// on (`waitid(P_PIDFD)`, 5.4, is the newest call it cannot do without; newer ones such as
/// `close_range(2)` and `cgroup.kill` are used where present).
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nfeatures: cli",
    etcd!(),
    process!(),
    "\nminimum kernel: Linux 5.4"
);
