//! `pidward lock` reads its command line as util-linux's flock(1) does (getopt_long with a
//! `+`): long options abbreviated, `--opt=value` and `--opt value`, the last of repeated
//! options wins, options end at the first operand or `--`; `--help`, `--version`, and the
//! `flock` name. Each spelling flock 2.38.1 also has is compared with `/usr/bin/flock`.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use predicates::prelude::*;
use support::lock::{Holder, lock};

/// The exit codes of `flock ARGS F echo ran` and `pidward lock ARGS F echo ran`.
fn both(args: &[&str], f: &std::path::Path) -> (Option<i32>, Option<i32>) {
    let theirs = Command::new("flock")
        .args(args)
        .arg(f)
        .args(["echo", "ran"])
        .output()
        .unwrap();
    let ours = lock(args).arg(f).args(["echo", "ran"]).output().unwrap();
    (theirs.status.code(), ours.status.code())
}

#[test]
fn long_options_abbreviated_and_with_values_like_flock() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let _holder = Holder::new(&[], &f);
    let cases: &[(&[&str], i32)] = &[
        (&["--nonblocking"], 1),
        (&["--nonb"], 1),
        (&["--nb"], 1),
        (&["-n"], 1),
        (&["--excl", "--nonb"], 1),
        (&["--sh", "--nonb"], 1),
        (&["--nonb", "--conf", "5"], 5),
        (&["--nonb", "--conflict-exit-code=6"], 6),
        (&["-nE7"], 7),
        (&["-n", "-E", "8"], 8),
        (&["-E9", "-n"], 9),
        (&["--time", "0.1"], 1),
        (&["--timeout=0.1"], 1),
        (&["--wait", "0.1"], 1),
        (&["--wa=0.1", "-E", "3"], 3),
        (&["-w0.1"], 1),
        (&["-nw", "5"], 1),
        (&["--no-f", "-n"], 1),
        (&["--clo", "-n"], 1),
        (&["--verb", "-n"], 1),
        (&["-n", "--"], 1),
        // pidward's own long options (--etcd, --ttl, --lost-exit-code) leave flock's
        // abbreviations as flock has them.
        (&["--e", "--nonb"], 1),
        (&["--t", "0.1"], 1),
        (&["--c", "-n"], 64),
        (&["--co", "-n"], 64),
    ];
    for (args, code) in cases {
        assert_eq!(both(args, &f), (Some(*code), Some(*code)), "{args:?}");
    }
}

#[test]
fn the_last_of_repeated_options_wins_like_flock() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let fs = f.to_str().unwrap();
    let holder = Holder::new(&["-s"], &f);
    let cases: &[(&[&str], i32)] = &[
        (&["-E", "3", "-E", "4", "-n"], 4),
        (&["-n", "-n", "-E", "5"], 5),
        (&["-s", "-x", "-n"], 1),
        (&["-x", "-s", "-n"], 0),
        (&["-u", "-s", "-n"], 0),
        (&["-s", "-e", "-n"], 1),
    ];
    for (args, code) in cases {
        assert_eq!(both(args, &f), (Some(*code), Some(*code)), "{args:?}");
    }
    // A long wait overridden by a short one: the short one is waited for.
    drop(holder);
    let _holder = Holder::new(&[], &f);
    let start = Instant::now();
    lock(&["-w", "30", "-w", "0.2", fs, "true"])
        .assert()
        .code(1);
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn options_end_at_the_file_or_at_a_double_dash() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("-f");
    let fs = f.to_str().unwrap();
    // Everything after the file is the command's, hyphens included (no permutation).
    lock(&[fs, "echo", "-n", "-x", "--verbose"])
        .assert()
        .success()
        .stdout("-x --verbose");
    // `--` ends the options; what follows is the file, even if it looks like an option.
    let dash = "-n";
    let out = lock(&["--", dash, "echo", "ran"])
        .current_dir(dir.path())
        .assert()
        .success()
        .stdout("ran\n");
    drop(out);
    assert!(dir.path().join(dash).exists());
    let theirs = Command::new("flock")
        .args(["--", dash, "echo", "ran"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(theirs.stdout, b"ran\n");
}

#[test]
fn help_and_version_on_stdout() {
    for help in [
        &["--help"][..],
        &["-h"],
        &["--he"],
        &["-n", "--help", "--bogus"],
    ] {
        lock(help)
            .assert()
            .success()
            .stderr("")
            .stdout(predicate::str::starts_with(
                "\nUsage:\n pidward lock [options] <file>|<directory> <command> [<argument>...]\n",
            ))
            .stdout(predicate::str::contains(
                " -n, --nb, --nonblocking  fail rather than wait\n",
            ))
            .stdout(predicate::str::contains("     --fcntl "));
    }
    let version = format!("pidward lock from pidward {}\n", env!("CARGO_PKG_VERSION"));
    for v in ["--version", "-V", "--vers"] {
        lock(&[v])
            .assert()
            .success()
            .stderr("")
            .stdout(version.clone());
    }
    // As in flock, an option is acted on when it is read: a bad value before --help counts.
    lock(&["-w", "x", "--help"]).assert().code(64);
}

/// A directory holding `NAME -> pidward`.
fn named(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join(name);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_pidward"), &link).unwrap();
    (dir, link)
}

#[test]
fn called_flock_it_is_flock() {
    let (dir, flock) = named("flock");
    let f = dir.path().join("f");
    let run = |args: &[&str]| {
        let mut c = assert_cmd::Command::new(&flock);
        c.args(args).timeout(Duration::from_secs(30));
        c
    };
    // The same bytes as util-linux's flock where their messages agree.
    for args in [
        &["-n", "97"][..],
        &[f.to_str().unwrap(), "no-such-command-pidward"],
    ] {
        let theirs = Command::new("flock").args(args).output().unwrap();
        run(args)
            .assert()
            .code(theirs.status.code().unwrap())
            .stdout(theirs.stdout)
            .stderr(theirs.stderr);
    }
    run(&["--bogus"])
        .assert()
        .code(64)
        .stderr("flock: unrecognized option '--bogus'\nTry 'flock --help' for more information.\n");
    run(&["--verbose", f.to_str().unwrap(), "true"])
        .assert()
        .success()
        .stdout(
            predicate::str::is_match("^flock: getting lock took .*\nflock: executing true\n$")
                .unwrap(),
        );
    run(&["-V"]).assert().success().stdout(format!(
        "flock from pidward {}\n",
        env!("CARGO_PKG_VERSION")
    ));
    run(&["--help"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "\nUsage:\n flock [options] <file>|<directory> ",
        ));
    // Any name ending in flock, under its own name; other names are pidward.
    let (_d, other) = named("my-flock");
    assert_cmd::Command::new(&other)
        .arg("--bogus")
        .assert()
        .code(64)
        .stderr(predicate::str::starts_with(
            "my-flock: unrecognized option '--bogus'\n",
        ));
    let (_d, pw) = named("pidward");
    assert_cmd::Command::new(&pw)
        .args(["lock", "--version"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("pidward lock from pidward "));
}
