//! `pidward run` as a supervisor: signal forwarding, orphan reaping, and running as PID 1 in
//! a new PID namespace.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::run::*;

const FORWARDED: [&str; 8] = [
    "TERM", "INT", "HUP", "QUIT", "USR1", "USR2", "WINCH", "CONT",
];

fn kill(pid: u32, sig: &str) {
    let sig: pidward::Signal = sig.parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::try_from(sig.as_raw()).unwrap(),
    )
    .unwrap();
}

/// A shell script that records every forwarded signal it receives in `log`, and writes its
/// PID to `ready` once its traps are set.
fn trapping_script(log: &str, ready: &str) -> String {
    let mut s = String::new();
    for sig in FORWARDED {
        s.push_str(&format!("trap 'echo {sig} >> {log}' {sig}\n"));
    }
    s.push_str(&format!(
        "echo $$ > {ready}\nwhile :; do sleep 0.05; done\n"
    ));
    s
}

#[test]
fn every_forwarded_signal_reaches_the_command() {
    let s = Scratch::new();
    let log = s.path("signals.log");
    let ready = s.path("ready");
    let script = trapping_script(log.to_str().unwrap(), ready.to_str().unwrap());
    let mut pw = pidward()
        .args(["run", "--", "sh", "-c", &script, &s.tag])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    s.adopt(pw.id());
    let sh = read_pid(&ready);
    s.adopt(sh);
    for (i, sig) in FORWARDED.iter().enumerate() {
        kill(pw.id(), sig);
        let arrived = wait_until(Duration::from_secs(5), || {
            std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() > i)
        });
        assert!(arrived, "{sig} was not forwarded");
        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(text.lines().nth(i), Some(*sig), "{text}");
    }
    // CHLD is not forwarded: pidward gets it whenever the shell's sleeps end. Nothing else
    // arrived in the meantime.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().lines().count(),
        FORWARDED.len()
    );
    kill(sh, "KILL");
    assert_eq!(pw.wait().unwrap().code(), Some(128 + 9));
}

#[test]
fn orphans_of_the_command_are_reaped() {
    let s = Scratch::new();
    let ready = s.path("ready");
    // The subshells exit at once, leaving their sleeps orphaned: they are re-parented to
    // pidward (a child subreaper), which must reap them when they exit.
    let script = format!(
        "(sleep 0.2 &); (sleep 0.3 &); (sleep 30 &); echo $$ > {}; sleep 1.5; :",
        ready.display()
    );
    let mut pw = pidward()
        .args(["run", "--", "sh", "-c", &script, &s.tag])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    s.adopt(pw.id());
    let sh = read_pid(&ready);
    let pid = pw.id();
    // The orphans are pidward's children now.
    assert!(
        wait_until(Duration::from_secs(2), || children(pid).len() >= 3),
        "orphans were not adopted: {:?}",
        children(pid)
    );
    // Once the short sleeps are over: no zombie among pidward's children.
    std::thread::sleep(Duration::from_millis(800));
    let kids = children(pid);
    let zombies: Vec<u32> = kids
        .iter()
        .copied()
        .filter(|&k| stat(k).is_some_and(|st| st.state == 'Z'))
        .collect();
    assert!(zombies.is_empty(), "zombies {zombies:?} among {kids:?}");
    assert!(kids.contains(&sh));
    // The long-running orphan is still there and is still ours.
    assert!(kids.len() >= 2, "{kids:?}");
    for k in kids {
        s.adopt(k);
    }
    // The command's own exit status is still what pidward exits with.
    assert_eq!(pw.wait().unwrap().code(), Some(0));
}

/// `unshare --pid --fork --mount-proc` makes `pidward run` PID 1 of a new namespace.
fn unshare_available() -> bool {
    is_root()
        && Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "true"])
            .status()
            .is_ok_and(|s| s.success())
}

