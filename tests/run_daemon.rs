//! `pidward run --daemon` and `--exec`: what the detached processes look like, and how
//! failures reach the invoking shell.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use support::run::*;

/// The descriptors of a process above 2.
fn extra_fds(pid: u32) -> Vec<std::path::PathBuf> {
    fds(pid)
        .into_iter()
        .filter(|(n, _)| *n > 2)
        .map(|(_, p)| p)
        .collect()
}

/// The descriptors of a process above 2 once they have settled on `expected`, or as they
/// are after 5 s. A program that has just been exec'd may still be in its dynamic loader,
/// which opens each library on the lowest free descriptor for a moment (`libc.so.6` on fd 3):
/// a snapshot then shows one descriptor too many. A descriptor that really leaked stays, and
/// the caller's assertion shows it.
fn settled_extra_fds(pid: u32, expected: &[&Path]) -> Vec<std::path::PathBuf> {
    let mut seen = extra_fds(pid);
    wait_until(Duration::from_secs(5), || {
        seen = extra_fds(pid);
        seen.iter()
            .map(|p| p.as_path())
            .eq(expected.iter().copied())
    });
    seen
}

fn fdinfo_has_flock(pid: u32, target: &Path) -> bool {
    fds(pid).into_iter().any(|(n, p)| {
        p == target
            && std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{n}")).is_ok_and(|t| {
                t.lines()
                    .any(|l| l.starts_with("lock:") && l.contains("FLOCK"))
            })
    })
}

