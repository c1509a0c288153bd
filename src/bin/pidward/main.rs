//! `pidward`: the command-line face of the pidward library.
//!
//! One file per subcommand; each parses its own arguments with clap and calls the library.
//! Usage errors exit 2 (clap's convention, and the table in the README).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod lock;
mod notify;
mod run;
mod status;
mod stop;

#[derive(Parser)]
#[command(
    name = "pidward",
    version,
    about = "Unix process lifecycle: PID files, locks, start, status, stop"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a command while holding a file lock (flock(1)-compatible).
    Lock(lock::Args),
    /// Report whether the program named by a PID file is running (LSB exit codes).
    Status(status::Args),
    /// Stop the program named by a PID file, following a signal schedule.
    Stop(stop::Args),
    /// Start a command: supervise it, detach it, or exec it, with a PID file and readiness.
    Run(run::Args),
    /// Send a readiness notification (sd_notify protocol) to the supervisor.
    Notify(notify::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Lock(args) => lock::main(args),
        Command::Status(args) => status::main(args),
        Command::Stop(args) => stop::main(args),
        Command::Run(args) => run::main(args),
        Command::Notify(args) => notify::main(args),
    }
}
