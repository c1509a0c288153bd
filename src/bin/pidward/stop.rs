//! `pidward stop [OPTIONS] PIDFILE`: stop what a PID file names, through a pidfd.
//!
//! Without `-R` and `-s`, the schedule is `TERM/30/KILL/5`: stop means stop. With `-s SIG`
//! alone, the signal is sent once and nothing waits (start-stop-daemon's behaviour), so
//! `pidward stop -s HUP` is a reload.
//!
//! A stale PID file of `pidward run` whose supervisor died (`SIGKILL`) may leave the rest of
//! the service running in the run's cgroup ([`leftover`]): the schedule stops those
//! processes, the message names them, and the exit code is 0 (the service is stopped now).
//! The same for a supervisor that gave up on a failing system call with part of the service
//! still running (state `abandoned`); where those processes cannot be found (no cgroup), the
//! answer is 4, never "nothing to stop".

use std::io::Write;
use std::path::PathBuf;

use pidward::Signal;
use pidward::stop::{Options, Outcome, Schedule, stop};
use pidward::supervise::{Leftover, Phase, State, StateFile, leftover, read_state};

/// A message on standard error. One that cannot be written (stderr closed, or a full disk) is
/// dropped: there is nowhere left to report it, and the exit code still says what happened.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

#[derive(clap::Args)]
#[command(after_help = "\
A stale PID file whose supervisor died leaving processes in its cgroup (as root, or with a
delegated cgroup): those processes are stopped with the schedule (KILL is cgroup.kill), their
PIDs are named, and the cgroup is removed.

Exit codes: 0 stopped, or was not running; 1 still alive after the whole schedule; 2 usage
error; 4 cannot tell or not permitted (invalid or untrusted file, EPERM); 7 with --strict, was
not running.

Examples:
  pidward stop /run/app.pid                          TERM, wait up to 30 s, KILL, wait 5 s
  pidward stop -R TERM/10/KILL/5 --remove-pidfile /run/app.pid
  pidward stop -s HUP /run/app.pid                   one signal, no waiting: a reload
")]
pub struct Args {
    /// Signal to send first (name or number: TERM, SIGTERM, 15, RTMIN+3).
    #[arg(short, long, value_name = "SIG")]
    signal: Option<Signal>,
    /// Schedule: SECS (= SIG/SECS/KILL/5) or SIG/SECS/SIG/SECS[/forever]...
    #[arg(short = 'R', long, value_name = "SCHEDULE")]
    retry: Option<String>,
    /// Remove the PID file once the process is gone (and a stale one).
    #[arg(long)]
    remove_pidfile: bool,
    /// Exit 7 when nothing was running (LSB "program is not running").
    #[arg(long)]
    strict: bool,
    /// Print what would be sent; send nothing.
    #[arg(short, long)]
    test: bool,
    /// Say what was done.
    #[arg(short, long)]
    verbose: bool,
    /// The PID file.
    pidfile: PathBuf,
}

#[inline(never)]
pub fn main(args: Args) -> u8 {
    let signal = args.signal.unwrap_or(Signal::TERM);
    let schedule = match (&args.retry, args.signal) {
        (Some(text), _) => match Schedule::parse(text, signal) {
            Ok(s) => s,
            Err(e) => {
                say!("pidward stop: {e}");
                return 2;
            }
        },
        (None, Some(sig)) => Schedule::once(sig),
        (None, None) => Schedule::default(),
    };
    let opts = Options {
        schedule,
        remove_pidfile: args.remove_pidfile,
        dry_run: args.test,
    };
    let state = read_state(&args.pidfile);
    if let Some(left) = leftover(&args.pidfile) {
        return stop_leftover(&args, &left, &opts, state.as_ref());
    }
    if let Some(why) = state.as_ref().and_then(unreachable_leftovers) {
        say!("pidward stop: {}: {why}", args.pidfile.display());
        return 4;
    }
    let path = args.pidfile.display();
    match stop(&args.pidfile, &opts) {
        Ok(Outcome::Stopped { pid, sent }) => {
            if args.verbose {
                say!("{path}: stopped PID {pid} (sent {})", sent_text(&sent));
            }
            0
        }
        Ok(Outcome::Signalled { pid, sent }) => {
            if args.verbose {
                say!("{path}: sent {} to PID {pid}", sent_text(&sent));
            }
            0
        }
        Ok(Outcome::NotRunning(status)) => {
            say!("{path}: {status}; nothing to stop");
            if args.strict { 7 } else { 0 }
        }
        Ok(Outcome::StillRunning { pid, sent }) => {
            say!(
                "{path}: PID {pid} is still running after the whole schedule (sent {})",
                sent_text(&sent)
            );
            1
        }
        Ok(Outcome::WouldSend { pid, schedule }) => {
            let line = format!("would stop PID {pid} with schedule {schedule}");
            match writeln!(std::io::stdout(), "{line}") {
                Ok(()) => 0,
                Err(e) => {
                    say!("pidward stop: cannot write to standard output: {e}");
                    4
                }
            }
        }
        // Cannot tell, untrusted file, or not permitted: LSB "unknown".
        Err(e) => {
            say!("pidward stop: {e}");
            4
        }
    }
}

