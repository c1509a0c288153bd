//! `pidward status`, black-box: LSB exit codes, the human line, and the JSON object.

#![cfg(feature = "test-helpers")]

mod support;
use support::guards::*;

use std::path::Path;
use std::process::Command;

fn status(path: &Path) -> (i32, String, serde_json::Value) {
    let human = pidward().arg("status").arg(path).output().unwrap();
    let json = pidward()
        .args(["status", "--json"])
        .arg(path)
        .output()
        .unwrap();
    assert_eq!(human.status.code(), json.status.code());
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["path"], path.to_str().unwrap());
    assert_eq!(v["exit_code"], human.status.code().unwrap());
    (
        human.status.code().unwrap(),
        String::from_utf8_lossy(&human.stdout).into_owned(),
        v,
    )
}

#[test]
fn a_locked_holder_is_running_with_details() {
    let dir = tempdir();
    let f = dir.path().join("app.pid");
    let holder = guard("hold", &f, &[]);
    let (code, line, v) = status(&f);
    assert_eq!(code, 0);
    assert!(
        line.contains(&format!("running as PID {}", holder.pid())),
        "{line}"
    );
    assert!(
        line.contains("up ") && line.contains("guard hold"),
        "{line}"
    );
    assert_eq!(v["state"], "running");
    assert_eq!(v["pid"], holder.pid());
    assert_eq!(v["locked"], true);
    assert!(v["reason"].is_null());
    assert!(v["start_time"].as_str().unwrap().ends_with('Z'));
    assert!(v["uptime_seconds"].as_f64().unwrap() < 600.0);
    assert!(v["cmdline"][0].as_str().unwrap().ends_with("guard"));
    assert_eq!(v["cmdline"][1], "hold");
}

#[test]
fn starting_stale_and_absent() {
    let dir = tempdir();
    let f = dir.path().join("app.pid");
    let (code, _, v) = status(&f);
    assert_eq!((code, v["state"].as_str()), (3, Some("absent")));
    let mut holder = guard("hold", &f, &["defer"]);
    let (code, _, v) = status(&f);
    assert_eq!(
        (code, v["state"].as_str(), v["locked"].as_bool()),
        (0, Some("starting"), Some(true))
    );
    assert!(v["pid"].is_null());
    holder.0.kill().unwrap();
    holder.0.wait().unwrap();
    // Killed before writing: an empty, unlocked file names no process: stale.
    let (code, _, v) = status(&f);
    assert_eq!((code, v["state"].as_str()), (1, Some("stale")));
    let mut holder = guard("hold", &f, &[]);
    let pid = holder.pid();
    holder.0.kill().unwrap();
    holder.0.wait().unwrap();
    let (code, line, v) = status(&f);
    assert_eq!(code, 1, "{line}");
    assert_eq!(v["state"], "stale");
    assert_eq!(v["pid"], pid);
    assert_eq!(v["locked"], false);
    assert!(v["reason"].as_str().unwrap().contains("no process"), "{v}");
}

#[test]
fn a_foreign_unlocked_file_of_a_live_process_is_running() {
    let dir = tempdir();
    let f = dir.path().join("nginx.pid");
    let s = sleeper();
    std::thread::sleep(std::time::Duration::from_millis(50));
    std::fs::write(&f, format!("{}\n", s.pid())).unwrap();
    let (code, line, v) = status(&f);
    assert_eq!(code, 0, "{line}");
    assert_eq!(v["locked"], false);
    assert_eq!(v["cmdline"], serde_json::json!(["sleep", "300"]));
}

#[test]
fn an_unreadable_file_is_unknown_not_absent() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let private = dir.path().join("private");
    std::fs::create_dir(&private).unwrap();
    let f = private.join("app.pid");
    std::fs::write(&f, "1\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_pidward"))
        .args(["status", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "unknown");
    assert!(
        v["reason"].as_str().unwrap().contains("Permission denied"),
        "{v}"
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    let out = pidward().args(["status", "--bogus", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = pidward()
        .args(["stop", "-s", "SIGNOPE", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SIGNOPE"));
    let out = pidward()
        .args(["stop", "-R", "TERM/x", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_unwritable_stdout_is_reported_and_the_code_stays_the_answer() {
    // A closed pipe (`pidward status F | true`) and a full disk (`>/dev/full`): no abort, a
    // message on stderr, and the LSB code of what the file says.
    let dir = tempdir();
    let held = dir.path().join("held.pid");
    let _holder = guard("hold", &held, &[]);
    let absent = dir.path().join("absent.pid");
    for (path, code) in [(&held, 0), (&absent, 3)] {
        for json in [false, true] {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            let full = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap();
            for stdout in [std::process::Stdio::from(writer), full.into()] {
                let mut cmd = pidward();
                cmd.arg("status");
                if json {
                    cmd.arg("--json");
                }
                let out = cmd.arg(path).stdout(stdout).output().unwrap();
                let err = String::from_utf8_lossy(&out.stderr);
                assert_eq!(out.status.code(), Some(code), "{err}");
                assert!(err.contains("cannot write to standard output"), "{err}");
            }
        }
    }
}

#[test]
fn an_unreadable_file_names_the_failed_step() {
    let dir = tempdir();
    let f = dir.path().join("held.pid");
    let _holder = guard("hold", &f, &[]);
    let args = [std::ffi::OsStr::new("status"), f.as_os_str()];
    let when = openat_index(&args, &f, 1);
    let out = Command::new("strace")
        .args(["-qq", "-o", "/dev/null", "-e"])
        .arg(format!("inject=openat:error=EACCES:when={when}"))
        .arg(env!("CARGO_BIN_EXE_pidward"))
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(
        text.contains("unknown: cannot open it: Permission denied"),
        "{text}"
    );
}
