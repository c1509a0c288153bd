//! `pidward locks`, black-box: every kind of lock with its holder, command line, age and the
//! locked file's record, blocked requests, `-p`, and `--json` agreeing with `lslocks -J` on
//! the fields the two share.

#![cfg(feature = "test-helpers")]

mod support;
use support::guards::{Proc, guard, tempdir};
use support::lock::Holder;
use support::{pidward, wait_until};

use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn locks(args: &[&str]) -> (String, Vec<serde_json::Value>) {
    let text = pidward().arg("locks").args(args).output().unwrap();
    assert_eq!(text.status.code(), Some(0), "{text:?}");
    let json = pidward()
        .args(["locks", "--json"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(0), "{json:?}");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    (
        String::from_utf8_lossy(&text.stdout).into_owned(),
        v["locks"].as_array().unwrap().clone(),
    )
}

/// The rows for the inode at `path`.
fn rows_of(rows: &[serde_json::Value], path: &Path) -> Vec<serde_json::Value> {
    let ino = std::fs::metadata(path).unwrap().ino();
    rows.iter().filter(|r| r["inode"] == ino).cloned().collect()
}

/// A process group, killed when dropped.
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group this test created.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

fn host() -> String {
    nix::unistd::gethostname().unwrap().into_string().unwrap()
}

#[test]
fn lock_files_and_pid_files_show_their_records_and_holders() {
    let dir = tempdir();
    let lockfile = dir.path().join("job.lock");
    let pidfile = dir.path().join("app.pid");
    let lock_holder = guard("lock", &lockfile, &[]);
    let pid_holder = guard("hold", &pidfile, &[]);
    let (text, rows) = locks(&[]);

    let l = rows_of(&rows, &lockfile);
    assert_eq!(l.len(), 1, "{l:?}");
    let l = &l[0];
    assert_eq!(l["pid"], lock_holder.pid());
    assert_eq!(l["type"], "FLOCK");
    assert_eq!(l["mode"], "WRITE");
    assert_eq!(
        (&l["m"], &l["start"], &l["end"]),
        (&false.into(), &0.into(), &0.into())
    );
    assert_eq!(l["path"], lockfile.to_str().unwrap());
    assert_eq!(l["size"], std::fs::metadata(&lockfile).unwrap().len());
    assert_eq!(l["blocked"], false);
    // comm is cut to 15 bytes by the kernel, as lslocks shows it.
    assert_eq!(l["command"], "pidward-test-gu");
    assert!(
        l["cmdline"][0]
            .as_str()
            .unwrap()
            .ends_with("pidward-test-guard")
    );
    assert_eq!(l["cmdline"][1], "lock");
    assert!(l["uptime_seconds"].as_f64().unwrap() < 600.0);
    assert!(l["start_time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(l["record"]["kind"], "lockfile");
    assert_eq!(l["record"]["pid"], lock_holder.pid());
    assert_eq!(l["record"]["host"], host());

    let p = rows_of(&rows, &pidfile);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0]["pid"], pid_holder.pid());
    assert_eq!(
        p[0]["record"],
        serde_json::json!({"kind": "pidfile", "pid": pid_holder.pid()})
    );

    // The text row: holder, path, record and the whole command line.
    let line = text
        .lines()
        .find(|l| l.contains(lockfile.to_str().unwrap()))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.starts_with(&format!("{} ", lock_holder.pid())),
        "{line}"
    );
    assert!(
        line.contains(" FLOCK ") && line.contains(" WRITE "),
        "{line}"
    );
    assert!(
        line.contains(&format!("{} on {} since ", lock_holder.pid(), host())),
        "{line}"
    );
    assert!(
        line.ends_with(&format!("pidward-test-guard lock {}", lockfile.display())),
        "{line}"
    );
    let line = text
        .lines()
        .find(|l| l.contains(pidfile.to_str().unwrap()))
        .unwrap();
    assert!(
        line.contains(&format!(" pid {} ", pid_holder.pid())),
        "{line}"
    );
    assert!(text.lines().next().unwrap().starts_with("PID "), "{text}");
}

