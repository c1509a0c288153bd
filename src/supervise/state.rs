//! The state of a supervised service: the record ([`State`], its [`Phase`] and recent
//! [`Exit`]s) and its text format. Where it is kept, and when a reader may believe it, is
//! [`state_file`](super::state_file).
//!
//! **Format.** UTF-8 lines of `key=value` (values escaped: `\\`, `\n`), after a first line
//! `pidward-state 1`; times in RFC 3339 UTC ([`crate::time::Rfc3339`]); one `exit=` line per
//! recent exit, oldest first (at most [`HISTORY`]), each `TIME END CORE CAUSE SECONDS` with
//! `END` as `code:N` or `signal:NAME` (or `-` when the status is unknown, after a timeout).
//! A `cgroup=` line names the run's cgroup directory (absent in the files of older versions,
//! and for a run without a cgroup): where its processes are found should the supervisor die.
//! A `gave_up=` line, in the state `abandoned`, names the system call the supervisor gave up
//! on and its error.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, SystemTime};

use super::policy::{Cause, Policy};
use crate::Signal;
use crate::time::{Rfc3339, parse_rfc3339};

/// How many recent exits the state keeps.
pub const HISTORY: usize = 10;

/// Where a supervised service is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// The command was spawned; its start is not over.
    Starting,
    /// The start is over (ready), the service runs.
    Running,
    /// The command ended; it starts again at [`State::next_start`].
    Backoff,
    /// The service is being stopped (an administrative stop, or the end of a run).
    Stopping,
    /// The restart limit was reached: the supervisor gave up.
    Failed,
    /// The service ended and is not started again.
    Exited,
    /// A system call of the supervisor failed at every try, and stopping the service did
    /// not end it: the supervisor gave up and exited, leaving processes of the service
    /// running ([`State::gave_up`] says why; [`leftover`](super::leftover()) finds them).
    Abandoned,
}

impl Phase {
    /// `starting`, `running`, `backoff`, `stopping`, `failed`, `exited` or `abandoned`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::Backoff => "backoff",
            Phase::Stopping => "stopping",
            Phase::Failed => "failed",
            Phase::Exited => "exited",
            Phase::Abandoned => "abandoned",
        }
    }

    fn from_name(name: &str) -> Option<Phase> {
        [
            Phase::Starting,
            Phase::Running,
            Phase::Backoff,
            Phase::Stopping,
            Phase::Failed,
            Phase::Exited,
            Phase::Abandoned,
        ]
        .into_iter()
        .find(|p| p.name() == name)
    }
}

/// One end of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Exit {
    /// When it ended.
    pub at: SystemTime,
    /// Its exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<Signal>,
    /// Whether it dumped core.
    pub core: bool,
    /// Why it ended, for the restart policy.
    pub cause: Cause,
    /// How long it ran, from the spawn.
    pub ran: Duration,
}

impl Exit {
    /// The end of a run with `status` (`None`: not known, as after a readiness timeout).
    pub fn new(status: Option<ExitStatus>, cause: Cause, ran: Duration) -> Exit {
        Exit {
            at: SystemTime::now(),
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| s.signal()).and_then(Signal::from_raw),
            core: status.is_some_and(|s| s.core_dumped()),
            cause,
            ran,
        }
    }

    /// `exited with code 1`, `killed by signal SEGV (core dumped)`, `timed out`, `missed
    /// the watchdog deadline`.
    pub fn describe(&self) -> String {
        let how = match (self.code, self.signal) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(sig)) => format!(
                "killed by signal {sig}{}",
                if self.core { " (core dumped)" } else { "" }
            ),
            _ => "ended".to_owned(),
        };
        match self.cause {
            Cause::Timeout => "readiness timed out".to_owned(),
            Cause::Watchdog => format!("missed the watchdog deadline ({how})"),
            _ => how,
        }
    }

    fn encode(&self) -> String {
        let end = match (self.code, self.signal) {
            (Some(code), _) => format!("code:{code}"),
            (None, Some(sig)) => format!("signal:{sig}"),
            _ => "-".to_owned(),
        };
        format!(
            "{} {end} {} {} {}",
            Rfc3339(self.at),
            u8::from(self.core),
            self.cause.name(),
            crate::time::Seconds(self.ran, 3)
        )
    }

    fn decode(text: &str) -> Option<Exit> {
        let mut parts = text.split(' ');
        let at = parse_rfc3339(parts.next()?).ok()?;
        let end = parts.next()?;
        let (code, signal) = match end.split_once(':') {
            Some(("code", n)) => (Some(n.parse().ok()?), None),
            Some(("signal", name)) => (None, Some(name.parse().ok()?)),
            _ if end == "-" => (None, None),
            _ => return None,
        };
        let core = parts.next()? == "1";
        let cause = Cause::from_name(parts.next()?)?;
        let ran = Duration::try_from_secs_f64(parts.next()?.parse().ok()?).ok()?;
        Some(Exit {
            at,
            code,
            signal,
            core,
            cause,
            ran,
        })
    }
}

