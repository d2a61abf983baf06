//! The HTTP side: one listener, `GET|POST /{exec,attach,portforward}/TOKEN`, the token
//! taken (once), the SPDY/3.1 upgrade checked and the stream protocol negotiated through
//! `X-Stream-Protocol-Version` (the client lists what it speaks; the first the server
//! serves is chosen and echoed), then `101 Switching Protocols` and the connection handed
//! to the protocol.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, CONNECTION, UPGRADE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::spdy::Session;
use crate::tokens::{Pending, TokenCache};
use crate::{portforward, remotecommand, Config, StreamingRuntime};

pub(crate) const PROTOCOL_HEADER: &str = "x-stream-protocol-version";
const ACCEPTED_HEADER: &str = "x-accepted-stream-protocol-versions";
const SPDY: &str = "SPDY/3.1";
/// How long a client has to send its request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Shared<R> {
    pub(crate) tokens: Arc<TokenCache>,
    pub(crate) runtime: Arc<R>,
    pub(crate) config: Config,
}

/// Accepts connections until the task is aborted.
pub(crate) async fn accept_loop<R: StreamingRuntime>(
    listener: TcpListener,
    shared: Arc<Shared<R>>,
) {
    let slots = Arc::new(Semaphore::new(shared.config.max_connections));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and the like pass; do not spin on them.
                tracing::warn!("streaming: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!("streaming: too many connections; {peer} refused");
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(route(request, shared)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            if let Err(e) = connection.await {
                tracing::debug!("streaming: connection from {peer}: {e}");
            }
            drop(permit);
        });
    }
}

fn plain(status: StatusCode, message: impl Into<String>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(message.into())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn route<R: StreamingRuntime>(
    mut request: Request<Incoming>,
    shared: Arc<Shared<R>>,
) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET or POST");
    }
    let path = request.uri().path().to_string();
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (Some(kind), Some(token)) = (parts.next(), parts.next()) else {
        return plain(StatusCode::NOT_FOUND, "no such streaming path");
    };
    if !matches!(kind, "exec" | "attach" | "portforward") {
        return plain(StatusCode::NOT_FOUND, "no such streaming path");
    }
    let Some(pending) = shared.tokens.take(token) else {
        return plain(
            StatusCode::NOT_FOUND,
            "the streaming token is unknown, used or expired",
        );
    };
    if pending.kind() != kind {
        return plain(
            StatusCode::NOT_FOUND,
            "the streaming token is for another call",
        );
    }
    if let Err(message) = check_upgrade(request.headers()) {
        return plain(StatusCode::BAD_REQUEST, message);
    }
    let served: &[&'static str] = match pending {
        Pending::PortForward(_) => &[portforward::PROTOCOL],
        _ => remotecommand::PROTOCOLS,
    };
    let offered = offered_protocols(request.headers());
    let protocol = match negotiate(&offered, served) {
        Some(protocol) => protocol,
        // Port-forward clients before protocol versions sent none (kubelet takes them).
        None if offered.is_empty() && matches!(pending, Pending::PortForward(_)) => served[0],
        None => {
            let mut response = plain(
                StatusCode::FORBIDDEN,
                format!(
                    "none of the stream protocols {offered:?} is served; this server speaks {}",
                    served.join(", ")
                ),
            );
            if let Ok(value) = HeaderValue::from_str(&served.join(", ")) {
                response.headers_mut().insert(ACCEPTED_HEADER, value);
            }
            return response;
        }
    };
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let upgraded = match upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::debug!("streaming: the upgrade failed: {e}");
                return;
            }
        };
        let session = Session::start(TokioIo::new(upgraded), shared.config.session);
        let runtime = shared.runtime.clone();
        let timeout = shared.config.stream_creation_timeout;
        match pending {
            Pending::Exec(r) => {
                let call = remotecommand::Call::Exec(r);
                remotecommand::serve(session, protocol, call, runtime, timeout).await
            }
            Pending::Attach(r) => {
                let call = remotecommand::Call::Attach(r);
                remotecommand::serve(session, protocol, call, runtime, timeout).await
            }
            Pending::PortForward(r) => {
                portforward::serve(session, r.pod_sandbox_id, runtime, timeout).await
            }
        }
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static(SPDY));
    headers.insert(PROTOCOL_HEADER, HeaderValue::from_static(protocol));
    response
}

