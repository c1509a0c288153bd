//! The recipes of docs/recipes/ and examples/library_daemon.rs, run from their own files so
//! that they cannot rot. A test reads the recipe and runs what it says, changing only what
//! names this machine: paths under `/run`, `/usr/local/bin` and `/etc` move into a temp dir
//! (each one is checked to be in the recipe, so a changed recipe fails here rather than being
//! tested vacuously), etcd's address is a real etcd on loopback, systemd's `%t` is a temp dir.
//!
//! | recipe | test |
//! |---|---|
//! | `cron/backup` | each job line twice at once: one runs, the other exits 1 in silence |
//! | `container/Dockerfile` | Docker if a daemon answers, else `ENTRYPOINT` as PID 1 (unshare) |
//! | `systemd/app.service` | `systemd-analyze verify`; `ExecStart`, `NotifyAccess=main` |
//! | `sysvinit/app` | each action's LSB exit code |
//! | `examples/library_daemon.rs` | as root: PID file, serving once started, credentials |

mod support;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use pidward::notify::{Accept, Listener};
use support::cluster::{Etcd, free_port, tls::Certs};
use support::run::*;

fn recipe(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/recipes")
        .join(name)
}

fn read_recipe(name: &str) -> String {
    std::fs::read_to_string(recipe(name)).unwrap()
}

/// What a test changes in a recipe: each `from` becomes its `to`.
type Moves = Vec<(String, String)>;

fn relocate(text: &str, moves: &Moves) -> String {
    let mut text = text.to_owned();
    for (from, to) in moves {
        text = text.replace(from, to);
    }
    text
}

/// Checks that the recipe names each path the test moves.
fn assert_names(recipe_text: &str, moves: &Moves) {
    for (from, _) in moves {
        assert!(
            recipe_text.contains(from),
            "the recipe no longer names {from}"
        );
    }
}

/// Writes an executable shell script.
fn script(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The command's output; it fails the test if the command is still running after `limit`
/// (and kills its process group, which holds the pipes open).
fn output_within(mut command: Command, limit: Duration) -> Output {
    let mut child = command
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let done = wait_until(limit, || child.try_wait().unwrap().is_some());
    if !done {
        // SAFETY: killpg(2) on the group of a child this test started and has not reaped.
        unsafe { libc::killpg(child.id() as i32, libc::SIGKILL) };
    }
    let out = child.wait_with_output().unwrap();
    assert!(done, "still running after {limit:?}: {out:?}");
    out
}

fn code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {status:?}"))
}

// ---- cron ------------------------------------------------------------------------------------

/// A job line of a cron.d file: the variables set above it (cron gives each job the ones
/// before it) and its command, the text after the five time fields and the user.
struct CronJob {
    env: Vec<(String, String)>,
    command: String,
}

fn cron_jobs(text: &str) -> Vec<CronJob> {
    let mut env = Vec::new();
    let mut jobs = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((name, value)) = line.split_once('=')
            && !name.contains(char::is_whitespace)
        {
            env.push((name.to_owned(), value.trim().to_owned()));
            continue;
        }
        let mut rest = line;
        for _ in 0..6 {
            let end = rest.find(char::is_whitespace).expect("a short cron line");
            rest = rest[end..].trim_start();
        }
        // cron turns `%` into a newline: the recipe's commands have none.
        assert!(!rest.contains('%'), "{line}");
        jobs.push(CronJob {
            env: env.clone(),
            command: rest.to_owned(),
        });
    }
    jobs
}

impl CronJob {
    /// The job as cron starts it: `$SHELL -c COMMAND` with a clean environment and the
    /// file's variables, moved by `moves`.
    fn command(&self, moves: &Moves) -> Command {
        let env: Vec<(String, String)> = self
            .env
            .iter()
            .map(|(k, v)| (k.clone(), relocate(v, moves)))
            .collect();
        let shell = env
            .iter()
            .find(|(k, _)| k == "SHELL")
            .map_or("/bin/sh".to_owned(), |(_, v)| v.clone());
        let mut c = Command::new(shell);
        c.env_clear()
            .env("HOME", "/root")
            .env("LOGNAME", "root")
            .envs(env)
            .arg("-c")
            .arg(relocate(&self.command, moves))
            .stdin(Stdio::null());
        c
    }
}

