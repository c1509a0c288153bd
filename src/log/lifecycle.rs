//! [`LifecycleLog`]: the events of a supervised service's life, written to a [`Log`].
//!
//! | event | level | fields |
//! |---|---|---|
//! | `start` | info | `command`, `policy` (the restart policy) |
//! | `spawned` | info | `pid`, `restart` (0 for the first run) |
//! | `ready` | info | `pid`, `after` (since the spawn), `status` (the last `STATUS=`) |
//! | `status` | info | `pid`, `status` (each new `STATUS=`) |
//! | `stop-requested` | info | `signal`, `sender` (the PID that sent it, from `ssi_pid`; 0: the kernel), `sender_name`, `uid` |
//! | `signal` | debug | `signal`, `sender`, `forwarded` (each other signal that reached pidward) |
//! | `watchdog-timeout` | error | `pid`, `ran` (the command missed its watchdog deadline; `exited` follows) |
//! | `exited` | info, or warning when not clean | `pid`, `code` or `signal` and `core`, `ran`, `clean`, `cause`, and when it starts again `restart_in`, `restarts` |
//! | `backoff-reset` | info | `ran` (the run was long enough for the delay to start over) |
//! | `restart-scheduled` | info | `in`, `restarts` (so far), `failures` (in a row) |
//! | `gave-up` | error | `why`, `failures` (the restart limit was reached) |
//! | `reopened` | info | `signal` (`--reopen-on`: the log files and the relay's files were opened again) |
//! | `reopen-failed` | error | `signal`, `error` (a file could not be opened again; the old one is kept) |
//! | `exit` | info; warning for a non-zero code; error with a message | `code` (pidward's own), `error` |
//!
//! The output [`Relay`], when there is one, travels with the lifecycle log: the loop has one
//! observer, whose descriptor is the relay's, and whose [`readable`](Observer::readable)
//! moves the output. The reopen signal ([`reopen_on`](LifecycleLog::reopen_on)) is seen here
//! as the loop reports it, and still forwarded by the loop. The count of dropped lines goes
//! to the state file ([`StateFile::set_dropped`]), at most every [`DROPS_EVERY`] while output
//! keeps coming, and at once when the pipes are empty.
//!
//! Whether an end is clean is the restart policy's judgement ([`Cause::Clean`]: code 0, the
//! signals systemd counts as clean, the success set). Events arrive from the caller (spawned,
//! ended...) and, as the loop's [`Observer`], from the loop itself (signals, `STATUS=`).

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use std::os::fd::BorrowedFd;

use super::{Level, Log, Record, Relay};
use crate::Signal;
use crate::supervise::{Cause, Event, Exit, Next, Observer, StateFile};

/// How often, at most, a new count of dropped lines is written to the state file.
pub const DROPS_EVERY: Duration = Duration::from_millis(250);

/// The lifecycle of one supervised service (module docs).
///
/// ```
/// use std::time::Duration;
/// use pidward::log::{Dest, Format, LifecycleLog, Log};
/// use pidward::supervise::{Cause, Exit, Next};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("life.log");
/// let log = Log::open(&[Dest::File(path.clone())], 0o640)?.format(Some(Format::Logfmt)).tag("app");
/// let life = LifecycleLog::new(log);
/// life.spawned(4301);
/// let mut exit = Exit::new(None, Cause::Code, Duration::from_millis(410));
/// exit.code = Some(1);
/// life.ended(&exit, Next::After(Duration::from_millis(2100)));
/// let text = std::fs::read_to_string(&path)?;
/// assert!(text.contains(" level=warning event=exited tag=app pid=4301 code=1 ran=0.41s clean=false cause=code restart_in=2.1s restarts=1\n"), "{text}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LifecycleLog {
    log: RefCell<Log>,
    /// The main process now.
    pid: Cell<u32>,
    /// Runs started so far.
    runs: Cell<u64>,
    /// Unclean exits in a row.
    failures: Cell<u64>,
    /// When the current run was spawned.
    spawned_at: Cell<Option<Instant>>,
    /// A run lasting this long starts the backoff over.
    reset_after: Cell<Option<Duration>>,
    /// The service's output, relayed.
    relay: Option<Relay>,
    /// The signal that reopens the files.
    reopen_on: Option<Signal>,
    /// Where the count of dropped lines goes: the file, the count last written, when.
    drops: RefCell<Option<(StateFile, u64, Instant)>>,
}

