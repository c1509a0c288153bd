//! `pidward lock --etcd ENDPOINTS NAME COMMAND`: the command under a cluster lock
//! ([`pidward::cluster`]) that stops it before the lock can pass to anyone else.
//!
//! The lock is taken as `etcdctl lock NAME` takes it (the two exclude each other), with the
//! local lock's options: `-s`, `-x`, `-n`, `-w` (a deadline for connecting and waiting), `-E`,
//! `--verbose`, `-c`. `--ttl` sets the lease's TTL (default 10 s, at least 2) and
//! `--kill-after` the grace between `SIGTERM` and `SIGKILL` when the lock is lost (default
//! min(5 s, TTL/3), at most TTL/3). `-F`, `-o`, `-u`, `--fcntl` and a descriptor operand are
//! usage errors: something must stay alive to keep the lease, and there is no descriptor.
//!
//! The command runs in a process group of its own, under [`pidward::supervise`] (signals are
//! forwarded), with `PR_SET_PDEATHSIG(SIGKILL)` set between fork and exec, and the group is
//! led by a watchdog that kills all of it when pidward dies (`etcd/group.rs`), so that a
//! `kill -9` of pidward takes the command and what it forked with it rather than leave them
//! running unlocked.
//! When the lease keeper declares the lock lost, the group gets `SIGTERM`, then `SIGKILL`
//! after the grace, and pidward exits 75 (`EX_TEMPFAIL`, or `--lost-exit-code N`) whatever
//! the command did: all before etcd can expire the lease. The command's environment has
//! `PIDWARD_LOCK_KEY`, `PIDWARD_LOCK_REV` (the key's create revision, a fencing token),
//! `PIDWARD_LOCK_LEASE` (hex, as etcdctl writes lease IDs), and `ETCD_LOCK_KEY` /
//! `ETCD_LOCK_REV` for scripts written for etcdctl.
//!
//! With etcd's authentication on, `PIDWARD_ETCD_USER` (`USER` or `USER:PASSWORD`) and
//! `PIDWARD_ETCD_PASSWORD` give the credentials (the environment, not argv, which any user
//! can read with `ps`). TLS takes etcdctl's three files: `--cacert` (the CA certificates that
//! etcd's certificate must chain to; default the system's), `--cert` and `--key` (a client
//! certificate, for etcd's `--client-cert-auth`), or `PIDWARD_ETCD_CACERT`,
//! `PIDWARD_ETCD_CERT` and `PIDWARD_ETCD_KEY` (the options win). `https://` endpoints speak
//! TLS, and so do endpoints without a scheme when any of the three is given.
//!
//! Exit codes beyond the local lock's: 64 (usage) for a TLS file that cannot be read or used;
//! 68 (`EX_NOHOST`, which no flock path uses) when etcd cannot be reached, TLS with it fails,
//! or it fails before the lock is held; 75 when the lock was lost.

//!
//! The long options are pidward's own: abbreviations of flock's options keep flock's
//! meaning (`--t` is `--timeout`), so these are matched in full or by a prefix no flock option
//! has (`getopt.rs`).
//!
//! This file reads the options; `etcd/cluster.rs` takes the lock and runs the command,
//! `etcd/fence.rs` stops it when the lock is lost, `etcd/group.rs` is its process group. Without the `etcd` feature, `--etcd` is a
//! usage error that says so.

use std::ffi::{OsStr, OsString};
use std::time::Duration;

use pidward::time::parse_seconds;

use super::options::Opt;
use super::{Failure, USAGE};

#[cfg(feature = "etcd")]
mod cluster;
#[cfg(feature = "etcd")]
mod fence;
#[cfg(feature = "etcd")]
mod group;

#[cfg(feature = "etcd")]
pub use cluster::run;

/// The settings of a cluster lock, as the options set them.
#[derive(Debug, Default)]
pub struct Settings {
    endpoints: Option<OsString>,
    ttl: Option<Duration>,
    kill_after: Option<Duration>,
    lost_exit_code: Option<u8>,
    /// `--cacert`, `--cert`, `--key`.
    pub(super) tls_files: Box<[Option<OsString>; 3]>,
}

impl Settings {
    /// Apply one of the cluster options.
    pub fn set(&mut self, opt: Opt, value: &OsStr) -> Result<(), Failure> {
        let text = value.to_string_lossy();
        let secs = |what: &str| {
            parse_seconds(&text)
                .map_err(|e| Failure::new(USAGE, format!("invalid {what}: '{text}': {e}")))
        };
        match opt {
            Opt::Etcd => self.endpoints = Some(value.to_owned()),
            Opt::Ttl => self.ttl = Some(secs("--ttl")?),
            Opt::KillAfter => self.kill_after = Some(secs("--kill-after")?),
            Opt::LostExitCode => {
                let code = text.trim().parse::<u8>().map_err(|_| {
                    Failure::new(
                        USAGE,
                        format!("invalid --lost-exit-code (allowed values: 0-255): '{text}'"),
                    )
                })?;
                self.lost_exit_code = Some(code);
            }
            Opt::CaCert => self.tls_files[0] = Some(value.to_owned()),
            Opt::Cert => self.tls_files[1] = Some(value.to_owned()),
            Opt::Key => self.tls_files[2] = Some(value.to_owned()),
            _ => unreachable!("not a cluster option: {opt:?}"),
        }
        Ok(())
    }

    /// Whether the command line asks for the cluster lock (any of its options).
    pub fn wanted(&self) -> bool {
        self.endpoints.is_some()
            || self.ttl.is_some()
            || self.kill_after.is_some()
            || self.lost_exit_code.is_some()
            || self.tls_files.iter().any(Option::is_some)
    }
}

/// Without the `etcd` feature: say so.
#[cfg(not(feature = "etcd"))]
pub fn run(_: &super::Name, _: super::options::Invocation) -> Result<u8, Failure> {
    Err(Failure::new(
        USAGE,
        "--etcd: this pidward was built without the etcd feature".into(),
    ))
}
