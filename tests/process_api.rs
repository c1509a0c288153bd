//! The handle's and the builder's contract with tokio users: `id()` once reaped, exit-status
//! conversions, `arg0`, `From<std::process::Command>`, typed fd errors, stdio defaults.
#![cfg(feature = "process")]

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use pidward::Signal;
use pidward::privileges::Credentials;
use pidward::process::{ChildFd, Command, Error, ExitReason};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn id_is_some_until_reaped_and_none_after() {
    timeout(LIMIT, async {
        // wait()
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id().unwrap();
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        child.wait().await.unwrap();
        assert_eq!(child.id(), None);

        // A zombie is not reaped yet: it still has its PID.
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id().unwrap();
        while !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap()
            .contains(") Z ")
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(child.id(), Some(pid));
        // try_wait() reaps it.
        assert!(child.try_wait().unwrap().unwrap().success());
        assert_eq!(child.id(), None);

        // kill()
        let mut child = Command::new("sleep").arg("60").spawn().unwrap();
        assert!(child.id().is_some());
        child.kill().await.unwrap();
        assert_eq!(child.id(), None);

        // The event stream.
        let mut child = Command::new("true").stdio_pipes().spawn().unwrap();
        while child.next_event().await.unwrap().is_some() {}
        assert_eq!(child.id(), None);
    })
    .await
    .unwrap();
}

/// Runs `script` with std and with pidward and returns both statuses.
async fn both(script: &str) -> (ExitStatus, ExitReason) {
    let std_status = std::process::Command::new("sh")
        .args(["-c", script])
        .status()
        .unwrap();
    let reason = Command::new("sh")
        .args(["-c", script])
        .status()
        .await
        .unwrap();
    (std_status, reason)
}

#[tokio::test]
async fn exit_reasons_convert_to_and_from_std_exit_status() {
    for (script, reason) in [
        ("exit 0", ExitReason::Exited(0)),
        ("exit 1", ExitReason::Exited(1)),
        ("exit 255", ExitReason::Exited(255)),
        (
            "kill -TERM $$",
            ExitReason::Signaled {
                signal: Signal::TERM,
                core_dumped: false,
            },
        ),
        (
            "kill -KILL $$",
            ExitReason::Signaled {
                signal: Signal::KILL,
                core_dumped: false,
            },
        ),
    ] {
        let (std_status, got) = both(script).await;
        assert_eq!(got, reason, "{script}");
        // ExitReason -> ExitStatus gives exactly what std reported for the same child.
        assert_eq!(ExitStatus::from(got), std_status, "{script}");
        assert_eq!(got, std_status, "PartialEq<ExitStatus>: {script}");
        assert_eq!(ExitStatus::from(got).success(), got.success());
        assert_eq!(ExitStatus::from(got).code(), got.code());
        assert_eq!(
            ExitStatus::from(got).signal(),
            got.signal().map(Signal::as_raw)
        );
        // ExitStatus -> ExitReason gives the reason back.
        assert_eq!(ExitReason::try_from(std_status), Ok(reason), "{script}");
    }
    // A core dump survives both ways.
    let dumped = ExitReason::Signaled {
        signal: Signal::SEGV,
        core_dumped: true,
    };
    let status = ExitStatus::from(dumped);
    assert!(status.core_dumped());
    assert_eq!(status.signal(), Some(libc::SIGSEGV));
    assert_eq!(ExitReason::try_from(status), Ok(dumped));
    // A stopped or continued process did not terminate: the status comes back as the error.
    let stopped = ExitStatus::from_raw((libc::SIGSTOP << 8) | 0x7f);
    assert_eq!(stopped.stopped_signal(), Some(libc::SIGSTOP));
    assert_eq!(ExitReason::try_from(stopped), Err(stopped));
    let continued = ExitStatus::from_raw(0xffff);
    assert!(continued.continued());
    assert_eq!(ExitReason::try_from(continued), Err(continued));
}

