//! The logging options of `pidward run`: the lifecycle log (`--log`) and the service's output
//! relay (`--output-max`, `--output-timestamps`, `--reopen-on`), and their parsers. (`-o`,
//! `--stdout` and `--stderr`, with the same DEST grammar, are among the command's set-up
//! options.)

use pidward::log::{Dest, Format, Level, Rotation};

/// The logging options, flattened into `pidward run`'s under a heading of their own.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// Where pidward logs the service's life (start, spawned, ready, status, exited,
    /// restart-scheduled, stop-requested, exit): stderr (the default in the foreground), none
    /// (the default with --daemon or --exec), a file path,
    /// syslog[:FACILITY[.LEVEL]][@SOCKET] (RFC 3164 to /dev/log; syslog5424 for RFC 5424;
    /// LEVEL: the least severe level sent there), or journal[@SOCKET] (journald's native
    /// protocol; `<N>` lines on stderr when $JOURNAL_STREAM names it). Repeatable.
    #[arg(short = 'l', long = "log", value_name = "DEST", value_parser = parse_dest)]
    pub log: Vec<Dest>,

    /// Mode of a log file that pidward creates, in octal.
    #[arg(long, value_name = "MODE", value_parser = super::args::parse_umask, default_value = super::args::defaults::LOG_MODE)]
    pub log_mode: u32,

    /// The lines' format: text (the default on a terminal), logfmt (elsewhere) or json.
    #[arg(long, value_name = "text|logfmt|json", value_parser = parse_format)]
    pub log_format: Option<Format>,

    /// The least severe events logged: error, warning, info (the default) or debug (also
    /// each signal pidward passes on).
    #[arg(long, value_name = "LEVEL", default_value = super::args::defaults::LOG_LEVEL, value_parser = parse_level)]
    pub log_level: Level,

    /// The tag of every line and the syslog identifier (default: the command's base name).
    #[arg(short = 'T', long, value_name = "NAME")]
    pub tag: Option<String>,

    /// Relay the command's output files through pidward and rotate them once past SIZE bytes
    /// (K, M, G: powers of 1024), at the end of a line, to FILE.1 ... FILE.KEEP (default 5,
    /// at most 999; the oldest is replaced). A line still running 64K past SIZE is ended
    /// there. Without it, an output file is the command's own O_APPEND descriptor.
    #[arg(long, value_name = "SIZE[:KEEP]", value_parser = parse_rotation)]
    pub output_max: Option<Rotation>,

    /// Prefix each line of the command's output with the time it began (RFC 3339 UTC,
    /// milliseconds; in files and on stderr). Relays the output through pidward.
    #[arg(long)]
    pub output_timestamps: bool,

    /// On this signal (HUP, USR2...), reopen pidward's own files (the log files and the relayed
    /// output files) at their paths, as after logrotate renamed them; the signal is still
    /// passed on to the command. An output file that is not relayed is reopened for the
    /// command at its next start.
    #[arg(long, value_name = "SIG", value_parser = super::args::parse_signal)]
    pub reopen_on: Option<pidward::Signal>,
}

/// `SIZE[:KEEP]`.
pub fn parse_rotation(s: &str) -> Result<Rotation, String> {
    s.parse()
}

/// A destination (`pidward::log::Dest`'s grammar).
pub fn parse_dest(s: &str) -> Result<Dest, String> {
    s.parse()
}

/// `text`, `logfmt` or `json`.
pub fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

/// `error`, `warning`, `info` or `debug`.
pub fn parse_level(s: &str) -> Result<Level, String> {
    s.parse()
}