/// Runs `job` twice at once: the first run's job waits for a file; meanwhile the second run
/// must exit 1 at once, silently, without starting the job; once the first has finished, a
/// run goes through. Returns the log the job kept (one `start REV` line a run).
fn run_twice_at_once(job: &CronJob, moves: &Moves, s: &Scratch, bin: &str) -> String {
    let log = s.path(&format!("{bin}.log"));
    let go = s.path(&format!("{bin}.go"));
    script(
        &s.path(&format!("usr/local/bin/{bin}")),
        &format!(
            "echo \"start ${{PIDWARD_LOCK_REV:-}}\" >> {log}\n\
             while [ ! -e {go} ]; do sleep 0.02; done\n",
            log = log.display(),
            go = go.display()
        ),
    );
    let starts = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let mut first = job.command(moves).spawn().unwrap();
    s.adopt(first.id());
    assert!(
        wait_until(Duration::from_secs(20), || starts() == 1),
        "the first run's job did not start"
    );
    let second = output_within(job.command(moves), Duration::from_secs(20));
    assert_eq!(second.status.code(), Some(1), "{second:?}");
    assert!(
        second.stdout.is_empty() && second.stderr.is_empty(),
        "a lost race is silent (cron would mail it): {second:?}"
    );
    assert_eq!(starts(), 1, "the second run started the job");
    std::fs::write(&go, "").unwrap();
    assert_eq!(first.wait().unwrap().code(), Some(0));
    let third = job.command(moves).output().unwrap();
    assert_eq!(third.status.code(), Some(0), "{third:?}");
    assert_eq!(starts(), 2);
    std::fs::read_to_string(&log).unwrap()
}