#[tokio::test]
async fn arg0_is_what_the_child_sees_and_the_program_is_still_found() {
    let out = Command::new("sh")
        .arg0("pidward-shell")
        .args(["-c", "echo $0"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.stdout, b"pidward-shell\n");

    let mut child = Command::new("sleep")
        .arg0("pidward-sleeper")
        .arg("60")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The vfork parent resumes once the new program's memory is in place, a moment before the
    // kernel records where its arguments are: until then /proc shows an empty command line.
    let path = format!("/proc/{}/cmdline", child.id().unwrap());
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut cmdline = std::fs::read(&path).unwrap();
    while cmdline.is_empty() && std::time::Instant::now() < end {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        cmdline = std::fs::read(&path).unwrap();
    }
    assert_eq!(cmdline, b"pidward-sleeper\x0060\x00");
    child.kill().await.unwrap();

    let err = Command::new("true").arg0("a\0b").spawn().unwrap_err();
    assert!(
        matches!(&err, Error::InvalidCommand(text) if text.contains("argv[0]")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_std_command_converts_with_program_args_env_and_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let mut std_cmd = std::process::Command::new("sh");
    std_cmd
        .args(["-c", "echo \"$PIDWARD_A|${HOME-unset}|$PWD\""])
        .env("PIDWARD_A", "from std")
        .env_remove("HOME")
        .current_dir(dir.path());
    let want = format!("from std|unset|{}\n", dir.path().display());
    let out = Command::from(&std_cmd).output().await.unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
    // By value, and from a tokio command through as_std().
    let tokio_cmd = tokio::process::Command::from(std_cmd);
    let out = Command::from(tokio_cmd.as_std()).output().await.unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
    let out = Command::from(std::process::Command::new("echo"))
        .output()
        .await
        .unwrap();
    assert_eq!(out.stdout, b"\n");
}

#[tokio::test]
async fn fds_that_are_not_pipes_of_the_handle_are_typed_errors() {
    let mut child = Command::new("cat")
        .stdin(ChildFd::Input)
        .stdout(ChildFd::Output)
        .fd(5, ChildFd::Null)
        .spawn()
        .unwrap();
    for fd in [0, 2, 5, 9] {
        assert!(matches!(child.pause(fd), Err(Error::NotReadable { fd: f }) if f == fd));
        assert!(matches!(child.resume(fd), Err(Error::NotReadable { fd: f }) if f == fd));
        let err = child.take_reader(fd).unwrap_err();
        assert!(
            matches!(err, Error::NotReadable { fd: f } if f == fd),
            "{err:?}"
        );
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains(&format!("child fd {fd}")), "{err}");
    }
    for fd in [1, 2, 5, 9] {
        let err = child.take_writer(fd).unwrap_err();
        assert!(
            matches!(err, Error::NotWritable { fd: f } if f == fd),
            "{err:?}"
        );
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
    // A failed take leaves the pipe where it was.
    child.pause(1).unwrap();
    child.resume(1).unwrap();
    let stdout = child.take_reader(1).unwrap();
    assert!(matches!(child.pause(1), Err(Error::NotReadable { fd: 1 })));
    assert!(child.take_stdout().is_none());
    child.close_stdin();
    drop(stdout);
    assert!(child.wait().await.unwrap().success());
}

/// What the child's fds 0, 1 and 2 point at, as `readlink` shows them.
async fn child_stdio(cmd: &mut Command, file: &std::path::Path) -> Vec<String> {
    cmd.args([
        "-c",
        "x=$(readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2); echo \"$x\" > \"$0\"",
    ])
    .arg(file);
    let mut child = cmd.spawn().unwrap();
    child.close_stdin();
    let _ = child.wait_with_output().await.unwrap();
    let text = std::fs::read_to_string(file).unwrap();
    text.lines().map(str::to_owned).collect()
}

#[tokio::test]
async fn spawn_inherits_stdio_like_std_and_stdio_pipes_is_twisteds_layout() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("links");
    let ours: Vec<String> = (0..3)
        .map(|fd| {
            std::fs::read_link(format!("/proc/self/fd/{fd}"))
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(child_stdio(&mut Command::new("sh"), &file).await, ours);
    // And the handle has no pipes then.
    let mut child = Command::new("true").spawn().unwrap();
    assert!(child.take_stdin().is_none());
    assert!(child.take_stdout().is_none());
    assert!(child.take_stderr().is_none());
    child.wait().await.unwrap();

    let links = child_stdio(Command::new("sh").stdio_pipes(), &file).await;
    assert_eq!(links.len(), 3);
    for link in &links {
        assert!(link.starts_with("pipe:["), "{links:?}");
    }
    let mut child = Command::new("true").stdio_pipes().spawn().unwrap();
    assert!(child.take_stdin().is_some());
    assert!(child.take_stdout().is_some());
    assert!(child.take_stderr().is_some());
    child.wait().await.unwrap();

    // One standard fd mapped, the others still inherited.
    let links = child_stdio(Command::new("sh").stdout(ChildFd::Null), &file).await;
    assert_eq!(
        links,
        [ours[0].clone(), "/dev/null".to_owned(), ours[2].clone()]
    );
}

/// The session and process group of process `pid` (fields 6 and 5 of /proc/PID/stat).
fn session_and_group(pid: u32) -> (u32, u32) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<u32> = stat
        .rsplit_once(") ")
        .unwrap()
        .1
        .split(' ')
        .skip(2)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    (fields[1], fields[0])
}

#[tokio::test]
async fn the_session_and_the_process_group_are_one_setting_the_last_call_wins() {
    let (our_session, _) = session_and_group(std::process::id());
    let mut child = Command::new("sleep")
        .arg("60")
        .process_group(0)
        .setsid(true)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    assert_eq!(session_and_group(pid), (pid, pid), "a new session");
    child.kill().await.unwrap();

    let mut child = Command::new("sleep")
        .arg("60")
        .setsid(true)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    assert_eq!(
        session_and_group(pid),
        (our_session, pid),
        "a new group only"
    );
    child.kill().await.unwrap();

    // setsid(false) undoes setsid(true) and leaves a process group alone.
    let mut child = Command::new("sleep")
        .arg("60")
        .process_group(0)
        .setsid(false)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    assert_eq!(session_and_group(pid), (our_session, pid));
    child.kill().await.unwrap();
}

#[tokio::test]
async fn credentials_resolved_once_serve_many_children() {
    // Our own user: nothing to drop, which works without root too.
    let me = nix::unistd::geteuid().as_raw();
    let creds = Credentials::resolve(Some(&me.to_string()), None).unwrap();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "id -u"]).credentials(creds.clone());
    for _ in 0..2 {
        let out = cmd.output().await.unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim(),
            me.to_string()
        );
    }
    // Names and resolved credentials exclude each other.
    let err = Command::new("true")
        .credentials(creds)
        .user("root")
        .spawn()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidCommand(_)), "{err:?}");
}
