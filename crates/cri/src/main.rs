//! `aurora-cri`: the CRI server binary (see the library).

use std::path::PathBuf;

use clap::Parser;

/// Aurora's CRI server: kubelet (and crictl, critest) speak CRI v1 to it over a unix socket.
#[derive(Debug, Parser)]
#[command(name = "aurora-cri", version)]
struct Args {
    /// The unix socket to listen on.
    #[arg(long, default_value = "/run/aurora/cri.sock")]
    listen: PathBuf,
    /// The image store (as imageadm's --root).
    #[arg(long, env = "AURORA_ROOT", default_value = "/var/lib/aurora")]
    root: PathBuf,
    /// The config file (insecure registries, limits).
    #[arg(long, env = "AURORA_CONFIG", default_value = "/etc/aurora/aurora.toml")]
    config: PathBuf,
    /// Where pods' and containers' run-time state lives.
    #[arg(long, default_value = "/run/aurora/cri")]
    runroot: PathBuf,
    /// podadm, which records containers' exits (default: beside aurora-cri).
    #[arg(long, env = "AURORA_PODADM")]
    podadm: Option<PathBuf>,
    /// Where the streaming server (exec, attach, port-forward) listens; port 0: one the
    /// kernel picks. Its URLs name this address (an unspecified one as loopback).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:0")]
    streaming_address: std::net::SocketAddr,
    /// A registry spoken to over plain HTTP (repeatable; loopback ones always are).
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    insecure_registries: Vec<String>,
    /// The CNI network configurations of pods (the first file is the default network).
    #[arg(long, value_name = "DIR", default_value = aurora_network_defaults::CONF_DIR)]
    cni_conf_dir: PathBuf,
    /// Where CNI plugin binaries are (repeatable or comma-separated; default
    /// /usr/lib/cni,/opt/cni/bin).
    #[arg(long = "cni-bin-dir", value_name = "DIR", value_delimiter = ',')]
    cni_bin_dirs: Vec<PathBuf>,
}

/// kubelet's and containerd's default places.
mod aurora_network_defaults {
    pub const CONF_DIR: &str = "/etc/cni/net.d";
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    aurora_cli::init_logging();
    let runtime = match aurora_cli::tokio_runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("aurora-cri: {}", aurora_cli::error_chain(&e));
            return std::process::ExitCode::FAILURE;
        }
    };
    let config = aurora_cri::ServerConfig {
        store_root: args.root,
        config_file: args.config,
        insecure_registries: args.insecure_registries,
        cni: aurora_engine::CniOptions {
            conf_dir: args.cni_conf_dir,
            bin_dirs: if args.cni_bin_dirs.is_empty() {
                aurora_engine::CniOptions::default().bin_dirs
            } else {
                args.cni_bin_dirs
            },
        },
        run_root: args.runroot,
        streaming: aurora_cri::StreamingConfig::new(args.streaming_address),
        podadm: args.podadm.unwrap_or_else(|| {
            std::env::current_exe()
                .map(|exe| exe.with_file_name("podadm"))
                .unwrap_or_else(|_| PathBuf::from("podadm"))
        }),
    };
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    match runtime.block_on(aurora_cri::serve(config, &args.listen, shutdown)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aurora-cri: {}", aurora_cli::error_chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
