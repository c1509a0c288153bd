//! Acquiring: etcd's own mutex (`client/v3/concurrency/mutex.go`), plus readers.
//!
//! Every contender creates its key `NAME/<lease-hex>` (one transaction: put if its create
//! revision is 0, else read it) on its own lease. The keys' create revisions order the
//! contenders: the holder is the key with the lowest one, and a waiter watches only the key
//! created just before its own until that key is deleted (no thundering herd), then looks
//! again. Once nothing is ahead, it re-reads its own key (a linearizable range) before
//! reporting success: if its lease expired while it waited, the key is gone and so is the
//! lock (the check etcd 3.4's mutex lacks). `etcdctl lock NAME` does exactly this with the
//! same keys, so each excludes the other.
//!
//! Shared holders (readers) use `NAME/s-<lease-hex>` and wait only for *exclusive* keys
//! created before theirs. Exclusive keys are hexadecimal, so they all sort below `NAME/s-`,
//! and "the last exclusive key before mine" is one range `[NAME/, NAME/s-)`. An exclusive
//! contender (pidward's or etcdctl's) waits for every earlier key, shared ones included: the
//! readers/writer order of etcd's `recipes/rwmutex.go` with a layout etcdctl understands.

use std::time::{Duration, Instant};

use super::error::Error;
use super::gateway::{Client, prefix_end};
use super::holder::Holder;
use super::keeper::{Keeper, Loss, LossReason};

/// How one acquisition may wait, resolved to instants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// `None`: fail at once when something is ahead.
    pub(crate) deadline: Option<Instant>,
    /// Bound on one unary call.
    pub(crate) call_timeout: Duration,
}

impl Limits {
    fn call(&self) -> Instant {
        let call = Instant::now() + self.call_timeout;
        self.deadline.map_or(call, |d| d.min(call))
    }
}

/// One contender: its key on its lease.
pub(crate) struct Contender<'a> {
    pub(crate) client: &'a mut Client,
    pub(crate) keeper: &'a Keeper,
    pub(crate) name: &'a str,
    pub(crate) key: String,
    pub(crate) shared: bool,
    pub(crate) limits: Limits,
}

/// The own key of a contender for `name` on `lease`.
pub(crate) fn key_for(name: &str, lease: i64, shared: bool) -> String {
    if shared {
        format!("{name}/s-{lease:x}")
    } else {
        format!("{name}/{lease:x}")
    }
}

impl Contender<'_> {
    /// The range of keys that block this contender: all of `NAME/` for an exclusive one,
    /// the exclusive keys for a shared one.
    fn blockers_end(&self) -> Vec<u8> {
        let prefix = format!("{}/", self.name);
        if self.shared {
            format!("{prefix}s-").into_bytes()
        } else {
            prefix_end(&prefix)
        }
    }

    /// Create the own key with `value`; wait until nothing blocks it. Returns its create
    /// revision.
    pub(crate) fn acquire(&mut self, value: &[u8], lease: i64) -> Result<i64, Error> {
        let rev = self
            .client
            .create(&self.key, value, lease, self.limits.call())?;
        let prefix = format!("{}/", self.name);
        let end = self.blockers_end();
        loop {
            let (ahead, header) = self
                .client
                .range(
                    &prefix,
                    Some(&end),
                    rev - 1,
                    true,
                    1,
                    self.limits.call(),
                    None,
                )
                .map_err(|e| self.lost_or(e))?;
            let Some(ahead) = ahead.into_iter().next() else {
                break;
            };
            let Some(deadline) = self.limits.deadline else {
                let holder = self.first_blocker(rev, ahead.clone());
                return Err(Error::Locked {
                    name: self.name.to_owned(),
                    holder,
                });
            };
            let cancel = Some(self.keeper.lost_fd());
            match self
                .client
                .wait_deleted(&ahead.key, header + 1, deadline, cancel)
            {
                Ok(_) => continue,
                Err(_) if Instant::now() >= deadline => {
                    let holder = Some(self.first_blocker(rev, ahead));
                    return Err(Error::TimedOut {
                        name: self.name.to_owned(),
                        holder,
                    });
                }
                Err(e) if self.keeper.loss().is_some() => return Err(self.lost_or(e)),
                Err(Error::Unreachable { .. } | Error::Server { .. }) => {
                    // The watch's endpoint failed: look again (the range moves on to the
                    // next endpoint), without spinning.
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
        let call = self.limits.call();
        let (mine, _) = self
            .client
            .range(&self.key, None, 0, false, 1, call, None)?;
        if mine.is_empty() {
            return Err(Error::LostWhileWaiting(self.keeper.loss().unwrap_or(
                Loss {
                    reason: LossReason::KeyDeleted,
                    at: std::time::SystemTime::now(),
                    last_renewal: std::time::SystemTime::now(),
                    error: None,
                },
            )));
        }
        Ok(rev)
    }

    /// The lease's loss, if that is why a call failed, else the call's error.
    fn lost_or(&self, e: Error) -> Error {
        self.keeper.loss().map_or(e, Error::LostWhileWaiting)
    }

    /// Who holds the lock, for a message: the earliest blocking key (best effort; `ahead`,
    /// the key just before ours, when that cannot be read).
    fn first_blocker(&mut self, rev: i64, ahead: super::gateway::Kv) -> Box<Holder> {
        let prefix = format!("{}/", self.name);
        let end = self.blockers_end();
        let call = self.limits.call();
        let first = match self
            .client
            .range(&prefix, Some(&end), rev - 1, false, 1, call, None)
        {
            Ok((kvs, _)) => kvs.into_iter().next().unwrap_or(ahead),
            Err(_) => ahead,
        };
        Box::new(Holder::from_kv(
            first.key,
            first.create_revision,
            &first.value,
        ))
    }
}
