//! An interactive conversation with a long-lived child: a shell that answers several requests.
//!
//! Each request is a shell command followed by a marker line; the reply is every line the shell
//! prints before the marker. The shell stays alive between requests (its variables persist),
//! and ends when its stdin is closed.
//!
//! Run with `cargo run --features process --example interactive`.

use pidward::process::{ChildFd, Command, Error};
use tokio::io::{AsyncBufReadExt, BufReader};

const MARKER: &str = "--end-of-reply--";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Pipes on stdin and stdout; stderr stays the terminal's (inherited, as by default).
    let mut shell = Command::new("sh")
        .stdin(ChildFd::Input)
        .stdout(ChildFd::Output)
        .env("GREETING", "hello")
        .kill_on_drop(true)
        .spawn()?;
    let mut replies = BufReader::new(shell.take_stdout().expect("stdout is a pipe")).lines();

    let requests = [
        "counter=0",
        "counter=$((counter + 1)); echo \"counter is $counter\"",
        "counter=$((counter + 1)); echo \"counter is $counter\"",
        "echo \"$GREETING from pid $$\"",
        "for word in one two three; do echo \"$word\"; done",
    ];
    for request in requests {
        println!("> {request}");
        shell
            .write_all(format!("{request}\necho {MARKER}\n").as_bytes())
            .await?;
        loop {
            match replies.next_line().await? {
                Some(line) if line == MARKER => break,
                Some(line) => println!("< {line}"),
                None => {
                    eprintln!("the shell closed its output early");
                    break;
                }
            }
        }
    }

    shell.close_stdin();
    let reason = shell.wait().await?;
    println!("shell ended: {reason}");
    Ok(())
}
