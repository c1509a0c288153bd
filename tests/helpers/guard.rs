//! Test helper: takes PID files and lock files through the library in its own process, so
//! that tests can race, kill and inspect real holders.
//!
//! Usage:
//!   guard race PATH GO_FILE HOLD_MS   wait for GO_FILE, try once; print the outcome
//!   guard hold PATH defer?            acquire, print "ready", sleep until killed
//!   guard once PATH                   acquire, print the PID written, release
//!   guard cleanup PATH                acquire with remove_on_signal, print "ready", sleep
//!   guard orphan PATH                 acquire, pass the lock to a `sleep` child, exit
//!   guard flip PATH                   acquire, then rewrite the PID 7 / 32000 forever
//!   guard lock PATH                   LockFile acquire, print "ready", sleep until killed
//!   guard lockonce PATH               LockFile acquire (replacing a stale one), print the
//!                                     recorded PID, release
//!   guard daemon PATH                 PidFile acquire (deferred write) + Daemon start; the
//!                                     launcher exits 0 once started, the detached process
//!                                     sleeps until stopped

use std::io::Write;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, SystemTime};

use pidward::lockfile::LockFile;
use pidward::pidfile::{Error, PidFile};

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn ready() {
    println!("ready");
    std::io::stdout().flush().unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = Path::new(&args[2]);
    match args[1].as_str() {
        "race" => {
            let go = Path::new(&args[3]);
            let hold: u64 = args[4].parse().unwrap();
            while !go.exists() {
                std::thread::sleep(Duration::from_micros(200));
            }
            let t = now_ns();
            match PidFile::acquire(path) {
                Ok(guard) => {
                    let start = now_ns();
                    let want = format!("{}\n", std::process::id());
                    std::thread::sleep(Duration::from_millis(hold));
                    let intact = std::fs::read(path).unwrap() == want.as_bytes();
                    let end = now_ns();
                    println!(
                        "won {} {start} {end} {}",
                        std::process::id(),
                        if intact { "intact" } else { "damaged" }
                    );
                    guard.release().unwrap();
                }
                Err(Error::AlreadyRunning { pid, .. }) => match pid {
                    Some(p) => println!("lost {p} {t}"),
                    None => println!("lost starting {t}"),
                },
                Err(e) => println!("error {e}"),
            }
        }
        "hold" => {
            let defer = args.get(3).map(String::as_str) == Some("defer");
            let _guard = PidFile::options().defer_write(defer).acquire(path).unwrap();
            ready();
            loop {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        "once" => match PidFile::acquire(path) {
            Ok(guard) => {
                // A report that cannot be written is not the PID file's failure.
                let pid = std::fs::read_to_string(path).unwrap();
                let _ = writeln!(std::io::stdout(), "{}", pid.trim());
                guard.release().unwrap();
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        },
        "lockonce" => match LockFile::options().replace_stale(true).acquire(path) {
            Ok(lock) => {
                let owner = pidward::lockfile::read(path).unwrap().unwrap();
                let _ = writeln!(std::io::stdout(), "{}", owner.pid);
                if let Err(e) = lock.release() {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        },
        "cleanup" => {
            let guard = PidFile::acquire(path).unwrap();
            let sigs = guard.remove_on_signal().unwrap();
            println!(
                "{}",
                sigs.iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            );
            ready();
            loop {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        "orphan" => {
            // Hand the lock to a child (`sleep`) through an inherited descriptor, print the
            // child's PID and exit without releasing: the file names a dead PID, still locked.
            use std::os::fd::AsRawFd;
            let guard = PidFile::acquire(path).unwrap();
            let fd = guard.as_fd().as_raw_fd();
            // SAFETY: clearing FD_CLOEXEC on a descriptor we own.
            unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
            let child = std::process::Command::new("sleep")
                .arg("300")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            println!("{}", child.id());
            std::io::stdout().flush().unwrap();
            std::process::exit(0);
        }
        "flip" => {
            let mut guard = PidFile::acquire(path).unwrap();
            ready();
            loop {
                guard.write_pid(7).unwrap();
                guard.write_pid(32_000).unwrap();
            }
        }
        "lock" => {
            let _lock = LockFile::acquire(path).unwrap();
            ready();
            loop {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        "daemon" => {
            let pid_file = match PidFile::options().defer_write(true).acquire(path) {
                Ok(pf) => pf,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            };
            let setup = pidward::child::Setup::new();
            match pidward::daemon::Daemon::new(setup)
                .pid_file(pid_file)
                .start()
            {
                // The detached process: live until stopped.
                Ok(_started) => loop {
                    std::thread::sleep(Duration::from_secs(60));
                },
                Err(e) => {
                    eprintln!("{e}");
                    let unknown = matches!(e, pidward::daemon::Error::Unknown { .. });
                    std::process::exit(if unknown { 121 } else { 125 });
                }
            }
        }
        other => panic!("unknown mode {other}"),
    }
}
