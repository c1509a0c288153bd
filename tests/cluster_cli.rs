//! `pidward lock --etcd` against a real etcd: exclusion, order, conflicts, fencing on loss,
//! signals, interop with `etcdctl lock`, bad input.
#![cfg(feature = "etcd")]

mod support;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use support::cluster::{Etcd, Proxy, free_port};

/// `pidward lock --etcd ENDPOINT ARGS...`.
fn lock(endpoint: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pidward"));
    c.args(["lock", "--etcd", endpoint]).args(args);
    c
}

fn sh(endpoint: &str, opts: &[&str], name: &str, script: &str) -> Command {
    let mut c = lock(endpoint, opts);
    c.args([name, "sh", "-c", script]);
    c
}

/// Wait until `path` exists (at most `within`).
fn wait_until(path: &Path, within: Duration) -> bool {
    let end = Instant::now() + within;
    while !path.exists() {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// The PID a command wrote to `path` with `echo $$ > path` (once the whole line is there:
/// the file exists before its content does).
fn read_pid(path: &Path) -> u32 {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.ends_with('\n') {
            return text.trim().parse().unwrap();
        }
        assert!(Instant::now() < end, "no PID in {}", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Wall-clock seconds now, as `date +%s.%N` prints them.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The lines of `path` that start with `word`, as their second field (a timestamp).
fn stamps(path: &Path, word: &str) -> Vec<f64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix(word)?.trim().split(' ').next()?.parse().ok())
        .collect()
}

/// Whether `pid` is gone or a zombie.
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s.rsplit(')').next().unwrap().trim_start().starts_with('Z'),
    }
}

