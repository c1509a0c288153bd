//! `pidward completions SHELL`: the completion script for bash, zsh or fish on stdout.
//!
//! Generated from the same clap definitions that parse the command line (and, for `lock`,
//! from its option table, `lock/doc.rs`), so a completion never offers an option that does not
//! exist. Install with, e.g., `pidward completions bash > /etc/bash_completion.d/pidward`,
//! `pidward completions zsh > "${fpath[1]}/_pidward"`, or `pidward completions fish >
//! ~/.config/fish/completions/pidward.fish`.

use std::io::Write;

use clap_complete::Shell;

/// `pidward completions`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  pidward completions bash > /etc/bash_completion.d/pidward
  pidward completions zsh > \"${fpath[1]}/_pidward\"
  pidward completions fish > ~/.config/fish/completions/pidward.fish")]
pub struct Args {
    /// The shell to write the script for.
    #[arg(value_enum)]
    shell: Shell,
}

/// Write the script; 0, or 1 when stdout cannot take it.
#[inline(never)]
pub fn main(args: Args) -> u8 {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut crate::command(), "pidward", &mut script);
    let mut out = std::io::stdout().lock();
    match out.write_all(&script).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "pidward completions: stdout: {e}");
            1
        }
    }
}
