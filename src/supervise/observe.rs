//! [`Observer`]: the one hook through which the supervision loop tells someone else what it
//! sees (a lifecycle log, the output relay), without knowing who listens.
//!
//! The loop calls the observer at the points only it can see: each signal that reaches the
//! supervisor, with the sender's PID from the signalfd (`ssi_pid`: the kernel names the
//! sender, no peer has to), and each new `STATUS=` of the command. Everything else a log
//! wants (spawned, ready, exited) the caller of [`Service`](super::Service) sees itself.
//!
//! An observer may also hand the loop one descriptor to poll along with its own ([`fd`]); the
//! loop calls [`readable`] when it is. The output relay's pipes sit behind one epoll
//! descriptor that way, so the loop never knows how many there are.
//!
//! Observers are called on the supervisor's thread, from inside the loop: they must not block.
//!
//! [`fd`]: Observer::fd
//! [`readable`]: Observer::readable

use std::fmt;
use std::os::fd::BorrowedFd;
use std::rc::Rc;

use crate::Signal;

/// What the supervision loop reports to an [`Observer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A signal reached the supervisor.
    Signal {
        /// The signal.
        signal: Signal,
        /// The PID that sent it (`ssi_pid`; 0 when the kernel did: a terminal key, a hang-up).
        sender: u32,
        /// The sender's real user ID (`ssi_uid`).
        uid: u32,
        /// Whether it was passed on to the command.
        forwarded: bool,
        /// Whether it is an administrative stop (`TERM`, `INT`, `QUIT`).
        stop: bool,
    },
    /// The command sent a `STATUS=`.
    Status(&'a str),
}

/// Someone who watches a supervision loop (module docs).
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use pidward::child::{Exec, Setup};
/// use pidward::supervise::{Event, Observer, Service};
///
/// #[derive(Default)]
/// struct Seen(RefCell<Vec<String>>);
/// impl Observer for Seen {
///     fn event(&self, event: &Event<'_>) {
///         self.0.borrow_mut().push(format!("{event:?}"));
///     }
/// }
///
/// let seen = Rc::new(Seen::default());
/// let mut cmd = Exec::new("sh");
/// cmd.args(["-c", "exit 0"]);
/// let mut running = Service::new().observer(seen.clone()).start(cmd, Setup::new())?;
/// running.wait()?;
/// # Ok::<(), pidward::supervise::Error>(())
/// ```
pub trait Observer {
    /// Called for each [`Event`].
    fn event(&self, event: &Event<'_>);

    /// A descriptor the loop polls for reading on the observer's behalf (default: none).
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    /// Called when [`fd`](Observer::fd) is readable.
    fn readable(&self) {}
}

/// The observer of a loop, if any.
#[derive(Clone, Default)]
pub(crate) struct Observe(pub(crate) Option<Rc<dyn Observer>>);

impl fmt::Debug for Observe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Observer" } else { "None" })
    }
}

impl Observe {
    pub(crate) fn event(&self, event: &Event<'_>) {
        if let Some(o) = &self.0 {
            o.event(event);
        }
    }

    /// A signal read from the signalfd.
    pub(crate) fn signal(&self, info: &libc::signalfd_siginfo, forwarded: bool) {
        let signo = info.ssi_signo as i32;
        if let (Some(_), Some(signal)) = (&self.0, Signal::from_raw(signo)) {
            self.event(&Event::Signal {
                signal,
                sender: info.ssi_pid,
                uid: info.ssi_uid,
                forwarded,
                stop: matches!(signo, libc::SIGTERM | libc::SIGINT | libc::SIGQUIT),
            });
        }
    }

    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.0.as_ref().and_then(|o| o.fd())
    }

    pub(crate) fn readable(&self) {
        if let Some(o) = &self.0 {
            o.readable();
        }
    }
}