/// `SIGTERM` to a child (pidward forwards it, then releases the lock).
fn term(child: &mut Child) {
    // SAFETY: kill(2) on our own unreaped child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if Instant::now() > end {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A holder whose command says "ready" in a file and then sleeps.
fn holder(etcd: &str, opts: &[&str], name: &str, dir: &Path) -> Child {
    let ready = dir.join("ready");
    let script = format!("echo $$ > {}; exec sleep 30", ready.display());
    let child = sh(etcd, opts, name, &script).spawn().unwrap();
    assert!(
        wait_until(&ready, Duration::from_secs(10)),
        "holder did not start"
    );
    child
}

#[test]
fn contenders_never_overlap_come_in_order_and_tokens_rise() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let script = format!(
        "echo \"start $(date +%s.%N) $PIDWARD_LOCK_REV $IDX\" >> {l}; sleep 0.3; \
         echo \"end $(date +%s.%N) $PIDWARD_LOCK_REV $IDX\" >> {l}",
        l = log.display()
    );
    let mut children = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for i in 0..4 {
        let mut c = sh(&etcd.endpoint(), &[], "job", &script);
        children.push(c.env("IDX", i.to_string()).spawn().unwrap());
        // The next one comes after this one has its key (first come is first created).
        let end = Instant::now() + Duration::from_secs(10);
        while !etcd.keys("job/").into_iter().any(|k| seen.insert(k)) {
            assert!(Instant::now() < end, "contender {i} created no key");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    for mut c in children {
        assert_eq!(
            wait_exit(&mut c, Duration::from_secs(20)).unwrap().code(),
            Some(0)
        );
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 8, "{text}");
    let mut last_end = 0.0;
    let mut last_rev = 0i64;
    for (i, pair) in lines.chunks(2).enumerate() {
        let (s, e) = (&pair[0], &pair[1]);
        assert_eq!((s[0], e[0]), ("start", "end"), "overlap:\n{text}");
        assert_eq!(s[2], e[2], "{text}");
        assert_eq!(s[3], i.to_string(), "not first come, first served:\n{text}");
        let (t0, t1): (f64, f64) = (s[1].parse().unwrap(), e[1].parse().unwrap());
        assert!(t0 >= last_end, "critical sections overlap:\n{text}");
        let rev: i64 = s[2].parse().unwrap();
        assert!(rev > last_rev, "fencing token did not rise:\n{text}");
        (last_end, last_rev) = (t1, rev);
    }
    assert!(etcd.keys("job/").is_empty());
}

#[test]
fn nonblock_timeout_and_the_holder_named() {
    let etcd = Etcd::start();
    let e = etcd.endpoint();
    let dir = tempfile::tempdir().unwrap();
    let mut h = holder(&e, &[], "n", dir.path());

    let out = lock(&e, &["-n", "n", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.is_empty(), "silent unless asked: {out:?}");
    let out = lock(&e, &["-n", "-E", "7", "--verbose", "n", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7));
    let err = String::from_utf8_lossy(&out.stderr);
    let named = format!("n is locked by PID {} on host ", h.id());
    assert!(err.contains(&named) && err.contains("running for"), "{err}");
    let start = Instant::now();
    let out = lock(&e, &["-w", "1", "n", "true"]).output().unwrap();
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(6),
        "{took:?}"
    );
    assert_eq!(
        lock(&e, &["-w", "0", "n", "true"]).status().unwrap().code(),
        Some(1)
    );
    // No contender left a key behind (a revoke that timed out on a loaded machine leaves its
    // key until the lease's TTL, 10 s: that is the bound).
    let end = Instant::now() + Duration::from_secs(12);
    while etcd.keys("n/").len() != 1 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(etcd.keys("n/").len(), 1, "stray keys");

    let env = dir.path().join("env");
    term(&mut h);
    let script = format!("env > {}", env.display());
    let out = sh(&e, &["-w", "5"], "n", &script).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let env = std::fs::read_to_string(env).unwrap();
    let var = |k: &str| {
        let p = format!("{k}=");
        env.lines()
            .find_map(|l| l.strip_prefix(&p))
            .unwrap_or_default()
            .to_owned()
    };
    let key = var("PIDWARD_LOCK_KEY");
    assert_eq!(key, format!("n/{}", var("PIDWARD_LOCK_LEASE")));
    assert_eq!(var("ETCD_LOCK_KEY"), key);
    assert!(var("PIDWARD_LOCK_REV").parse::<i64>().unwrap() > 1);
    assert_eq!(var("ETCD_LOCK_REV"), var("PIDWARD_LOCK_REV"));
}

#[test]
fn kill_9_of_the_holder_kills_its_whole_command_tree_and_a_waiter_gets_the_lock_in_ttl_plus_1s() {
    let etcd = Etcd::start();
    let e = etcd.endpoint();
    let dir = tempfile::tempdir().unwrap();
    let (ready, grand) = (dir.path().join("ready"), dir.path().join("grandchild"));
    // The command forks a grandchild (not pidward's child: PR_SET_PDEATHSIG alone spares it).
    let script = format!(
        "sleep 300 & echo $! > {}; echo $$ > {}; wait",
        grand.display(),
        ready.display()
    );
    let mut h = sh(&e, &["--ttl", "2"], "k", &script).spawn().unwrap();
    let cmd = read_pid(&ready);
    let grandchild = read_pid(&grand);
    let got = dir.path().join("got");
    let mut waiter = sh(&e, &["-w", "20"], "k", &format!("touch {}", got.display()))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!got.exists(), "the waiter did not wait");
    h.kill().unwrap();
    let killed = Instant::now();
    h.wait().unwrap();
    let end = Instant::now() + Duration::from_secs(1);
    while !(dead(cmd) && dead(grandchild)) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(dead(cmd), "the command outlived pidward");
    assert!(dead(grandchild), "the command's child outlived pidward");
    assert!(
        wait_until(&got, Duration::from_secs(5)),
        "the waiter never got the lock"
    );
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "waiter took {took:?} (TTL 2, so at most 3 s)"
    );
    assert!(
        wait_exit(&mut waiter, Duration::from_secs(5))
            .unwrap()
            .success()
    );
}

