//! [`Exec`]: the program a spawned child runs, and its arguments and environment.
//!
//! Prepared ([`Exec::prepare`]) into a [`Program`]: argv and envp as `CString`s with their
//! null-terminated pointer arrays, and every path `execve(2)` will try (the program itself if
//! it contains a `/`, else one per `PATH` entry), so that the child only walks arrays.
//!
//! An environment left as it is, in a caller known to be single-threaded, is not copied: the
//! child is given this process's own `environ`. A copy (through std's `vars_os`, which holds
//! std's environment lock while it reads) is what keeps a concurrent `set_var` in another
//! thread from freeing a string the child is about to hand to `execve(2)`; with no other
//! thread, and nothing between the preparation and the `execve` that changes the environment
//! (the caller is suspended while a `CLONE_VFORK` child runs), there is nothing to guard
//! against. The copy was a third of the instructions of a supervised spawn (callgrind,
//! docs/benchmarks.md).

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString, c_char};
use std::os::unix::ffi::OsStrExt;
use std::ptr;

use super::{Error, Step};

/// A program to run, found in `PATH` unless it contains a `/`, with its arguments and
/// environment.
///
/// `PATH` is the child's (when the environment given to the child has one), else the
/// parent's, else `/usr/bin:/bin`. The child's `argv[0]` is `program` as given, unless
/// [`arg0`](Exec::arg0) says otherwise.
///
/// ```
/// use pidward::child::{Exec, Setup};
///
/// let spawned = Setup::new().spawn(Exec::new("true").env("GREETING", "hello"))?;
/// # let _ = spawned;
/// # Ok::<(), pidward::child::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Exec {
    program: OsString,
    arg0: Option<OsString>,
    args: Vec<OsString>,
    env_clear: bool,
    env: BTreeMap<OsString, Option<OsString>>,
}

impl Exec {
    /// Runs `program`.
    pub fn new(program: impl AsRef<OsStr>) -> Exec {
        Exec {
            program: program.as_ref().to_owned(),
            arg0: None,
            args: Vec::new(),
            env_clear: false,
            env: BTreeMap::new(),
        }
    }

    /// The program as given.
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// The child's `argv[0]` (what `ps` shows, what a shell calls `$0`); the program is still
    /// found and executed by the name given to [`new`](Exec::new).
    pub fn arg0(&mut self, arg0: impl AsRef<OsStr>) -> &mut Exec {
        self.arg0 = Some(arg0.as_ref().to_owned());
        self
    }

    /// Adds one argument; any bytes but NUL arrive in the child unchanged.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Exec {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Exec
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the child (on top of the inherited environment,
    /// unless [`env_clear`](Exec::env_clear) was called).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Exec {
        self.env
            .insert(key.as_ref().to_owned(), Some(value.as_ref().to_owned()));
        self
    }

    /// Removes a variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Exec {
        self.env.insert(key.as_ref().to_owned(), None);
        self
    }

    /// Starts the child with an empty environment: variables set before this call are
    /// forgotten; the ones set after it are the child's whole environment.
    pub fn env_clear(&mut self) -> &mut Exec {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// Builds every string and pointer array the child needs; errors are [`Step::Command`].
    /// `single_threaded`: the caller has no other thread, and does not change its environment
    /// before the child has exec'd; an unchanged environment is then passed as it is.
    pub(crate) fn prepare(&self, single_threaded: bool) -> Result<Program, Error> {
        let mut argv = Vec::with_capacity(self.args.len() + 1);
        argv.push(match &self.arg0 {
            Some(arg0) => cstring("argv[0]", arg0)?,
            None => cstring("program", &self.program)?,
        });
        for arg in &self.args {
            argv.push(cstring("argument", arg)?);
        }
        let own_environ = single_threaded && !self.env_clear && self.env.is_empty();
        let (envp, path) = if own_environ {
            (Vec::new(), None)
        } else {
            self.environment()?
        };
        let candidates = candidates(&self.program, path)?;
        Ok(Program {
            argv_ptrs: pointers(&argv),
            envp_ptrs: if own_environ {
                Vec::new()
            } else {
                pointers(&envp)
            },
            candidate_ptrs: candidates.iter().map(|s| s.as_ptr()).collect(),
            _strings: [argv, envp, candidates],
        })
    }

    /// The child's environment as `KEY=VALUE` strings, and its `PATH`.
    ///
    /// Unchanged (nothing set, removed or cleared), it is this process's, copied in its own
    /// order without building a map; `PATH` is then the parent's, which [`candidates`] reads.
    ///
    /// Out of line: a command with this process's environment unchanged never builds one, and
    /// inlined, this code would lie among the code every start runs (docs/benchmarks.md,
    /// "Start-up: the read-only data first…").
    #[inline(never)]
    fn environment(&self) -> Result<(Vec<CString>, Option<OsString>), Error> {
        if !self.env_clear && self.env.is_empty() {
            let mut out = Vec::new();
            for (key, value) in std::env::vars_os() {
                out.push(entry(key, &value)?);
            }
            return Ok((out, None));
        }
        let mut env: BTreeMap<OsString, OsString> = if self.env_clear {
            BTreeMap::new()
        } else {
            std::env::vars_os().collect()
        };
        for (key, value) in &self.env {
            let bytes = key.as_bytes();
            if bytes.is_empty() || bytes.contains(&b'=') || bytes.contains(&0) {
                return Err(invalid(format!(
                    "environment variable name {key:?} is empty or contains '=' or NUL"
                )));
            }
            match value {
                Some(v) => env.insert(key.clone(), v.clone()),
                None => env.remove(key),
            };
        }
        let path = env.get(OsStr::new("PATH")).cloned();
        let mut out = Vec::with_capacity(env.len());
        for (key, value) in env {
            out.push(entry(key, &value)?);
        }
        Ok((out, path))
    }
}