/// The moves of the cron recipe: its paths into the scratch dir, where `usr/local/bin` has
/// the job scripts and `pidward` (found through the file's own `PATH`).
fn cron_moves(s: &Scratch) -> Moves {
    let bin = s.path("usr/local/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(s.path("run/lock")).unwrap();
    std::os::unix::fs::symlink(exe(), bin.join("pidward")).unwrap();
    [
        ("/usr/local/bin", bin),
        ("/run/lock", s.path("run/lock")),
        ("/etc/pidward", s.path("etc/pidward")),
    ]
    .into_iter()
    .map(|(from, to)| (from.to_owned(), to.display().to_string()))
    .collect()
}

#[test]
fn cron_job_runs_once_at_a_time() {
    let text = read_recipe("cron/backup");
    let jobs = cron_jobs(&text);
    let job = jobs
        .iter()
        .find(|j| j.command.contains("/run/lock/backup.lock"))
        .expect("the cron recipe has a job on /run/lock/backup.lock");
    let s = Scratch::new();
    let moves = cron_moves(&s);
    assert_names(&text, &moves);
    run_twice_at_once(job, &moves, &s, "backup");
}

#[test]
fn cron_job_runs_once_at_a_time_in_the_cluster() {
    let text = read_recipe("cron/backup");
    let jobs = cron_jobs(&text);
    let job = jobs
        .iter()
        .find(|j| j.command.contains("--etcd"))
        .expect("the cron recipe has a job with --etcd");
    let certs = Certs::new();
    let etcd = Etcd::start_tls(&certs);
    let s = Scratch::new();
    let mut moves = cron_moves(&s);
    // The file's certificates are ours, under the names it gives them.
    let etc = s.path("etc/pidward");
    std::fs::create_dir_all(&etc).unwrap();
    let client = certs.client("client");
    for (name, file) in [
        ("etcd-ca.pem", certs.ca()),
        ("etcd-client.pem", client.cert),
        ("etcd-client-key.pem", client.key),
    ] {
        std::os::unix::fs::symlink(file, etc.join(name)).unwrap();
    }
    let endpoints = job
        .env
        .iter()
        .find(|(k, _)| k == "PIDWARD_ETCD_ENDPOINTS")
        .expect("the cluster job's endpoints")
        .1
        .clone();
    assert!(endpoints.starts_with("https://"), "{endpoints}");
    moves.push((endpoints, etcd.endpoint()));
    assert_names(&text, &moves);
    let log = run_twice_at_once(job, &moves, &s, "report");
    // Each holder had a fencing token, and the later one a higher one.
    let revs: Vec<u64> = log
        .lines()
        .map(|l| l.strip_prefix("start ").unwrap().parse().unwrap())
        .collect();
    assert!(revs[0] > 0 && revs[1] > revs[0], "{log}");
    assert!(
        etcd.keys("nightly-report/").is_empty(),
        "the lock was released"
    );
}

// ---- container ------------------------------------------------------------------------------

/// The Dockerfile's `ENTRYPOINT` (exec form) and `STOPSIGNAL`.
fn dockerfile() -> (Vec<String>, String) {
    let text = read_recipe("container/Dockerfile");
    assert!(
        !text.lines().any(|l| l.ends_with('\\')),
        "no continued lines"
    );
    let field = |key: &str| {
        text.lines()
            .filter_map(|l| l.strip_prefix(key))
            .next_back()
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {key} in the Dockerfile"))
            .to_owned()
    };
    let entrypoint: Vec<String> = serde_json::from_str(&field("ENTRYPOINT ")).unwrap();
    let signal = field("STOPSIGNAL ");
    (entrypoint, signal.trim_start_matches("SIG").to_owned())
}

/// Where the container runs: Docker, or this machine in a PID namespace.
enum Runtime {
    Docker { image: String },
    Unshare { entrypoint: Vec<String> },
}

fn docker_works() -> bool {
    Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Runtime {
    fn new(s: &Scratch) -> Option<Runtime> {
        let (entrypoint, _) = dockerfile();
        if docker_works() {
            // The build context the recipe asks for: a directory with the pidward binary.
            let context = s.path("context");
            std::fs::create_dir_all(&context).unwrap();
            std::fs::copy(exe(), context.join("pidward")).unwrap();
            let image = format!("pidward-recipe-test:{}", s.tag.to_lowercase());
            let out = Command::new("docker")
                .args(["build", "-q", "-t", &image, "-f"])
                .arg(recipe("container/Dockerfile"))
                .arg(&context)
                .output()
                .unwrap();
            assert!(out.status.success(), "docker build: {out:?}");
            return Some(Runtime::Docker { image });
        }
        eprintln!("no Docker daemon answers: running the ENTRYPOINT in a PID namespace");
        if !is_root() {
            eprintln!("skipped: unshare --pid needs root");
            return None;
        }
        let pidward = entrypoint.first().expect("an ENTRYPOINT");
        assert!(pidward.ends_with("/pidward"), "{entrypoint:?}");
        let mut entrypoint = entrypoint.clone();
        entrypoint[0] = exe().display().to_string();
        Some(Runtime::Unshare { entrypoint })
    }

    /// `docker run IMAGE CMD...`, not yet started.
    fn command(&self, name: &str, cmd: &[&str]) -> Command {
        let mut c = match self {
            Runtime::Docker { image } => {
                let mut c = Command::new("docker");
                c.args(["run", "--rm", "--name", name, image]);
                c
            }
            Runtime::Unshare { entrypoint } => {
                let mut c = Command::new("unshare");
                c.args(["--pid", "--fork", "--mount-proc"]).args(entrypoint);
                c
            }
        };
        c.args(cmd).stdin(Stdio::null());
        c
    }

    fn run(&self, name: &str, cmd: &[&str]) -> Output {
        self.command(name, cmd).output().unwrap()
    }

    /// Starts a service that prints `ready` when it is, and waits for that line.
    fn start(&self, s: &Scratch, name: &str, cmd: &[&str]) -> Child {
        let mut child = self
            .command(name, cmd)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        s.adopt(child.id());
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n");
        child
    }

    /// Stops the container as `docker stop` does: its stop signal to PID 1.
    fn stop(&self, s: &Scratch, name: &str, child: &Child, signal: &str) {
        match self {
            Runtime::Docker { .. } => {
                let out = Command::new("docker")
                    .args(["stop", "-t", "20", name])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "docker stop: {out:?}");
            }
            Runtime::Unshare { .. } => {
                // Outside, PID 1 of the namespace is unshare's child.
                let mut pid1 = 0;
                assert!(wait_until(Duration::from_secs(5), || {
                    pid1 = children(child.id()).first().copied().unwrap_or(0);
                    pid1 != 0
                }));
                s.adopt(pid1);
                let signal: pidward::Signal = signal.parse().unwrap();
                kill(pid1, signal.as_raw());
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Runtime::Docker { image } = self {
            let _ = Command::new("docker").args(["rmi", "-f", image]).output();
        }
    }
}

#[test]
fn container_entry_point_is_a_proper_pid_1() {
    let s = Scratch::new();
    let Some(rt) = Runtime::new(&s) else { return };
    let (_, stop_signal) = dockerfile();
    let name = |n: &str| format!("{}-{n}", s.tag.to_lowercase());

    // It is PID 1, and the command its child.
    let out = rt.run(
        &name("pid1"),
        &["sh", "-c", "echo \"$PPID $(cat /proc/1/comm)\""],
    );
    assert_eq!(stdout(&out), "1 pidward\n", "{out:?}");

    // Exit codes pass through: the code, 128+N for a signal, 127 for a missing command.
    for (cmd, want) in [
        (vec!["sh", "-c", "exit 3"], 3),
        (vec!["sh", "-c", "kill -s USR1 $$"], 128 + libc::SIGUSR1),
        (vec!["/nonexistent/app"], 127),
    ] {
        let out = rt.run(&name("code"), &cmd);
        assert_eq!(out.status.code(), Some(want), "{cmd:?}: {out:?}");
    }

    // The stop signal reaches the service, and the container ends with its status.
    let trap = "trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done";
    let mut child = rt.start(&s, &name("trap"), &["sh", "-c", trap]);
    rt.stop(&s, &name("trap"), &child, &stop_signal);
    assert_eq!(child.wait().unwrap().code(), Some(7));
    let mut child = rt.start(
        &s,
        &name("plain"),
        &["sh", "-c", "echo ready; exec sleep 600"],
    );
    rt.stop(&s, &name("plain"), &child, &stop_signal);
    assert_eq!(child.wait().unwrap().code(), Some(128 + libc::SIGTERM));

    // Orphaned grandchildren are reaped: none of PID 1's children stays a zombie.
    let orphans = r#"
        (sleep 0.1 &); (sleep 0.2 &)
        sleep 1
        for p in $(cat /proc/1/task/1/children); do
            state=$(sed 's/.*) //' /proc/$p/stat | cut -d' ' -f1)
            [ "$state" = Z ] && echo "zombie $p"
        done
        echo done
    "#;
    let out = rt.run(&name("orphans"), &["sh", "-c", orphans]);
    assert_eq!(stdout(&out), "done\n", "{out:?}");
    assert!(out.status.success(), "{out:?}");
}

// ---- systemd --------------------------------------------------------------------------------

/// The `[Service]` settings of the unit, in order.
fn unit_service() -> Vec<(String, String)> {
    let text = read_recipe("systemd/app.service");
    let mut section = "";
    let mut settings = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        assert!(!line.ends_with('\\'), "no continued lines: {line}");
        if line.starts_with('[') {
            section = line;
        } else if section == "[Service]" {
            let (k, v) = line.split_once('=').unwrap();
            settings.push((k.to_owned(), v.to_owned()));
        }
    }
    settings
}

fn setting<'a>(settings: &'a [(String, String)], key: &str) -> &'a str {
    &settings
        .iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no {key}="))
        .1
}

