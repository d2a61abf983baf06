//! The remotecommand protocol (kubelet's `pkg/kubelet/cri/streaming/remotecommand`) for exec
//! and attach over SPDY: the client opens one stream per channel, told apart by their
//! `streamType` header (error, stdin, stdout, stderr, resize), all before any data; the
//! server runs the command with them and reports its end on the error stream — from
//! `v4.channel.k8s.io` on as a JSON `metav1.Status`, before that as plain text (nothing on
//! success).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::spdy::{RecvStream, SendStream, Session, Stream};
use crate::{RuntimeError, StreamingRuntime};

/// The versions served, best first.
pub(crate) const PROTOCOLS: &[&str] = &[
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
];

/// How long a finished connection waits for its client to close its side.
const GRACE_AFTER_END: Duration = Duration::from_secs(5);

/// The longest resize message taken (`{"Width":N,"Height":N}` is 30 bytes).
const MAX_RESIZE_LINE: usize = 4096;

/// A terminal's size as the client sends it on the resize stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct TerminalSize {
    #[serde(rename = "Width")]
    pub width: u16,
    #[serde(rename = "Height")]
    pub height: u16,
}

/// The client's channels as the runtime gets them: each is there when the request asked
/// for it (stderr never with a terminal; resize only with one).
pub struct Streams {
    pub stdin: Option<RecvStream>,
    pub stdout: Option<SendStream>,
    pub stderr: Option<SendStream>,
    pub resize: Option<mpsc::Receiver<TerminalSize>>,
    /// Cancelled when the client is gone: nobody reads the output or sends input any more.
    pub closed: CancellationToken,
}

/// What exec or attach came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    ExitCode(i32),
    Error(String),
}

/// What one connection is for.
pub(crate) enum Call {
    Exec(k8s_cri::v1::ExecRequest),
    Attach(k8s_cri::v1::AttachRequest),
}

#[derive(Default)]
struct Collected {
    error: Option<Stream>,
    stdin: Option<Stream>,
    stdout: Option<Stream>,
    stderr: Option<Stream>,
    resize: Option<Stream>,
    /// Streams of no known type or a second of one type: kept so they can be finished.
    extra: Vec<Stream>,
}

#[derive(Clone, Copy)]
struct Wanted {
    stdin: bool,
    stdout: bool,
    stderr: bool,
    resize: bool,
}

impl Collected {
    fn add(&mut self, stream: Stream) {
        let slot = match stream.headers.get("streamtype") {
            Some("error") => &mut self.error,
            Some("stdin") => &mut self.stdin,
            Some("stdout") => &mut self.stdout,
            Some("stderr") => &mut self.stderr,
            Some("resize") => &mut self.resize,
            _ => {
                self.extra.push(stream);
                return;
            }
        };
        if slot.is_some() {
            self.extra.push(stream);
        } else {
            *slot = Some(stream);
        }
    }

    fn complete(&self, wanted: Wanted) -> bool {
        self.error.is_some()
            && (!wanted.stdin || self.stdin.is_some())
            && (!wanted.stdout || self.stdout.is_some())
            && (!wanted.stderr || self.stderr.is_some())
            && (!wanted.resize || self.resize.is_some())
    }
}

/// Serves one upgraded exec or attach connection to its end.
pub(crate) async fn serve<R: StreamingRuntime>(
    mut session: Session,
    protocol: &'static str,
    call: Call,
    runtime: Arc<R>,
    creation_timeout: Duration,
) {
    let (stdin, stdout, stderr, tty) = match &call {
        Call::Exec(r) => (r.stdin, r.stdout, r.stderr, r.tty),
        Call::Attach(r) => (r.stdin, r.stdout, r.stderr, r.tty),
    };
    let wanted = Wanted {
        stdin,
        stdout,
        stderr: stderr && !tty,
        resize: tty && protocol != "v2.channel.k8s.io",
    };
    let mut got = Collected::default();
    let deadline = tokio::time::Instant::now() + creation_timeout;
    while !got.complete(wanted) {
        match tokio::time::timeout_at(deadline, session.accept()).await {
            Ok(Some(stream)) => got.add(stream),
            Ok(None) => return,
            Err(_) => {
                tracing::debug!("streaming: the client did not open its streams in time");
                if let Some(error) = got.error.as_mut() {
                    let message = "timed out waiting for the client to create streams";
                    let _ = error.send.write_all(message.as_bytes()).await;
                    let _ = error.send.shutdown().await;
                }
                session.finish(GRACE_AFTER_END).await;
                return;
            }
        }
    }
    let closed = session.closed();
    let resize = got.resize.take().map(|stream| {
        let (tx, rx) = mpsc::channel(8);
        tokio::spawn(read_sizes(stream.recv, tx));
        (stream.send, rx)
    });
    let (resize_send, resize_rx) = match resize {
        Some((send, rx)) => (Some(send), Some(rx)),
        None => (None, None),
    };
    let mut finish_later: Vec<SendStream> = resize_send.into_iter().collect();
    let stdin = got.stdin.take().map(|s| {
        finish_later.push(s.send);
        s.recv
    });
    let split = |s: Option<Stream>, finish: &mut Vec<SendStream>| {
        s.map(|s| {
            finish.push(s.send.another_handle());
            s.send
        })
    };
    let stdout_stream = split(got.stdout.take(), &mut finish_later);
    let stderr_stream = split(got.stderr.take(), &mut finish_later);
    let streams = Streams {
        stdin,
        stdout: stdout_stream,
        stderr: stderr_stream,
        resize: resize_rx,
        closed: closed.clone(),
    };
    let outcome = match call {
        Call::Exec(request) => match runtime.exec(request, streams).await {
            Ok(0) => Outcome::Success,
            Ok(code) => Outcome::ExitCode(code),
            Err(RuntimeError(message)) => Outcome::Error(message),
        },
        Call::Attach(request) => match runtime.attach(request, streams).await {
            Ok(()) => Outcome::Success,
            Err(RuntimeError(message)) => Outcome::Error(message),
        },
    };
    // The runtime's writes are queued ahead of these FINs: the client has all the output
    // before its streams end.
    for mut send in finish_later {
        let _ = send.shutdown().await;
    }
    for mut extra in got.extra {
        let _ = extra.send.shutdown().await;
    }
    if let Some(mut error) = got.error {
        let report = status_message(protocol, &outcome);
        if !report.is_empty() {
            let _ = error.send.write_all(&report).await;
        }
        let _ = error.send.shutdown().await;
    }
    session.finish(GRACE_AFTER_END).await;
}

