//! `pidward status DIR` and `pidward status FILE…`, black-box: which files a scan lists and
//! which it skips, the aligned listing, colour only on a terminal, the JSON array, and the
//! worst LSB code of the set.

#![cfg(feature = "test-helpers")]

mod support;
use support::guards::*;

use std::path::Path;
use std::process::{Command, Output};

fn status(args: &[&Path], extra: &[&str]) -> Output {
    pidward()
        .arg("status")
        .args(extra)
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A dead process's PID.
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    c.wait().unwrap();
    c.id()
}

/// A directory like /run: a pidward service, a foreign (nginx-style) file one level down, a
/// stale file, and things that are not PID files.
struct Run {
    dir: tempfile::TempDir,
    _holder: Proc,
    _foreign: Proc,
    holder: u32,
    foreign: u32,
    stale: u32,
}

fn populated() -> Run {
    let dir = tempdir();
    let d = dir.path();
    let holder = guard("hold", &d.join("app.pid"), &[]);
    let foreign = sleeper();
    std::fs::create_dir(d.join("nginx")).unwrap();
    std::fs::write(d.join("nginx/nginx.pid"), format!("{}\n", foreign.pid())).unwrap();
    let stale = dead_pid();
    std::fs::write(d.join("old.pid"), format!("{stale}\n")).unwrap();
    // Not PID files: skipped without a word.
    std::fs::write(d.join("garbage.pid"), "hello\n").unwrap();
    std::fs::write(d.join("empty.pid"), "").unwrap();
    std::fs::write(d.join("utmp"), format!("{}\n", foreign.pid())).unwrap();
    std::os::unix::fs::symlink(d.join("app.pid"), d.join("link.pid")).unwrap();
    nix::unistd::mkfifo(
        &d.join("fifo.pid"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    std::fs::create_dir_all(d.join("nginx/deeper")).unwrap();
    std::fs::write(
        d.join("nginx/deeper/too-deep.pid"),
        format!("{}\n", foreign.pid()),
    )
    .unwrap();
    std::os::unix::fs::symlink(d.join("nginx"), d.join("nginx-link")).unwrap();
    Run {
        holder: holder.pid(),
        foreign: foreign.pid(),
        stale,
        _holder: holder,
        _foreign: foreign,
        dir,
    }
}

#[test]
fn a_directory_lists_its_pid_files_sorted_and_aligned() {
    let run = populated();
    let d = run.dir.path();
    let everything = || {
        let mut all = Vec::new();
        for sub in [d.to_path_buf(), d.join("nginx"), d.join("nginx/deeper")] {
            for e in std::fs::read_dir(&sub).unwrap() {
                let p = e.unwrap().path();
                all.push((snapshot(&p), p));
            }
        }
        all.sort_by(|a, b| a.1.cmp(&b.1));
        all
    };
    let before = everything();
    let out = status(&[d], &[]);
    assert_eq!(everything(), before, "a scan changes nothing");
    // Worst of running (0), running (0), stale (1).
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let listing = text(&out);
    assert!(!listing.contains('\x1b'), "colour in a pipe: {listing:?}");
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 4, "{listing}");
    assert!(lines[0].starts_with("PATH "), "{listing}");
    for col in ["STATE", "PID", "UP", "LOCKED", "COMMAND"] {
        assert!(lines[0].contains(col), "{listing}");
    }
    let paths = [
        d.join("app.pid"),
        d.join("nginx/nginx.pid"),
        d.join("old.pid"),
    ];
    for (line, path) in lines[1..].iter().zip(&paths) {
        assert!(
            line.starts_with(&format!("{} ", path.display())),
            "{listing}"
        );
    }
    let words = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let app = words(lines[1]);
    assert_eq!(
        app[1..5],
        ["running", &run.holder.to_string(), &app[3], "yes"]
    );
    let held = d.join("app.pid");
    assert!(
        lines[1].ends_with(&format!("pidward-test-guard hold {}", held.display())),
        "{listing}"
    );
    let nginx = words(lines[2]);
    assert_eq!(
        nginx[1..5],
        ["running", &run.foreign.to_string(), &nginx[3], "no"]
    );
    assert!(lines[2].ends_with("sleep 300"), "{listing}");
    let old = words(lines[3]);
    assert_eq!(old[1..5], ["stale", &run.stale.to_string(), "-", "no"]);
    assert!(lines[3].ends_with("(no process has this PID)"), "{listing}");
    // Aligned: every column starts at the same place on every line.
    for col in ["STATE", "PID", "UP", "LOCKED", "COMMAND"] {
        let at = lines[0].find(col).unwrap();
        for line in &lines[1..] {
            assert_ne!(line.as_bytes()[at], b' ', "{col} misaligned:\n{listing}");
            assert_eq!(
                line.as_bytes()[at - 1],
                b' ',
                "{col} misaligned:\n{listing}"
            );
        }
    }
    let bare = status(&[d], &["-n"]);
    assert_eq!(text(&bare).lines().count(), 3);
    assert_eq!(text(&bare).lines().next(), Some(lines[1]));
}

#[test]
fn the_json_array_holds_what_status_json_file_says_of_each() {
    let run = populated();
    let d = run.dir.path();
    let out = status(&[d], &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let all = json(&out);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    for (obj, name) in all.iter().zip(["app.pid", "nginx/nginx.pid", "old.pid"]) {
        let path = d.join(name);
        let one = status(&[&path], &["--json"]);
        let one = json(&one);
        assert!(one.is_object(), "status --json FILE is one object: {one}");
        let keys =
            |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(obj), keys(&one));
        for field in [
            "path",
            "state",
            "pid",
            "locked",
            "cmdline",
            "reason",
            "exit_code",
        ] {
            assert_eq!(obj[field], one[field], "{field} of {name}");
        }
    }
    assert_eq!(all[0]["pid"], run.holder);
    assert_eq!(all[1]["locked"], false);
    assert_eq!(all[2]["state"], "stale");
}

#[test]
fn named_files_are_reported_whatever_they_hold() {
    let run = populated();
    let d = run.dir.path();
    let (garbage, missing, app) = (
        d.join("garbage.pid"),
        d.join("missing.pid"),
        d.join("app.pid"),
    );
    let out = status(&[&missing, &garbage, &app], &[]);
    assert_eq!(out.status.code(), Some(4), "invalid is the worst: {out:?}");
    let listing = text(&out);
    let lines: Vec<&str> = listing.lines().skip(1).collect();
    assert_eq!(lines.len(), 3, "{listing}");
    // Sorted by path: app, garbage, missing.
    assert!(lines[0].contains(" running "), "{listing}");
    assert!(
        lines[1].contains(" invalid ") && lines[1].contains("hello"),
        "{listing}"
    );
    assert!(
        lines[2].contains(" absent ") && lines[2].ends_with("(no PID file)"),
        "{listing}"
    );
    let v = json(&status(&[&missing, &garbage, &app], &["--json"]));
    let states: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["running", "invalid", "absent"]);
    // A file and a directory together; a file listed twice is listed once.
    let out = status(&[&app, d, &app], &["--json"]);
    assert_eq!(json(&out).as_array().unwrap().len(), 3);
}

