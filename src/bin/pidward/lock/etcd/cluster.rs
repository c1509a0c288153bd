//! Taking the cluster lock for `pidward lock --etcd` and running the command under it.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use pidward::Signal;
use pidward::child::{Exec, Setup};
use pidward::cluster::{CertProblem, Endpoint, Error, Holder, Lock, Options, Tls, Wait};
use pidward::supervise::Supervisor;

use super::super::options::{Invocation, Op, Target, Timeout};
use super::super::{Failure, Name, OS_ERROR, USAGE, exec_failure, os_text, spawn_error};
use super::fence::{give_terminal, supervise, take_terminal_back, terminal_is_ours};
use super::group::Group;

/// `EX_NOHOST`: etcd unreachable, or a cluster error before the lock was held.
const UNREACHABLE: u8 = 68;
/// `EX_TEMPFAIL`: the lock was lost while the command ran.
const LOST: u8 = 75;
/// The endpoints when `--etcd` is given an empty list.
const ENDPOINTS_VAR: &str = "PIDWARD_ETCD_ENDPOINTS";
/// etcd user for authentication: `USER` or `USER:PASSWORD`.
const USER_VAR: &str = "PIDWARD_ETCD_USER";
/// The password, when `PIDWARD_ETCD_USER` has none.
const PASSWORD_VAR: &str = "PIDWARD_ETCD_PASSWORD";
/// The TLS files when their options are not given: CA certificates, client certificate, key.
const TLS_VARS: [&str; 3] = [
    "PIDWARD_ETCD_CACERT",
    "PIDWARD_ETCD_CERT",
    "PIDWARD_ETCD_KEY",
];
/// Their options.
const TLS_OPTIONS: [&str; 3] = ["--cacert", "--cert", "--key"];
/// How long releasing may take once the command is done.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(2);

/// What the command line asks of a cluster lock, checked.
struct Request {
    endpoints: OsString,
    name: OsString,
    argv: Vec<OsString>,
    shared: bool,
    nonblock: bool,
    wait: Option<Duration>,
    conflict_exit_code: u8,
    verbose: bool,
    ttl: Option<Duration>,
    kill_after: Option<Duration>,
    lost_exit_code: u8,
    tls_files: Box<[Option<OsString>; 3]>,
}

/// The options the cluster lock refuses: something must stay alive to keep the lease, and
/// there is no descriptor.
fn request(inv: Invocation) -> Result<Request, Failure> {
    let refuse = |what: &str| {
        Failure::new(
            USAGE,
            format!("{what} cannot be used with --etcd (the lease needs pidward alive)"),
        )
    };
    let Some(endpoints) = inv.etcd.endpoints else {
        return Err(Failure::new(
            USAGE,
            "--ttl, --kill-after, --lost-exit-code, --cacert, --cert and --key need --etcd".into(),
        ));
    };
    if inv.no_fork {
        return Err(refuse("--no-fork"));
    }
    if inv.close {
        return Err(refuse("--close"));
    }
    if inv.op == Op::Unlock {
        return Err(refuse("--unlock"));
    }
    if inv.fcntl {
        return Err(refuse("--fcntl (--start, --length)"));
    }
    let Target::Path(name) = inv.target else {
        return Err(Failure::new(
            USAGE,
            "--etcd: missing command (or a descriptor given)".into(),
        ));
    };
    if inv.argv.is_empty() {
        return Err(Failure::new(USAGE, "--etcd: missing command".into()));
    }
    let wait = match inv.timeout {
        Some(Timeout::Unusable) => {
            return Err(Failure::new(
                OS_ERROR,
                "cannot set up timer: Invalid argument".into(),
            ));
        }
        Some(Timeout::Wait(d)) => Some(d),
        None => None,
    };
    Ok(Request {
        endpoints,
        name,
        argv: inv.argv,
        shared: inv.op == Op::Lock(pidward::flock::Mode::Shared),
        nonblock: inv.nonblock,
        wait,
        conflict_exit_code: inv.conflict_exit_code,
        verbose: inv.verbose,
        ttl: inv.etcd.ttl,
        kill_after: inv.etcd.kill_after,
        lost_exit_code: inv.etcd.lost_exit_code.unwrap_or(LOST),
        tls_files: inv.etcd.tls_files,
    })
}

