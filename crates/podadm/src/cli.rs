//! The command line, as clap structs: podman's verbs and flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Images are those of imageadm's store (--root): `podadm run` pulls an image it lacks, and an
image pulled by either tool is seen by both. Containers are cloned from the image's layers
by the store's storage driver (zfs, btrfs, overlay or dir) and run by an OCI runtime (runz
by default; --runtime runc|crun|PATH), each under its own monitor (aurora-monitor), which
keeps its log and restarts it as its --restart policy says. There is no daemon.

State: ROOT/podadm/state.db (SQLite) with the containers, volumes under ROOT/podadm/volumes,
network definitions under ROOT/podadm/networks; runtime state under --runroot (/run/aurora),
which a reboot clears: containers then show as exited and start again.

Exit status (as podman's): run, start -a, wait and exec give the container's or process's
status; 125 when podadm itself fails, 126 when the command cannot be run, 127 when it is not
found.

Logging: RUST_LOG=debug on standard error.";

/// Run and manage containers with podman's command line, over Aurora's image store.
#[derive(Debug, Parser)]
#[command(name = "podadm", version, after_long_help = AFTER_HELP)]
pub struct Cli {
    /// The store (imageadm's OCI image layout, which also holds podadm's state) and its
    /// storage, config file and registry access.
    #[command(flatten)]
    pub store: aurora_cli::StoreArgs,

    /// Runtime state (monitors, OCI runtime state, network namespaces); a tmpfs.
    #[arg(
        long,
        global = true,
        env = "AURORA_RUNROOT",
        default_value = "/run/aurora"
    )]
    pub runroot: PathBuf,

    /// The OCI runtime for new containers: runz, runc, crun, or a path.
    #[arg(long, global = true, env = "AURORA_RUNTIME", default_value = "runz")]
    pub runtime: String,

    /// Container logs rotate past this many bytes (0: never).
    #[arg(long, global = true, default_value_t = 100 * 1024 * 1024, hide = true)]
    pub log_max_size: u64,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands whose work moves a process into a cgroup: a container's (run, create,
/// start, restart; a pod's infra with `pod start`, `kube play`) or an exec'd one.
const MOVING_PROCESSES: [&str; 6] = ["run", "create", "start", "restart", "exec", "play"];

