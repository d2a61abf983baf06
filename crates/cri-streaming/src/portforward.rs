//! The port-forward protocol (`portforward.k8s.io`, kubelet's `streaming/portforward`): for
//! every connection it forwards, the client opens two streams carrying the same `port` and
//! `requestID` headers — `streamType: error`, then `streamType: data`. Once both are there
//! the runtime joins the data stream to the pod's port; a failure is written as text on the
//! error stream. Either stream's FIN from this side ends that forward; the connection
//! lives until the client closes it.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::spdy::{RecvStream, SendStream, Session, Stream};
use crate::{RuntimeError, StreamingRuntime};

pub(crate) const PROTOCOL: &str = "portforward.k8s.io";

/// Pairs waiting for their other half at once (a client opens them back to back).
const MAX_PENDING: usize = 64;

/// One forwarded connection's bytes: what the client sends, and the way back. Reading ends
/// at the client's FIN; shutting down sends this side's.
pub struct PortStream {
    recv: RecvStream,
    send: SendStream,
}

impl AsyncRead for PortStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.recv).poll_read(cx, buf)
    }
}

impl AsyncWrite for PortStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.send).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.send).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.send).poll_shutdown(cx)
    }
}

#[derive(Default)]
struct Pair {
    since: Option<Instant>,
    error: Option<Stream>,
    data: Option<Stream>,
}

/// The request a stream belongs to: its `requestID`; clients too old to send one are paired
/// as kubelet pairs them (the data stream follows its error stream, two ids on).
pub(crate) fn request_id(stream_id: u32, kind: &str, header: Option<&str>) -> String {
    match header {
        Some(id) => id.to_string(),
        None if kind == "data" => stream_id.saturating_sub(2).to_string(),
        None => stream_id.to_string(),
    }
}

/// The `port` header as a port: a number from 1 to 65535.
pub(crate) fn parse_port(header: Option<&str>) -> Result<u16, String> {
    let text = header.ok_or("the stream has no port header")?;
    match text.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("{text:?} is not a port")),
    }
}

/// Serves one upgraded port-forward connection until the client closes it.
pub(crate) async fn serve<R: StreamingRuntime>(
    mut session: Session,
    pod_sandbox_id: String,
    runtime: Arc<R>,
    creation_timeout: Duration,
) {
    let mut pending: HashMap<String, Pair> = HashMap::new();
    while let Some(stream) = session.accept().await {
        // A half that waited too long for its other half is given up.
        let now = Instant::now();
        let stale: Vec<String> = pending
            .iter()
            .filter(|(_, p)| p.since.is_some_and(|t| now - t > creation_timeout))
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            if let Some(pair) = pending.remove(&id) {
                reject(pair.error, "timed out waiting for the data stream").await;
                reject(pair.data, "").await;
            }
        }
        let kind = stream.headers.get("streamtype").unwrap_or("").to_string();
        if kind != "error" && kind != "data" {
            reject(Some(stream), "").await;
            continue;
        }
        let id = request_id(stream.id, &kind, stream.headers.get("requestid"));
        if !pending.contains_key(&id) && pending.len() >= MAX_PENDING {
            reject(Some(stream), "too many port-forward requests waiting").await;
            continue;
        }
        let pair = pending.entry(id.clone()).or_default();
        pair.since.get_or_insert(now);
        let slot = if kind == "error" {
            &mut pair.error
        } else {
            &mut pair.data
        };
        if slot.is_some() {
            reject(Some(stream), "").await;
            continue;
        }
        *slot = Some(stream);
        if pair.error.is_some() && pair.data.is_some() {
            if let Some(Pair {
                error: Some(error),
                data: Some(data),
                ..
            }) = pending.remove(&id)
            {
                let runtime = runtime.clone();
                let pod = pod_sandbox_id.clone();
                tokio::spawn(forward(runtime, pod, error, data));
            }
        }
    }
    for (_, pair) in pending {
        reject(pair.error, "").await;
        reject(pair.data, "").await;
    }
    session.finish(Duration::ZERO).await;
}

/// A stream not served: `message` on it (if any), then its FIN.
async fn reject(stream: Option<Stream>, message: &str) {
    if let Some(mut stream) = stream {
        if !message.is_empty() {
            let _ = stream.send.write_all(message.as_bytes()).await;
        }
        let _ = stream.send.shutdown().await;
    }
}

async fn forward<R: StreamingRuntime>(
    runtime: Arc<R>,
    pod: String,
    mut error: Stream,
    data: Stream,
) {
    let mut finisher = data.send.another_handle();
    let result = match parse_port(data.headers.get("port")) {
        Ok(port) => {
            let stream = PortStream {
                recv: data.recv,
                send: data.send,
            };
            runtime
                .port_forward(pod.clone(), port, stream)
                .await
                .map_err(|RuntimeError(message)| {
                    format!("error forwarding port {port} to pod {pod}: {message}")
                })
        }
        Err(message) => Err(message),
    };
    let _ = finisher.shutdown().await;
    if let Err(message) = result {
        tracing::debug!("streaming: {message}");
        let _ = error.send.write_all(message.as_bytes()).await;
    }
    let _ = error.send.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_pair_by_request_id_or_by_stream_id() {
        assert_eq!(request_id(1, "error", Some("7")), "7");
        assert_eq!(request_id(3, "data", Some("7")), "7");
        assert_eq!(request_id(5, "error", None), "5");
        assert_eq!(request_id(7, "data", None), "5");
        assert_eq!(request_id(1, "data", None), "0");
    }

    #[test]
    fn ports_are_checked() {
        assert_eq!(parse_port(Some("80")), Ok(80));
        assert_eq!(parse_port(Some("65535")), Ok(65535));
        assert!(parse_port(Some("0")).is_err());
        assert!(parse_port(Some("65536")).is_err());
        assert!(parse_port(Some("-1")).is_err());
        assert!(parse_port(None).is_err());
    }
}