/// Take the lock, run the command, stop it if the lock is lost: the exit code.
pub fn run(name: &Name, inv: Invocation) -> Result<u8, Failure> {
    let r = request(inv)?;
    let opts = options(&r)?;
    let lock_name = r.name.to_string_lossy().into_owned();
    let started = Instant::now();
    let lock = Lock::acquire(&lock_name, &opts).map_err(|e| acquire_failure(name, &r, e))?;
    if r.verbose {
        let took = started.elapsed();
        println!(
            "{}: getting lock took {}.{:06} seconds",
            name.0,
            took.as_secs(),
            took.subsec_micros()
        );
    }
    let program = r.argv[0].to_string_lossy().into_owned();
    let mut exec = Exec::new(&r.argv[0]);
    let rev = lock.revision().to_string();
    exec.args(&r.argv[1..])
        .env("PIDWARD_LOCK_KEY", lock.key())
        .env("PIDWARD_LOCK_REV", &rev)
        .env("PIDWARD_LOCK_LEASE", format!("{:x}", lock.lease()))
        .env("ETCD_LOCK_KEY", lock.key())
        .env("ETCD_LOCK_REV", &rev);
    // The group the command joins, led by the watchdog that kills it if pidward is killed.
    let group = Group::start().map_err(|e| {
        Failure::new(
            OS_ERROR,
            format!(
                "cannot start the command's watchdog (/bin/sh): {}",
                os_text(&e)
            ),
        )
    })?;
    // The terminal goes to the group before the command starts in it: a command that reads
    // the terminal at once must find it its own.
    let foreground = terminal_is_ours() && give_terminal(group.pgid());
    // The command dies with pidward: `kill -9` of pidward cannot leave it running unlocked
    // (and the watchdog takes what it forked).
    let spawned = Supervisor::new()
        .reset_ignored(false)
        .parent_death_signal(Some(Signal::KILL))
        .spawn_exec(Setup::new().process_group(group.pgid()), &exec);
    if spawned.is_err() && foreground {
        take_terminal_back();
    }
    let child = spawned.map_err(|e| exec_failure(&program, &spawn_error(e)))?;
    let outcome = supervise(
        name,
        &lock_name,
        &lock,
        child,
        &group,
        opts.grace_in_effect(),
    );
    if foreground {
        take_terminal_back();
    }
    drop(group);
    let (code, lost) = outcome?;
    let expires = lock.expires();
    if let Err(e) = lock.release(RELEASE_TIMEOUT) {
        let left = expires.map_or(opts.ttl_in_effect(), |t| {
            t.saturating_duration_since(Instant::now())
        });
        eprintln!(
            "{}: warning: cannot release {lock_name} ({}); the lock expires within {}s",
            name.0,
            chain(&e),
            left.as_secs() + 1
        );
    }
    Ok(if lost { r.lost_exit_code } else { code })
}

/// The library's options from the request; usage errors for bad endpoints and timings.
fn options(r: &Request) -> Result<Options, Failure> {
    let mut text = r.endpoints.to_string_lossy().into_owned();
    if text.trim().is_empty() {
        text = std::env::var(ENDPOINTS_VAR).unwrap_or_default();
    }
    if text.trim().is_empty() {
        return Err(Failure::new(
            USAGE,
            format!("--etcd: no endpoints given (and {ENDPOINTS_VAR} is not set)"),
        ));
    }
    let endpoints = Endpoint::parse_list(&text).map_err(|e| Failure::new(USAGE, e.to_string()))?;
    let argv = r.argv.iter().map(|a| a.to_string_lossy().into_owned());
    let mut opts = Options::new(endpoints);
    // Credentials from the environment, never from argv (which `ps` shows to everyone).
    if let Ok(user) = std::env::var(USER_VAR)
        && !user.is_empty()
    {
        let (user, password) = match user.split_once(':') {
            Some((u, p)) => (u.to_owned(), p.to_owned()),
            None => (user, std::env::var(PASSWORD_VAR).unwrap_or_default()),
        };
        opts = opts.auth(&user, &password);
    }
    if let Some(tls) = tls(&r.tls_files)? {
        opts = opts.tls(tls);
    }
    let mut opts = opts
        .shared(r.shared)
        .holder(Holder::this_process(argv.collect()));
    if let Some(ttl) = r.ttl {
        opts = opts.ttl(ttl);
    }
    if let Some(k) = r.kill_after {
        let most = opts.ttl_in_effect() / 3;
        if k > most {
            return Err(Failure::new(
                USAGE,
                format!(
                    "--kill-after {:.3}: must be at most a third of the TTL ({:.3}s)",
                    k.as_secs_f64(),
                    most.as_secs_f64()
                ),
            ));
        }
        opts = opts.grace(k);
    }
    let wait = match r.wait {
        _ if r.nonblock => Wait::No,
        Some(d) if d.as_micros() == 0 => Wait::No,
        Some(d) => Wait::Timeout(d),
        None => Wait::Forever,
    };
    if let Wait::Timeout(d) = wait {
        // A call may not outlast the deadline by much, but a loaded cluster still gets a
        // second to answer: a slow reply is not an unreachable cluster. A try (`-n`, `-w 0`)
        // keeps the default call timeout for the same reason.
        opts = opts.call_timeout(d.clamp(Duration::from_secs(1), Duration::from_secs(5)));
    }
    Ok(opts.wait(wait))
}

