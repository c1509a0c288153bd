//! Applying a [`Plan`] in the `pre_exec` hook of a [`std::process::Command`].
//!
//! For callers that start their command with std (the hook runs [`apply`](super::apply) after
//! std's `fork`); [`spawn`](super::spawn) is the faster and more complete way.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;

use super::{Error, Mode, Plan, Step};
use crate::daemon::status::{self, MESSAGE_MAX, StatusWriter};

impl Plan {
    /// Installs this plan on a command as a `pre_exec` hook that applies it in the child
    /// (inherited descriptors are marked close-on-exec rather than closed). Returns a
    /// [`SpawnCheck`] that turns the spawn's error into the failed step.
    ///
    /// ```
    /// use std::process::Command;
    /// use pidward::child::{Setup, Step};
    ///
    /// let mut cmd = Command::new("true");
    /// let check = Setup::new()
    ///     .working_directory("/no/such/directory")
    ///     .prepare()?
    ///     .install(&mut cmd)?;
    /// let err = check.check(cmd.status()).unwrap_err();
    /// assert_eq!(err.step(), Step::Chdir);
    /// assert_eq!(err.detail(), "/no/such/directory");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn install(self, cmd: &mut Command) -> io::Result<SpawnCheck> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        if self.is_empty() {
            return Ok(SpawnCheck {
                read: None,
                program,
            });
        }
        let (read, write) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::CLOEXEC | rustix::pipe::PipeFlags::NONBLOCK,
        )?;
        let shared = Arc::new((self, write));
        let hook = Arc::clone(&shared);
        // SAFETY: the hook only runs Plan::apply (async-signal-safe, see apply.rs) and one
        // write(2) of a stack buffer on failure.
        unsafe {
            cmd.pre_exec(move || {
                let (plan, write) = &*hook;
                match plan.apply(Mode::PreExec) {
                    Ok(()) => Ok(()),
                    Err(failure) => {
                        let writer = StatusWriter::new(write.as_fd());
                        let _ = writer.failed(failure.step, failure.errno, plan.detail(&failure));
                        Err(io::Error::from_raw_os_error(failure.errno.max(1)))
                    }
                }
            });
        }
        drop(shared);
        Ok(SpawnCheck {
            read: Some(read),
            program,
        })
    }
}

/// The other half of [`Plan::install`]: reads which step failed when a spawn fails.
#[derive(Debug)]
pub struct SpawnCheck {
    read: Option<OwnedFd>,
    program: String,
}

impl SpawnCheck {
    /// Passes a successful spawn through; turns a failed one into the step that failed: a
    /// set-up step reported by the child, or [`Step::Exec`] with the error of `execvp`
    /// (`ENOENT`: not found; `EACCES`, `ENOEXEC`: not executable).
    pub fn check<T>(self, spawned: io::Result<T>) -> Result<T, Error> {
        let error = match spawned {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        let mut buf = [0u8; MESSAGE_MAX];
        if let Some(Ok(n)) = self.read.as_ref().map(|r| rustix::io::read(r, &mut buf)) {
            let line = buf[..n].strip_suffix(b"\n").unwrap_or(&buf[..n]);
            if let Some(status::Message::Failed(e)) = status::decode(line) {
                return Err(e);
            }
        }
        Err(Error::from_io(Step::Exec, &error, self.program))
    }
}
