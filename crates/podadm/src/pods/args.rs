//! `podadm pod …`: podman's pod verbs and flags.

use clap::{Args, Subcommand};

use crate::cli::Format;

#[derive(Debug, Subcommand)]
pub enum PodCommand {
    /// Create a pod (its infra container holds the shared namespaces); prints its id.
    Create(PodCreateArgs),
    /// Start pods: the infra first, then the others in creation order.
    Start {
        #[arg(required = true)]
        pods: Vec<String>,
    },
    /// Stop pods: their containers in reverse creation order, the infra last.
    Stop {
        /// Seconds to wait before SIGKILL (default: each container's stop timeout).
        #[arg(short = 't', long = "time", alias = "timeout")]
        time: Option<u32>,
        #[arg(required = true)]
        pods: Vec<String>,
    },
    /// Stop and start pods.
    Restart {
        #[arg(required = true)]
        pods: Vec<String>,
    },
    /// Send a signal to the running containers of pods.
    Kill {
        #[arg(short, long, default_value = "KILL")]
        signal: String,
        #[arg(required = true)]
        pods: Vec<String>,
    },
    /// Remove pods and their containers (refused while one runs, unless -f).
    Rm {
        /// Stop running containers first.
        #[arg(short, long)]
        force: bool,
        /// Every pod.
        #[arg(short, long)]
        all: bool,
        pods: Vec<String>,
    },
    /// List pods.
    #[command(alias = "ls", alias = "list")]
    Ps(PodPsArgs),
    /// Show a pod's configuration and state as JSON.
    Inspect {
        #[arg(short, long, value_enum, default_value_t = Format::Json)]
        format: Format,
        #[arg(required = true)]
        pods: Vec<String>,
    },
    /// The processes of a pod's running containers.
    Top { pod: String },
    /// The logs of a pod's containers (its infra's aside).
    Logs {
        /// Only this container of the pod.
        #[arg(short, long)]
        container: Option<String>,
        #[arg(long)]
        tail: Option<i64>,
        #[arg(short, long)]
        timestamps: bool,
        pod: String,
    },
    /// The resource use of pods' running containers.
    Stats {
        /// One sample, then exit (the only mode for now).
        #[arg(long, default_value_t = true)]
        no_stream: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        pods: Vec<String>,
    },
    /// Exit 0 if the pod exists, 1 if not.
    Exists { pod: String },
}

#[derive(Debug, Args)]
pub struct PodCreateArgs {
    #[arg(short, long)]
    pub name: Option<String>,
    /// [IP:][HOST:]CONTAINER[/tcp|udp], published on the pod's network.
    #[arg(short, long = "publish")]
    pub publish: Vec<String>,
    /// none, host, bridge or NAME[,NAME…].
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// The pod's hostname (default: its name).
    #[arg(long)]
    pub hostname: Option<String>,
    /// The namespaces its containers share: net, ipc, uts, pid (default net,ipc,uts).
    #[arg(long)]
    pub share: Option<String>,
    /// KEY=VALUE.
    #[arg(short, long)]
    pub label: Vec<String>,
    /// CPUs the pod's containers share (1.5 = one and a half).
    #[arg(long)]
    pub cpus: Option<String>,
    /// Memory the pod's containers share (bytes, or with b, k, m, g).
    #[arg(short, long)]
    pub memory: Option<String>,
    /// The infra container's name (default: the pod id's first 12 digits, then -infra).
    #[arg(long)]
    pub infra_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct PodPsArgs {
    /// Ids only.
    #[arg(short, long)]
    pub quiet: bool,
    /// Full ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// name=…, id=…, status=…, label=KEY[=VALUE].
    #[arg(short, long)]
    pub filter: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}