#[test]
fn sigterm_is_forwarded_and_the_lease_revoked_at_once() {
    let etcd = Etcd::start();
    let e = etcd.endpoint();
    let dir = tempfile::tempdir().unwrap();
    let (ready, log) = (dir.path().join("ready"), dir.path().join("log"));
    let script = format!(
        "trap 'echo got-TERM >> {l}; exit 3' TERM; echo x > {r}; \
         i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done",
        l = log.display(),
        r = ready.display()
    );
    let mut h = sh(&e, &[], "t", &script).spawn().unwrap();
    assert!(wait_until(&ready, Duration::from_secs(10)));
    let waiter_script = format!("echo \"start $(date +%s.%N)\" >> {}", log.display());
    let mut w = sh(&e, &["-w", "20"], "t", &waiter_script).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) on our child.
    unsafe { libc::kill(h.id() as i32, libc::SIGTERM) };
    let status = wait_exit(&mut h, Duration::from_secs(10)).unwrap();
    let exited = now();
    assert_eq!(status.code(), Some(3));
    assert!(
        wait_exit(&mut w, Duration::from_secs(10))
            .unwrap()
            .success()
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.starts_with("got-TERM\n"), "{text}");
    let started = stamps(&log, "start")[0];
    assert!(
        started - exited < 1.0,
        "waiter waited {}s",
        started - exited
    );
}

#[test]
fn a_partitioned_holder_is_stopped_before_anyone_else_starts() {
    let etcd = Etcd::start();
    let proxy = Proxy::to(etcd.port);
    let dir = tempfile::tempdir().unwrap();
    let (ready, log) = (dir.path().join("ready"), dir.path().join("log"));
    let script = format!(
        "trap 'echo \"term $(date +%s.%N)\" >> {l}; exit 0' TERM; echo x > {r}; \
         i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done",
        l = log.display(),
        r = ready.display()
    );
    let opts = ["--ttl", "4", "--kill-after", "1"];
    let mut h = sh(&proxy.endpoint(), &opts, "p", &script)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(&ready, Duration::from_secs(10)));
    proxy.freeze(true);
    let frozen = Instant::now();
    let waiter_script = format!("echo \"start $(date +%s.%N)\" >> {}", log.display());
    let mut w = sh(&etcd.endpoint(), &["-w", "20"], "p", &waiter_script)
        .spawn()
        .unwrap();
    let status = wait_exit(&mut h, Duration::from_secs(10)).expect("holder hangs");
    assert_eq!(status.code(), Some(75), "lost exit code");
    // Loss declared by 4 - 1 - margin after the last renewal, release bounded by 2 s.
    assert!(
        frozen.elapsed() < Duration::from_secs(6),
        "{:?}",
        frozen.elapsed()
    );
    assert!(
        wait_exit(&mut w, Duration::from_secs(20))
            .unwrap()
            .success()
    );
    proxy.freeze(false);
    let (term, start) = (stamps(&log, "term"), stamps(&log, "start"));
    assert_eq!((term.len(), start.len()), (1, 1), "{term:?} {start:?}");
    assert!(
        term[0] < start[0],
        "the new holder started before the old one was stopped"
    );
    let mut err = String::new();
    std::io::Read::read_to_string(&mut h.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("lost the lock p at "), "{err}");
    assert!(err.contains("could not be renewed"), "{err}");
}

#[test]
fn etcd_gone_the_holder_fences_itself_kills_a_stubborn_command_and_exits_in_time() {
    let mut etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    // The command ignores TERM: it takes the KILL.
    let script = format!("trap '' TERM; echo $$ > {}; exec sleep 30", ready.display());
    let opts = ["--ttl", "3", "--kill-after", "1"];
    let mut h = sh(&etcd.endpoint(), &opts, "g", &script)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(&ready, Duration::from_secs(10)));
    let cmd = read_pid(&ready);
    etcd.kill();
    let gone = Instant::now();
    let status = wait_exit(&mut h, Duration::from_secs(10)).expect("holder hangs");
    assert_eq!(status.code(), Some(75));
    // 3 s TTL: lost by 3 - 1 - margin, KILL 1 s later, release bounded by 2 s.
    assert!(
        gone.elapsed() < Duration::from_secs(6),
        "{:?}",
        gone.elapsed()
    );
    assert!(dead(cmd));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut h.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("the lock expires within"), "{err}");
}

