//! The service's output relayed by `pidward run` to files: rotation under a fast writer,
//! timestamps, reopening on a signal while the command writes, and bad values and paths.

mod support;

use support::log::{assert_usage_errors, events, find, hostile_paths, is_rfc3339_ms, pidward, run};
use support::wait_until;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// An awk program printing lines `1 x...` to `N xxx...` of varied lengths as fast as it can.
fn writer(n: u32) -> String {
    format!(
        "awk 'BEGIN {{ p = sprintf(\"%300s\", \"\"); gsub(/ /, \"x\", p); \
         for (i = 1; i <= {n}; i++) printf \"%d %s\\n\", i, substr(p, 1, (i * 7) % 300) }}'"
    )
}

/// Whether `line` is one the writer printed whole: its number, then its x's.
fn whole(line: &str) -> Option<u32> {
    let (n, xs) = line.split_once(' ')?;
    let n: u32 = n.parse().ok()?;
    (xs.len() as u32 == (n * 7) % 300 && xs.bytes().all(|b| b == b'x')).then_some(n)
}

fn numbered(path: &Path, k: u32) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{k}"));
    s.into()
}

#[test]
fn rotation_under_a_fast_writer_loses_no_line_splits_none_and_keeps_keep() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.log");
    let n = 200_000;
    let max = 256 * 1024;
    let o = run(&[
        "-l",
        "none",
        "--output-max",
        "256K:3",
        "-o",
        out.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &writer(n),
    ]);
    assert!(o.status.success(), "{o:?}");
    assert!(!numbered(&out, 4).exists(), "more than KEEP old files");
    // Oldest first: FILE.3, FILE.2, FILE.1, FILE.
    let mut all = Vec::new();
    for k in [3, 2, 1, 0] {
        let path = if k == 0 {
            out.clone()
        } else {
            numbered(&out, k)
        };
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with('\n'),
            "{} ends inside a line",
            path.display()
        );
        let len = text.len() as u64;
        if k > 0 {
            // Rotated at the first line end at or past the size.
            assert!(len >= max, "{}: {len} bytes", path.display());
            let last = text
                .trim_end_matches('\n')
                .rsplit('\n')
                .next()
                .unwrap()
                .len() as u64;
            assert!(len - last - 1 < max, "{}: rotated late", path.display());
        }
        for line in text.lines() {
            all.push(whole(line).unwrap_or_else(|| panic!("a split line: {line:?}")));
        }
    }
    // What is kept is the end of the output, every line of it in order.
    assert_eq!(*all.last().unwrap(), n);
    let first = all[0];
    assert!(first > 1, "nothing was rotated away");
    assert_eq!(all, (first..=n).collect::<Vec<_>>());
}

#[test]
fn a_line_longer_than_the_hard_maximum_is_ended_there() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.log");
    // 100 KiB without a newline, then a short line: 64K past 1K the line is ended.
    let script = "head -c 102400 /dev/zero | tr '\\0' y; echo; echo after";
    let o = run(&[
        "-l",
        "none",
        "--output-max",
        "1K",
        "-o",
        out.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert!(o.status.success(), "{o:?}");
    // The cut piece fills one file; the rest of the line, past the size too, the next.
    let hard = 1024 + 64 * 1024;
    let two = std::fs::read(numbered(&out, 2)).unwrap();
    assert_eq!(two.len(), hard + 1, "{}", two.len());
    assert!(two.iter().take(hard).all(|&b| b == b'y') && two.ends_with(b"y\n"));
    let one = std::fs::read(numbered(&out, 1)).unwrap();
    assert_eq!(one.len(), 102400 - hard + 1);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "after\n");
}

#[test]
fn timestamps_prefix_each_line_of_both_streams() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.log");
    let o = run(&[
        "-l",
        "none",
        "--output-timestamps",
        "-o",
        out.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "echo one; echo two >&2; printf 'thr'; sleep 0.1; echo ee; printf last",
    ]);
    assert!(o.status.success(), "{o:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 4, "{text:?}");
    let mut bodies = Vec::new();
    for l in &lines {
        let (ts, body) = l.split_at(24);
        assert!(is_rfc3339_ms(ts), "{l:?}");
        bodies.push(&body[1..]);
    }
    assert_eq!(bodies, ["one\n", "two\n", "three\n", "last"]);
}

