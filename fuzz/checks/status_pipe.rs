//! Status-pipe messages (the daemon start-up report), written by the started process's own
//! writer ([`pidward::fuzzing::encode_status`]) and read by the launcher's reader
//! ([`pidward::fuzzing::read_status`]), **cut at every length**.
//!
//! Input: a list of messages, each chosen by a byte (`P` with a PID, `O`, `R`, `X`, `E` with
//! a step, a code and a detail, or raw chatter bytes). For every prefix of the stream, the
//! launcher's verdict must be what the complete messages say, and a message cut short never
//! reads as success: a cut `E` is a failure, any other cut message is as if it had not been
//! sent. A failure read whole names the step and code that were sent and the detail (cut by
//! the writer at a character boundary, marked `...`). With raw chatter in the stream, no
//! success is read without a complete `O`, `R` or `X` line.

use pidward::fuzzing::{StatusMessage, StatusOutcome, encode_status, read_status, steps};

/// The writer's line limit (`daemon::status::MESSAGE_MAX`).
const MESSAGE_MAX: usize = 256;

enum Sent<'a> {
    Message(StatusMessage<'a>),
    Raw(&'a [u8]),
}

fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(data.len());
    let (head, tail) = data.split_at(n);
    *data = tail;
    head
}

fn number(data: &mut &[u8]) -> u32 {
    let mut b = [0u8; 4];
    let head = take(data, 4);
    b[..head.len()].copy_from_slice(head);
    u32::from_le_bytes(b)
}

fn messages(mut data: &[u8]) -> Vec<Sent<'_>> {
    let mut out = Vec::new();
    while let Some((&kind, rest)) = data.split_first() {
        data = rest;
        if out.len() == 15 {
            break;
        }
        out.push(match kind % 6 {
            0 => Sent::Message(StatusMessage::Pid(number(&mut data))),
            1 => Sent::Message(StatusMessage::Started),
            2 => Sent::Message(StatusMessage::Ready),
            3 => Sent::Message(StatusMessage::Exec),
            4 => {
                let all = steps();
                let step =
                    all[usize::from(take(&mut data, 1).first().copied().unwrap_or(0)) % all.len()];
                let code = number(&mut data) as i32;
                let len = take(&mut data, 1).first().copied().unwrap_or(0);
                let detail = take(&mut data, usize::from(len));
                Sent::Message(StatusMessage::Failed { step, code, detail })
            }
            _ => {
                let len = take(&mut data, 1).first().copied().unwrap_or(0);
                Sent::Raw(take(&mut data, usize::from(len)))
            }
        });
    }
    out
}

pub fn check(data: &[u8]) {
    let sent = messages(data);
    let mut stream = Vec::new();
    let mut spans = Vec::new();
    for s in &sent {
        let bytes = match s {
            Sent::Message(m) => encode_status(m),
            Sent::Raw(raw) => raw.to_vec(),
        };
        if let Sent::Message(m) = s {
            assert!(
                bytes.len() <= MESSAGE_MAX && bytes.ends_with(b"\n"),
                "{m:?}: {bytes:?}"
            );
            assert_eq!(
                bytes.iter().filter(|&&b| b == b'\n').count(),
                1,
                "{m:?}: one line"
            );
        }
        spans.push((stream.len(), stream.len() + bytes.len()));
        stream.extend_from_slice(&bytes);
    }
    let chatter = sent.iter().any(|s| matches!(s, Sent::Raw(_)));
    for cut in 0..=stream.len() {
        let (pid, outcome) = read_status(&stream[..cut]);
        if chatter {
            weak(&stream[..cut], &outcome);
            continue;
        }
        let (want_pid, want) = model(&sent, &spans, cut);
        assert_eq!(
            pid,
            want_pid,
            "cut at {cut} of {:?}",
            String::from_utf8_lossy(&stream)
        );
        match (&outcome, &want) {
            (StatusOutcome::Failed(e), Want::Failed(Some((step, code, detail)))) => {
                assert_eq!((e.step(), e.code()), (*step, *code));
                expect_detail(e.detail(), detail);
            }
            (StatusOutcome::Failed(_), Want::Failed(None)) => {}
            (got, Want::Is(w)) if got == w => {}
            (got, w) => panic!(
                "cut at {cut} of {:?}: read {got:?}, want {w:?}",
                String::from_utf8_lossy(&stream)
            ),
        }
    }
}

#[derive(Debug)]
enum Want {
    Is(StatusOutcome),
    /// A failure: exactly this step, code and detail when read whole; any when cut.
    Failed(Option<(pidward::child::Step, i32, Vec<u8>)>),
}

fn model(sent: &[Sent<'_>], spans: &[(usize, usize)], cut: usize) -> (Option<u32>, Want) {
    let mut pid = None;
    let mut exec = false;
    for (s, &(start, end)) in sent.iter().zip(spans) {
        let Sent::Message(m) = s else { unreachable!() };
        if end > cut {
            if start < cut && matches!(m, StatusMessage::Failed { .. }) {
                return (pid, Want::Failed(None));
            }
            break;
        }
        match m {
            StatusMessage::Pid(p) => pid = Some(*p),
            StatusMessage::Started => return (pid, Want::Is(StatusOutcome::Started)),
            StatusMessage::Ready => return (pid, Want::Is(StatusOutcome::Ready)),
            StatusMessage::Exec => exec = true,
            StatusMessage::Failed { step, code, detail } => {
                return (pid, Want::Failed(Some((*step, *code, detail.to_vec()))));
            }
        }
    }
    let end = if exec {
        StatusOutcome::Execed
    } else {
        StatusOutcome::Silent
    };
    (pid, Want::Is(end))
}

/// The detail read is the detail sent (newlines as spaces), or a prefix of it marked `...`
/// that does not end in a broken character.
fn expect_detail(got: &str, sent: &[u8]) {
    let sent: Vec<u8> = sent
        .iter()
        .map(|&b| if b == b'\n' { b' ' } else { b })
        .collect();
    let whole = String::from_utf8_lossy(&sent);
    if got == whole {
        return;
    }
    let kept = got
        .strip_suffix("...")
        .unwrap_or_else(|| panic!("{got:?} is not {whole:?}"));
    assert!(
        whole.starts_with(kept) || std::str::from_utf8(&sent).is_err(),
        "{got:?} cut from {whole:?}"
    );
    if std::str::from_utf8(&sent).is_ok() {
        assert!(!kept.contains('\u{FFFD}'), "{got:?}: a character was split");
    }
}

/// With arbitrary bytes in the stream: success only on a complete line saying so.
fn weak(stream: &[u8], outcome: &StatusOutcome) {
    let complete = match stream.iter().rposition(|&b| b == b'\n') {
        Some(end) => &stream[..end],
        None => &[][..],
    };
    let has = |kind: &[u8]| {
        complete
            .split(|&b| b == b'\n')
            .any(|line| line.split(|&b| b == b' ').next() == Some(kind))
    };
    match outcome {
        StatusOutcome::Started => assert!(has(b"O"), "started without an O line"),
        StatusOutcome::Ready => assert!(has(b"R"), "ready without an R line"),
        StatusOutcome::Execed => assert!(has(b"X"), "exec without an X line"),
        StatusOutcome::Failed(_) | StatusOutcome::Silent => {}
    }
}