#[test]
fn etcdctl_lock_and_pidward_lock_exclude_each_other() {
    let etcd = Etcd::start();
    let e = etcd.endpoint();
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("flag");
    let mut h = holder(&e, &[], "both", dir.path());
    let mut ctl = etcd
        .etcdctl()
        .args(["lock", "both", "touch"])
        .arg(&flag)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        !flag.exists(),
        "etcdctl lock ran while pidward held the lock"
    );
    term(&mut h);
    assert!(
        wait_exit(&mut ctl, Duration::from_secs(5))
            .unwrap()
            .success()
    );
    assert!(flag.exists());

    let ready = dir.path().join("ctl-ready");
    let mut ctl = etcd
        .etcdctl()
        .args(["lock", "both", "--", "sh", "-c"])
        .arg(format!("touch {}; sleep 30", ready.display()))
        .process_group(0)
        .spawn()
        .unwrap();
    assert!(wait_until(&ready, Duration::from_secs(10)));
    let out = lock(&e, &["-n", "--verbose", "both", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("both is locked by key both/"), "{err}");
    // etcdctl leaves its command running when killed: kill its whole group.
    // SAFETY: kill(2) on the process group we created.
    unsafe { libc::kill(-(ctl.id() as i32), libc::SIGKILL) };
    ctl.wait().unwrap();
}

