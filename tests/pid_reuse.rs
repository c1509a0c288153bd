//! Forced PID reuse inside a PID namespace (`unshare --pid --fork --mount-proc`, then
//! `/proc/sys/kernel/ns_last_pid`): a stale file whose PID now belongs to an unrelated,
//! younger process is stale; `stop` leaves the impostor alone; a new start succeeds. Likewise
//! when the file names the very PID of the process asking.

#![cfg(feature = "test-helpers")]

mod support;
use support::guards::*;

use std::process::Command;

const SCRIPT: &str = r#"
set -u
F="$DIR/reuse.pid"
echo 300 > "$F"
sleep 0.1
echo 299 > /proc/sys/kernel/ns_last_pid
sleep 300 &
IMP=$!
echo "impostor=$IMP"
"$PIDWARD" status "$F"; echo "status=$?"
"$PIDWARD" status --json "$F"
"$PIDWARD" stop --strict "$F"; echo "stop=$?"
kill -0 "$IMP" && echo "impostor-alive"
echo 309 > /proc/sys/kernel/ns_last_pid
"$GUARD" once "$F"; echo "acquire=$?"
# The file names the PID the next process will get: the asker's own PID.
echo 400 > "$F"
sleep 0.1
echo 399 > /proc/sys/kernel/ns_last_pid
"$PIDWARD" status "$F"; echo "own-status=$?"
echo 449 > /proc/sys/kernel/ns_last_pid
echo 450 > "$F"
sleep 0.1
echo 449 > /proc/sys/kernel/ns_last_pid
"$GUARD" once "$F"; echo "own-acquire=$?"
kill "$IMP"
"#;

#[test]
fn reused_pids_are_stale_and_impostors_untouched() {
    let dir = tempdir();
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "sh", "-c", SCRIPT])
        .env("DIR", dir.path())
        .env("PIDWARD", env!("CARGO_BIN_EXE_pidward"))
        .env("GUARD", guard_exe())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = text.lines().collect();
    let has = |l: &str| lines.contains(&l);
    assert!(
        has("impostor=300"),
        "could not force PID reuse:\n{text}\n{err}"
    );
    assert!(
        has("status=1"),
        "a reused PID must read as stale:\n{text}\n{err}"
    );
    assert!(
        text.contains("PID 300") && text.contains("started after the file"),
        "{text}"
    );
    let json_line = lines.iter().find(|l| l.starts_with('{')).unwrap();
    let v: serde_json::Value = serde_json::from_str(json_line).unwrap();
    assert_eq!(v["state"], "stale");
    assert_eq!(v["pid"], 300);
    assert!(
        has("stop=7"),
        "stop must see nothing running:\n{text}\n{err}"
    );
    assert!(
        has("impostor-alive"),
        "stop touched the impostor:\n{text}\n{err}"
    );
    assert!(
        has("310") && has("acquire=0"),
        "a new start must succeed:\n{text}\n{err}"
    );
    assert!(
        has("own-status=1"),
        "a file naming the asker's own PID is stale:\n{text}\n{err}"
    );
    assert!(has("450") && has("own-acquire=0"), "{text}\n{err}");
}
