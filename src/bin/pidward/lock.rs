//! `pidward lock` (not written yet).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub fn main(_args: Args) -> ExitCode {
    eprintln!("pidward lock: not implemented yet");
    ExitCode::from(2)
}
