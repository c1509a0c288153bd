//! The man pages under `docs/man/` and the shell completions are generated from the command
//! line's own definitions; these tests fail when either falls behind an option.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use support::pidward;

/// The long options a `--help` text lists (`--name`, before any `=` or value).
fn long_options(help: &str) -> BTreeSet<String> {
    help.split_whitespace()
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| {
            w.trim_end_matches([',', '.', ')', ';'])
                .split(['=', '<', '[', ','])
                .next()
                .unwrap()
                .to_string()
        })
        .filter(|w| w.len() > 1 && w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .collect()
}

fn help_of(command: &str) -> String {
    let out = pidward().args([command, "--help"]).output().unwrap();
    assert!(out.status.success(), "{command} --help: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The names of the files in `dir`.
fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

#[test]
fn the_checked_in_man_pages_and_completions_are_what_the_options_generate() {
    let tmp = tempfile::tempdir().unwrap();
    let (man, completions) = (tmp.path().join("man"), tmp.path().join("completions"));
    let out = pidward()
        .arg("__man")
        .arg(&man)
        .arg("--completions")
        .arg(&completions)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let regen = "regenerate with `cargo run --features test-helpers -- __man docs/man \
                 --completions docs/completions`";
    for (fresh, kind) in [(&man, "man"), (&completions, "completions")] {
        let checked_in = docs.join(kind);
        assert_eq!(names(fresh), names(&checked_in), "{regen}");
        for name in names(fresh) {
            let want = std::fs::read(fresh.join(&name)).unwrap();
            let have = std::fs::read(checked_in.join(&name)).unwrap();
            assert!(want == have, "docs/{kind}/{name} is out of date: {regen}");
        }
    }
    for command in ["run", "status", "stop", "notify", "lock"] {
        let page = std::fs::read_to_string(docs.join(format!("man/pidward-{command}.1"))).unwrap();
        assert!(
            page.contains(".SH \"EXIT STATUS\""),
            "pidward-{command}.1 has no exit codes"
        );
    }
}

#[test]
fn man_renders_every_page_without_warnings() {
    if std::process::Command::new("man")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("man(1) is needed: apt-get install man-db");
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/man");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let out = std::process::Command::new("man")
            .arg("-l")
            .arg(&path)
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_STDERR", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {out:?}", path.display());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("NAME") && text.contains("SYNOPSIS"), "{text}");
        assert!(
            out.stderr.is_empty(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn completions_offer_every_option_and_parse_in_their_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = pidward().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {out:?}");
        let script = String::from_utf8(out.stdout).unwrap();
        for command in ["run", "status", "stop", "notify", "lock"] {
            for opt in long_options(&help_of(command)) {
                let spelled = match shell {
                    "fish" => format!("-l {opt}"),
                    _ => format!("--{opt}"),
                };
                assert!(
                    script.contains(&spelled),
                    "{shell}: no completion of {command} --{opt}"
                );
            }
        }
        // The script must parse in its own shell, where that shell is installed.
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), &script).unwrap();
        match std::process::Command::new(shell)
            .arg("-n")
            .arg(file.path())
            .output()
        {
            Ok(check) => assert!(check.status.success(), "{shell} -n: {check:?}"),
            Err(_) => assert_ne!(shell, "bash", "bash is always installed"),
        }
    }
    let out = pidward().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tcsh"));
}

#[test]
fn version_names_the_features_and_the_oldest_kernel() {
    let out = pidward().arg("--version").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(concat!("pidward ", env!("CARGO_PKG_VERSION")))
    );
    let features = lines.next().unwrap();
    assert!(features.starts_with("features: cli"), "{text}");
    // This suite is built with every feature.
    for f in ["etcd", "process"] {
        assert!(features.split_whitespace().any(|w| w == f), "{text}");
    }
    assert_eq!(lines.next(), Some("minimum kernel: Linux 5.4"));
    let short = pidward().arg("-V").output().unwrap();
    assert_eq!(
        String::from_utf8(short.stdout).unwrap(),
        concat!("pidward ", env!("CARGO_PKG_VERSION"), "\n")
    );
}