/// A service's state, as the supervisor records it in a [`StateFile`](super::StateFile).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct State {
    /// Where the service is.
    pub phase: Phase,
    /// The supervisor's PID (the one its PID file names).
    pub supervisor: u32,
    /// The main process, while there is one.
    pub main_pid: Option<u32>,
    /// When the supervisor started the service the first time.
    pub since: SystemTime,
    /// When the current (or last) run was spawned.
    pub started: Option<SystemTime>,
    /// When it declared readiness (the start was over).
    pub ready: Option<SystemTime>,
    /// The restart policy.
    pub policy: Policy,
    /// How many restarts so far.
    pub restarts: u64,
    /// How many failed runs in a row.
    pub consecutive_failures: u32,
    /// When the next run starts (in [`Phase::Backoff`]).
    pub next_start: Option<SystemTime>,
    /// The last `STATUS=` the command sent.
    pub status: Option<String>,
    /// How the service's processes are ended ([`Mechanism::as_str`](super::Mechanism::as_str)):
    /// `cgroup`, `subreaper`, `process-group` or `main` (`tree` before the first start).
    pub tree: String,
    /// The directory of the current (or last) run's cgroup (`pidward.PID.N`), when it has
    /// one: where its processes are found should the supervisor die
    /// ([`leftover`](super::leftover())).
    pub cgroup: Option<PathBuf>,
    /// Recent exits, oldest first, the last one last (at most [`HISTORY`]).
    pub history: Vec<Exit>,
    /// Lines the supervisor's logs dropped since it started (the lifecycle log and the
    /// output relay: sinks that would have blocked, a full disk), as
    /// [`StateFile::set_dropped`](super::StateFile::set_dropped) last recorded.
    pub dropped: u64,
    /// Why the supervisor gave up ([`Phase::Abandoned`]): the call and its error.
    pub gave_up: Option<String>,
}

impl State {
    /// A service about to start for the first time, supervised by this process.
    pub fn new(policy: Policy, tree: &str) -> State {
        State::new_for(std::process::id(), SystemTime::now(), policy, tree)
    }

    fn new_for(supervisor: u32, since: SystemTime, policy: Policy, tree: &str) -> State {
        State {
            phase: Phase::Starting,
            supervisor,
            main_pid: None,
            since,
            started: None,
            ready: None,
            policy,
            restarts: 0,
            consecutive_failures: 0,
            next_start: None,
            status: None,
            tree: tree.to_owned(),
            cgroup: None,
            history: Vec::new(),
            dropped: 0,
            gave_up: None,
        }
    }

    /// The LSB code of `pidward status` for this state, given the PID file's own
    /// (`file`): 0 only while the service is running or starting; a supervisor that waits
    /// to restart, or stops, holds its PID file over a dead program (1).
    /// An abandoned service is 4, unknown: nothing supervises what is left of it.
    pub fn lsb_code(&self, file: u8) -> u8 {
        match self.phase {
            Phase::Abandoned => 4,
            Phase::Running | Phase::Starting => file,
            _ if file == 0 => 1,
            _ => file,
        }
    }

    /// The last exit, if any.
    pub fn last_exit(&self) -> Option<&Exit> {
        self.history.last()
    }

    /// Records an exit, keeping the [`HISTORY`] most recent.
    pub fn push_exit(&mut self, exit: Exit) {
        if self.history.len() >= HISTORY {
            self.history.remove(0);
        }
        self.history.push(exit);
    }

    /// The file's text: `key=value` lines after `pidward-state 1`, ending with `end`.
    pub fn encode(&self) -> String {
        let mut out = String::from("pidward-state 1\n");
        let mut line = |k: &str, v: &str| {
            out.push_str(k);
            out.push('=');
            out.push_str(&escape(v));
            out.push('\n');
        };
        let time = |t: Option<SystemTime>| t.map(|t| Rfc3339(t).to_string()).unwrap_or_default();
        line("state", self.phase.name());
        line("supervisor", &self.supervisor.to_string());
        line(
            "main_pid",
            &self.main_pid.map(|p| p.to_string()).unwrap_or_default(),
        );
        line("since", &time(Some(self.since)));
        line("started", &time(self.started));
        line("ready", &time(self.ready));
        line("policy", self.policy.name());
        line("restarts", &self.restarts.to_string());
        line(
            "consecutive_failures",
            &self.consecutive_failures.to_string(),
        );
        line("next_start", &time(self.next_start));
        line("status", self.status.as_deref().unwrap_or(""));
        line("tree", &self.tree);
        if let Some(dir) = self.cgroup.as_deref().and_then(Path::to_str) {
            line("cgroup", dir);
        }
        line("dropped_lines", &self.dropped.to_string());
        if let Some(why) = &self.gave_up {
            line("gave_up", why);
        }
        for exit in &self.history {
            line("exit", &exit.encode());
        }
        out.push_str("end\n");
        out
    }

