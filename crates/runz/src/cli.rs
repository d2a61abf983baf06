//! runc's command line, as clap structs: the same commands, flags, defaults and spellings,
//! so that containerd's shim, conmon and podman can drive runz as they drive runc.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "runz",
    version,
    about = "Run OCI runtime-spec bundles: runc's command line, Linux namespaces and cgroups (illumos zones by design)",
    long_about = "runz executes an OCI runtime-spec bundle (a directory with config.json and a \
                  root filesystem) and nothing else. Its commands, flags, state JSON and exit \
                  codes are runc's, so podman (--runtime), conmon and containerd can use it.\n\n\
                  Lifecycle: create → start → (the process exits: stopped) → delete; `run` is \
                  create + start + wait + delete.\n\n\
                  Exit status: 0 success, 1 failure, 2 usage error; `run` and `exec` exit with \
                  the container process's status (128+N when signal N killed it).",
    after_help = "Logs: --log FILE (--log-format json for conmon and containerd), --debug, or RUST_LOG."
)]
pub struct Cli {
    /// Directory of container state (default /run/runz; $XDG_RUNTIME_DIR/runz when not root).
    #[arg(long, global = true, value_name = "DIR", env = "RUNZ_ROOT")]
    pub root: Option<PathBuf>,
    /// Write logs (and errors) to FILE as well as reporting errors on stderr.
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Log format: text or json (runc's {"level","msg","time"} lines).
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// Log debug messages.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Accepted for runc compatibility; cgroups are always managed through cgroupfs.
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// What runs the containers: linux (namespaces and cgroups; the default on Linux) or
    /// zones (illumos zones through zonecfg, zoneadm, zlogin and pkill; the default on
    /// illumos, and usable anywhere with --zone-tools, as runz's tests do with fakes).
    #[arg(long, global = true, value_name = "BACKEND", env = "RUNZ_BACKEND", default_value_t = BackendKind::host_default())]
    pub backend: BackendKind,
    /// zones backend: the directory holding zonecfg, zoneadm, zlogin and pkill (default: the
    /// system's; each can also be set by AURORA_ZONECFG, AURORA_ZONEADM, AURORA_ZLOGIN,
    /// AURORA_PKILL).
    #[arg(long, global = true, value_name = "DIR", env = "AURORA_ZONE_TOOLS")]
    pub zone_tools: Option<PathBuf>,
    /// Accepted for runc compatibility (auto, true or false).
    #[arg(long, global = true, value_name = "VALUE")]
    pub rootless: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// The runtime backends runz can drive.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    Linux,
    Zones,
}

impl BackendKind {
    /// The host's own: zones on illumos, Linux namespaces elsewhere.
    pub fn host_default() -> Self {
        if cfg!(target_os = "illumos") {
            BackendKind::Zones
        } else {
            BackendKind::Linux
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::Linux => "linux",
            BackendKind::Zones => "zones",
        })
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container from a bundle; its process waits for `start`.
    Create(Create),
    /// Start the process of a created container.
    Start(IdArg),
    /// Create, start and (unless --detach) wait for a container, then delete it.
    Run(Run),
    /// Print the state of a container as JSON (the runtime spec's state).
    State(IdArg),
    /// Send a signal (default TERM) to a container's init, or with --all to every process.
    Kill(Kill),
    /// Delete a stopped container (--force: kill it first).
    Delete(Delete),
    /// Run another process in a running container.
    Exec(Exec),
    /// List containers.
    #[command(visible_alias = "ls")]
    List(List),
    /// List the processes of a container.
    Ps(Ps),
    /// Freeze every process of a container.
    Pause(IdArg),
    /// Thaw a paused container.
    Resume(IdArg),
    /// Show a container's resource statistics.
    Events(Events),
    /// Change a running container's cgroup resources.
    Update(Update),
    /// Write a default config.json (runc spec's) into a bundle directory.
    Spec(Spec),
    /// Print what this runtime supports, as JSON (the runtime spec's features document).
    Features,
}

#[derive(Args, Debug)]
pub struct IdArg {
    /// The container's ID.
    pub id: String,
}

#[derive(Args, Debug, Clone)]
pub struct CreateFlags {
    /// The bundle directory (with config.json); default the current directory.
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Unix socket to send the pseudo-terminal's master to (process.terminal = true).
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Write the container's init PID to FILE.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot_root (for rootfs on a ramdisk).
    #[arg(long)]
    pub no_pivot: bool,
    /// Accepted for runc compatibility: no session keyring is created.
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N more file descriptors (3 onwards) to the container.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: i32,
    /// Run podinit as the container's first process (it reaps zombies and passes signals on).
    #[arg(long)]
    pub init: bool,
    /// The podinit binary for --init (default: podinit beside runz, then on PATH).
    #[arg(long, value_name = "PATH", requires = "init")]
    pub init_path: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct Create {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// The container's ID.
    pub id: String,
}

#[derive(Args, Debug)]
pub struct Run {
    #[command(flatten)]
    pub flags: CreateFlags,
    /// Return once the container has started, leaving it running.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container's state after it exits (delete it later with `delete`).
    #[arg(long)]
    pub keep: bool,
    /// The container's ID.
    pub id: String,
}

#[derive(Args, Debug)]
pub struct Kill {
    /// Signal every process in the container, not only its init.
    #[arg(short, long)]
    pub all: bool,
    /// The container's ID.
    pub id: String,
    /// Signal name or number (TERM, SIGKILL, 9, RTMIN+1).
    #[arg(default_value = "TERM")]
    pub signal: String,
}

#[derive(Args, Debug)]
pub struct Delete {
    /// Kill the container first if it is running; succeed if it does not exist.
    #[arg(short, long)]
    pub force: bool,
    /// The container's ID.
    pub id: String,
}

#[derive(Args, Debug)]
pub struct Exec {
    /// Unix socket to send the pseudo-terminal's master to (with --tty).
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE); repeatable.
    #[arg(short, long, value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub env: Vec<(String, String)>,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// User as UID[:GID].
    #[arg(short, long, value_name = "UID[:GID]", value_parser = parse_user)]
    pub user: Option<(u32, Option<u32>)>,
    /// More group IDs; repeatable.
    #[arg(short = 'g', long, value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// A process.json (the runtime spec's process object) to run instead of COMMAND.
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Return once the process has started.
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's PID to FILE.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// SELinux label of the process: ignored where SELinux is disabled, refused where it is
    /// enabled (runz applies no labels).
    #[arg(long, value_name = "LABEL")]
    pub process_label: Option<String>,
    /// Accepted for runc compatibility (AppArmor profile; not applied).
    #[arg(long, value_name = "PROFILE")]
    pub apparmor: Option<String>,
    /// Set no_new_privs for the process.
    #[arg(long)]
    pub no_new_privs: bool,
    /// Add a capability (CAP_NET_ADMIN); repeatable.
    #[arg(short, long, value_name = "CAP")]
    pub cap: Vec<String>,
    /// Pass N more file descriptors (3 onwards).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub preserve_fds: i32,
    /// Allow exec in a paused container.
    #[arg(long)]
    pub ignore_paused: bool,
    /// Run in this sub-cgroup of the container.
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<String>,
    /// The container's ID.
    pub id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct List {
    /// Output format: table or json.
    #[arg(short, long, default_value = "table")]
    pub format: ListFormat,
    /// Print only the IDs.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct Ps {
    /// Output format: table (ps(1)'s columns) or json (the PIDs).
    #[arg(short, long, default_value = "table")]
    pub format: ListFormat,
    /// The container's ID.
    pub id: String,
    /// Options for ps(1) in table format (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_options: Vec<String>,
}

#[derive(Args, Debug)]
pub struct Events {
    /// Seconds between statistics.
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    pub interval: u32,
    /// Print statistics once and exit.
    #[arg(long)]
    pub stats: bool,
    /// The container's ID.
    pub id: String,
}

#[derive(Args, Debug)]
pub struct Update {
    /// The runtime spec's linux.resources as JSON, from FILE or - for stdin.
    #[arg(short, long, value_name = "FILE")]
    pub resources: Option<PathBuf>,
    /// Memory limit in bytes.
    #[arg(long, value_name = "BYTES")]
    pub memory: Option<i64>,
    /// Memory + swap limit in bytes (-1: unlimited).
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<i64>,
    /// CPU shares (relative weight).
    #[arg(long, value_name = "N")]
    pub cpu_shares: Option<u64>,
    /// CPU CFS quota in microseconds per period (-1: none).
    #[arg(long, value_name = "US", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds.
    #[arg(long, value_name = "US")]
    pub cpu_period: Option<u64>,
    /// CPUs the container may use (0-3, 0,1).
    #[arg(long, value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    #[arg(long, value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes (-1: unlimited).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// The container's ID.
    pub id: String,
}

#[derive(Args, Debug)]
pub struct Spec {
    /// The bundle directory to write config.json into.
    #[arg(short, long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

fn parse_user(text: &str) -> Result<(u32, Option<u32>), String> {
    let number = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("{text:?} is not UID[:GID] (numbers only)"))
    };
    match text.split_once(':') {
        Some((uid, gid)) => Ok((number(uid)?, Some(number(gid)?))),
        None => Ok((number(text)?, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn conmon_style_create_parses() {
        let cli = Cli::try_parse_from([
            "runz",
            "--root",
            "/run/x",
            "--log",
            "/tmp/l",
            "--log-format=json",
            "--systemd-cgroup",
            "create",
            "--bundle",
            "/b",
            "--pid-file",
            "/p",
            "--no-new-keyring",
            "c1",
        ])
        .unwrap();
        assert_eq!(cli.log_format, LogFormat::Json);
        let Command::Create(create) = cli.command else {
            panic!()
        };
        assert_eq!(create.id, "c1");
        assert_eq!(create.flags.bundle, PathBuf::from("/b"));
    }

    #[test]
    fn exec_keeps_the_command_s_own_flags() {
        let cli =
            Cli::try_parse_from(["runz", "exec", "-e", "A=1", "-u", "5:6", "c1", "ls", "-la"])
                .unwrap();
        let Command::Exec(exec) = cli.command else {
            panic!()
        };
        assert_eq!(exec.command, ["ls", "-la"]);
        assert_eq!(exec.env, [("A".to_string(), "1".to_string())]);
        assert_eq!(exec.user, Some((5, Some(6))));
    }

    #[test]
    fn kill_defaults_to_term() {
        let cli = Cli::try_parse_from(["runz", "kill", "c1"]).unwrap();
        let Command::Kill(kill) = cli.command else {
            panic!()
        };
        assert_eq!(kill.signal, "TERM");
        assert!(Cli::try_parse_from(["runz", "exec", "-u", "root", "c1", "sh"]).is_err());
    }
}
