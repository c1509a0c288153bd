//! The command line's fast path (the hot forms of `pidward run` and `pidward status`, parsed
//! without clap) agrees
//! with clap wherever it does not decline: `pidward __agree` (test helpers) parses each
//! argument vector with both and says `agree`, `declined` or `differ`.

mod support;

use std::io::Write;
use std::process::Stdio;

use support::pidward;

/// Each vector's verdict from `pidward __agree`, fed on stdin: one vector a line, its
/// arguments separated by tabs.
fn verdicts(vectors: &[Vec<String>]) -> Vec<String> {
    let mut child = pidward()
        .arg("__agree")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = String::new();
    for v in vectors {
        assert!(v.iter().all(|a| !a.contains(['\t', '\n'])), "{v:?}");
        input.push_str(&v.join("\t"));
        input.push('\n');
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), vectors.len(), "{out:?}");
    let differ: Vec<_> = vectors
        .iter()
        .zip(&lines)
        .filter(|(_, l)| !(*l == "agree" || *l == "declined"))
        .collect();
    assert!(differ.is_empty(), "the parsers differ: {differ:#?}");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    lines
}

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn the_hot_forms_are_parsed_by_the_fast_path_as_clap_parses_them() {
    let hot = [
        "run -- /bin/true",
        "run /bin/true",
        "run true --help",
        "run -- true -p x --exec",
        "run --exec -p /tmp/app.pid -- /bin/true",
        "run --exec --pidfile /tmp/app.pid /bin/true a b",
        "run --pidfile=/tmp/app.pid -d -- ./app --serve",
        "run -d --oknodo -p F -- sleep 10",
        "run --daemon --exec -p F sh -c exit",
        "run -l none -- /bin/true",
        "run --log=stderr --log /tmp/life.log -- /bin/true",
        "run -- -x",
        "run -- --",
        "run -p F -- cmd -- more",
        "run cmd -- more",
        "run -u app cmd",
        "run --restart always cmd",
        "run --restart on-failure --restart-delay 0.5 --restart-limit 5/60 -p F -- cmd",
        "run -o /var/log/app.log -e A=1 -e B= --env-file /etc/app.env -C /srv -- app",
        "run --stdout journal --stderr syslog:daemon.err -T app -- app",
        "run --kill-mode main --stop-schedule TERM/5/KILL -- app",
        "run --ready tcp:127.0.0.1:80 --ready-timeout 30 --ready-interval 0.2 -- app",
        "run --rlimit nofile=1024 --rlimit core=0:unlimited --umask 027 -- app",
        "run --watchdog 10 --watchdog-signal KILL --parent-death-signal none -- app",
        "run --success-status 0,3 --restart-prevent 2 --remap-exit 7 --remap-exit 9 -- app",
        "run --log-format json --log-level debug --log-mode 600 --output-max 10M:3 -- app",
        "run --output-timestamps --reopen-on HUP --signal-group --rewrite-signal TERM:INT -- app",
        "run --child-pidfile C --chroot / --clear-env -g root --output-mode 640 -- app",
        "run --follow-pidfile /run/app.pid --restart-jitter 0.1 --restart-reset 60 -- app",
        "run --restart-max-delay 30 --ready notify -- app",
        "status /run/app.pid",
        "status --json /run/app.pid",
        "status /run/app.pid --json",
        "status -n /run",
        "status --no-headings --json /run",
        "status /run/app.pid -n --json",
        "status help",
    ];
    let vectors: Vec<_> = hot.iter().map(|l| words(l)).collect();
    for (v, verdict) in vectors.iter().zip(verdicts(&vectors)) {
        assert_eq!(verdict, "agree", "{v:?} was declined");
    }
}

#[test]
fn other_forms_are_left_to_clap() {
    let other = [
        "run",
        "run --",
        "run -p",
        "run -p --",
        "run -p -x cmd",
        "run --pidfile= cmd",
        "run -p a -p b cmd",
        "run -d -d cmd",
        "run --exec=yes cmd",
        "run -dp F cmd",
        "run -pF cmd",
        "run --help",
        "run -h",
        "run --version",
        "run -u app -u other cmd",
        "run --restart always --restart no cmd",
        "run --restart sometimes cmd",
        "run -o a --stdout b cmd",
        "run --stderr b -o a cmd",
        "run --ready exec --follow-pidfile F cmd",
        "run --exec --exec cmd",
        "run --clear-env=1 cmd",
        "run -e NOEQUALS cmd",
        "run --remap-exit 256 cmd",
        "run --kill-mode all cmd",
        "run -C",
        "run -V",
        "run - cmd",
        "status",
        "status --json",
        "status a.pid b.pid",
        "status --json --json a.pid",
        "status -n -n a.pid",
        "status -nj a.pid",
        "status --json=yes a.pid",
        "status -- a.pid",
        "status --help a.pid",
        "status -x a.pid",
        "stop /run/app.pid",
        "--help",
        "help run",
        "runx cmd",
    ];
    let vectors: Vec<_> = other.iter().map(|l| words(l)).collect();
    for (v, verdict) in vectors.iter().zip(verdicts(&vectors)) {
        assert_eq!(verdict, "declined", "{v:?} was taken by the fast path");
    }
}

