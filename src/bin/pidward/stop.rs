//! `pidward stop [OPTIONS] PIDFILE`: stop what a PID file names, through a pidfd.
//!
//! Without `-R` and `-s`, the schedule is `TERM/30/KILL/5`: stop means stop. With `-s SIG`
//! alone, the signal is sent once and nothing waits (start-stop-daemon's behaviour), so
//! `pidward stop -s HUP` is a reload.

use std::io::Write;
use std::path::PathBuf;

use pidward::Signal;
use pidward::stop::{Options, Outcome, Schedule, stop};

/// A message on standard error. One that cannot be written (stderr closed, or a full disk) is
/// dropped: there is nowhere left to report it, and the exit code still says what happened.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

#[derive(clap::Args)]
#[command(
    after_help = "Exit codes: 0 stopped, or was not running; 1 still alive after the whole schedule; 4 cannot tell or not permitted (invalid or untrusted file, EPERM); 7 was not running, with --strict (LSB)."
)]
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
    let path = args.pidfile.display();
    let sent_text = |sent: &[Signal]| {
        sent.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
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
