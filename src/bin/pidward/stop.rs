//! `pidward stop` (not written yet).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub fn main(_args: Args) -> ExitCode {
    eprintln!("pidward stop: not implemented yet");
    ExitCode::from(2)
}
