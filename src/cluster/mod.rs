//! A cluster-wide lock on etcd v3 that fences its holder: flock's semantics beyond one machine.
//!
//! [`Lock::acquire`] takes the lock exactly as etcd's own mutex does (and so as
//! `etcdctl lock NAME` does, with the same keys: each excludes the other): a lease, the key
//! `NAME/<lease-id-hex>` created on it, the holder being the key with the lowest create
//! revision, waiters watching the key just ahead of theirs. [`Options::shared`] takes a
//! readers' lock (`NAME/s-<hex>`), which waits only for earlier exclusive holders.
//!
//! A lease lock differs from a file lock in one way that matters: it can be lost while held,
//! when this process cannot renew it (a partition, a stopped cluster). The lock's lease keeper
//! renews it every TTL/3 and declares it lost *before* the server can expire it: at the last
//! answered renewal's send time, plus its TTL, minus the [grace](Options::grace) the holder
//! needs to stop its work, minus a margin. [`Lock::lost_fd`] becomes readable then, so a poll
//! loop can stop the work in time; nobody else can hold the lock until the grace has passed.
//!
//! [`Lock::revision`] is the key's create revision: a **fencing token** that rises with every
//! new holder. No lease can guarantee that a paused or partitioned holder stops touching a
//! shared resource in time (a process can be frozen for longer than any TTL); a resource that
//! rejects writes carrying a token lower than the highest it has seen can.
//!
//! The client speaks etcd's JSON gateway (`/v3/...` on the client port, on by default since
//! etcd 3.4) over HTTP/1.1 on [`std::net::TcpStream`], blocking, every call bounded by a
//! deadline (host name look-ups included): no async runtime. `https://` endpoints speak TLS
//! (rustls), verified against the CA certificates [`Tls`] names, with a client certificate
//! for etcd's `--client-cert-auth`.
//!
//! ```no_run
//! use std::time::Duration;
//! use pidward::cluster::{Endpoint, Lock, Options, Wait};
//!
//! let opts = Options::new(Endpoint::parse_list("127.0.0.1:2379")?)
//!     .ttl(Duration::from_secs(10))
//!     .wait(Wait::Timeout(Duration::from_secs(30)));
//! let lock = Lock::acquire("nightly-backup", &opts)?;
//! println!("fencing token {}", lock.revision());
//! // ... work, polling lock.lost_fd() ...
//! lock.release(Duration::from_secs(2))?;
//! # Ok::<(), pidward::cluster::Error>(())
//! ```

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

mod base64;
mod client;
mod conn;
mod endpoint;
mod error;
mod gateway;
mod holder;
mod http;
mod keeper;
mod mutex;
mod resolve;
mod tls;

pub use crate::flock::Wait;
pub use endpoint::Endpoint;
pub use error::{EndpointProblem, Error, NameProblem, Step};
pub use holder::Holder;
pub use keeper::{Loss, LossReason};
pub use tls::{CertFile, CertProblem, Tls};

use gateway::Client;
use keeper::{Keeper, Timing};

/// The shortest TTL etcd grants (and the least that leaves room for renewals).
pub const MIN_TTL: Duration = Duration::from_secs(2);

/// How to take a cluster lock.
#[derive(Debug, Clone)]
pub struct Options {
    endpoints: Vec<Endpoint>,
    ttl: Duration,
    shared: bool,
    wait: Wait,
    grace: Option<Duration>,
    holder: Option<Holder>,
    call_timeout: Duration,
    credentials: Option<gateway::Credentials>,
    tls: Option<Tls>,
}

impl Options {
    /// Exclusive, waiting forever, TTL 10 s, grace min(5 s, TTL/3), each call bounded by 5 s;
    /// the endpoints are tried in turn.
    pub fn new(endpoints: Vec<Endpoint>) -> Options {
        Options {
            endpoints,
            ttl: Duration::from_secs(10),
            shared: false,
            wait: Wait::Forever,
            grace: None,
            holder: None,
            call_timeout: Duration::from_secs(5),
            credentials: None,
            tls: None,
        }
    }

    /// The lease's TTL: whole seconds, rounded up, at least [`MIN_TTL`].
    pub fn ttl(mut self, ttl: Duration) -> Options {
        let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        self.ttl = Duration::from_secs(secs).max(MIN_TTL);
        self
    }

    /// Take a shared (readers') lock instead of an exclusive one.
    pub fn shared(mut self, shared: bool) -> Options {
        self.shared = shared;
        self
    }

    /// How long to wait, counting from the call to [`Lock::acquire`] (connecting included).
    pub fn wait(mut self, wait: Wait) -> Options {
        self.wait = wait;
        self
    }

    /// The time the holder needs to stop its work once the lock is lost: the loss is declared
    /// that much (plus a margin) before the lease can expire. At most TTL/3, so that a failed
    /// renewal can be retried before the fence; default min(5 s, TTL/3).
    pub fn grace(mut self, grace: Duration) -> Options {
        self.grace = Some(grace);
        self
    }

    /// What the key's value says about the holder (default: this process, no command line).
    pub fn holder(mut self, holder: Holder) -> Options {
        self.holder = Some(holder);
        self
    }

    /// Log in as `user` with `password` (etcd's authentication; the token it gives is sent
    /// with every call, and renewed when etcd says it expired).
    pub fn auth(mut self, user: &str, password: &str) -> Options {
        self.credentials = Some(gateway::Credentials {
            user: user.to_owned(),
            password: password.to_owned(),
        });
        self
    }