#[test]
fn as_pid_1_it_reaps_orphans() {
    if !unshare_available() {
        eprintln!("skipped: needs root and unshare");
        return;
    }
    // Inside the namespace: orphans go to PID 1 (pidward) whatever the subreaper flag says.
    let script = r#"
        test "$PPID" = 1 || echo "parent is $PPID, not 1"
        (sleep 0.1 &); (sleep 0.2 &)
        sleep 0.8
        for p in $(cat /proc/1/task/1/children); do
            state=$(sed 's/.*) //' /proc/$p/stat | cut -d' ' -f1)
            [ "$state" = Z ] && echo "zombie $p"
        done
        echo done
    "#;
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(exe())
        .args(["run", "--", "sh", "-c", script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.trim(), "done", "{text}");
}

#[test]
fn as_pid_1_it_forwards_signals_and_passes_the_status() {
    if !unshare_available() {
        eprintln!("skipped: needs root and unshare");
        return;
    }
    let s = Scratch::new();
    let ready = s.path("ready");
    let script = format!(
        "trap 'exit 7' TERM; echo $$ > {}; while :; do sleep 0.05; done",
        ready.display()
    );
    let mut unshare = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(exe())
        .args(["run", "--", "sh", "-c", &script, &s.tag])
        .spawn()
        .unwrap();
    s.adopt(unshare.id());
    // Inside, the shell is PID 2 and pidward PID 1; outside, pidward is unshare's child.
    assert_eq!(read_pid(&ready), 2);
    let mut pw = 0;
    assert!(wait_until(Duration::from_secs(5), || {
        pw = children(unshare.id()).first().copied().unwrap_or(0);
        pw != 0
    }));
    s.adopt(pw);
    // A signal PID 1 has no handler for would be dropped by the kernel; pidward reads it
    // from its signalfd and forwards it.
    kill(pw, "TERM");
    let status = unshare.wait().unwrap();
    assert_eq!(status.code(), Some(7));
}

#[test]
fn signals_beyond_the_usual_eight_reach_the_command_and_spare_pidward() {
    // ALRM, PWR, SYS, VTALRM, XCPU, TSTP, RTMIN+3 used to kill (or stop) pidward, leaving the
    // command unsupervised; each must be forwarded instead.
    let s = Scratch::new();
    let log = s.path("signals.log");
    let ready = s.path("ready");
    let names = [
        "ALRM", "PWR", "SYS", "VTALRM", "XCPU", "TTIN", "TSTP", "RTMIN",
    ];
    let perl = format!(
        "$| = 1; open(my $log, '>>', '{}') or die; select($log); $| = 1; \
         $SIG{{$_}} = eval qq(sub {{ print \\$log qq($_\\\\n) }}) for qw({}); \
         open(my $r, '>', '{}'); close $r; sleep 1 while 1;",
        log.display(),
        names.join(" "),
        ready.display()
    );
    let mut pw = pidward()
        .args(["run", "--", "perl", "-e", &perl, &s.tag])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    s.adopt(pw.id());
    assert!(wait_until(Duration::from_secs(5), || ready.exists()));
    for (i, name) in names.iter().enumerate() {
        let sig: pidward::Signal = name.parse().unwrap();
        // SAFETY: kill(2) of a process this test started (nix has no real-time signals).
        assert_eq!(unsafe { libc::kill(pw.id() as i32, sig.as_raw()) }, 0);
        let arrived = wait_until(Duration::from_secs(5), || {
            std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() > i)
        });
        assert!(arrived, "{name} was not forwarded");
        assert_eq!(
            std::fs::read_to_string(&log).unwrap().lines().nth(i),
            Some(*name)
        );
        assert!(
            stat(pw.id()).is_some_and(|st| st.state != 'T' && st.state != 'Z'),
            "pidward was stopped or killed by {name}"
        );
    }
    kill(pw.id(), "TERM");
    assert_eq!(pw.wait().unwrap().code(), Some(128 + 15));
}