#[test]
fn the_code_is_the_worst_of_the_set() {
    let dir = tempdir();
    let d = dir.path();
    // Nothing here: not running (3), said on stderr, nothing on stdout.
    let out = status(&[d], &[]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(text(&out), "");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no PID files in"),
        "{out:?}"
    );
    let out = status(&[d], &["--json"]);
    assert_eq!(
        (out.status.code(), json(&out)),
        (Some(3), serde_json::json!([]))
    );
    let _a = guard("hold", &d.join("a.pid"), &[]);
    let _b = guard("hold", &d.join("b.pid"), &[]);
    assert_eq!(status(&[d], &[]).status.code(), Some(0));
    // Running and absent: not running.
    assert_eq!(
        status(&[&d.join("a.pid"), &d.join("gone.pid")], &[])
            .status
            .code(),
        Some(3)
    );
    // Absent and stale: stale (1) is worse than absent (3).
    std::fs::write(d.join("old.pid"), format!("{}\n", dead_pid())).unwrap();
    assert_eq!(
        status(&[&d.join("gone.pid"), &d.join("old.pid")], &[])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(status(&[d], &[]).status.code(), Some(1));
}

#[test]
fn colour_only_on_a_terminal() {
    let run = populated();
    let d = run.dir.path();
    // script(1) gives the command a pseudo-terminal as its standard output.
    let under_tty = |env: &str| {
        let cmd = format!("{env} {} status {}", exe().display(), d.display());
        let out = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("TERM", "xterm")
            .env_remove("NO_COLOR")
            .output()
            .expect("script(1) from util-linux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let tty = under_tty("");
    assert!(tty.contains("\x1b[32mrunning\x1b[0m"), "{tty:?}");
    assert!(tty.contains("\x1b[33mstale\x1b[0m"), "{tty:?}");
    // Still aligned: colour wraps the padded text.
    let plain: String = tty
        .replace("\x1b[32m", "")
        .replace("\x1b[33m", "")
        .replace("\x1b[0m", "");
    let piped = text(&status(&[d], &[]));
    let first = |s: &str| s.lines().map(|l| l.trim_end().len()).collect::<Vec<_>>();
    assert_eq!(first(&plain.replace('\r', "")), first(&piped));
    assert!(!under_tty("NO_COLOR=1").contains('\x1b'));
}

#[test]
fn a_command_line_with_newlines_or_escapes_stays_on_its_row() {
    use std::os::unix::process::CommandExt;
    let dir = tempdir();
    let d = dir.path();
    let mut holder = Proc(
        Command::new("sleep")
            .arg0("sleep 300\n# \x1b[31mred")
            .arg("300")
            .spawn()
            .unwrap(),
    );
    // Older than the file: a foreign PID file of a live process.
    std::thread::sleep(std::time::Duration::from_millis(50));
    std::fs::write(d.join("odd.pid"), format!("{}\n", holder.pid())).unwrap();
    let listing = text(&status(&[d], &["-n"]));
    assert_eq!(listing.lines().count(), 1, "{listing:?}");
    assert!(
        listing.contains("sleep 300\\n# \\u{1b}[31mred"),
        "{listing:?}"
    );
    assert!(!listing.contains('\x1b'), "{listing:?}");
    holder.0.kill().unwrap();
}
