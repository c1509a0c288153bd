//! Every command's `--help` ends with examples, after its exit-code paragraph.

mod support;
use support::pidward;

fn help(command: &str) -> String {
    let out = pidward().args([command, "--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{command}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn each_command_ends_with_two_or_three_examples_after_its_exit_codes() {
    for command in ["run", "status", "stop", "notify", "locks", "lock"] {
        let text = help(command);
        let (before, examples) = text
            .rsplit_once("Examples:\n")
            .unwrap_or_else(|| panic!("{command} --help has no examples:\n{text}"));
        assert!(
            before.contains("Exit codes") || before.contains("Exit status"),
            "{command}: the exit codes come before the examples:\n{text}"
        );
        let lines: Vec<&str> = examples.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(
            (2..=3).contains(&lines.len()),
            "{command}: {} example lines:\n{examples}",
            lines.len()
        );
        for line in lines {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(
                &words[..2],
                ["pidward", command],
                "{command}: an example of another command: {line}"
            );
            assert!(
                line.len() <= 100,
                "{command}: too wide for a terminal: {line}"
            );
        }
    }
}

#[test]
fn the_examples_use_options_that_exist() {
    // Each option an example uses is one the command's help lists.
    for command in ["run", "status", "stop", "notify", "locks", "lock"] {
        let text = help(command);
        let (options, examples) = text.rsplit_once("Examples:\n").unwrap();
        // pidward's own words: up to `--`, a pipe, `&&` or a comment (the rest is the
        // command's, or another program's); a description follows two spaces.
        let own = examples.lines().flat_map(|l| {
            let command = l.trim_start().split("  ").next().unwrap();
            command
                .split_whitespace()
                .skip(2)
                .take_while(|w| !matches!(*w, "--" | "|" | "&&" | "#"))
        });
        for word in own {
            if let Some(flag) = word.strip_prefix("--").filter(|f| !f.is_empty()) {
                let name = flag.split('=').next().unwrap();
                assert!(
                    options.contains(&format!("--{name}")),
                    "{command}: an example uses --{name}, which the help does not list"
                );
            } else if let Some(short) = word.strip_prefix('-').filter(|s| s.len() == 1) {
                assert!(
                    options.contains(&format!("-{short},"))
                        || options.contains(&format!("-{short} ")),
                    "{command}: an example uses -{short}, which the help does not list"
                );
            }
        }
    }
}
