//! The crate and the Debian package carry what a user installs, and nothing else: the
//! published crate has no tests, fixtures or benchmark results, and the package, installed with
//! `dpkg -i`, gives a working `pidward`, its man pages, its completions and the recipes'
//! examples (a systemd unit that `systemd-analyze verify` accepts as installed).
//!
//! The install happens in a mount namespace of its own, with `/usr` and `/var` as overlays on
//! temp directories, so the machine running the test is left as it was.

use std::path::Path;
use std::process::Command;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_crate_carries_sources_licenses_and_docs_only() {
    let out = Command::new(env!("CARGO"))
        .args(["package", "--list", "--allow-dirty", "--manifest-path"])
        .arg(manifest_dir().join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let files = String::from_utf8(out.stdout).unwrap();
    for want in [
        "Cargo.toml",
        "README.md",
        "CHANGELOG.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "src/lib.rs",
        "src/bin/pidward/main.rs",
        "docs/man/pidward-run.1",
        "docs/completions/pidward.bash",
    ] {
        assert!(
            files.lines().any(|l| l == want),
            "{want} missing from the crate:\n{files}"
        );
    }
    for line in files.lines() {
        assert!(
            !["tests/", "bench/", "benches/", "fuzz/", "examples/", ".ci/"]
                .iter()
                .any(|p| line.starts_with(p)),
            "{line} should not be published"
        );
    }
}

#[test]
fn the_debian_package_installs_a_working_pidward_with_man_pages_and_completions() {
    let cargo_deb = Command::new(env!("CARGO"))
        .args(["deb", "--version"])
        .output();
    assert!(
        cargo_deb.is_ok_and(|o| o.status.success()),
        "cargo-deb is needed: cargo install cargo-deb"
    );
    let tmp = tempfile::tempdir().unwrap();
    let deb = tmp.path().join("pidward.deb");
    let out = Command::new(env!("CARGO"))
        .current_dir(manifest_dir())
        .args(["deb", "--quiet", "--output"])
        .arg(&deb)
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo deb: {out:?}");

    let list = Command::new("dpkg-deb")
        .arg("--contents")
        .arg(&deb)
        .output()
        .unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    for want in [
        "./usr/bin/pidward",
        "./usr/share/man/man1/pidward-run.1.gz",
        "./usr/share/man/man1/pidward-lock.1.gz",
        "./usr/share/bash-completion/completions/pidward",
        "./usr/share/zsh/vendor-completions/_pidward",
        "./usr/share/fish/vendor_completions.d/pidward.fish",
        "./usr/share/doc/pidward/copyright",
        "./usr/share/doc/pidward/examples/app.service",
        "./usr/share/doc/pidward/examples/init.d/app",
        "./usr/share/doc/pidward/examples/cron.d/backup",
    ] {
        assert!(
            list.contains(want),
            "{want} missing from the package:\n{list}"
        );
    }

    // Install it where nothing outside this namespace sees it.
    let page = Path::new("/usr/share/man/man1/pidward-run.1.gz");
    let page_before = page.exists();
    let script = r#"
        set -e
        t=$1 deb=$2
        for d in usr var; do
            mkdir -p "$t/$d-up" "$t/$d-work"
            mount -t overlay overlay -o "lowerdir=/$d,upperdir=$t/$d-up,workdir=$t/$d-work" "/$d"
        done
        dpkg -i "$deb" >/dev/null
        dpkg-query -W -f='${Status}\n' pidward
        /usr/bin/pidward --version
        MANWIDTH=80 man pidward-run 2>/dev/null | grep -c 'EXIT STATUS'
        bash -c '. /usr/share/bash-completion/completions/pidward && complete -p pidward'
        ex=/usr/share/doc/pidward/examples
        test -x $ex/init.d/app && test -f $ex/cron.d/backup
        # The installed unit names the installed binary and man page: systemd accepts it.
        if command -v systemd-analyze >/dev/null; then
            systemd-analyze verify $ex/app.service 2>&1
        fi
        echo examples
        dpkg -r pidward >/dev/null
        test ! -e /usr/bin/pidward && echo removed
    "#;
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(tmp.path())
        .arg(&deb)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("install ok installed"), "{text}");
    assert_eq!(
        lines.next(),
        Some(concat!("pidward ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(
        lines.next().is_some_and(|l| l.starts_with("features: cli")),
        "{text}"
    );
    assert_eq!(lines.next(), Some("minimum kernel: Linux 5.4"), "{text}");
    assert_eq!(
        lines.next(),
        Some("1"),
        "man pidward-run shows its exit codes: {text}"
    );
    assert!(
        lines.next().is_some_and(|l| l.contains("pidward")),
        "{text}"
    );
    assert_eq!(
        lines.next(),
        Some("examples"),
        "the examples are installed and systemd-analyze verify says nothing: {text}"
    );
    assert_eq!(lines.next(), Some("removed"), "{text}");
    // Nothing leaked out of the namespace.
    assert_eq!(
        page.exists(),
        page_before,
        "the install leaked out of its namespace"
    );
}
