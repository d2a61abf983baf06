//! aurora-cri-streaming: the CRI streaming server. Exec, Attach and PortForward answer with
//! a URL (`http://ADDR/exec/TOKEN`); the client (kubelet, crictl, critest: client-go) then
//! connects there and upgrades the connection to SPDY/3.1, over which this crate speaks
//! kubelet's remotecommand (`v4`…`v2.channel.k8s.io`) and port-forward
//! (`portforward.k8s.io`) protocols. WebSocket is not served: crictl v1.32 and critest use
//! SPDY unless told otherwise (`crictl --transport websocket`).
//!
//! The runtime behind it is a [`StreamingRuntime`]; [`StreamingServer::start`] binds the
//! listener and gives the handle the RPCs use ([`StreamingServer::get_exec`] and the rest).

mod portforward;
mod remotecommand;
mod server;
pub mod spdy;
mod tokens;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_cri::v1::{
    AttachRequest, AttachResponse, ExecRequest, ExecResponse, PortForwardRequest,
    PortForwardResponse,
};
use tokio::task::AbortHandle;

pub use portforward::PortStream;
pub use remotecommand::{Streams, TerminalSize};
pub use spdy::{RecvStream, SendStream, SessionLimits};
/// The type of [`Streams::closed`].
pub use tokio_util::sync::CancellationToken;

/// What the streams are run against.
pub trait StreamingRuntime: Send + Sync + 'static {
    /// Runs `request.cmd` in the container with the client's streams; its exit code.
    fn exec(
        &self,
        request: ExecRequest,
        streams: Streams,
    ) -> impl Future<Output = Result<i32, RuntimeError>> + Send;

    /// Joins the streams to the container's own until it exits or the client leaves.
    fn attach(
        &self,
        request: AttachRequest,
        streams: Streams,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;

    /// Joins `stream` to TCP `port` inside the pod's network namespace until both ends are
    /// done (shutting `stream` down sends the client its end).
    fn port_forward(
        &self,
        pod_sandbox_id: String,
        port: u16,
        stream: PortStream,
    ) -> impl Future<Output = Result<(), RuntimeError>> + Send;
}

/// A failure the runtime reports; its text goes to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuntimeError(pub String);

/// A request refused before any URL is given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Unavailable(String),
}

/// Starting the server failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the streaming server cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (default `127.0.0.1:0`: loopback, a port the kernel picks).
    pub address: SocketAddr,
    /// How long a URL stays valid (kubelet: one minute).
    pub token_ttl: Duration,
    /// URLs given and not yet used, at most.
    pub max_tokens: usize,
    /// How long a client may take to open its streams after the upgrade (kubelet: 30 s).
    pub stream_creation_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    pub session: SessionLimits,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            token_ttl: Duration::from_secs(60),
            max_tokens: 1024,
            stream_creation_timeout: Duration::from_secs(30),
            max_connections: 256,
            session: SessionLimits::default(),
        }
    }
}

/// The running server: what the RPCs need (cheap to clone).
#[derive(Clone)]
pub struct StreamingServer {
    tokens: Arc<tokens::TokenCache>,
    base_url: String,
    address: SocketAddr,
    accept: AbortHandle,
}

impl std::fmt::Debug for StreamingServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingServer")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl StreamingServer {
    /// Binds `config.address` and serves on the current tokio runtime until [`Self::stop`].
    pub async fn start<R: StreamingRuntime>(
        config: Config,
        runtime: R,
    ) -> Result<StreamingServer, ServeError> {
        let listener = tokio::net::TcpListener::bind(config.address)
            .await
            .map_err(|source| ServeError::Bind {
                address: config.address,
                source,
            })?;
        let address = listener.local_addr().map_err(|source| ServeError::Bind {
            address: config.address,
            source,
        })?;
        let tokens = Arc::new(tokens::TokenCache::new(config.token_ttl, config.max_tokens));
        let shared = Arc::new(server::Shared {
            tokens: tokens.clone(),
            runtime: Arc::new(runtime),
            config,
        });
        let accept = tokio::spawn(server::accept_loop(listener, shared)).abort_handle();
        Ok(StreamingServer {
            tokens,
            base_url: format!("http://{}", server::reachable(address)),
            address,
            accept,
        })
    }

    /// The address listened on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting connections (those under way run to their end).
    pub fn stop(&self) {
        self.accept.abort();
    }

    pub fn get_exec(&self, request: &ExecRequest) -> Result<ExecResponse, RequestError> {
        check_streams(
            &request.container_id,
            request.stdin,
            request.stdout,
            request.stderr,
            request.tty,
        )?;
        if request.cmd.is_empty() {
            return Err(RequestError::InvalidArgument("missing required cmd".into()));
        }
        let token = self.tokens.insert(tokens::Pending::Exec(request.clone()))?;
        Ok(ExecResponse {
            url: format!("{}/exec/{token}", self.base_url),
        })
    }

    pub fn get_attach(&self, request: &AttachRequest) -> Result<AttachResponse, RequestError> {
        check_streams(
            &request.container_id,
            request.stdin,
            request.stdout,
            request.stderr,
            request.tty,
        )?;
        let token = self
            .tokens
            .insert(tokens::Pending::Attach(request.clone()))?;
        Ok(AttachResponse {
            url: format!("{}/attach/{token}", self.base_url),
        })
    }

    pub fn get_port_forward(
        &self,
        request: &PortForwardRequest,
    ) -> Result<PortForwardResponse, RequestError> {
        if request.pod_sandbox_id.is_empty() {
            return Err(RequestError::InvalidArgument(
                "missing required pod_sandbox_id".into(),
            ));
        }
        let token = self
            .tokens
            .insert(tokens::Pending::PortForward(request.clone()))?;
        Ok(PortForwardResponse {
            url: format!("{}/portforward/{token}", self.base_url),
        })
    }
}

/// kubelet's checks of exec and attach requests.
fn check_streams(
    container_id: &str,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
) -> Result<(), RequestError> {
    if container_id.is_empty() {
        return Err(RequestError::InvalidArgument(
            "missing required container_id".into(),
        ));
    }
    if tty && stderr {
        // A terminal has one output: stderr cannot be told from stdout.
        return Err(RequestError::InvalidArgument(
            "tty and stderr cannot both be true".into(),
        ));
    }
    if !stdin && !stdout && !stderr {
        return Err(RequestError::InvalidArgument(
            "one of stdin, stdout, or stderr must be set".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