/// `KEY=VALUE` as a C string, or an error naming the entry that contains a NUL byte.
fn entry(key: OsString, value: &OsStr) -> Result<CString, Error> {
    // One allocation, with room for the NUL that `CString::new` appends.
    let mut entry = Vec::with_capacity(key.len() + value.len() + 2);
    entry.extend_from_slice(key.as_bytes());
    entry.push(b'=');
    entry.extend_from_slice(value.as_bytes());
    CString::new(entry).map_err(|e| {
        invalid(format!(
            "environment entry {:?} contains a NUL byte",
            OsStr::from_bytes(&e.into_vec())
        ))
    })
}

/// An [`Exec`] ready for `execve(2)`: the strings and the pointer arrays into them.
#[derive(Debug)]
pub(crate) struct Program {
    argv_ptrs: Vec<*const c_char>,
    /// Empty when the child is given this process's own `environ`.
    envp_ptrs: Vec<*const c_char>,
    candidate_ptrs: Vec<*const c_char>,
    /// What the pointers point into (moving a `CString` does not move its bytes).
    _strings: [Vec<CString>; 3],
}

impl Program {
    pub(crate) fn argv(&self) -> *const *const c_char {
        self.argv_ptrs.as_ptr()
    }

    /// The environment for `execve(2)`: the prepared array, or this process's `environ`
    /// (read now, as the child reads it: `setenv(3)` may have moved it since the preparation).
    pub(crate) fn envp(&self) -> *const *const c_char {
        if self.envp_ptrs.is_empty() {
            // SAFETY: `environ` is the C library's; only the pointer is read. That no other
            // thread changes it meanwhile is the condition under which `prepare` chose it.
            unsafe { environ }
        } else {
            self.envp_ptrs.as_ptr()
        }
    }

    pub(crate) fn candidates(&self) -> &[*const c_char] {
        &self.candidate_ptrs
    }
}

unsafe extern "C" {
    /// The C library's environment: a null-terminated array of `KEY=VALUE` strings.
    static environ: *const *const c_char;
}

fn invalid(message: String) -> Error {
    Error::new(Step::Command, libc::EINVAL, message)
}

/// `value` as a C string, or an error naming what contained a NUL byte.
fn cstring(what: &str, value: &OsStr) -> Result<CString, Error> {
    CString::new(value.as_bytes())
        .map_err(|_| invalid(format!("{what} {value:?} contains a NUL byte")))
}

/// The paths to try for `program`: itself if it contains a `/`, else each `PATH` entry.
fn candidates(program: &OsStr, child_path: Option<OsString>) -> Result<Vec<CString>, Error> {
    let bytes = program.as_bytes();
    if bytes.is_empty() {
        return Err(invalid("the program name is empty".to_owned()));
    }
    if bytes.contains(&b'/') {
        return Ok(vec![cstring("program", program)?]);
    }
    let path = child_path
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    let mut out = Vec::with_capacity(path.as_bytes().iter().filter(|&&b| b == b':').count() + 1);
    for dir in path.as_bytes().split(|&b| b == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        // One allocation, with room for the NUL that `CString::new` appends.
        let mut full = Vec::with_capacity(dir.len() + bytes.len() + 2);
        full.extend_from_slice(dir);
        full.push(b'/');
        full.extend_from_slice(bytes);
        out.push(CString::new(full).map_err(|e| {
            let full = e.into_vec();
            invalid(format!(
                "program {:?} contains a NUL byte",
                OsStr::from_bytes(&full)
            ))
        })?);
    }
    Ok(out)
}

/// A null-terminated array of pointers into `strings`.
fn pointers(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(ptr::null()))
        .collect()
}