/// The PID file is stale, but its supervisor's cgroup still holds processes
/// ([`leftover`]): they are the service, and the schedule stops them.
fn stop_leftover(args: &Args, left: &Leftover, opts: &Options, state: Option<&State>) -> u8 {
    let path = args.pidfile.display();
    let (old, pids) = (left.supervisor, pids_text(&left.pids));
    if opts.dry_run {
        let line = format!(
            "would stop PIDs {pids}, left by supervisor PID {old} in {}, with schedule {}",
            left.cgroup.display(),
            opts.schedule
        );
        return match writeln!(std::io::stdout(), "{line}") {
            Ok(()) => 0,
            Err(e) => {
                say!("pidward stop: cannot write to standard output: {e}");
                4
            }
        };
    }
    let cleared = match left.stop(&opts.schedule) {
        Ok(c) => c,
        Err(e) => {
            say!("pidward stop: {path}: {}: {e}", left.cgroup.display());
            return 4;
        }
    };
    let (pids, sent) = (pids_text(&cleared.pids), sent_text(&cleared.sent));
    if !cleared.gone && opts.schedule.waits() {
        say!("{path}: PIDs {pids}, left by supervisor PID {old}, still run (sent {sent})");
        return 1;
    }
    let gave_up = state
        .filter(|s| s.phase == Phase::Abandoned)
        .map(|s| {
            format!(
                "gave up ({})",
                s.gave_up.as_deref().unwrap_or("a system call failed")
            )
        })
        .unwrap_or_else(|| "was gone".to_owned());
    if cleared.gone {
        say!(
            "{path}: supervisor PID {old} {gave_up}; stopped the PIDs it left: {pids} (sent {sent})"
        );
    } else if args.verbose {
        say!("{path}: sent {sent} to PIDs {pids}, left by supervisor PID {old}");
    }
    if opts.remove_pidfile {
        // Stale now: `stop` removes it (and says nothing).
        if let Err(e) = stop(&args.pidfile, opts) {
            say!("pidward stop: {e}");
            return 4;
        }
        // The record of what was left goes with the file it was kept beside.
        if cleared.gone && !args.pidfile.exists() {
            let _ = StateFile::beside(&args.pidfile).remove();
        }
    }
    0
}

/// A supervisor that gave up ([`Phase::Abandoned`]) with processes left where `stop` cannot
/// find them (no cgroup, or one that cannot be believed): what cannot be stopped is not
/// "nothing to stop". `None` when nothing is left (its cgroup is gone or empty).
fn unreachable_leftovers(state: &State) -> Option<String> {
    if state.phase != Phase::Abandoned {
        return None;
    }
    let why = state.gave_up.as_deref().unwrap_or("a system call failed");
    match &state.cgroup {
        Some(dir) => match std::fs::read_to_string(dir.join("cgroup.procs")) {
            Ok(text) if text.trim().is_empty() => None,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            _ => Some(format!(
                "its supervisor gave up ({why}); what it left in {} cannot be stopped from here",
                dir.display()
            )),
        },
        None => Some(format!(
            "its supervisor gave up ({why}) and left the service running without a cgroup \
             (main PID {}): it cannot be found from here",
            state
                .main_pid
                .map_or_else(|| "unknown".to_owned(), |p| p.to_string())
        )),
    }
}

fn sent_text(sent: &[Signal]) -> String {
    let text: Vec<String> = sent.iter().map(|s| s.to_string()).collect();
    text.join(", ")
}

fn pids_text(pids: &[u32]) -> String {
    let text: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
    text.join(", ")
}