/// Every sequence of up to three tokens from a pool of options, values and commands, then
/// one of three tails: whatever the fast path takes, clap must parse to the same arguments.
#[test]
fn many_combinations_agree_or_are_declined() {
    let pool = [
        "-d",
        "--daemon",
        "--exec",
        "--oknodo",
        "-p",
        "--pidfile",
        "--pidfile=P",
        "-l",
        "none",
        "--log=none",
        "--",
        "cmd",
        "-x",
        "-u",
        "-o",
        "--stdout",
        "--restart=always",
        "--kill-mode",
        "-e",
        "A=1",
    ];
    let mut seqs: Vec<Vec<&str>> = vec![vec![]];
    let mut last = seqs.clone();
    for _ in 0..3 {
        last = last
            .iter()
            .flat_map(|s| pool.iter().map(move |t| [&s[..], &[*t]].concat()))
            .collect();
        seqs.extend(last.iter().cloned());
    }
    let mut vectors = Vec::new();
    for s in &seqs {
        for tail in [&[][..], &["prog"][..], &["prog", "-p", "x"][..]] {
            let v: Vec<String> = ["run"]
                .iter()
                .chain(s)
                .chain(tail)
                .map(|t| t.to_string())
                .collect();
            vectors.push(v);
        }
    }
    assert_eq!(vectors.len(), 3 * (1 + 20 + 20 * 20 + 20 * 20 * 20));
    let verdicts = verdicts(&vectors);
    let agreed = verdicts.iter().filter(|v| *v == "agree").count();
    assert!(agreed > 500, "only {agreed} of {} agreed", vectors.len());
    // An empty value, as its own argument (a tab-separated line cannot carry one).
    let out = pidward()
        .args(["__agree", "run", "-p", "", "cmd"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "declined\n",
        "{out:?}"
    );
}

/// The fast path's table of `run` options is clap's: every option, by the same names, each
/// taken the same way (a flag, once, or repeatedly).
#[test]
fn the_table_of_run_options_is_clap_s() {
    let out = pidward().args(["__agree", "__table"]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "the table agrees with clap\n",
        "{out:?}"
    );
    assert_eq!(out.status.code(), Some(0));
}

/// `status` with every sequence of up to four tokens from its flags, files and near misses.
#[test]
fn status_combinations_agree_or_are_declined() {
    let pool = [
        "--json",
        "-n",
        "--no-headings",
        "a.pid",
        "/run",
        "-x",
        "--",
        "-",
        "-nn",
        "--json=1",
    ];
    let mut vectors: Vec<Vec<String>> = vec![vec!["status".to_owned()]];
    let mut last = vectors.clone();
    for _ in 0..4 {
        last = last
            .iter()
            .flat_map(|v| {
                pool.iter()
                    .map(move |t| [&v[..], &[t.to_string()]].concat())
            })
            .collect();
        vectors.extend(last.iter().cloned());
    }
    assert_eq!(vectors.len(), 1 + 10 + 100 + 1000 + 10_000);
    let verdicts = verdicts(&vectors);
    let agreed = verdicts.iter().filter(|v| *v == "agree").count();
    // Taken: one of the 2 files, with --json at most once and one of -n / --no-headings at
    // most once, in any order: 2 x (1 + 2 + 2x2 + 3!x2) = 38. Everything else is declined.
    assert_eq!(agreed, 38, "of {} vectors", vectors.len());
}

/// The `pidward run` and `pidward status` examples of the README and the man pages.
#[test]
fn the_documented_examples_agree_or_are_declined() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut texts = vec![std::fs::read_to_string(format!("{root}/README.md")).unwrap()];
    for page in ["pidward-run.1", "pidward-status.1", "pidward.1"] {
        let man = std::fs::read_to_string(format!("{root}/docs/man/{page}")).unwrap();
        texts.push(man.replace("\\-", "-"));
    }
    let mut vectors = Vec::new();
    for text in &texts {
        for line in text.lines() {
            let line = line.trim_start_matches("$ ");
            let Some(rest) = line.strip_prefix("pidward ") else {
                continue;
            };
            // The command itself, before a comment, a pipe or a second command.
            let rest = rest.split("  ").next().unwrap();
            let rest = rest.split([';', '|', '#', '\'', '"', '&']).next().unwrap();
            if rest.starts_with("run ") || rest.starts_with("status ") {
                vectors.push(words(rest));
            }
        }
    }
    assert!(vectors.len() >= 15, "{vectors:?}");
    let verdicts = verdicts(&vectors);
    let agreed = vectors
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| *v == "agree")
        .count();
    assert!(agreed >= 2, "{vectors:?}: {verdicts:?}");
}
