//! What `pidward run` does with the signals it receives: every catchable one but `CHLD` and
//! the synchronous ones reaches the command and none kills or stops pidward; `--signal-group`
//! sends them to the command's process group; `--rewrite-signal` changes or drops them. And
//! its command line: an unknown option is a usage error, not a command.

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::run::*;

/// Starts `pidward run ARGS` with its stdout piped.
fn spawn(args: &[&str]) -> Child {
    pidward()
        .arg("run")
        .args(args)
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn signal(pid: u32, signo: i32) {
    // SAFETY: kill(2) of a process this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, signo) }, 0);
}

#[test]
fn signal_group_reaches_the_app_inside_a_shell_entry_point() {
    // `sh -c 'app; cleanup'`: the shell defers its trap until `app` returns, so only a TERM
    // sent to the whole group ends `app` at once and lets the cleanup run.
    let script = "trap 'echo trapped' TERM; sleep 3; echo cleanup; exit 4";
    for group in [true, false] {
        let mut args = vec!["--", "sh", "-c", script];
        if group {
            args.insert(0, "--signal-group");
        }
        let pw = spawn(&args);
        std::thread::sleep(Duration::from_millis(400));
        let sent = Instant::now();
        signal(pw.id(), libc::SIGTERM);
        let out = pw.wait_with_output().unwrap();
        let took = sent.elapsed();
        assert_eq!(out.status.code(), Some(4), "group={group}");
        assert_eq!(stdout(&out), "trapped\ncleanup\n", "group={group}");
        if group {
            assert!(took < Duration::from_millis(2000), "{took:?}");
        } else {
            assert!(took > Duration::from_millis(2000), "{took:?}");
        }
    }
}

#[test]
fn signal_group_puts_the_command_in_a_group_of_its_own() {
    let (out, _) = run(&[
        "--signal-group",
        "--",
        "sh",
        "-c",
        "ps -o pgid= -p $$; echo $$",
    ]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0], lines[1], "the command should lead its group");
}

#[test]
fn rewrite_signal_changes_or_drops_what_is_forwarded() {
    let script = "trap 'echo usr1; exit 9' USR1; trap 'echo term; exit 8' TERM; \
                  sleep 2 & wait; exit 5";
    let pw = spawn(&["--rewrite-signal", "TERM:USR1", "--", "sh", "-c", script]);
    std::thread::sleep(Duration::from_millis(400));
    signal(pw.id(), libc::SIGTERM);
    let out = pw.wait_with_output().unwrap();
    assert_eq!(
        (out.status.code(), stdout(&out).as_str()),
        (Some(9), "usr1\n")
    );

    // TO 0 drops it: the command runs to its end.
    let pw = spawn(&["--rewrite-signal", "TERM:0", "--", "sh", "-c", script]);
    std::thread::sleep(Duration::from_millis(400));
    signal(pw.id(), libc::SIGTERM);
    let out = pw.wait_with_output().unwrap();
    assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(5), ""));

    for bad in ["TERM", "KILL:TERM", "TERM:NOPE"] {
        let (out, _) = run(&["--rewrite-signal", bad, "--", "true"]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains(bad), "{}", stderr(&out));
    }
}

#[test]
fn every_catchable_signal_but_chld_and_the_synchronous_ones_is_forwarded() {
    let s = Scratch::new();
    let log = s.path("signals.log");
    let ready = s.path("ready");
    let excluded = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGCHLD,
        libc::SIGILL,
        libc::SIGTRAP,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGSEGV,
    ];
    let signals: Vec<i32> = (1..=libc::SIGRTMAX())
        .filter(|&n| n < 32 || n >= libc::SIGRTMIN())
        .filter(|n| !excluded.contains(n))
        .collect();
    let list: Vec<String> = signals.iter().map(i32::to_string).collect();
    // Each signal, caught by number, is logged; the command lives on.
    let perl = format!(
        "use POSIX; open(my $log, '>>', '{}') or die; select($log); $| = 1; \
         for my $n ({}) {{ my $m = $n; sigaction($n, POSIX::SigAction->new(sub {{ print $log qq($m\\n) }})) }} \
         open(my $r, '>', '{}'); close $r; sleep 1 while 1;",
        log.display(),
        list.join(","),
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
    for (i, &n) in signals.iter().enumerate() {
        signal(pw.id(), n);
        let arrived = wait_until(Duration::from_secs(5), || {
            std::fs::read_to_string(&log).is_ok_and(|t| t.lines().count() > i)
        });
        assert!(arrived, "signal {n} was not forwarded");
        let st = stat(pw.id());
        assert!(
            st.is_some_and(|st| st.state != 'T' && st.state != 'Z'),
            "pidward was stopped or killed by signal {n}"
        );
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let got: Vec<i32> = text.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(got, signals, "{text}");
    signal(pw.id(), libc::SIGKILL);
    let _ = pw.wait();
}

#[test]
fn unknown_options_are_usage_errors_not_commands() {
    for args in [&["-z"][..], &["--ready-timeot", "5", "--", "true"][..]] {
        let (out, _) = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    // After `--` (or the command's first word) everything is the command's.
    let (out, _) = run(&["--", "-z"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    let (out, _) = run(&["sh", "-c", "exit 6", "-z"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
}
