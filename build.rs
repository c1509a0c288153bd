//! Build script: link the package's binaries with gcc's static unwinder (`-static-libgcc`).
//!
//! On `*-linux-gnu`, std asks the linker for `-lgcc_s`, the shared unwinder, even with
//! `panic = "abort"` (std's backtraces call `_Unwind_Backtrace`). Loading it costs every start
//! of `pidward` an extra library to map, relocate and search, and its constructor
//! (`__cpu_indicator_init`) runs `cpuid`, which a virtual machine traps: about 0.1 ms of a
//! `pidward lock F true` that is meant to cost what flock(1) costs, and 0.1 MB of a
//! supervisor's resident memory (docs/benchmarks.md). C programs avoid it with gcc's
//! `-static-libgcc`; rustc has no such switch without a fully static build (`crt-static`),
//! which glibc's NSS (user and group names) does not support.
//!
//! So, for the binaries only (`rustc-link-arg-bins`: the library and whatever links it are
//! untouched), a directory is put on the linker's search path in which `libgcc_s.so` is a
//! linker script naming gcc's static `libgcc_eh.a`. GNU ld searches `-L` directories in order,
//! before gcc's own, so `-lgcc_s` finds the script. Nothing is done when the target is not
//! linux-gnu, when cross-compiling, for a `crt-static` build, or when the C compiler cannot
//! name `libgcc_eh.a`: the binaries then link as rustc links them by default.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    if let Some(dir) = static_unwinder_dir() {
        println!("cargo:rustc-link-arg-bins=-L{}", dir.display());
    }
}

/// The directory holding the `libgcc_s.so` linker script, or `None` when it does not apply.
fn static_unwinder_dir() -> Option<PathBuf> {
    let var = |k: &str| env::var(k).unwrap_or_default();
    let linux_gnu = var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu";
    let crt_static = var("CARGO_CFG_TARGET_FEATURE")
        .split(',')
        .any(|f| f == "crt-static");
    if !linux_gnu || crt_static || var("TARGET") != var("HOST") {
        return None;
    }
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let archive = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    // gcc prints the bare name back when it does not have the file.
    if !out.status.success() || !archive.is_absolute() || !archive.is_file() {
        return None;
    }
    let dir = Path::new(&env::var_os("OUT_DIR")?).join("static-libgcc");
    std::fs::create_dir_all(&dir).ok()?;
    let script = format!(
        "/* pidward build.rs: -lgcc_s -> static unwinder */\nINPUT ( {} )\n",
        archive.display()
    );
    std::fs::write(dir.join("libgcc_s.so"), script).ok()?;
    Some(dir)
}