#[test]
fn detached_supervisor_and_command() {
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    let child_pidfile = s.path("child.pid");
    let (out, took) = run(&[
        "--daemon",
        "-p",
        pidfile.to_str().unwrap(),
        "--child-pidfile",
        child_pidfile.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "sleep 30; :",
        &s.tag,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    assert!(took < Duration::from_secs(1));
    // Both PID files are written before the launcher returns.
    let sup = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse::<u32>()
        .unwrap();
    let cmd = std::fs::read_to_string(&child_pidfile)
        .unwrap()
        .trim()
        .parse::<u32>()
        .unwrap();
    s.adopt(sup);
    s.adopt(cmd);
    let st = stat(sup).unwrap();
    let my_session = stat(std::process::id()).unwrap().session;
    assert_ne!(st.session, my_session);
    assert_ne!(st.session, sup, "the supervisor leads its session");
    assert_eq!(st.tty_nr, 0);
    assert!(!alive(st.session), "the middle process is still there");
    // The command is the supervisor's child, in the same session, without a terminal.
    let ct = stat(cmd).unwrap();
    assert_eq!(ct.ppid, sup);
    assert_eq!(ct.session, st.session);
    assert_eq!(ct.tty_nr, 0);
    for pid in [sup, cmd] {
        let fds = fds(pid);
        for n in 0..3 {
            // The command's stderr is a pipe the supervisor drains (its tail is quoted if
            // the start fails); the rest is /dev/null.
            if pid == cmd && n == 2 {
                assert!(
                    fds[&n].to_string_lossy().starts_with("pipe:"),
                    "{:?}",
                    fds[&n]
                );
                continue;
            }
            assert_eq!(fds[&n], Path::new("/dev/null"), "fd {n} of {pid}");
        }
    }
    // The command has only its standard streams; the supervisor holds both locks.
    assert_eq!(
        settled_extra_fds(cmd, &[]),
        Vec::<std::path::PathBuf>::new()
    );
    assert!(fdinfo_has_flock(sup, &pidfile));
    assert!(fdinfo_has_flock(sup, &child_pidfile));
    assert_eq!(status_field(cmd, "Umask").unwrap(), "0077");

    // TERM to the supervisor is forwarded; both exit and the PID files go.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(5), || !alive(sup) && !alive(cmd)));
    assert!(wait_until(Duration::from_secs(1), || !pidfile.exists()
        && !child_pidfile.exists()));
}

#[test]
fn detached_output_goes_to_the_files() {
    let s = Scratch::new();
    let out_path = s.path("out.log");
    let err_path = s.path("err.log");
    let pidfile = s.path("run.pid");
    let (out, _) = run(&[
        "-d",
        "-p",
        pidfile.to_str().unwrap(),
        "--stdout",
        out_path.to_str().unwrap(),
        "--stderr",
        err_path.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "echo to-out; echo to-err >&2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(wait_until(Duration::from_secs(5), || !pidfile.exists()));
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "to-out\n");
    assert_eq!(std::fs::read_to_string(&err_path).unwrap(), "to-err\n");
}

/// A failed detached start: the right code, the step named, within a second, nothing left.
fn assert_detached_fails(extra: &[&str], code: i32, names: &[&str]) {
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    let mut args = vec!["--daemon", "-p", pidfile.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (out, took) = run(&args);
    let msg = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{msg}");
    for name in names {
        assert!(msg.contains(name), "{name:?} not in {msg}");
    }
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(
        wait_until(Duration::from_secs(1), || !pidfile.exists()),
        "PID file left"
    );
    assert!(
        wait_until(Duration::from_secs(1), || s.stray().is_empty()),
        "stray: {:?}",
        s.stray()
    );
}

#[test]
fn detached_failures_reach_the_shell() {
    let tag = "pidward-detached-failure";
    let scratch = Scratch::new();
    let plain = scratch.path("not-executable");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    let plain: &'static str = Box::leak(plain.to_str().unwrap().to_owned().into_boxed_str());
    for exec in [false, true] {
        let mode: &[&'static str] = if exec { &["--exec"] } else { &[] };
        let with = |args: &[&'static str]| -> Vec<&'static str> { [mode, args].concat() };
        assert_detached_fails(
            &with(&["-C", "/nonexistent/dir", "--", "sh", "-c", "sleep 9", tag]),
            125,
            &["chdir /nonexistent/dir", "No such file or directory"],
        );
        assert_detached_fails(
            &with(&[
                "--chroot",
                "/nonexistent/root",
                "--",
                "sh",
                "-c",
                "sleep 9",
                tag,
            ]),
            125,
            &["chroot /nonexistent/root", "No such file or directory"],
        );
        assert_detached_fails(
            &with(&["-u", "pidward-no-user", "--", "true"]),
            125,
            &["user", "pidward-no-user"],
        );
        assert_detached_fails(
            &with(&["-g", "pidward-no-group", "--", "true"]),
            125,
            &["user", "pidward-no-group"],
        );
        assert_detached_fails(
            &with(&["-o", "/nonexistent/dir/log", "--", "true"]),
            125,
            &["stdout /nonexistent/dir/log"],
        );
        assert_detached_fails(
            &with(&["--", "/nonexistent/pidward-cmd"]),
            127,
            &["exec /nonexistent/pidward-cmd", "No such file or directory"],
        );
        assert_detached_fails(&with(&["--", plain]), 126, &["exec", "Permission denied"]);
    }
}

#[test]
fn a_supervisor_killed_before_reporting_fails_the_launcher_promptly() {
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    // The command kills its supervisor (its parent) before declaring readiness.
    let (out, took) = run(&[
        "--daemon",
        "--ready",
        "notify",
        "-p",
        pidfile.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "kill -KILL $PPID; sleep 5; :",
        &s.tag,
    ]);
    let msg = stderr(&out);
    assert_eq!(out.status.code(), Some(137), "{msg}");
    assert!(
        msg.contains("killed by signal KILL before it reported"),
        "{msg}"
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[test]
fn exec_replaces_pidward_and_hands_over_the_lock() {
    let s = Scratch::new();
    let pidfile = s.path("exec.pid");
    let ready = s.path("ready");
    let mut child = pidward()
        .args([
            "run",
            "--exec",
            "-p",
            pidfile.to_str().unwrap(),
            "--umask",
            "022",
            "--",
        ])
        .args([
            "sh",
            "-c",
            &format!("echo $$ > {}; exec sleep 30", ready.display()),
            &s.tag,
        ])
        .spawn()
        .unwrap();
    s.adopt(child.id());
    // Same process: the PID file names pidward's PID, which is now the shell's.
    let sh = read_pid(&ready);
    assert_eq!(sh, child.id());
    assert_eq!(read_pid(&pidfile), sh);
    // It holds the lock through the descriptor it inherited (the only one above 2).
    assert_eq!(settled_extra_fds(sh, &[&pidfile]), vec![pidfile.clone()]);
    assert!(fdinfo_has_flock(sh, &pidfile));
    assert!(pidward::pidfile::status(&pidfile).is_running());
    assert_eq!(status_field(sh, "Umask").unwrap(), "0022");
    child.kill().unwrap();
    child.wait().unwrap();
    // Nobody removes the file, but the lock went with the process: stale, not running.
    assert!(wait_until(Duration::from_secs(2), || {
        !pidward::pidfile::status(&pidfile).is_running()
    }));
}

#[test]
fn exec_failure_is_reported_on_the_original_stderr() {
    let s = Scratch::new();
    let log = s.path("out.log");
    let (out, _) = run(&[
        "--exec",
        "-o",
        log.to_str().unwrap(),
        "--",
        "/nonexistent/cmd",
    ]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("exec /nonexistent/cmd"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "");
    let (out, _) = run(&["--exec", "-C", "/nonexistent/dir", "--", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr(&out).contains("chdir /nonexistent/dir"));
}

#[test]
fn daemon_exec_detaches_then_execs() {
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    let (out, took) = run(&[
        "--daemon",
        "--exec",
        "-p",
        pidfile.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "sleep 30; :",
        &s.tag,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(took < Duration::from_secs(3), "{took:?}");
    let pid = read_pid(&pidfile);
    s.adopt(pid);
    // The command itself is the detached process: no supervisor in between. The launcher
    // learns of the exec when the status pipe closes, which execve(2) does a moment before
    // the new image's argument list is in place, so give /proc that moment.
    let cmdline = || std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(5), || cmdline()
            .starts_with(b"sh\0-c\0sleep 30")),
        "{:?}",
        String::from_utf8_lossy(&cmdline())
    );
    let st = stat(pid).unwrap();
    assert_ne!(st.session, pid);
    assert_eq!(st.tty_nr, 0);
    assert!(!alive(st.session));
    assert_eq!(settled_extra_fds(pid, &[&pidfile]), vec![pidfile.clone()]);
    assert!(fdinfo_has_flock(pid, &pidfile));
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        Path::new("/")
    );
}

#[test]
fn already_running_detached() {
    let s = Scratch::new();
    let pidfile = s.path("run.pid");
    let args = [
        "--daemon",
        "-p",
        pidfile.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "sleep 30; :",
        &s.tag,
    ];
    let (out, _) = run(&args);
    assert!(out.status.success());
    let pid = read_pid(&pidfile);
    s.adopt(pid);
    let (out, _) = run(&args);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("already running as PID {pid}")),
        "{}",
        stderr(&out)
    );
    let oknodo = [&["--oknodo"][..], &args].concat();
    let (out, _) = run(&oknodo);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(read_pid(&pidfile), pid);
    assert_eq!(
        s.stray().len(),
        2,
        "one supervisor, one command: {:?}",
        s.stray()
    );
}

#[test]
fn relative_paths_still_work_after_detaching() {
    let s = Scratch::new();
    std::fs::write(
        s.path("script.sh"),
        "#!/bin/sh\necho started > out.txt\nexec sleep 30\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(s.path("script.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::cargo_bin("pidward")
        .unwrap()
        .current_dir(s.dir.path())
        .args(["run", "-d", "-p", "run.pid", "--child-pidfile", "child.pid"])
        .args(["-C", ".", "-o", "log.txt", "--", "./script.sh"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let sup = read_pid(&s.path("run.pid"));
    let cmd = read_pid(&s.path("child.pid"));
    s.adopt(sup);
    s.adopt(cmd);
    assert!(wait_until(Duration::from_secs(5), || s
        .path("out.txt")
        .exists()));
    assert_eq!(
        std::fs::read_link(format!("/proc/{cmd}/cwd")).unwrap(),
        s.dir.path()
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(5), || !s
        .path("run.pid")
        .exists()
        && !s.path("child.pid").exists()));
}