#[test]
fn open_file_description_locks_name_their_holders_and_range() {
    let dir = tempdir();
    let file = dir.path().join("range.lock");
    let mut child = pidward()
        .args(["lock", "--fcntl", "--start", "10", "--length", "5"])
        .arg(&file)
        .args(["sh", "-c", "echo locked; exec sleep 60"])
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _kill = Group(child);
    let (_, rows) = locks(&[]);
    let r = rows_of(&rows, &file);
    assert_eq!(r.len(), 1, "one row per lock: {r:?}");
    for row in &r {
        assert_eq!(row["type"], "OFDLCK");
        assert_eq!((&row["start"], &row["end"]), (&10.into(), &14.into()));
        assert_eq!(row["path"], file.to_str().unwrap());
        assert!(
            row["pid"].as_i64().unwrap() > 0,
            "holder found through fdinfo: {row}"
        );
    }
    // `/proc/locks` says -1; the holders are found through their descriptors.
    let pid = _kill.0.id();
    let holders = r[0]["holders"].as_array().unwrap();
    assert!(holders.contains(&pid.into()), "{holders:?} lacks {pid}");
    assert!(holders.contains(&r[0]["pid"]), "{r:?}");
}

#[test]
fn a_waiting_request_is_marked_and_filtered_by_pid() {
    let dir = tempdir();
    let file = dir.path().join("busy.lock");
    let holder = Holder::new(&[], &file);
    let waiter = Proc(
        Command::new("flock")
            .arg(&file)
            .arg("true")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut rows = Vec::new();
    assert!(
        wait_until(Duration::from_secs(10), || {
            rows = rows_of(&locks(&[]).1, &file);
            rows.len() == 2
        }),
        "{rows:?}"
    );
    let held = rows.iter().find(|r| r["blocked"] == false).unwrap();
    let waits = rows.iter().find(|r| r["blocked"] == true).unwrap();
    assert_eq!(held["pid"], holder.pid());
    // flock(1) and the command it started share the locked description: both hold it.
    assert!(held["holders"].as_array().unwrap().len() >= 2, "{held}");
    assert_eq!(waits["pid"], waiter.pid());
    assert_eq!(waits["mode"], "WRITE*");
    assert_eq!(waits["command"], "flock");
    // -p: only that process's locks.
    let pid = waiter.pid().to_string();
    let (text, only) = locks(&["-p", &pid]);
    assert!(only.iter().all(|r| r["pid"] == waiter.pid()), "{only:?}");
    assert_eq!(rows_of(&only, &file).len(), 1);
    assert!(text.contains("WRITE*"), "{text}");
    // -n: no header.
    let bare = pidward()
        .args(["locks", "-n", "-p", &pid])
        .output()
        .unwrap();
    let bare = String::from_utf8_lossy(&bare.stdout).into_owned();
    assert!(bare.starts_with(&pid), "{bare}");
}

#[test]
fn json_agrees_with_lslocks_on_the_shared_fields() {
    let dir = tempdir();
    let file = dir.path().join("shared.lock");
    std::fs::write(&file, "some bytes\n").unwrap();
    let _holder = Holder::new(&["-s"], &file);
    let out = Command::new("lslocks")
        .args(["-J", "--bytes"])
        .output()
        .expect("lslocks (util-linux) is needed for this test");
    assert!(out.status.success(), "{out:?}");
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let theirs: Vec<&serde_json::Value> = theirs["locks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] == file.to_str().unwrap())
        .collect();
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    let ours = rows_of(&locks(&[]).1, &file);
    assert_eq!(ours.len(), 1, "{ours:?}");
    for field in [
        "command", "pid", "type", "mode", "m", "start", "end", "path",
    ] {
        assert_eq!(ours[0][field], theirs[0][field], "{field}");
    }
    // lslocks -J --bytes gives the size as a number or a string of digits.
    let size = &theirs[0]["size"];
    let size = size
        .as_u64()
        .or_else(|| size.as_str().and_then(|s| s.parse().ok()));
    assert_eq!(ours[0]["size"].as_u64(), size);
}

#[test]
fn a_daemon_that_double_forked_is_the_holder_not_its_exited_launcher() {
    let dir = tempdir();
    let pidfile = dir.path().join("svc.pid");
    let out = pidward()
        .args(["run", "-d", "-p"])
        .arg(&pidfile)
        .args(["--", "sleep", "300"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let daemon: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let _stop = Stop(pidfile.clone());
    let rows = rows_of(&locks(&[]).1, &pidfile);
    assert_eq!(rows.len(), 1, "{rows:?}");
    // /proc/locks names the launcher that took the lock and exited; the daemon holds it.
    assert_eq!(rows[0]["pid"], daemon, "{rows:?}");
    assert_eq!(rows[0]["path"], pidfile.to_str().unwrap());
    assert_eq!(rows[0]["record"]["pid"], daemon);
    assert_eq!(rows[0]["cmdline"][1], "run");
    assert!(
        rows[0]["holders"]
            .as_array()
            .unwrap()
            .contains(&daemon.into())
    );
}

/// `pidward stop FILE` when dropped.
struct Stop(std::path::PathBuf);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = pidward().arg("stop").arg(&self.0).output();
    }
}