#[test]
fn bad_input_and_unreachable_endpoints() {
    let dead_ep = format!("127.0.0.1:{}", free_port());
    let start = Instant::now();
    let out = lock(&dead_ep, &["-w", "1", "u", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(68), "{out:?}");
    assert!(start.elapsed() < Duration::from_secs(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot reach etcd at {dead_ep}")),
        "{err}"
    );

    for (args, what) in [
        (
            vec!["--etcd", "unixs://h:1", "n", "true"],
            "expected http(s)://",
        ),
        (vec!["--etcd", "h:99999", "n", "true"], "port"),
        (vec!["--etcd", "h:1", "-F", "n", "true"], "--no-fork"),
        (vec!["--etcd", "h:1", "-o", "n", "true"], "--close"),
        (vec!["--etcd", "h:1", "-u", "n", "true"], "--unlock"),
        (vec!["--etcd", "h:1", "--fcntl", "n", "true"], "--fcntl"),
        (vec!["--etcd", "h:1", "5"], "command"),
        (vec!["--etcd", "h:1", "--ttl", "x", "n", "true"], "--ttl"),
        (
            vec!["--etcd", "h:1", "--kill-after", "9", "n", "true"],
            "--kill-after",
        ),
        (vec!["--etcd", "", "n", "true"], "PIDWARD_ETCD_ENDPOINTS"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_pidward"))
            .arg("lock")
            .args(&args)
            .env_remove("PIDWARD_ETCD_ENDPOINTS")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        assert!(err.contains(what), "{args:?}: {err}");
    }

    // --ttl 1 becomes 2; endpoints from the environment.
    let etcd = Etcd::start();
    let out = Command::new(env!("CARGO_BIN_EXE_pidward"))
        .args(["lock", "--etcd", "", "--ttl", "1", "n", "true"])
        .env(
            "PIDWARD_ETCD_ENDPOINTS",
            format!("{dead_ep},{}", etcd.endpoint()),
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn leader_killed_a_holder_with_every_endpoint_keeps_the_lock_one_without_fences_itself() {
    let mut members = Etcd::start_cluster();
    let all: Vec<String> = members.iter().map(Etcd::endpoint).collect();
    let leader = (0..50)
        .find_map(|_| {
            let l = members.iter().position(Etcd::is_leader);
            if l.is_none() {
                std::thread::sleep(Duration::from_millis(100));
            }
            l
        })
        .expect("no leader");
    let others: Vec<String> = (0..3)
        .filter(|&i| i != leader)
        .map(|i| all[i].clone())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let opts = ["--ttl", "6", "--kill-after", "1"];
    let script = |tag: &str, ready: &Path| {
        format!(
            "trap 'echo \"term-{tag} $(date +%s.%N)\" >> {l}; exit 0' TERM; echo x > {r}; \
             i=0; while [ $i -lt 80 ]; do sleep 0.1; i=$((i+1)); done; echo done-{tag} >> {l}",
            l = log.display(),
            r = ready.display()
        )
    };
    let (ready_a, ready_b) = (dir.path().join("a"), dir.path().join("b"));
    let mut a = sh(&all.join(","), &opts, "a", &script("a", &ready_a))
        .spawn()
        .unwrap();
    let mut b = sh(&all[leader], &opts, "b", &script("b", &ready_b))
        .spawn()
        .unwrap();
    assert!(wait_until(&ready_a, Duration::from_secs(10)));
    assert!(wait_until(&ready_b, Duration::from_secs(10)));
    members[leader].kill();
    let waiter = format!("echo \"start-b $(date +%s.%N)\" >> {}", log.display());
    let mut w = sh(&others.join(","), &["-w", "30"], "b", &waiter)
        .spawn()
        .unwrap();
    let b_status = wait_exit(&mut b, Duration::from_secs(15)).expect("b hangs");
    assert_eq!(b_status.code(), Some(75), "b had only the dead leader");
    assert!(
        wait_exit(&mut w, Duration::from_secs(30))
            .unwrap()
            .success()
    );
    let a_status = wait_exit(&mut a, Duration::from_secs(30)).expect("a hangs");
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(a_status.code(), Some(0), "a lost its lock:\n{text}");
    assert!(
        text.contains("done-a") && !text.contains("term-a"),
        "{text}"
    );
    let (term_b, start_b) = (stamps(&log, "term-b"), stamps(&log, "start-b"));
    assert!(
        term_b[0] < start_b[0],
        "b's waiter started before b was stopped:\n{text}"
    );
}

#[test]
fn with_authentication_on_the_credentials_come_from_the_environment() {
    let etcd = Etcd::start();
    let e = etcd.endpoint();
    for args in [&["user", "add", "root:s3cret"][..], &["auth", "enable"]] {
        let out = etcd.etcdctl().args(args).output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let run = |user: Option<&str>| {
        let mut c = lock(&e, &["-w", "3", "a", "true"]);
        c.env_remove("PIDWARD_ETCD_USER")
            .env_remove("PIDWARD_ETCD_PASSWORD");
        if let Some(u) = user {
            c.env("PIDWARD_ETCD_USER", u);
        }
        c.output().unwrap()
    };
    let out = run(None);
    assert_eq!(out.status.code(), Some(68), "{out:?}");
    let out = run(Some("root:wrong"));
    assert_eq!(out.status.code(), Some(68), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("logging in"),
        "{out:?}"
    );
    let out = run(Some("root:s3cret"));
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn a_command_run_from_a_terminal_can_read_it() {
    // The command has a process group of its own (to be stopped whole); run from a terminal's
    // foreground, that group must get the terminal, or `read` would stop it with SIGTTIN.
    let etcd = Etcd::start();
    let inner = format!(
        "{} lock --etcd {} tty sh -c 'read x; echo got:$x'",
        env!("CARGO_BIN_EXE_pidward"),
        etcd.endpoint()
    );
    let mut c = Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    let mut stdin = c.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    std::io::Write::write_all(&mut stdin, b"hello\n").unwrap();
    let status = wait_exit(&mut c, Duration::from_secs(15));
    drop(stdin);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut c.stdout.take().unwrap(), &mut out).unwrap();
    assert!(
        status.is_some(),
        "the command hangs (stopped by SIGTTIN?): {out}"
    );
    assert!(out.contains("got:hello"), "{out}");
}
