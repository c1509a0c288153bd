//! A daemon in thirty lines: a locked PID file, a privilege drop and an honest start.
//!
//! ```text
//! # cargo run --example library_daemon -- /run/hello.pid 127.0.0.1:79   # as root
//! # nc 127.0.0.1 79                                                      # hello from PID 4242
//! # pidward stop --remove-pidfile /run/hello.pid
//! ```
//!
//! As root and before any thread, it takes the PID file (locked now, written once the final
//! PID is known) and binds the socket (a port below 1024 is fine); then it detaches, drops to
//! `nobody`, and reports ready. The command returns 0 only then, so the socket answers as soon
//! as it has returned; otherwise it exits 1 with the step that went wrong, or the holder of the
//! PID file.

use std::io::Write;
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::process::ExitCode;

use pidward::child::Setup;
use pidward::daemon::Daemon;
use pidward::pidfile::PidFile;

fn main() -> ExitCode {
    match serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("library_daemon: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let pid_path = args.next().unwrap_or_else(|| "/run/hello.pid".into());
    let address = args.next().unwrap_or_else(|| "127.0.0.1:79".into());

    let pid_file = PidFile::options().defer_write(true).acquire(&pid_path)?;
    let listener = TcpListener::bind(&address)?;
    let setup = Setup::new().user("nobody").keep_fd(listener.as_fd());
    let mut daemon = Daemon::new(setup)
        .pid_file(pid_file)
        .report_ready(true)
        .start()?;

    // The detached process, as nobody: ready once it can serve.
    daemon.ready()?;
    for connection in listener.incoming() {
        writeln!(connection?, "hello from PID {}", std::process::id())?;
    }
    Ok(())
}
