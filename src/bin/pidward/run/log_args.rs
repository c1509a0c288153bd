//! The logging options of `pidward run`: the lifecycle log (`--log`) and the service's output
//! relay (`--output-max`, `--output-timestamps`, `--reopen-on`), and their parsers.

use pidward::log::{Dest, Format, Level};

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
    #[arg(long, value_name = "MODE", value_parser = super::args::parse_umask, default_value = "640")]
    pub log_mode: u32,

    /// The lines' format: text (the default on a terminal), logfmt (elsewhere) or json.
    #[arg(long, value_name = "text|logfmt|json", value_parser = parse_format)]
    pub log_format: Option<Format>,

    /// The least severe events logged: error, warning, info (the default) or debug (also
    /// each signal pidward passes on).
    #[arg(long, value_name = "LEVEL", default_value = "info", value_parser = parse_level)]
    pub log_level: Level,

    /// The tag of every line and the syslog identifier (default: the command's base name).
    #[arg(short = 'T', long, value_name = "NAME")]
    pub tag: Option<String>,
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