/// `Connection` names `upgrade` and `Upgrade` is `SPDY/3.1` (both case-insensitively, as
/// apimachinery's upgrader checks them).
pub(crate) fn check_upgrade(headers: &HeaderMap) -> Result<(), String> {
    let connection_upgrade = headers.get_all(CONNECTION).iter().any(|v| {
        v.to_str()
            .unwrap_or("")
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    });
    if !connection_upgrade {
        return Err("the request must ask for a connection upgrade (Connection: Upgrade)".into());
    }
    let upgrade = headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !upgrade.trim().eq_ignore_ascii_case(SPDY) {
        return Err(format!(
            "unsupported upgrade {upgrade:?}: this server speaks {SPDY} (WebSocket is not served)"
        ));
    }
    Ok(())
}

/// Every protocol the client lists, in its order (several headers, or commas in one).
pub(crate) fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(PROTOCOL_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The first protocol the client offers that the server serves.
pub(crate) fn negotiate(offered: &[String], served: &[&'static str]) -> Option<&'static str> {
    offered
        .iter()
        .find_map(|o| served.iter().copied().find(|s| *s == o))
}

/// Where a listener at `local` is reached: an unspecified address (all interfaces) as the
/// loopback of its family.
pub(crate) fn reachable(local: SocketAddr) -> SocketAddr {
    let mut addr = local;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_first_offered_protocol_served_wins() {
        let h = headers(&[
            (PROTOCOL_HEADER, "v5.channel.k8s.io"),
            (PROTOCOL_HEADER, "v4.channel.k8s.io"),
            (PROTOCOL_HEADER, "v3.channel.k8s.io, v2.channel.k8s.io"),
        ]);
        let offered = offered_protocols(&h);
        assert_eq!(offered.len(), 4);
        assert_eq!(offered[3], "v2.channel.k8s.io");
        assert_eq!(
            negotiate(&offered, remotecommand::PROTOCOLS),
            Some("v4.channel.k8s.io")
        );
        let old = vec!["channel.k8s.io".to_string()];
        assert_eq!(negotiate(&old, remotecommand::PROTOCOLS), None);
        let pf = vec![portforward::PROTOCOL.to_string()];
        assert_eq!(
            negotiate(&pf, &[portforward::PROTOCOL]),
            Some(portforward::PROTOCOL)
        );
    }

    #[test]
    fn only_a_spdy_upgrade_is_taken() {
        assert!(check_upgrade(&headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "SPDY/3.1")
        ]))
        .is_ok());
        assert!(check_upgrade(&headers(&[
            ("connection", "keep-alive, upgrade"),
            ("upgrade", "spdy/3.1")
        ]))
        .is_ok());
        assert!(check_upgrade(&headers(&[("upgrade", "SPDY/3.1")])).is_err());
        let ws = check_upgrade(&headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
        ]));
        assert!(ws.unwrap_err().contains("WebSocket"));
    }

    #[test]
    fn unspecified_addresses_become_loopback() {
        let any: SocketAddr = "0.0.0.0:1234".parse().unwrap();
        assert_eq!(reachable(any).to_string(), "127.0.0.1:1234");
        let any6: SocketAddr = "[::]:99".parse().unwrap();
        assert_eq!(reachable(any6).to_string(), "[::1]:99");
        let given: SocketAddr = "10.0.0.1:80".parse().unwrap();
        assert_eq!(reachable(given), given);
    }
}
