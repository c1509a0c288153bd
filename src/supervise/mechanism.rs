//! Which [`Mechanism`] a run uses, chosen before the spawn from its [`KillMode`]: a cgroup of
//! its own where one can be made, the command in a process group of its own for
//! [`KillMode::Group`].

use super::cgroup::Cgroup;
use super::{Error, KillMode, Mechanism, Running, Supervisor};
use crate::child::{Error as StepError, Setup, Step};

/// The set-up and supervisor for `mode`, and the cgroup made for the run, if any.
pub(super) fn prepare(
    mode: KillMode,
    setup: Setup,
    supervisor: Supervisor,
) -> Result<(Setup, Supervisor, Option<Cgroup>), Error> {
    match mode {
        KillMode::Tree | KillMode::Cgroup => match Cgroup::create() {
            Ok((cgroup, dir)) => {
                let setup = setup.cgroup_dir(dir, cgroup.procs_path());
                Ok((setup, supervisor, Some(cgroup)))
            }
            Err(e) if mode == KillMode::Cgroup => {
                let place = crate::sys::cgroup::own_dir()
                    .map_or_else(|_| "(no cgroup v2)".to_owned(), |d| d.display().to_string());
                Err(Error::Setup(StepError::from_io(Step::Cgroup, &e, place)))
            }
            // Not root, no cgroup v2, a kernel without cgroup.kill: the subreaper does it.
            Err(_) => Ok((setup, supervisor, None)),
        },
        KillMode::Group => Ok((setup.process_group(0), supervisor, None)),
        KillMode::Main => Ok((setup, supervisor, None)),
    }
}

impl Running {
    /// How the processes of this run are found when it ends (module docs of
    /// [`crate::supervise`]).
    ///
    /// ```
    /// use pidward::child::{Exec, Setup};
    /// use pidward::supervise::{KillMode, Mechanism, Service};
    ///
    /// let mut running =
    ///     Service::new().kill_mode(KillMode::Main).start(Exec::new("true"), Setup::new())?;
    /// assert_eq!(running.mechanism(), Mechanism::Main);
    /// running.wait()?;
    /// # Ok::<(), pidward::supervise::Error>(())
    /// ```
    pub fn mechanism(&self) -> Mechanism {
        match (self.kill_mode, &self.child.cgroup) {
            (_, Some(_)) => Mechanism::Cgroup,
            (KillMode::Group, None) => Mechanism::ProcessGroup,
            (KillMode::Main, None) => Mechanism::Main,
            _ => Mechanism::Subreaper,
        }
    }

    /// What the command wrote to its standard error so far (the last bytes), with
    /// [`Service::capture_stderr`](super::Service::capture_stderr); `None` without.
    pub fn stderr_tail(&self) -> Option<String> {
        self.child
            .capture
            .as_ref()
            .map(super::capture::Capture::text)
    }

    /// The directory of the run's cgroup, when it has one.
    pub fn cgroup(&self) -> Option<&std::path::Path> {
        self.child.cgroup.as_ref().map(Cgroup::dir)
    }
}
