//! `pidward`: the command-line face of the pidward library.
//!
//! One file per subcommand; each parses its own arguments with clap and calls the library,
//! except `lock`, which reads them as flock(1) does (and answers to the name `flock`), before
//! any clap `Command` is built. `cli.rs` builds only the subcommand named (see there), and none
//! for the hot forms of `run` (`cli/fast.rs`). Usage errors exit 2 (clap's convention, and the
//! table in the README); `lock`'s exit 64, as flock's.
//!
//! The binary starts without std's runtime start-up (`#![no_main]`, see `startup.rs`): every
//! `pidward lock … true` or `pidward run …` pays for its own start-up, and std's spends most of
//! its time on a stack-overflow guard that reads `/proc/self/maps`. `startup::init` keeps the
//! two parts that matter to a process tool, and `main` returns through `process::exit`, which
//! flushes stdout as a normal return from a std `main` would.
//!
//! Each subcommand's `main` is `#[inline(never)]`. Inlined here, their frames made one of
//! 8 kB below every subcommand's own, and a supervisor keeps each page of stack it has touched
//! for its whole life (docs/benchmarks.md, "Start-up: frames, the leftover check first…").

#![no_main]

use std::ffi::{c_char, c_int};

mod cli;
mod completions;
mod lock;
mod locks;
#[cfg(feature = "test-helpers")]
mod man;
mod notify;
mod run;
mod startup;
mod status;
mod stop;
mod table;
mod version;

use cli::{Parsed, command};

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
    #[cfg(feature = "test-helpers")]
    if args.get(1).is_some_and(|a| a == "__agree") {
        std::process::exit(cli::agree(&args[2..]).into());
    }
    let code = match cli::parse(args) {
        Parsed::Lock(stub) => lock::main(lock::Name::pidward(), &stub.args),
        Parsed::Status(args) => status::main(args),
        Parsed::Stop(args) => stop::main(args),
        Parsed::Run(args) => run::main(args),
        Parsed::Notify(args) => notify::main(args),
        Parsed::Locks(args) => locks::main(args),
        Parsed::Completions(args) => completions::main(args),
        #[cfg(feature = "test-helpers")]
        Parsed::Man(args) => man::main(args),
    };
    std::process::exit(code.into())
}
