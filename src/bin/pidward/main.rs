//! `pidward`: the command-line face of the pidward library.
//!
//! One file per subcommand; each parses its own arguments with clap and calls the library,
//! except `lock`, which reads them as flock(1) does (and answers to the name `flock`). Usage
//! errors exit 2 (clap's convention, and the table in the README); `lock`'s exit 64, as flock's.
//!
//! The binary starts without std's runtime start-up (`#![no_main]`, see `startup.rs`): every
//! `pidward lock … true` or `pidward run …` pays for its own start-up, and std's spends most of
//! its time on a stack-overflow guard that reads `/proc/self/maps`. `startup::init` keeps the
//! two parts that matter to a process tool, and `main` returns through `process::exit`, which
//! flushes stdout as a normal return from a std `main` would.

#![no_main]

use std::ffi::{c_char, c_int};

use clap::{CommandFactory, Parser, Subcommand};

mod completions;
mod lock;
#[cfg(feature = "test-helpers")]
mod man;
mod notify;
mod run;
mod startup;
mod status;
mod stop;
mod version;

#[derive(Parser)]
#[command(
    name = "pidward",
    version,
    long_version = version::LONG,
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
    /// Write a shell completion script (bash, zsh, fish) to stdout.
    Completions(completions::Args),
    /// Write the man pages into a directory (for maintainers).
    #[cfg(feature = "test-helpers")]
    #[command(name = "__man", hide = true)]
    Man(man::Args),
}

/// The whole command line as clap sees it, with `lock` described by its own option table:
/// what completions and man pages are generated from.
fn command() -> clap::Command {
    Cli::command().mut_subcommand("lock", |_| lock::doc::command())
}

/// The C entry point, called by the C runtime with the process's arguments, which std reads
/// on its own (glibc passes them to std's `.init_array` hook), so `argc` and `argv` go unused.
#[unsafe(no_mangle)]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    // SAFETY: this is the first Rust code to run, and the process has one thread.
    unsafe { startup::init() };
    // `lock` reads its arguments as flock(1) does, not as clap does; so does pidward under a
    // name ending in `flock`.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(name) = args.first().and_then(|a| lock::Name::flock(a)) {
        std::process::exit(lock::main(name, &args[1..]).into());
    }
    if args.get(1).is_some_and(|a| a == "lock") {
        std::process::exit(lock::main(lock::Name::pidward(), &args[2..]).into());
    }
    let cli = Cli::parse_from(args);
    let code = match cli.command {
        Command::Lock(stub) => lock::main(lock::Name::pidward(), &stub.args),
        Command::Status(args) => status::main(args),
        Command::Stop(args) => stop::main(args),
        Command::Run(args) => run::main(args),
        Command::Notify(args) => notify::main(args),
        Command::Completions(args) => completions::main(args),
        #[cfg(feature = "test-helpers")]
        Command::Man(args) => man::main(args),
    };
    std::process::exit(code.into())
}
