//! `Signal` parsing and naming micro-benchmarks. Run with `cargo bench --bench signal`.

use pidward::Signal;

fn main() {
    divan::main();
}

/// Parse each spelling `pidward stop -s` and `--retry` schedules accept.
#[divan::bench(args = ["TERM", "SIGTERM", "term", "15", "RTMIN+3", "SIGRTMAX-2"])]
fn parse(text: &str) -> Signal {
    divan::black_box(text).parse().expect("a valid signal")
}

/// An unknown name: the error path.
#[divan::bench]
fn parse_unknown() -> bool {
    divan::black_box("SIGNOPE").parse::<Signal>().is_err()
}

/// The canonical name of a signal (`Display`).
#[divan::bench(args = [Signal::TERM, Signal::KILL, Signal::WINCH])]
fn name(signal: Signal) -> String {
    divan::black_box(signal).to_string()
}