impl LifecycleLog {
    /// The lifecycle written to `log`.
    pub fn new(log: Log) -> LifecycleLog {
        LifecycleLog {
            log: RefCell::new(log),
            pid: Cell::new(0),
            runs: Cell::new(0),
            failures: Cell::new(0),
            spawned_at: Cell::new(None),
            reset_after: Cell::new(None),
            relay: None,
            reopen_on: None,
            drops: RefCell::new(None),
        }
    }

    /// With the service's output relayed by `relay` (module docs).
    pub fn relay(mut self, relay: Relay) -> LifecycleLog {
        self.relay = Some(relay);
        self
    }

    /// The signal on which the log's files and the relay's are opened again (default: none).
    pub fn reopen_on(mut self, signal: Option<Signal>) -> LifecycleLog {
        self.reopen_on = signal;
        self
    }

    /// Removes the files the log and the relay created, for a start that failed before it
    /// began.
    pub fn discard(self) {
        self.log.into_inner().discard();
        if let Some(relay) = self.relay {
            relay.discard();
        }
    }

    /// The output relay, if any.
    pub fn get_relay(&self) -> Option<&Relay> {
        self.relay.as_ref()
    }

    /// Reports the count of dropped lines to `file` from now on.
    pub fn report_drops(&self, file: StateFile) {
        *self.drops.borrow_mut() = Some((file, 0, Instant::now() - DROPS_EVERY));
        self.note_drops(true);
    }

    /// Every line dropped since the start: the log's and the relay's.
    pub fn dropped_total(&self) -> u64 {
        let relayed = self.relay.as_ref().map_or(0, Relay::dropped_total);
        self.log.borrow().dropped_total() + relayed
    }

    /// Moves all the output the relay holds (the end of a run, pidward's exit), and
    /// writes the count of drops.
    pub fn flush(&self) {
        if let Some(relay) = &self.relay {
            relay.flush();
        }
        self.note_drops(true);
    }

    /// Writes a new count of drops to the state file, at most every [`DROPS_EVERY`] unless
    /// `now`.
    fn note_drops(&self, now: bool) {
        let total = self.dropped_total();
        let mut drops = self.drops.borrow_mut();
        if let Some((file, last, at)) = drops.as_mut()
            && *last != total
            && (now || at.elapsed() >= DROPS_EVERY)
        {
            let _ = file.set_dropped(total);
            (*last, *at) = (total, Instant::now());
        }
    }

    /// Opens the files again, and says so.
    fn reopen(&self, signal: Signal) {
        let mut result = self.log.borrow_mut().reopen();
        if let Some(relay) = &self.relay {
            relay.pump();
            let relayed = relay.reopen();
            result = result.and(relayed);
        }
        let record = match result {
            Ok(()) => Record::new(Level::Info, "reopened").field("signal", signal.to_string()),
            Err(e) => Record::new(Level::Error, "reopen-failed")
                .field("signal", signal.to_string())
                .field("error", e.to_string()),
        };
        self.write(&record);
    }

    /// How long a run must last for the restart delay to start over (for `backoff-reset`).
    pub fn reset_after(self, after: Duration) -> LifecycleLog {
        self.reset_after.set(Some(after));
        self
    }

    /// Writes a record of the caller's own.
    pub fn write(&self, record: &Record) {
        self.log.borrow_mut().write(record);
        self.note_drops(false);
    }