#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    }
    if !root_or_skip() {
        return;
    }
    // systemd checks that ExecStart's program and the Documentation= man page exist: both
    // are put under /usr by an overlay that only this mount namespace sees.
    let s = Scratch::new();
    let up = s.path("usr-up");
    std::fs::create_dir_all(up.join("bin")).unwrap();
    std::fs::create_dir_all(up.join("share/man/man1")).unwrap();
    std::fs::create_dir_all(s.path("usr-work")).unwrap();
    std::fs::copy(exe(), up.join("bin/pidward")).unwrap();
    let man = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/man/pidward-run.1");
    std::fs::copy(man, up.join("share/man/man1/pidward-run.1")).unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            "mount -t overlay overlay -o \"lowerdir=/usr,upperdir=$1,workdir=$2\" /usr && \
             exec systemd-analyze verify \"$3\"",
        )
        .arg("sh")
        .arg(&up)
        .arg(s.path("usr-work"))
        .arg(recipe("systemd/app.service"))
        .output()
        .unwrap();
    // Warnings (an unknown key, a bad value) leave the exit code 0: there must be none.
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "systemd-analyze verify: {}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn systemd_exec_start_relays_readiness_with_mainpid() {
    let settings = unit_service();
    assert_eq!(setting(&settings, "Type"), "notify");
    assert_eq!(setting(&settings, "NotifyAccess"), "main");
    assert_eq!(setting(&settings, "KillMode"), "mixed");
    let s = Scratch::new();
    // systemd's work before ExecStart: %t is the runtime directory, RuntimeDirectory= is
    // made in it.
    let runtime = s.path("run");
    std::fs::create_dir_all(runtime.join(setting(&settings, "RuntimeDirectory"))).unwrap();
    let exec_start = setting(&settings, "ExecStart");
    assert!(
        !exec_start.contains(['"', '\'', '\\', '$']),
        "plain words only, so splitting at spaces is systemd's: {exec_start}"
    );
    let mut argv: Vec<String> = exec_start
        .split_whitespace()
        .map(|w| w.replace("%t", &runtime.display().to_string()))
        .collect();
    assert!(!argv.iter().any(|w| w.contains('%')), "{argv:?}");
    assert_eq!(argv[0], "/usr/bin/pidward");
    argv[0] = exe().display().to_string();
    // The service itself: a stand-in for /usr/local/bin/app that speaks sd_notify.
    let dashes = argv
        .iter()
        .position(|w| w == "--")
        .expect("-- before the command");
    assert_eq!(argv[dashes + 1], "/usr/local/bin/app");
    let app = s.path("app");
    let app_pid = s.path("app.pid-of-app");
    script(
        &app,
        &format!(
            "echo $$ > {}\n\"$PIDWARD\" notify --ready --status \"serving $*\"\nexec sleep 600\n",
            app_pid.display()
        ),
    );
    argv[dashes + 1] = app.display().to_string();

    let mut listener = Listener::bind_private().unwrap();
    let mut pidward = Command::new(&argv[0])
        .args(&argv[1..])
        .env("NOTIFY_SOCKET", listener.address())
        .env("PIDWARD", exe())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    s.adopt(pidward.id());
    // NotifyAccess=main: only the main process (pidward) is heard.
    listener.set_accept(Accept::Main(pidward.id()));
    let n = support::notify::recv_within(&listener, Duration::from_secs(20))
        .expect("no READY=1 from pidward");
    assert!(n.ready, "{n:?}");
    assert_eq!(n.sender, pidward.id());
    assert_eq!(n.get("MAINPID"), Some(pidward.id().to_string().as_str()));
    assert_eq!(n.main_pid, Some(pidward.id()));
    assert_eq!(n.status.as_deref(), Some("serving --serve"));
    let pid_file = argv[argv.iter().position(|w| w == "-p").unwrap() + 1].clone();
    assert_eq!(read_pid(Path::new(&pid_file)), pidward.id());
    let app_pid = read_pid(&app_pid);
    assert!(alive(app_pid));

    // KillMode=mixed: TERM to the main process alone. The service ends whole, with a status
    // systemd counts as a success.
    kill(pidward.id(), libc::SIGTERM);
    let status = pidward.wait().unwrap();
    let success: Vec<i32> = setting(&settings, "SuccessExitStatus")
        .split_whitespace()
        .map(|c| c.parse().unwrap())
        .collect();
    let exit = code(status);
    assert!(
        exit == 0 || success.contains(&exit),
        "exit {exit}, {success:?}"
    );
    assert!(!alive(app_pid), "app outlived pidward");
    assert!(!Path::new(&pid_file).exists());
}