/// Whether the arguments name one of [`MOVING_PROCESSES`], judged from the words alone
/// before clap parses them: only a hint to start the kernel's wait early, where a wrong guess
/// costs one short-lived fork and changes nothing else.
pub fn may_move_processes(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    args.into_iter()
        .any(|arg| MOVING_PROCESSES.iter().any(|word| arg == *word))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container from an image and start it (pulling the image if it is missing).
    Run(RunArgs),
    /// Create a container from an image, without starting it.
    Create(CreateCommand),
    /// Start containers (with -a, attached: its output, then its exit status).
    Start {
        /// Attach to its output (one container).
        #[arg(short, long)]
        attach: bool,
        /// Keep standard input attached (with -a).
        #[arg(short, long)]
        interactive: bool,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Stop containers: the stop signal, then SIGKILL after the timeout.
    Stop {
        /// Seconds to wait before SIGKILL (default: the container's --stop-timeout, 10).
        #[arg(short = 't', long = "time", alias = "timeout")]
        time: Option<u32>,
        /// Every running container.
        #[arg(short, long)]
        all: bool,
        containers: Vec<String>,
    },
    /// Stop and start containers.
    Restart {
        #[arg(short = 't', long = "time", alias = "timeout")]
        time: Option<u32>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Send a signal to containers' main processes.
    Kill {
        /// Name (KILL, SIGTERM) or number.
        #[arg(short, long, default_value = "KILL")]
        signal: String,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Remove containers.
    Rm {
        /// Stop running containers first (SIGKILL).
        #[arg(short, long)]
        force: bool,
        /// Remove their anonymous volumes too.
        #[arg(short, long)]
        volumes: bool,
        /// Every container.
        #[arg(short, long)]
        all: bool,
        /// With --force: seconds to wait after the stop signal before SIGKILL (default: the
        /// container's --stop-timeout, 10).
        #[arg(short = 't', long = "time")]
        time: Option<u32>,
        containers: Vec<String>,
    },
    /// List containers (running ones unless -a).
    #[command(alias = "ls")]
    Ps(PsArgs),
    /// Show a container's log.
    Logs(LogsArgs),
    /// Run a process in a running container.
    Exec(ExecArgs),
    /// Attach to a running container's input and output.
    Attach {
        /// Do not attach standard input.
        #[arg(long)]
        no_stdin: bool,
        container: String,
    },
    /// Show containers' configuration and state as JSON.
    Inspect {
        #[arg(short, long, value_enum, default_value_t = Format::Json)]
        format: Format,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Wait for containers to exit; prints their exit codes.
    Wait {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// The processes of a running container.
    Top { container: String },
    /// A container's published ports.
    Port {
        container: String,
        /// Only this container port (PORT[/PROTO]).
        port: Option<String>,
    },
    /// Change a container's limits.
    Update(UpdateArgs),
    /// Freeze containers' processes.
    Pause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Thaw containers' processes.
    Unpause {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Rename a container.
    Rename { container: String, name: String },
    /// Copy files between a container and the host: `cp CTR:PATH HOSTPATH` or
    /// `cp HOSTPATH CTR:PATH` (`-` for a tar stream on stdin/stdout).
    Cp { source: String, destination: String },
    /// Containers' resource use, sampled every --interval seconds until interrupted (or
    /// until none of the named containers runs).
    Stats {
        /// One sample, then exit.
        #[arg(long)]
        no_stream: bool,
        /// Seconds between samples.
        #[arg(short, long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
        interval: u64,
        #[arg(short, long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        containers: Vec<String>,
    },
    /// Show events (containers created, started, died, removed, …).
    Events {
        /// Print what has happened and exit, rather than follow.
        #[arg(long)]
        no_stream: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Only events of this container.
        #[arg(long)]
        filter: Vec<String>,
    },
    /// Remove every stopped container.
    Prune {
        #[arg(short, long)]
        force: bool,
    },
    /// Container commands under their podman names.
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Volumes.
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Networks.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Pods: containers that share namespaces, a network, a hostname and a cgroup parent.
    #[command(subcommand)]
    Pod(PodCommand),
    /// Kubernetes YAML: play Pods and Deployments (with their ConfigMaps and Secrets),
    /// take them down, generate a Pod from a pod or container.
    #[command(subcommand)]
    Kube(KubeCommand),
    /// The warm pool: sandboxes of an image kept ready for `run` to claim.
    #[command(subcommand)]
    Pool(PoolCommand),
}

#[derive(Debug, Subcommand)]
pub enum KubeCommand {
    /// Create (and start) the pods a YAML file describes; prints each pod's and its
    /// containers' ids.
    Play {
        /// The YAML file (`-`: standard input).
        file: PathBuf,
        /// Remove the file's pods instead (their named volumes stay).
        #[arg(long)]
        down: bool,
        /// Start the pods (init containers first, each to a successful exit).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        start: bool,
        /// The pods' network: none, bridge or NETWORK[,NETWORK…] (a pod with hostNetwork
        /// keeps the host's).
        #[arg(long)]
        network: Option<String>,
    },
    /// Remove the pods a YAML file describes (kube play --down).
    Down { file: PathBuf },
    /// Write a pod (or a container, as a pod of its own) as a Pod document.
    Generate {
        /// A pod's or container's name or id.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Keep SIZE sandboxes of IMAGE ready (0 removes them); `run` claims one when its
    /// container differs from the defaults only in what its process carries. With --pod,
    /// keep pods' infra sandboxes ready instead, which `pod create` claims for a pod on the
    /// pool's network that publishes no port.
    Set {
        #[arg(required_unless_present = "pod", conflicts_with = "pod")]
        image: Option<String>,
        /// A pool of pods' infra sandboxes (no image).
        #[arg(long)]
        pod: bool,
        #[arg(long)]
        size: u32,
        /// none, host, bridge or NETWORK[,NETWORK…] (the default network when not given).
        #[arg(long)]
        network: Option<String>,
    },
    /// List pools: image, network, size, ready and filling sandboxes.
    #[command(alias = "list")]
    Ls {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Remove pools and destroy their sandboxes (--pod: the pool of pods' infra sandboxes).
    Rm {
        #[arg(required_unless_present = "pod")]
        images: Vec<String>,
        #[arg(long)]
        pod: bool,
    },
    /// Fill the pools and finish what is to destroy (started detached by podadm).
    #[command(hide = true)]
    Refill,
}

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Remove every stopped container.
    Prune {
        #[arg(short, long)]
        force: bool,
    },
    /// What a monitor runs after its container's last exit (records it; removes --rm ones).
    #[command(hide = true)]
    Cleanup { container: String },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run in the background and print the container's id.
    #[arg(short, long)]
    pub detach: bool,
    #[command(flatten)]
    pub create: CreateCommand,
}

#[derive(Debug, Args)]
pub struct CreateCommand {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// The image.
    pub image: String,
    /// The command and its arguments (the image's Cmd when not given).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `create` and `run` flags.
#[derive(Debug, Args, Default)]
pub struct CreateFlags {
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Remove a container of the same --name first (stopped as `rm -f` stops it).
    #[arg(long)]
    pub replace: bool,
    #[arg(long)]
    pub name: Option<String>,
    /// NAME=VALUE, or NAME to take the value from podadm's environment.
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// A file of NAME=VALUE lines.
    #[arg(long)]
    pub env_file: Vec<PathBuf>,
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// USER[:GROUP], names or numbers.
    #[arg(short, long)]
    pub user: Option<String>,
    /// A command, or a JSON array, that replaces the image's entrypoint.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Allocate a terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Keep standard input open.
    #[arg(short, long)]
    pub interactive: bool,
    /// Run podinit as the container's init (reaps zombies, passes signals on).
    #[arg(long)]
    pub init: bool,
    #[arg(long)]
    pub hostname: Option<String>,
    #[command(flatten)]
    pub resolver: ResolverFlags,
    /// Mount the container's root read-only.
    #[arg(long)]
    pub read_only: bool,
    #[arg(long)]
    pub cap_add: Vec<String>,
    #[arg(long)]
    pub cap_drop: Vec<String>,
    /// Every capability, every device, no seccomp filter or masked paths.
    #[arg(long)]
    pub privileged: bool,
    /// Memory limit (bytes, or with b, k, m, g).
    #[arg(short, long)]
    pub memory: Option<String>,
    /// CPUs (1.5 = one and a half).
    #[arg(long)]
    pub cpus: Option<String>,
    /// Most processes (-1: unlimited).
    #[arg(long)]
    pub pids_limit: Option<i64>,
    /// NAME:/PATH[:OPTS], /HOST:/PATH[:ro,z], or /PATH (an anonymous volume).
    #[arg(short, long = "volume")]
    pub volume: Vec<String>,
    /// type=bind|volume|tmpfs,source=…,destination=…[,ro].
    #[arg(long)]
    pub mount: Vec<String>,
    /// /PATH[:OPTS].
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// [IP:][HOST:]CONTAINER[/tcp|udp].
    #[arg(short, long = "publish")]
    pub publish: Vec<String>,
    /// none, host, bridge, NAME[,NAME…], or container:NAME.
    #[arg(long, alias = "net")]
    pub network: Option<String>,
    /// no, on-failure[:N], always, unless-stopped.
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(long)]
    pub stop_signal: Option<String>,
    #[arg(long)]
    pub stop_timeout: Option<u32>,
    /// KEY=VALUE.
    #[arg(short, long)]
    pub label: Vec<String>,
    /// Join this pod (name or id): its network, hostname and shared namespaces.
    #[arg(long)]
    pub pod: Option<String>,
    /// Pull the image: missing (default), always, never.
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Print nothing while pulling.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Every container, not only running ones.
    #[arg(short, long)]
    pub all: bool,
    /// Ids only.
    #[arg(short, long)]
    pub quiet: bool,
    /// Full ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// status=…, name=…, id=…, label=KEY[=VALUE], ancestor=IMAGE, exited=CODE.
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Show each container's pod (POD ID and PODNAME columns).
    #[arg(short, long)]
    pub pod: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// The N containers created last, whatever their state.
    #[arg(short = 'n', long)]
    pub last: Option<usize>,
    /// The container created last, whatever its state (as `--last 1`).
    #[arg(short, long)]
    pub latest: bool,
    /// Leave the table's header line out.
    #[arg(long)]
    pub noheading: bool,
    /// Order of the containers: newest first (created, runningfor), or by command, id,
    /// image, names or status.
    #[arg(long, value_enum, default_value_t = PsSort::Created)]
    pub sort: PsSort,
}

/// `ps --sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PsSort {
    Command,
    Created,
    Id,
    Image,
    Names,
    Runningfor,
    Status,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing new output until the container exits.
    #[arg(short, long)]
    pub follow: bool,
    /// Only output since this time (RFC 3339, or a duration like 10m).
    #[arg(long)]
    pub since: Option<String>,
    /// Only output until this time.
    #[arg(long)]
    pub until: Option<String>,
    /// Only the last N lines.
    #[arg(long)]
    pub tail: Option<i64>,
    /// Show timestamps.
    #[arg(short, long)]
    pub timestamps: bool,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[arg(short, long)]
    pub interactive: bool,
    #[arg(short, long)]
    pub tty: bool,
    #[arg(short, long)]
    pub detach: bool,
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    #[arg(short, long)]
    pub user: Option<String>,
    #[arg(short, long)]
    pub workdir: Option<String>,
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[arg(short, long)]
    pub memory: Option<String>,
    #[arg(long)]
    pub cpus: Option<String>,
    #[arg(long)]
    pub pids_limit: Option<i64>,
    pub container: String,
}

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a named volume.
    Create {
        name: Option<String>,
        #[arg(short, long)]
        label: Vec<String>,
    },
    /// List volumes.
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Show volumes as JSON.
    Inspect(NamesArgs),
    /// Remove volumes (refused while a container uses one, unless -f removes it too).
    Rm(RemoveArgs),
    /// Remove every volume no container uses.
    Prune {
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a bridge network.
    Create {
        name: String,
        /// CIDR, e.g. 10.99.5.0/24 (a free one when not given).
        #[arg(long)]
        subnet: Option<String>,
        #[arg(long)]
        gateway: Option<String>,
        /// No route out of the network.
        #[arg(long)]
        internal: bool,
        /// No name resolution between its containers.
        #[arg(long)]
        disable_dns: bool,
        #[arg(long)]
        label: Vec<String>,
    },
    /// List networks.
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Show networks as JSON.
    Inspect(NamesArgs),
    /// Remove networks (refused while containers use them, unless -f removes those).
    Rm(RemoveArgs),
}

/// `ls` of volumes and networks.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Names only.
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `inspect` of volumes and networks.
#[derive(Debug, Args)]
pub struct NamesArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `rm` of volumes and networks: refused while containers use one, unless forced (which
/// removes those containers first).
#[derive(Debug, Args)]
pub struct RemoveArgs {
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `podadm pod …`: podman's pod verbs and flags.
#[derive(Debug, Subcommand)]
pub enum PodCommand {
    /// Create a pod (its infra container holds the shared namespaces); prints its id.
    Create(Box<PodCreateArgs>),
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
    /// Pause the running containers of pods (the infra too).
    Pause {
        #[arg(required = true)]
        pods: Vec<String>,
    },
    /// Resume the paused containers of pods.
    Unpause {
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
    /// The resource use of pods' running containers, sampled every --interval seconds until
    /// interrupted (or until none of the named pods' containers runs).
    Stats {
        /// One sample, then exit.
        #[arg(long)]
        no_stream: bool,
        /// Seconds between samples.
        #[arg(short, long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
        interval: u64,
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
    #[command(flatten)]
    pub resolver: ResolverFlags,
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
    /// Remove a pod of the same --name first, with its containers (as `pod rm -f`).
    #[arg(long)]
    pub replace: bool,
}

/// How names resolve in the container (`run`, `create`, `pod create`): resolv.conf's
/// servers, search domains and options instead of the network's and the host's, and more
/// lines of /etc/hosts.
#[derive(Debug, Default, Args)]
pub struct ResolverFlags {
    /// A name server's address. Repeatable.
    #[arg(long = "dns", value_name = "IP")]
    pub servers: Vec<String>,
    /// A search domain. Repeatable.
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    pub search: Vec<String>,
    /// A resolver option (ndots:2, …). Repeatable.
    #[arg(long = "dns-option", value_name = "OPTION")]
    pub options: Vec<String>,
    /// NAME[;NAME…]:IP, a line of /etc/hosts. Repeatable.
    #[arg(long = "add-host", value_name = "NAME:IP")]
    pub add_host: Vec<String>,
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
    /// Show the ids of each pod's containers (instead of their number).
    #[arg(long)]
    pub ctr_ids: bool,
    /// Show the names of each pod's containers (instead of their number).
    #[arg(long)]
    pub ctr_names: bool,
    /// Show the states of each pod's containers (instead of their number).
    #[arg(long)]
    pub ctr_status: bool,
    /// Leave the table's header line out.
    #[arg(long)]
    pub noheading: bool,
    /// Order of the pods: newest first (created), or by id, name or number of containers.
    #[arg(long, value_enum, default_value_t = PodSort::Created)]
    pub sort: PodSort,
}

/// `pod ps --sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PodSort {
    Created,
    Id,
    Name,
    Number,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<std::ffi::OsString> {
        line.split_whitespace().map(Into::into).collect()
    }

    #[test]
    fn commands_that_start_processes_are_recognised_before_parsing() {
        for line in [
            "run --rm alpine true",
            "--root /r --runroot /rr run -d img",
            "pod start web",
            "kube play pod.yaml",
            "exec -it c sh",
            "restart c",
        ] {
            assert!(may_move_processes(words(line)), "{line}");
        }
        for line in [
            "ps -a",
            "rm -f c",
            "pod rm web",
            "logs c",
            "images",
            "--root /run ps",
        ] {
            assert!(!may_move_processes(words(line)), "{line}");
        }
    }
}
