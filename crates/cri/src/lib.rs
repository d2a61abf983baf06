//! aurora-cri: the Container Runtime Interface server kubelet speaks to, entry point [`serve`].
//! `image`: ImageService on the imageadm store (list, status, pull with the request's
//! credentials, remove, filesystem usage); `runtime`: RuntimeService (version, status and
//! pod sandboxes, which are podadm pods (`pods`); containers are next). `streaming`: the
//! engine behind the streaming server (exec, attach, port-forward URLs; `aurora-cri-streaming`),
//! started beside the gRPC server.

mod containers;
mod error;
mod exec;
mod image;
mod pod_stats;
mod pods;
mod runtime;
mod security;
mod streaming;

use std::path::{Path, PathBuf};

use k8s_cri::v1::image_service_server::ImageServiceServer;
use k8s_cri::v1::runtime_service_server::RuntimeServiceServer;

pub use image::ImageApi;
pub use runtime::RuntimeApi;
pub use streaming::StreamingConfig;

/// What the server works on.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The image store (imageadm's `--root`).
    pub store_root: PathBuf,
    /// aurora.toml: insecure registries, limits.
    pub config_file: PathBuf,
    /// Registries spoken to over plain HTTP besides loopback ones and the config file's.
    pub insecure_registries: Vec<String>,
    /// The engine's run root (monitors, runtime state, network namespaces).
    pub run_root: PathBuf,
    /// podadm, which records a container's exit (the monitors' exit command).
    pub podadm: PathBuf,
    /// Pods' networks: the CNI conf dir and plugin dirs (`--cni-conf-dir`, `--cni-bin-dir`).
    pub cni: aurora_engine::CniOptions,
    /// The streaming server's address (default `127.0.0.1:0`); `serve` starts it.
    pub streaming: StreamingConfig,
}

/// Serves CRI v1 on the unix socket `socket` until `shutdown` resolves.
pub async fn serve(
    config: ServerConfig,
    socket: &Path,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // A socket left by a server that is gone is replaced; a live one refuses the bind below.
    if std::os::unix::net::UnixStream::connect(socket).is_err() {
        let _ = std::fs::remove_file(socket);
    }
    let listener = tokio::net::UnixListener::bind(socket)
        .with_context(|| format!("listening on {}", socket.display()))?;
    rustix::fs::chmod(socket, rustix::fs::Mode::from_raw_mode(0o660))
        .with_context(|| format!("chmod {}", socket.display()))?;
    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
    let streaming = streaming::start(&config)
        .await
        .context("starting the streaming server")?;
    tracing::info!("CRI v1 on {}", socket.display());
    let served = tonic::transport::Server::builder()
        .add_service(RuntimeServiceServer::new(RuntimeApi::new(config.clone())))
        .add_service(ImageServiceServer::new(ImageApi::new(config)))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .context("serving CRI");
    streaming.stop();
    let _ = std::fs::remove_file(socket);
    served
}