/// Sizes from the resize stream: one JSON object a line (Go's json.Encoder).
async fn read_sizes(mut stream: RecvStream, tx: mpsc::Sender<TerminalSize>) {
    let mut line = Vec::new();
    while let Some(chunk) = stream.chunk().await {
        line.extend_from_slice(&chunk);
        while let Some(end) = line.iter().position(|&b| b == b'\n') {
            let text: Vec<u8> = line.drain(..=end).collect();
            match serde_json::from_slice::<TerminalSize>(&text) {
                Ok(size) => {
                    if tx.send(size).await.is_err() {
                        return;
                    }
                }
                Err(e) => tracing::debug!("streaming: a resize message was not understood: {e}"),
            }
        }
        if line.len() > MAX_RESIZE_LINE {
            tracing::debug!("streaming: a resize message was too long; sizes are ignored");
            return;
        }
    }
}

/// What the error stream carries at the end. v4 and later: a `metav1.Status` as kubelet
/// writes it (client-go reads the exit code from `details.causes[reason=ExitCode]`);
/// earlier: the error's text, nothing on success.
pub(crate) fn status_message(protocol: &str, outcome: &Outcome) -> Vec<u8> {
    let json = protocol == "v4.channel.k8s.io";
    let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    match (outcome, json) {
        (Outcome::Success, true) => br#"{"metadata":{},"status":"Success"}"#.to_vec(),
        (Outcome::Success, false) => Vec::new(),
        (Outcome::ExitCode(code), true) => format!(
            r#"{{"metadata":{{}},"status":"Failure","message":{},"reason":"NonZeroExitCode","details":{{"causes":[{{"reason":"ExitCode","message":"{code}"}}]}}}}"#,
            quote(&format!(
                "command terminated with non-zero exit code: error executing command, exit code {code}"
            ))
        )
        .into_bytes(),
        (Outcome::ExitCode(code), false) => {
            format!("command terminated with non-zero exit code: exit code {code}").into_bytes()
        }
        (Outcome::Error(message), true) => format!(
            r#"{{"metadata":{{}},"status":"Failure","message":{},"reason":"InternalError","details":{{"causes":[{{"message":{}}}]}},"code":500}}"#,
            quote(message),
            quote(message)
        )
        .into_bytes(),
        (Outcome::Error(message), false) => message.clone().into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_reports_success_and_exit_codes_as_kubelet_does() {
        let v4 = "v4.channel.k8s.io";
        assert_eq!(
            status_message(v4, &Outcome::Success),
            br#"{"metadata":{},"status":"Success"}"#
        );
        let failed = status_message(v4, &Outcome::ExitCode(3));
        assert_eq!(
            String::from_utf8(failed.clone()).unwrap(),
            r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command, exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#
        );
        let parsed: serde_json::Value = serde_json::from_slice(&failed).unwrap();
        assert_eq!(parsed["details"]["causes"][0]["message"], "3");
        let error = status_message(v4, &Outcome::Error("no \"such\" container".into()));
        let parsed: serde_json::Value = serde_json::from_slice(&error).unwrap();
        assert_eq!(parsed["status"], "Failure");
        assert_eq!(parsed["message"], "no \"such\" container");
        assert_eq!(parsed["code"], 500);
    }

    #[test]
    fn older_versions_report_text_and_nothing_on_success() {
        let v3 = "v3.channel.k8s.io";
        assert!(status_message(v3, &Outcome::Success).is_empty());
        assert_eq!(
            status_message(v3, &Outcome::ExitCode(2)),
            b"command terminated with non-zero exit code: exit code 2"
        );
        assert_eq!(status_message(v3, &Outcome::Error("gone".into())), b"gone");
    }
}