    /// Speak TLS to `https://` endpoints and to those without a scheme, verifying them (and
    /// showing them a client certificate) as `tls` says. `https://` endpoints speak TLS
    /// without this too, verified against the system's CA certificates.
    pub fn tls(mut self, tls: Tls) -> Options {
        self.tls = Some(tls);
        self
    }

    /// The client for these options: the TLS configuration built (the system's CA
    /// certificates read) when an endpoint needs it.
    fn client(&self) -> Result<Client, Error> {
        let https = self.endpoints.iter().any(|e| e.tls == Some(true));
        let tls = match &self.tls {
            Some(t) => Some(t.config()?),
            None if https => Some(Tls::new().config()?),
            None => None,
        };
        Ok(Client::new(
            self.endpoints.clone(),
            self.credentials.clone(),
            tls,
        ))
    }

    /// Bound on each call to etcd while acquiring and releasing (default 5 s).
    pub fn call_timeout(mut self, timeout: Duration) -> Options {
        self.call_timeout = timeout;
        self
    }

    /// The TTL in effect.
    pub fn ttl_in_effect(&self) -> Duration {
        self.ttl
    }

    /// The grace in effect (see [`grace`](Options::grace)).
    pub fn grace_in_effect(&self) -> Duration {
        let most = self.ttl / 3;
        self.grace.unwrap_or(Duration::from_secs(5)).min(most)
    }
}

/// A held cluster lock. Released (its lease revoked, with the call timeout as bound) on drop.
#[derive(Debug)]
pub struct Lock {
    client: Client,
    lease: i64,
    key: String,
    revision: i64,
    keeper: Keeper,
    call_timeout: Duration,
    released: bool,
}

/// Check a lock name: not empty, no control characters.
fn check_name(name: &str) -> Result<(), Error> {
    let problem = if name.is_empty() {
        NameProblem::Empty
    } else if name.chars().any(char::is_control) {
        NameProblem::Control
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        name: name.to_owned(),
        problem,
    })
}

impl Lock {
    /// Take the lock `name` (keys under `name/`) as `opts` says.
    ///
    /// Errors: [`Error::Locked`] (held, no waiting), [`Error::TimedOut`], a cluster failure
    /// ([`Error::is_cluster_failure`]), or bad input. On any error the contender's lease is
    /// revoked, so no key is left behind (within the call timeout; else it expires).
    pub fn acquire(name: &str, opts: &Options) -> Result<Lock, Error> {
        check_name(name)?;
        let start = Instant::now();
        let deadline = match opts.wait {
            Wait::No => None,
            Wait::Timeout(t) => Some(start + t),
            Wait::Forever => Some(start + Duration::from_secs(100 * 365 * 86_400)),
        };
        let limits = mutex::Limits {
            deadline,
            call_timeout: opts.call_timeout,
        };
        let mut client = opts.client()?;
        let granted = Instant::now();
        let first_call = deadline.map_or(granted + opts.call_timeout, |d| {
            d.min(granted + opts.call_timeout)
        });
        let lease = client.grant(opts.ttl.as_secs(), first_call)?;
        let timing = Timing {
            ttl: opts.ttl,
            grace: opts.grace_in_effect(),
        };
        let keeper = Keeper::start(client.clone(), lease, timing, granted);
        let mut lock = Lock {
            client,
            lease,
            key: mutex::key_for(name, lease, opts.shared),
            revision: 0,
            keeper: match keeper {
                Ok(k) => k,
                Err(e) => {
                    let _ = client_revoke(opts, lease);
                    return Err(e);
                }
            },
            call_timeout: opts.call_timeout,
            released: false,
        };
        let holder = opts
            .holder
            .clone()
            .unwrap_or_else(|| Holder::this_process(Vec::new()));
        let mut contender = mutex::Contender {
            client: &mut lock.client,
            keeper: &lock.keeper,
            name,
            key: lock.key.clone(),
            shared: opts.shared,
            limits,
        };
        lock.revision = contender.acquire(&holder.to_value(), lease)?;
        lock.keeper.watch_key(&lock.key);
        Ok(lock)
    }

    /// The lock key, `NAME/<lease-hex>` (or `NAME/s-<lease-hex>` when shared).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The key's create revision: the fencing token.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The lease ID.
    pub fn lease(&self) -> i64 {
        self.lease
    }

    /// Readable (`poll(2)`) once the lock is lost; see [`loss`](Lock::loss) for why.
    pub fn lost_fd(&self) -> BorrowedFd<'_> {
        self.keeper.lost_fd()
    }

    /// Why and when the lock was lost, once it was.
    pub fn loss(&self) -> Option<Loss> {
        self.keeper.loss()
    }

    /// The earliest time at which etcd can expire the lease (and another holder start),
    /// given the renewals answered so far.
    pub fn expires(&self) -> Option<Instant> {
        self.keeper.expires()
    }

    /// Stop renewing and revoke the lease (so the next contender starts at once), waiting at
    /// most `timeout`. On error the lock still ends: the lease expires by itself by
    /// [`expires`](Lock::expires).
    pub fn release(mut self, timeout: Duration) -> Result<(), Error> {
        self.release_within(timeout)
    }

    fn release_within(&mut self, timeout: Duration) -> Result<(), Error> {
        self.released = true;
        self.keeper.stop();
        self.client.revoke(self.lease, Instant::now() + timeout)
    }
}

/// Revoke `lease` with a fresh client (when no [`Lock`] exists yet to do it).
fn client_revoke(opts: &Options, lease: i64) -> Result<(), Error> {
    let mut client = opts.client()?;
    client.revoke(lease, Instant::now() + opts.call_timeout)
}

impl Drop for Lock {
    fn drop(&mut self) {
        if !self.released {
            let _ = self.release_within(self.call_timeout);
        }
    }
}
