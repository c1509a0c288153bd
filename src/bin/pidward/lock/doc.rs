//! `pidward lock` described as a clap command, for its man page and shell completions only.
//!
//! `lock` reads its arguments with its own getopt (flock(1)'s rules, `options.rs`), so clap
//! never parses them; but the man page and the completion scripts are generated from clap
//! definitions. This builds one from the option table itself ([`SPECS`]), so that an option
//! added there cannot be missing from either: [`about`] is an exhaustive `match`, and a new
//! [`Opt`] does not compile without its one-line description.

use clap::{Arg, ArgAction, Command};

use super::getopt::HasArg;
use super::options::{Opt, SPECS};

/// What an option does, as `pidward lock --help` says it.
fn about(opt: Opt) -> (&'static str, Option<&'static str>) {
    match opt {
        Opt::Shared => ("Get a shared lock", None),
        Opt::Exclusive => ("Get an exclusive lock (the default)", None),
        Opt::Unlock => ("Remove a lock (of a descriptor)", None),
        Opt::NonBlock => ("Fail rather than wait", None),
        Opt::Timeout => ("Wait for at most this long", Some("SECS")),
        Opt::ConflictExitCode => (
            "Exit code after a conflict or a timeout (default 1)",
            Some("NUMBER"),
        ),
        Opt::Close => (
            "Close the locked descriptor before running the command",
            None,
        ),
        Opt::NoFork => (
            "Execute the command without forking (the lock goes with it)",
            None,
        ),
        Opt::Verbose => ("Say how long it waited, or who holds the lock", None),
        Opt::Fcntl => (
            "Use an open file description lock (fcntl F_OFD_SETLK) rather than flock(2)",
            None,
        ),
        Opt::Start => (
            "Start of the locked byte range (implies --fcntl)",
            Some("OFFSET"),
        ),
        Opt::Length => (
            "Length of the locked byte range (implies --fcntl; 0: to the end)",
            Some("NUMBER"),
        ),
        Opt::Fd => (
            "Lock this inherited descriptor around the command",
            Some("NUMBER"),
        ),
        Opt::Help => ("Display the help", None),
        Opt::Version => ("Display the version", None),
        Opt::Etcd => (
            "Take the lock NAME (the FILE operand) on etcd: http(s)://host:port,... (empty: $PIDWARD_ETCD_ENDPOINTS)",
            Some("ENDPOINTS"),
        ),
        Opt::Ttl => (
            "The etcd lease's TTL (default 10, at least 2)",
            Some("SECS"),
        ),
        Opt::KillAfter => (
            "SIGTERM to SIGKILL once the cluster lock is lost (default min(5, TTL/3))",
            Some("SECS"),
        ),
        Opt::LostExitCode => (
            "Exit code when the cluster lock was lost (default 75)",
            Some("NUMBER"),
        ),
        Opt::CaCert => (
            "Verify etcd's TLS certificate with these CA certificates (PEM; default the system's; also $PIDWARD_ETCD_CACERT)",
            Some("FILE"),
        ),
        Opt::Cert => (
            "Client certificate for etcd's TLS (PEM, with --key; also $PIDWARD_ETCD_CERT)",
            Some("FILE"),
        ),
        Opt::Key => (
            "The client certificate's private key (PEM; also $PIDWARD_ETCD_KEY)",
            Some("FILE"),
        ),
    }
}

/// `pidward lock`, with every option of [`SPECS`] (aliases folded into their option) and its
/// operands.
pub fn command() -> Command {
    let mut cmd = Command::new("lock")
        .about("Run a command while holding a file lock (flock(1)-compatible)")
        .long_about(
            "Run a command while holding a file lock, exactly as flock(1) does (its options, \
             abbreviations, operands and exit codes), with signals forwarded to the command and \
             the holder named on a conflict; --etcd takes the lock cluster-wide instead.",
        )
        .disable_help_flag(true)
        .disable_version_flag(true)
        .after_help(super::help::EXIT_STATUS);
    // Each option's first row has its long name, which becomes its clap id.
    let mut seen: Vec<(Opt, &'static str)> = Vec::new();
    for spec in SPECS {
        if let Some(&(_, id)) = seen.iter().find(|(o, _)| *o == spec.id) {
            // An alias of an option already added: `-e` of `-x`, `--nb` of `-n`, `--wait` of `-w`.
            cmd = cmd.mut_arg(id, |a| {
                let a = match spec.short {
                    Some(c) => a.visible_short_alias(c as char),
                    None => a,
                };
                match spec.long {
                    Some(l) => a.visible_alias(l),
                    None => a,
                }
            });
            continue;
        }
        let id = spec.long.expect("an option's first row names it");
        seen.push((spec.id, id));
        let (help, value) = about(spec.id);
        let mut arg = Arg::new(id).long(id).help(help);
        if let Some(c) = spec.short {
            arg = arg.short(c as char);
        }
        arg = match (spec.has_arg, value) {
            (HasArg::No, _) => arg.action(ArgAction::SetTrue),
            (_, v) => arg.value_name(v.unwrap_or("VALUE")).action(ArgAction::Set),
        };
        cmd = cmd.arg(arg);
    }
    cmd.arg(
        Arg::new("command-string")
            .short('c')
            .long("command")
            .value_name("STRING")
            .help("Run a single command string through the shell")
            .action(ArgAction::Set),
    )
    .arg(
        Arg::new("target")
            .value_name("FILE|DIRECTORY|FD")
            .help("What to lock: a file (created if missing), a directory, or a descriptor number")
            .value_hint(clap::ValueHint::AnyPath),
    )
    .arg(
        Arg::new("command")
            .value_name("COMMAND")
            .num_args(0..)
            .trailing_var_arg(true)
            .help("The command and its arguments (or -c STRING, run by the shell)")
            .value_hint(clap::ValueHint::CommandWithArguments),
    )
}
