//! Readiness probes: for services that never say they are ready, the supervisor finds out by
//! itself. [`Probe`] runs a [`Check`] every interval until one succeeds (s6-notifyoncheck's
//! way): a TCP connect that succeeds, a check command that exits 0, a file that appears.
//!
//! A probe never blocks the supervisor's loop. It is one descriptor to poll, an epoll set
//! (`epoll_create1(2)`) holding a timer (`timerfd_create(2)`, `CLOCK_MONOTONIC`) for the next
//! attempt and the descriptor of the attempt in flight: the socket of a non-blocking
//! `connect(2)` ([`super::probe_tcp`]) or the pidfd of the check command, started through the
//! child set-up engine ([`super::probe_exec`]). Whenever the loop finds it readable (or at
//! any other wake-up) [`Probe::poll`] looks at what is done, starts what is due, and re-arms
//! the timer. The first attempt is made at once.
//!
//! A check command is a child of the supervisor; while it runs, a subreaper's sweep of
//! exited orphans leaves it to the probe, which collects its status.

use std::cell::RefCell;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustix::event::epoll;
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};

use super::error::{Call, Error};
use super::probe_exec::Running;
use super::probe_tcp::{Connect, Connecting};
use crate::child::Exec;

/// The default time between two attempts.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(500);

/// The shortest time a TCP attempt is given before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// What a [`Probe`] checks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Check {
    /// A TCP connection to one of these addresses succeeds (`--ready tcp:HOST:PORT`).
    Tcp {
        /// `HOST:PORT` as given, for messages.
        name: String,
        /// Where it resolved to.
        addrs: Vec<SocketAddr>,
    },
    /// The command exits 0 (`--ready exec:CMD`).
    Exec(Exec),
    /// The path exists (`--ready file:PATH`).
    File(PathBuf),
}

impl Check {
    /// A TCP check of `HOST:PORT` (an IPv6 host in brackets), resolved now, before anything
    /// is started: an unknown host is an error here, not a timeout later.
    ///
    /// ```
    /// use pidward::notify::Check;
    ///
    /// assert!(matches!(Check::tcp("127.0.0.1:8080")?, Check::Tcp { .. }));
    /// assert!(Check::tcp("no-port").is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn tcp(host_port: &str) -> io::Result<Check> {
        let addrs: Vec<SocketAddr> = host_port.to_socket_addrs()?.collect();
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host_port}: no address"),
            ));
        }
        Ok(Check::Tcp {
            name: host_port.to_owned(),
            addrs,
        })
    }

    /// A check command line, run with `/bin/sh -c` (standard input and output on
    /// `/dev/null`, standard error inherited).
    pub fn shell(command: &str) -> Check {
        let mut exec = Exec::new("/bin/sh");
        exec.args(["-c", command]);
        Check::Exec(exec)
    }
}

/// The attempt in flight.
#[derive(Debug)]
enum Attempt {
    Connecting(Connecting),
    Running(Running),
}

/// A readiness probe in progress (module docs); poll [`as_fd`](AsFd::as_fd) and call
/// [`poll`](Probe::poll) when it is readable.
///
/// ```
/// use std::time::Duration;
/// use pidward::notify::{Check, Probe};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("ready");
/// let probe = Probe::new(Check::File(path.clone()), Duration::from_millis(10))?;
/// assert!(!probe.poll()?);
/// std::fs::write(&path, "")?;
/// std::thread::sleep(Duration::from_millis(20));
/// assert!(probe.poll()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Probe {
    check: Check,
    interval: Duration,
    epoll: OwnedFd,
    timer: OwnedFd,
    /// What is in flight (a cell: the readiness wait reads its source by reference).
    state: RefCell<State>,
}

/// A probe's moving parts.
#[derive(Debug)]
struct State {
    attempt: Option<Attempt>,
    /// When the next attempt is due.
    next: Instant,
    /// Attempts started so far.
    attempts: usize,
}