#[test]
fn reopen_on_a_signal_while_writing_loses_nothing_and_still_forwards_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.log");
    let life = dir.path().join("life.log");
    let hups = dir.path().join("hups");
    let script = format!(
        "trap 'echo hup >> {h}' HUP; i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo \"$i\"; \
         [ $((i % 100)) -eq 0 ] && sleep 0.01; done",
        h = hups.display()
    );
    let mut child = Command::new(pidward())
        .args(["run", "--reopen-on", "HUP", "--output-max", "1G", "-l"])
        .arg(&life)
        .arg("-o")
        .arg(&out)
        .args(["--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::metadata(&out).is_ok_and(|m| m.len() > 1000)
    }));
    // As logrotate does: rename, then the signal.
    let old = dir.path().join("out.log.old");
    let old_life = dir.path().join("life.log.old");
    std::fs::rename(&out, &old).unwrap();
    std::fs::rename(&life, &old_life).unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let a = std::fs::read_to_string(&old).unwrap();
    let b = std::fs::read_to_string(&out).expect("the file was not opened again");
    assert!(!b.is_empty(), "nothing written after the reopen");
    let all: Vec<u32> = a
        .lines()
        .chain(b.lines())
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(all, (1..=3000).collect::<Vec<_>>());
    assert_eq!(
        std::fs::read_to_string(&hups).unwrap(),
        "hup\n",
        "HUP not forwarded"
    );
    // The lifecycle log went on in a new file too, and says why.
    let ev = events(&std::fs::read_to_string(&life).unwrap());
    assert_eq!(find(&ev, "reopened")[0]["signal"], "HUP", "{ev:?}");
    assert!(!find(&ev, "exit").is_empty());
    assert!(
        std::fs::read_to_string(&old_life)
            .unwrap()
            .contains("event=spawned")
    );
}

#[test]
fn the_fast_path_gets_the_new_file_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.log");
    let marker = dir.path().join("second");
    // The first run waits for the rename; the second writes to what is at the path then.
    let script = format!(
        "if [ -e {m} ]; then echo second; exit 0; fi; touch {m}; echo first; \
         while [ ! -e {m}.go ]; do sleep 0.02; done; exit 1",
        m = marker.display()
    );
    let mut child = Command::new(pidward())
        .args([
            "run",
            "-l",
            "none",
            "--reopen-on",
            "USR2",
            "--restart",
            "on-failure",
        ])
        .args(["--restart-delay", "0", "-o"])
        .arg(&out)
        .args(["--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&out).is_ok_and(|s| s == "first\n")
    }));
    std::fs::rename(&out, dir.path().join("out.log.1")).unwrap();
    std::fs::write(format!("{}.go", marker.display()), "").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "second\n");
}

#[test]
fn bad_values_are_usage_errors_naming_them() {
    assert_usage_errors(&[
        (&["--output-max", "50X", "-o", "f"][..], "50X"),
        (&["--output-max", ":0", "-o", "f"][..], ":0"),
        (&["--output-max", "50M:0", "-o", "f"][..], "50M:0"),
        (&["--output-max", "50M:x", "-o", "f"][..], "50M:x"),
        (&["-o", "syslog:nosuch.level"][..], "syslog:nosuch.level"),
        (&["--stdout", "syslog:daemon.loud"][..], "loud"),
        (&["--stderr", "journal@"][..], "journal@"),
        (&["--reopen-on", "NOSUCH"][..], "NOSUCH"),
        (&["--output-max", "1M"][..], "--output-max"),
        (&["--exec", "--output-timestamps", "-o", "f"][..], "--exec"),
    ]);
}