// ---- init script ----------------------------------------------------------------------------

/// The init script with its settings in the environment (as /etc/default/app would give
/// them).
struct Init<'a> {
    s: &'a Scratch,
    env: Vec<(&'static str, String)>,
}

impl Init<'_> {
    fn run(&self, action: &str) -> Output {
        Command::new(recipe("sysvinit/app"))
            .arg(action)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// The action's exit code.
    fn code(&self, action: &str) -> i32 {
        let out = self.run(action);
        code(out.status)
    }

    fn pid_file(&self) -> PathBuf {
        self.s.path("app.pid")
    }

    /// The supervisor's PID, from the PID file, once it runs.
    fn supervisor(&self) -> u32 {
        let pid = read_pid(&self.pid_file());
        self.s.adopt(pid);
        pid
    }

    fn with(&self, key: &'static str, value: &str) -> Init<'_> {
        let mut env = self.env.clone();
        env.retain(|(k, _)| *k != key);
        env.push((key, value.to_owned()));
        Init { s: self.s, env }
    }
}

#[test]
fn init_script_actions_return_lsb_exit_codes() {
    let s = Scratch::new();
    let app = s.path("app");
    let log = s.path("app.log");
    script(
        &app,
        "trap 'echo reloaded' HUP\ntrap 'exit 0' TERM\necho \"started $*\"\n\
         while :; do sleep 1 & wait $!; done\n",
    );
    let init = Init {
        s: &s,
        env: vec![
            ("PIDWARD", exe().display().to_string()),
            ("DAEMON", app.display().to_string()),
            ("PIDFILE", s.path("app.pid").display().to_string()),
            ("OUTPUT", log.display().to_string()),
            ("STOP_SCHEDULE", "TERM/10/KILL/5".to_owned()),
        ],
    };
    // Stopped: status 3, stop 0, and the actions that restart only a running service do
    // nothing, successfully.
    assert_eq!(init.code("status"), 3);
    assert_eq!(init.code("stop"), 0);
    assert_eq!(init.code("try-restart"), 0);
    assert_eq!(init.code("force-reload"), 0);
    assert!(!init.pid_file().exists());

    // start: 0, and 0 again while running (the same process).
    assert_eq!(init.code("start"), 0);
    let first = init.supervisor();
    assert_eq!(init.code("status"), 0);
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("started --serve"))
    }));
    assert_eq!(init.code("start"), 0);
    assert_eq!(init.supervisor(), first);

    // restart, force-reload (no reload: a restart), try-restart: 0, each a new process.
    let mut last = first;
    for action in ["restart", "force-reload", "try-restart"] {
        assert_eq!(init.code(action), 0, "{action}");
        let now = init.supervisor();
        assert_ne!(now, last, "{action} did not restart");
        assert!(!alive(last), "{action} left the old one running");
        last = now;
    }
    // reload is unimplemented (3) unless the app has a reload signal.
    assert_eq!(init.code("reload"), 3);
    let hup = init.with("RELOAD_SIGNAL", "HUP");
    let reloads = |n: usize| {
        wait_until(Duration::from_secs(5), || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.matches("reloaded").count() == n)
        })
    };
    // (One at a time: two HUPs pending at once are one.)
    assert_eq!(hup.code("reload"), 0);
    assert!(reloads(1), "reload did not reach the app");
    assert_eq!(hup.code("force-reload"), 0);
    assert!(reloads(2), "force-reload did not reach the app");
    assert_eq!(init.supervisor(), last, "a reload is not a restart");

    // stop: 0, and 0 again; status 3; nothing left.
    assert_eq!(init.code("stop"), 0);
    assert!(!alive(last));
    assert_eq!(init.code("stop"), 0);
    assert_eq!(init.code("status"), 3);
    assert_eq!(hup.code("reload"), 7, "reloading a stopped service");
    // restart of a stopped service starts it.
    assert_eq!(init.code("restart"), 0);
    let supervisor = init.supervisor();

    // A supervisor killed outright leaves its PID file: dead, with a PID file (1). start
    // takes the stale file over; stop removes a stale file.
    kill(supervisor, libc::SIGKILL);
    assert!(wait_until(Duration::from_secs(5), || init.code("status") == 1));
    assert_eq!(init.code("start"), 0);
    kill(init.supervisor(), libc::SIGKILL);
    assert!(wait_until(Duration::from_secs(5), || init.code("status") == 1));
    assert_eq!(init.code("stop"), 0);
    assert!(!init.pid_file().exists());

    // A PID file that holds no PID: status unknown (4); stop does not guess (1).
    std::fs::write(init.pid_file(), "garbage\n").unwrap();
    assert_eq!(init.code("status"), 4);
    assert_eq!(init.code("stop"), 1);
    std::fs::remove_file(init.pid_file()).unwrap();

    // Not installed: 5. A wrong action, or none: 2.
    let missing = init.with("DAEMON", &s.path("missing").display().to_string());
    assert_eq!(missing.code("start"), 5);
    assert_eq!(init.code("frobnicate"), 2);
    let out = Command::new(recipe("sysvinit/app")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(s.stray().is_empty(), "{:?}", s.stray());
}

