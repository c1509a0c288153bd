//! Replays every file of the fuzz corpus (`fuzz/corpus/TARGET/`, crash inputs included)
//! through the property checks of its fuzz target, on stable Rust and without the fuzzer: a
//! regression found once by fuzzing stays fixed, and CI checks the whole corpus in seconds.
//! The checks are the fuzz targets' own (`fuzz/checks/`, included by path); docs/fuzzing.md
//! says how the corpus is grown and minimised.
#![cfg(feature = "test-helpers")]

#[path = "../fuzz/checks/mod.rs"]
#[allow(dead_code, clippy::all)]
mod checks;

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
}

fn replay(target: &str) {
    let (_, check) = checks::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no fuzz target {target}"));
    let files = corpus(target);
    assert!(!files.is_empty(), "the corpus of {target} is empty");
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "{}: the property of {target} does not hold for this input",
            file.display()
        );
    }
}

#[test]
fn every_target_has_a_corpus_and_a_replay() {
    let mut names: Vec<&str> = checks::TARGETS.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    let mut dirs: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
    dirs.sort_unstable();
    assert_eq!(names, dirs);
    // This file has one test per target.
    let me = include_str!("fuzz_corpus.rs");
    for name in names {
        assert!(
            me.contains(&format!("fn {name}() {{\n    replay(\"{name}\")")),
            "{name}"
        );
    }
}

#[test]
fn duration() {
    replay("duration")
}

#[test]
fn env_file() {
    replay("env_file")
}

#[test]
fn lock_record() {
    replay("lock_record")
}

#[test]
fn notify_datagram() {
    replay("notify_datagram")
}

#[test]
fn notify_fd() {
    replay("notify_fd")
}

#[test]
fn pid_file() {
    replay("pid_file")
}

#[test]
fn rlimit_spec() {
    replay("rlimit_spec")
}

#[test]
fn signal_name() {
    replay("signal_name")
}

#[test]
fn status_pipe() {
    replay("status_pipe")
}

#[test]
fn stop_schedule() {
    replay("stop_schedule")
}

#[test]
fn user_group() {
    replay("user_group")
}