    /// Reads what [`encode`](State::encode) writes; `None` for anything else (a cut file,
    /// another version).
    pub fn decode(text: &str) -> Option<State> {
        let mut lines = text.lines();
        if lines.next()? != "pidward-state 1" || !text.ends_with("\nend\n") {
            return None;
        }
        // The supervisor and the time of the state are in every file; the rest has defaults.
        let mut s = State::new_for(0, SystemTime::UNIX_EPOCH, Policy::No, "");
        let (mut phase, mut supervisor, mut since) = (None, None, None);
        let time = |v: &str| -> Option<Option<SystemTime>> {
            if v.is_empty() {
                Some(None)
            } else {
                parse_rfc3339(v).ok().map(Some)
            }
        };
        for line in lines {
            if line == "end" {
                break;
            }
            let (key, raw) = line.split_once('=')?;
            let v = unescape(raw);
            match key {
                "state" => phase = Phase::from_name(&v),
                "supervisor" => supervisor = Some(v.parse().ok()?),
                "main_pid" => s.main_pid = if v.is_empty() { None } else { v.parse().ok() },
                "since" => since = time(&v)?,
                "started" => s.started = time(&v)?,
                "ready" => s.ready = time(&v)?,
                "policy" => s.policy = v.parse().ok()?,
                "restarts" => s.restarts = v.parse().ok()?,
                "consecutive_failures" => s.consecutive_failures = v.parse().ok()?,
                "next_start" => s.next_start = time(&v)?,
                "status" => s.status = (!v.is_empty()).then_some(v),
                "tree" => s.tree = v,
                "cgroup" => s.cgroup = (!v.is_empty()).then(|| PathBuf::from(v)),
                "dropped_lines" => s.dropped = v.parse().ok()?,
                "gave_up" => s.gave_up = (!v.is_empty()).then_some(v),
                "exit" => s.history.push(Exit::decode(&v)?),
                _ => {} // a key of a later version
            }
        }
        s.phase = phase?;
        s.supervisor = supervisor?;
        s.since = since?;
        Some(s)
    }

    /// One line for people: `backoff: exited with code 1 after 0.4s; restart 4 in 3.1s (7
    /// restarts since 09:12:44)`.
    pub fn summary(&self) -> String {
        let mut out = self.phase.name().to_owned();
        let last = self.last_exit();
        match self.phase {
            Phase::Running | Phase::Starting => {
                if let Some(pid) = self.main_pid {
                    out.push_str(&format!(": main PID {pid}"));
                }
                if let Some(exit) = last {
                    out.push_str(&format!("; last {}", exit.describe()));
                }
            }
            _ => {
                if let Some(exit) = last {
                    out.push_str(&format!(
                        ": {} after {}s",
                        exit.describe(),
                        crate::time::Seconds(exit.ran, 1)
                    ));
                }
            }
        }
        if self.phase == Phase::Backoff {
            let wait = self
                .next_start
                .and_then(|t| t.duration_since(SystemTime::now()).ok())
                .unwrap_or_default();
            out.push_str(&format!(
                "; restart {} in {}s",
                self.restarts,
                crate::time::Seconds(wait, 1)
            ));
        }
        if self.phase == Phase::Failed {
            out.push_str(&format!(
                "; gave up after {} failures in a row",
                self.consecutive_failures
            ));
        }
        if self.phase == Phase::Abandoned {
            out.push_str(&format!(
                "; the supervisor gave up ({})",
                self.gave_up.as_deref().unwrap_or("a system call failed")
            ));
        }
        let since = Rfc3339(self.since).to_string();
        out.push_str(&format!(
            " ({} restarts since {})",
            self.restarts,
            since.get(11..19).unwrap_or(&since)
        ));
        if let Some(status) = &self.status {
            out.push_str(&format!("; status: {status}"));
        }
        out
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            },
            (c, false) => out.push(c),
        }
    }
    out
}
