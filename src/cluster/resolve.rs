//! Host names resolved within the caller's deadline.
//!
//! `getaddrinfo(3)` takes no timeout: with a DNS server that does not answer it blocks for
//! `timeout × attempts` of `resolv.conf` per server (10 s and more by default), longer than
//! any call to etcd may take. So:
//!
//! * an IP literal (`127.0.0.1`, `::1`) is used as it is, with no look-up at all;
//! * a name is looked up on a thread of its own, started with every signal blocked (signals
//!   belong to the main thread's signalfd), while the caller waits on a condition variable
//!   until its own deadline. A look-up that outlasts the deadline fails the attempt with
//!   `TimedOut` ("resolving HOST"), and is left to finish by itself: the next attempt waits
//!   for the *same* look-up rather than start another, so a dead DNS server costs one thread,
//!   not one per retry;
//! * the addresses a look-up found are kept (per [`Resolver`], shared by the clones of a
//!   client: the lease keeper's renewals then make no look-up) until connecting to every one
//!   of them fails, when the next attempt looks the name up again (members that moved).
//!   Failed look-ups are not kept.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

/// What a look-up found, or why it failed (kind and words: `io::Error` is not `Clone`).
type Found = Result<Vec<IpAddr>, (io::ErrorKind, String)>;

/// One look-up, finished or not.
#[derive(Default)]
struct Lookup {
    found: Mutex<Option<Found>>,
    done: Condvar,
}

/// The look-ups of one client and its clones, by host name.
#[derive(Clone, Default)]
pub(crate) struct Resolver {
    lookups: Arc<Mutex<HashMap<String, Arc<Lookup>>>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

impl Resolver {
    /// The addresses of `host:port`, before `deadline`.
    pub(crate) fn resolve(
        &self,
        host: &str,
        port: u16,
        deadline: Instant,
    ) -> io::Result<Vec<SocketAddr>> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let lookup = self.lookup(host)?;
        let mut found = lookup.found.lock().unwrap_or_else(PoisonError::into_inner);
        while found.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("resolving {host} took longer than the time left"),
                ));
            }
            found = lookup
                .done
                .wait_timeout(found, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let result = found.clone().expect("the loop ends on Some");
        // Released before `forget`, which takes it too.
        drop(found);
        match result {
            Ok(ips) if ips.is_empty() => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host} has no address"),
            )),
            Ok(ips) => Ok(ips.iter().map(|&ip| SocketAddr::new(ip, port)).collect()),
            Err((kind, text)) => {
                self.forget(host);
                Err(io::Error::new(
                    kind,
                    format!("cannot resolve {host}: {text}"),
                ))
            }
        }
    }

    /// Look `host` up again next time (connecting to what it resolved to failed).
    pub(crate) fn forget(&self, host: &str) {
        let mut lookups = self.lookups.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(l) = lookups.get(host) {
            let done = l.found.lock().map(|f| f.is_some()).unwrap_or(true);
            // A look-up still running is waited for, not repeated.
            if done {
                lookups.remove(host);
            }
        }
    }

    /// The look-up of `host`: the one kept or running, else a new one on its own thread.
    fn lookup(&self, host: &str) -> io::Result<Arc<Lookup>> {
        let mut lookups = self.lookups.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(l) = lookups.get(host) {
            return Ok(l.clone());
        }
        let lookup = Arc::new(Lookup::default());
        let (l, name) = (lookup.clone(), host.to_owned());
        // The new thread inherits the signal mask: block everything around the spawn.
        let all = nix::sys::signal::SigSet::all();
        let old = all.thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK);
        let spawned = std::thread::Builder::new()
            .name("resolve".into())
            .spawn(move || {
                let found = (name.as_str(), 0)
                    .to_socket_addrs()
                    .map(|a| a.map(|a| a.ip()).collect())
                    .map_err(|e| (e.kind(), e.to_string()));
                *l.found.lock().unwrap_or_else(PoisonError::into_inner) = Some(found);
                l.done.notify_all();
            });
        if let Ok(old) = old {
            let _ = old.thread_set_mask();
        }
        spawned?;
        lookups.insert(host.to_owned(), lookup.clone());
        Ok(lookup)
    }
}