// ---- library --------------------------------------------------------------------------------

#[test]
fn library_daemon_serves_as_nobody_once_started() {
    if !root_or_skip() {
        return;
    }
    let s = Scratch::new();
    let pid_file = s.path("hello.pid");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let daemon = || {
        Command::new(example("library_daemon"))
            .arg(&pid_file)
            .arg(&address)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = daemon();
    assert!(out.status.success(), "{out:?}");
    // Started means ready: the PID file is written and the socket answers at once.
    let text = std::fs::read_to_string(&pid_file).unwrap();
    let pid: u32 = text.trim().parse().unwrap();
    s.adopt(pid);
    let mut line = String::new();
    std::net::TcpStream::connect(&address)
        .unwrap()
        .read_to_string(&mut line)
        .unwrap();
    assert_eq!(line, format!("hello from PID {pid}\n"));
    assert_dropped_to_nobody(pid);
    let status = pidward().arg("status").arg(&pid_file).output().unwrap();
    assert_eq!(status.status.code(), Some(0), "{status:?}");

    // A second start finds it running and says so.
    let again = daemon();
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains(&format!("already running as PID {pid}")),
        "{again:?}"
    );

    let stop = pidward()
        .args(["stop", "--remove-pidfile"])
        .arg(&pid_file)
        .output()
        .unwrap();
    assert_eq!(stop.status.code(), Some(0), "{stop:?}");
    assert!(!alive(pid));
    assert!(!pid_file.exists());
}