    /// The log, to reopen its files or keep its descriptors.
    pub fn log(&self) -> std::cell::RefMut<'_, Log> {
        self.log.borrow_mut()
    }

    /// `start`: the supervisor begins, with this restart policy.
    pub fn start(&self, command: &str, policy: &str) {
        self.write(
            &Record::new(Level::Info, "start")
                .field("command", command)
                .field("policy", policy),
        );
    }

    /// `spawned`: a run began as `pid`.
    pub fn spawned(&self, pid: u32) {
        self.pid.set(pid);
        if let Some(relay) = &self.relay {
            relay.set_pid(pid);
        }
        self.spawned_at.set(Some(Instant::now()));
        let restart = self.runs.get();
        self.runs.set(restart + 1);
        self.write(
            &Record::new(Level::Info, "spawned")
                .field("pid", pid)
                .field("restart", restart),
        );
    }

    /// `ready`: the start is over (its time is counted from the spawn); `main` is the main
    /// process if it is another one than the command.
    pub fn ready(&self, status: Option<&str>, main: Option<u32>) {
        if let Some(pid) = main {
            self.pid.set(pid);
            if let Some(relay) = &self.relay {
                relay.set_pid(pid);
            }
        }
        let after = self
            .spawned_at
            .get()
            .map_or(Duration::ZERO, |t| t.elapsed());
        self.write(
            &Record::new(Level::Info, "ready")
                .field("pid", self.pid.get())
                .field("after", after)
                .maybe("status", status),
        );
    }

    /// A run ended: `watchdog-timeout` first if that ended it, `exited`, then what `next`
    /// says: `backoff-reset` and `restart-scheduled`, or `gave-up`.
    pub fn ended(&self, exit: &Exit, next: Next) {
        let clean = exit.cause == Cause::Clean;
        let before = self.failures.get();
        if exit.cause == Cause::Watchdog {
            self.write(
                &Record::new(Level::Error, "watchdog-timeout")
                    .field("pid", self.pid.get())
                    .field("ran", exit.ran),
            );
        }
        let mut r = Record::new(if clean { Level::Info } else { Level::Warning }, "exited")
            .field("pid", self.pid.get());
        if let Some(code) = exit.code {
            r = r.field("code", code);
        }
        if let Some(signal) = exit.signal {
            r = r
                .field("signal", signal.to_string())
                .field("core", exit.core);
        }
        r = r
            .field("ran", exit.ran)
            .field("clean", clean)
            .field("cause", exit.cause.name());
        let delay = match next {
            Next::After(d) => Some(d),
            _ => None,
        };
        let reset = delay.is_some()
            && before > 0
            && self
                .reset_after
                .get()
                .is_some_and(|after| exit.ran >= after);
        let failures = match (clean, reset) {
            (true, _) => 0,
            (false, true) => 1,
            (false, false) => before + 1,
        };
        self.failures.set(failures);
        if let Some(delay) = delay {
            r = r
                .field("restart_in", delay)
                .field("restarts", self.runs.get());
        }
        self.write(&r);
        if reset {
            self.write(&Record::new(Level::Info, "backoff-reset").field("ran", exit.ran));
        }
        match next {
            Next::After(delay) => self.write(
                &Record::new(Level::Info, "restart-scheduled")
                    .field("in", delay)
                    .field("restarts", self.runs.get())
                    .field("failures", failures),
            ),
            Next::GaveUp => self.write(
                &Record::new(Level::Error, "gave-up")
                    .field("why", "the restart limit was reached")
                    .field("failures", failures),
            ),
            _ => {}
        }
    }

    /// `stop-requested` for a stop that the loop did not see (one that arrived while no
    /// command ran): the signal only.
    pub fn stop_requested(&self, signal: Signal) {
        self.write(&Record::new(Level::Info, "stop-requested").field("signal", signal.to_string()));
    }

    /// `exit`: pidward's own exit code, and the message it exits with, if any.
    pub fn exit(&self, code: u8, error: Option<&str>) {
        let level = match (code, error) {
            (_, Some(_)) => Level::Error,
            (0, None) => Level::Info,
            _ => Level::Warning,
        };
        self.write(
            &Record::new(level, "exit")
                .field("code", i64::from(code))
                .maybe("error", error),
        );
    }
}

/// The command name of a process (`/proc/PID/comm`), if it can still be read.
fn comm(pid: u32) -> Option<String> {
    if pid == 0 {
        return None;
    }
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_owned())
}

impl Observer for LifecycleLog {
    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.relay.as_ref().map(Relay::as_fd)
    }

    fn readable(&self) {
        if let Some(relay) = &self.relay {
            // Once the pipes are empty the count is written at once: no later wake-up may
            // come to write it.
            let drained = relay.pump();
            self.note_drops(drained);
        }
    }

    fn event(&self, event: &Event<'_>) {
        if let Event::Signal { signal, .. } = *event
            && self.reopen_on == Some(signal)
        {
            self.reopen(signal);
        }
        match *event {
            Event::Signal {
                signal,
                sender,
                uid,
                stop: true,
                ..
            } => {
                self.write(
                    &Record::new(Level::Info, "stop-requested")
                        .field("signal", signal.to_string())
                        .field("sender", sender)
                        .maybe("sender_name", comm(sender))
                        .field("uid", uid),
                );
            }
            Event::Signal {
                signal,
                sender,
                forwarded,
                ..
            } => {
                if self.log.borrow().enabled(Level::Debug) {
                    self.write(
                        &Record::new(Level::Debug, "signal")
                            .field("signal", signal.to_string())
                            .field("sender", sender)
                            .field("forwarded", forwarded),
                    );
                }
            }
            Event::Status(status) => self.write(
                &Record::new(Level::Info, "status")
                    .field("pid", self.pid.get())
                    .field("status", status),
            ),
        }
    }
}