/// The TLS files, from the options or else the environment, read and checked: usage errors
/// naming the option (or variable), the path and the problem.
fn tls(options: &[Option<OsString>; 3]) -> Result<Option<Tls>, Failure> {
    let files: Vec<Option<(std::path::PathBuf, String)>> = (0..3)
        .map(|i| match &options[i] {
            Some(path) => Some((path.into(), TLS_OPTIONS[i].to_owned())),
            None => std::env::var_os(TLS_VARS[i])
                .filter(|p| !p.is_empty())
                .map(|p| (p.into(), format!("${}", TLS_VARS[i]))),
        })
        .collect();
    if files.iter().all(Option::is_none) {
        return Ok(None);
    }
    let bad = |what: &str, path: &std::path::Path, e: Error| {
        let problem = match &e {
            Error::Certificate {
                problem: CertProblem::Unreadable(io),
                ..
            } => format!("cannot read it: {}", os_text(io)),
            Error::Certificate { problem, .. } => problem.to_string(),
            other => other.to_string(),
        };
        Failure::new(USAGE, format!("{what} {}: {problem}", path.display()))
    };
    let mut tls = Tls::new();
    if let Some((path, what)) = &files[0] {
        tls = tls.ca_file(path).map_err(|e| bad(what, path, e))?;
    }
    match (&files[1], &files[2]) {
        (Some((cert, _)), Some((key, what))) => {
            tls = tls.client_cert(cert, key).map_err(|e| match &e {
                Error::Certificate { file, .. } if *file == pidward::cluster::CertFile::Cert => {
                    bad(&files[1].as_ref().expect("given").1, cert, e)
                }
                _ => bad(what, key, e),
            })?;
        }
        (Some((_, what)), None) => {
            return Err(Failure::new(
                USAGE,
                format!("{what} needs --key (its private key)"),
            ));
        }
        (None, Some((_, what))) => {
            return Err(Failure::new(
                USAGE,
                format!("{what} needs --cert (its certificate)"),
            ));
        }
        (None, None) => {}
    }
    Ok(Some(tls))
}

/// The message and code for a lock not obtained.
fn acquire_failure(name: &Name, r: &Request, e: Error) -> Failure {
    match &e {
        Error::Locked { .. } | Error::TimedOut { .. } => {
            if r.verbose {
                let what = match e {
                    Error::TimedOut { .. } => "timeout while waiting to get lock",
                    _ => "failed to get lock",
                };
                eprintln!("{}: {what}", name.0);
            }
            // SAFETY: isatty(3) on fd 2.
            if !r.verbose && unsafe { libc::isatty(2) } != 1 {
                return Failure::silent(r.conflict_exit_code);
            }
            let message = match &e {
                Error::TimedOut {
                    name,
                    holder: Some(h),
                } => format!("timed out: {name} is locked by {h}"),
                other => other.to_string(),
            };
            Failure::new(r.conflict_exit_code, message)
        }
        Error::InvalidName { .. } | Error::InvalidEndpoint { .. } | Error::Certificate { .. } => {
            Failure::new(USAGE, e.to_string())
        }
        _ => Failure::new(UNREACHABLE, chain(&e)),
    }
}

/// An error and its sources, `: `-separated.
pub(super) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = match s.downcast_ref::<std::io::Error>() {
            Some(io) => os_text(io),
            None => s.to_string(),
        };
        text = format!("{text}: {more}");
        source = s.source();
    }
    text
}