impl Probe {
    /// A probe that makes its first attempt at the first [`poll`](Probe::poll) (its
    /// descriptor is readable at once), then one every `interval`.
    pub fn new(check: Check, interval: Duration) -> Result<Probe, Error> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(Error::sys(Call::Probe))?;
        let timer = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK,
        )
        .map_err(Error::sys(Call::Probe))?;
        epoll::add(
            &epoll,
            &timer,
            epoll::EventData::new_u64(0),
            epoll::EventFlags::IN,
        )
        .map_err(Error::sys(Call::Probe))?;
        let probe = Probe {
            check,
            interval,
            epoll,
            timer,
            state: RefCell::new(State {
                attempt: None,
                next: Instant::now(),
                attempts: 0,
            }),
        };
        // Due now: the first poll(2) of the caller's loop wakes at once to make the attempt.
        probe.arm(&probe.state.borrow())?;
        Ok(probe)
    }

    /// What it checks.
    pub fn check(&self) -> &Check {
        &self.check
    }

    /// Looks at the attempt in flight, starts the next one when it is due, and says whether
    /// a check has succeeded. Never blocks.
    pub fn poll(&self) -> Result<bool, Error> {
        // Drain the timer: it is re-armed below.
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&self.timer, &mut buf);
        let mut state = self.state.borrow_mut();
        if let Some(attempt) = &mut state.attempt {
            let outcome = match attempt {
                Attempt::Connecting(c) => c.poll(),
                Attempt::Running(r) => r.poll(),
            };
            match outcome {
                Some(true) => {
                    self.finish(&mut state);
                    return Ok(true);
                }
                Some(false) => self.finish(&mut state),
                None => {}
            }
        }
        let now = Instant::now();
        if state.attempt.is_none() && now >= state.next {
            state.next = now + self.interval;
            if self.start(&mut state)? {
                return Ok(true);
            }
        }
        self.arm(&state)?;
        Ok(false)
    }

    /// Starts an attempt; `true` if it succeeded at once.
    fn start(&self, state: &mut State) -> Result<bool, Error> {
        match &self.check {
            Check::File(path) => Ok(path.try_exists().unwrap_or(false)),
            Check::Tcp { addrs, .. } => {
                // Each attempt tries the next address.
                let addr = addrs[state.attempts % addrs.len()];
                state.attempts += 1;
                let until = Instant::now() + self.interval.max(CONNECT_TIMEOUT);
                match Connecting::start(addr, until) {
                    Connect::Done(ok) => Ok(ok),
                    Connect::Pending(c) => {
                        self.track(state, Attempt::Connecting(c));
                        Ok(false)
                    }
                }
            }
            Check::Exec(exec) => {
                let running = Running::start(exec).map_err(Error::sys(Call::ProbeSpawn))?;
                self.track(state, Attempt::Running(running));
                Ok(false)
            }
        }
    }

    /// Puts the attempt's descriptor in the epoll set.
    fn track(&self, state: &mut State, attempt: Attempt) {
        let (fd, flags) = match &attempt {
            Attempt::Connecting(c) => (c.as_fd(), epoll::EventFlags::OUT),
            Attempt::Running(r) => (r.as_fd(), epoll::EventFlags::IN),
        };
        // If it cannot be added, the timer still wakes the loop at the interval.
        let _ = epoll::add(&self.epoll, fd, epoll::EventData::new_u64(1), flags);
        state.attempt = Some(attempt);
    }

    /// Ends the attempt in flight (a check command still running is killed and reaped).
    fn finish(&self, state: &mut State) {
        if let Some(attempt) = state.attempt.take() {
            let fd = match &attempt {
                Attempt::Connecting(c) => c.as_fd(),
                Attempt::Running(r) => r.as_fd(),
            };
            let _ = epoll::delete(&self.epoll, fd);
        }
    }

    /// The timer for the next thing to look at: the next attempt, or a TCP attempt's end.
    fn arm(&self, state: &State) -> Result<(), Error> {
        let at = match &state.attempt {
            Some(Attempt::Connecting(c)) => c.until(),
            // The pidfd wakes the loop when the command ends.
            Some(Attempt::Running(_)) => return Ok(()),
            None => state.next,
        };
        let left = at.saturating_duration_since(Instant::now());
        // Zero would disarm the timer: at least a nanosecond.
        let value = Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: (left.subsec_nanos().max(u32::from(left.is_zero()))) as _,
        };
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: value,
        };
        timerfd_settime(&self.timer, TimerfdTimerFlags::empty(), &spec)
            .map(drop)
            .map_err(Error::sys(Call::Probe))
    }
}

impl AsFd for Probe {
    /// The epoll set: readable when the timer fires or the attempt in flight has news.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}