#[test]
fn bad_output_paths_fail_before_the_command_runs_creating_nothing() {
    let dir = hostile_paths();
    let d = dir.path();
    let ran = d.join("ran");
    let pidfile = d.join("app.pid");
    let good = d.join("good.log");
    let touch = format!("touch {}", ran.display());
    for relay in [
        &[][..],
        &["--output-max", "1M"][..],
        &["--output-timestamps"][..],
    ] {
        for (bad, why) in [
            (d.join("missing/x.log"), "No such file or directory"),
            (d.join("a-dir"), "directory"),
            (d.join("fifo"), "FIFO"),
            (d.join("link"), "symbolic link"),
        ] {
            let mut args = vec![
                "-p",
                pidfile.to_str().unwrap(),
                "-l",
                good.to_str().unwrap(),
            ];
            args.extend_from_slice(relay);
            args.extend(["--stdout", good.to_str().unwrap(), "--stderr"]);
            args.extend([bad.to_str().unwrap(), "--", "sh", "-c", &touch]);
            let out = run(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            let what = format!("{relay:?} {}", bad.display());
            assert_eq!(out.status.code(), Some(125), "{what}: {err}");
            assert!(
                err.contains(&format!("stderr {}", bad.display())),
                "{what}: {err}"
            );
            assert!(err.contains(why), "{what}: {why:?} not in {err}");
            assert!(!ran.exists(), "{what}: the command ran");
            assert!(!pidfile.exists(), "{what}: a PID file was created");
            assert!(!good.exists(), "{what}: the other file was left behind");
        }
    }
    assert_eq!(
        std::fs::read_to_string(d.join("target")).unwrap(),
        "untouched\n"
    );
    assert!(!d.join("missing").exists());
}

#[test]
fn an_output_file_not_writable_by_an_unprivileged_pidward_is_exit_125() {
    if !nix::unistd::geteuid().is_root() {
        return; // needs a user to drop to
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.path().join("root-only.log");
    std::fs::write(&file, "").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let ran = dir.path().join("ran");
    for relay in [&[][..], &["--output-max", "1M"][..]] {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args([pidward(), "run", "-l", "none"])
            .args(relay)
            .arg("-o")
            .arg(&file)
            .args(["--", "sh", "-c", &format!("touch {}", ran.display())])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{relay:?}: {err}");
        assert!(
            err.contains(file.to_str().unwrap()) && err.contains("Permission denied"),
            "{err}"
        );
        assert!(!ran.exists());
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"");
}

#[test]
fn a_stop_during_the_restart_delay_is_logged_with_its_sender() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("life.log");
    let mut child = Command::new(pidward())
        .args(["run", "--restart", "always", "--restart-delay", "30", "-l"])
        .arg(&log)
        .args(["--", "true"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&log).is_ok_and(|s| s.contains("event=restart-scheduled"))
    }));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    assert!(status.code().is_some(), "{status:?}");
    let ev = events(&std::fs::read_to_string(&log).unwrap());
    let stop = find(&ev, "stop-requested");
    assert_eq!(stop.len(), 1, "{ev:?}");
    assert_eq!(stop[0]["signal"], "TERM");
    assert_eq!(stop[0]["sender"], std::process::id().to_string());
    assert_eq!(stop[0]["uid"], nix::unistd::getuid().to_string());
}

#[test]
fn a_full_disk_drops_lines_counts_them_and_the_service_runs_on() {
    if !nix::unistd::geteuid().is_root() {
        return; // needs a small file system of its own
    }
    let dir = tempfile::tempdir().unwrap();
    // In a mount namespace of its own: a 64 KiB tmpfs that 20000 numbered lines overflow.
    let script = r#"
        mkdir "$D/full"
        mount -t tmpfs -o size=64k none "$D/full" || exit 99
        "$P" run -l none -p "$D/app.pid" --output-max 10M -o "$D/full/out" -- sh -c '
            seq 1 20000; touch "$D/wrote"
            while [ ! -e "$D/go" ]; do sleep 0.02; done; echo after' &
        pw=$!
        while [ ! -e "$D/wrote" ]; do sleep 0.02; done; sleep 0.5
        "$P" status --json "$D/app.pid" > "$D/status.json"
        cp "$D/full/out" "$D/before"
        : > "$D/full/out"
        touch "$D/go"
        wait $pw; echo "rc=$?"
        cp "$D/full/out" "$D/after"
        umount "$D/full"
    "#;
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script])
        .env("P", pidward())
        .env("D", dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if out.status.code() == Some(99) {
        return; // no tmpfs here
    }
    assert!(text.contains("rc=0"), "{out:?}");
    let before = std::fs::read_to_string(dir.path().join("before")).unwrap();
    // Whole lines only: the disk filled in the middle of one.
    let kept = before
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .count() as u64;
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("status.json")).unwrap()).unwrap();
    let counted = status["service"]["dropped_lines"].as_u64().unwrap();
    let after = std::fs::read_to_string(dir.path().join("after")).unwrap();
    let n: u64 = after
        .trim_start_matches('\n')
        .strip_prefix("pidward: ")
        .and_then(|t| t.strip_suffix(" lines dropped\nafter\n"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{after:?}"));
    assert!(kept > 1000 && n > 1000, "kept {kept}, dropped {n}");
    assert_eq!(kept + n, 20000, "a line neither kept nor counted");
    assert_eq!(counted, n);
}
