//! The properties each fuzz target checks, one module per parser.
//!
//! Shared by the fuzz targets (`fuzz/fuzz_targets/`, built with cargo-fuzz) and by the corpus
//! replay of the main crate (`tests/fuzz_corpus.rs`, which includes this module by path), so
//! that every corpus file and every crash input is checked on stable Rust, without the
//! fuzzer, on every test run. A check panics when its property does not hold.

pub mod duration;
pub mod env_file;
pub mod lock_record;
pub mod notify_datagram;
pub mod notify_fd;
pub mod pid_file;
pub mod rlimit_spec;
pub mod signal_name;
pub mod status_pipe;
pub mod stop_schedule;
pub mod user_group;

/// Every target: its name (the directory of its corpus, `fuzz/corpus/NAME/`) and its check.
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("duration", duration::check),
    ("env_file", env_file::check),
    ("lock_record", lock_record::check),
    ("notify_datagram", notify_datagram::check),
    ("notify_fd", notify_fd::check),
    ("pid_file", pid_file::check),
    ("rlimit_spec", rlimit_spec::check),
    ("signal_name", signal_name::check),
    ("status_pipe", status_pipe::check),
    ("stop_schedule", stop_schedule::check),
    ("user_group", user_group::check),
];
