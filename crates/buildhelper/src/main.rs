//! buildhelper: build steps beyond a shell, inside `imageadm build`'s build containers.
//! See the library documentation and docs/buildhelper.md.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use aurora_buildhelper::actions::{self, Added, NewAction};
use aurora_buildhelper::configmaps::{self, ConfigMapDef};
use aurora_buildhelper::extract::{self, ExtractOptions};
use aurora_buildhelper::rootfs::ImageRoot;
use aurora_buildhelper::services::{self, NewService};
use aurora_podinit::configmap::Format;
use aurora_podinit::services::RestartPolicyArg;
use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "Build steps beyond a shell, inside imageadm build's build containers";

const LONG_ABOUT: &str = "\
Build steps beyond a shell, inside imageadm build's build containers.

imageadm build mounts buildhelper read-only into every build container, on PATH. It runs
as the step's user, with / being the root of the image being built: what it writes becomes
part of the image.

  extract ARCHIVE DEST        unpack a tar (plain, gzip, xz, bzip2, zstd) or zip archive
                              under DEST, every path kept inside DEST
  action add NAME -- CMD...   a named action for `podinit action NAME`
                              (/etc/aurora/actions.json)
  service add NAME --exec CMD a service podinit starts (/etc/aurora/services.json), and
                              with --smf an illumos SMF manifest
                              (/var/svc/manifest/site/NAME.xml)
  configmap add NAME ...      a config map definition, rendered at start from data given
                              at run time (/etc/aurora/configmaps.json)

Every `add` replaces the entry of the same name, checks the whole file as podinit will read
it, and writes it atomically. `buildhelper COMMAND --help` explains each command.";

#[derive(Debug, Parser)]
#[command(name = "buildhelper", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Cli {
    /// The root of the image being built: `/` inside a build container; another directory
    /// to prepare an unpacked image from outside. The `add` commands write under it
    /// (symlinks resolved inside it); extract's DEST is an ordinary path.
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Unpack a tar or zip archive under DEST, safely
    #[command(long_about = EXTRACT_ABOUT)]
    Extract(ExtractArgs),
    /// Named actions that `podinit action NAME` runs
    #[command(subcommand)]
    Action(ActionCommand),
    /// Services podinit starts and supervises (and SMF manifests for them)
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Config map definitions: files podinit renders at start from run-time data
    #[command(subcommand)]
    Configmap(ConfigmapCommand),
}

const EXTRACT_ABOUT: &str = "\
Unpack a tar or zip archive under DEST, safely.

The format is told by the first bytes, not the name: tar, plain or compressed with gzip, xz,
bzip2 or zstd, and zip. ARCHIVE may be `-` for a tar on standard input. DEST is created if
missing.

Every path is resolved inside DEST by the kernel (openat2 RESOLVE_IN_ROOT): DEST's own
symlinks are followed as if DEST were /, and symlinks the archive creates are never
followed by its later entries. Absolute names, `..` components, hardlinks to anything not
already inside DEST, and entries whose data is shorter or longer than declared are refused
with an error naming the archive and the entry. Directories already in DEST keep their
owner and mode, and DEST itself is never changed.

Owners are kept (numeric ids) when run as root, unless --no-same-owner; modes and
modification times are kept. The declared sizes of all files together may not exceed
--max-bytes.";

#[derive(Debug, Args)]
struct ExtractArgs {
    /// The archive: a file, or `-` for a tar on standard input
    archive: PathBuf,
    /// The directory to unpack into (created if missing)
    dest: PathBuf,
    /// Remove the first N components of each name (as GNU tar counts them: `./` is one);
    /// entries left with nothing are skipped
    #[arg(long, value_name = "N", default_value_t = 0)]
    strip_components: usize,
    /// Leave every file owned by the user running buildhelper, even as root
    #[arg(long)]
    no_same_owner: bool,
    /// The most file data to write, in bytes or with a K, M, G or T suffix (powers of 1024)
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "16G")]
    max_bytes: u64,
}

#[derive(Debug, Subcommand)]
enum ActionCommand {
    /// Add or replace an action in /etc/aurora/actions.json
    #[command(long_about = ACTION_ABOUT)]
    Add(ActionAdd),
}

const ACTION_ABOUT: &str = "\
Add or replace an action in /etc/aurora/actions.json.

`podinit action NAME` runs it in the container, supervised, and exits with its status.
The command after `--` is kept word for word; CMD is looked up in PATH unless it has a `/`.
The action's environment is the one podinit was given, plus --env entries.

Example:
  buildhelper action add migrate --description 'apply migrations' -- /srv/app/bin/migrate --all";

#[derive(Debug, Args)]
struct ActionAdd {
    /// The action's name: 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit
    name: String,
    /// Free text for people reading the actions file
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    /// NAME=VALUE added to (or replacing in) podinit's environment; repeatable
    #[arg(long, value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// The absolute directory the action runs in (default: podinit's)
    #[arg(long, value_name = "DIR")]
    workdir: Option<String>,
    /// The command and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "CMD ARGS")]
    command: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// Add or replace a service in /etc/aurora/services.json
    #[command(long_about = SERVICE_ABOUT)]
    Add(ServiceAdd),
}

const SERVICE_ABOUT: &str = "\
Add or replace a service in /etc/aurora/services.json.

`podinit --services /etc/aurora/services.json` starts the services in dependency order,
each as its user with its environment and working directory, restarts them by their policy,
and stops them in reverse order on SIGTERM.

--exec is split into words as a shell splits them ('...', \"...\" and \\ quote), but nothing
is expanded, piped or redirected: say --exec \"sh -c '...'\" for that. --user (name or uid,
with :group or :gid) is resolved now, in the image's /etc/passwd and /etc/group. The
service's environment is --env plus PATH and HOME unless given. --depends-on names services
already added.

With --smf, /var/svc/manifest/site/NAME.xml describes the same service to illumos SMF
(svc:/site/NAME:default), for zones booted with svc.startd; a manifest from an earlier
--smf add of NAME is removed when --smf is not given.

Example:
  buildhelper service add web --exec '/usr/sbin/nginx -g \"daemon off;\"' \\
      --user www-data --depends-on app --restart always --smf";

#[derive(Debug, Args)]
struct ServiceAdd {
    /// The service's name: 1-63 letters, digits, '-', '_' or '.', starting with a letter or
    /// digit (with --smf: a letter)
    name: String,
    /// The command line, split into words like a shell's
    #[arg(long, value_name = "CMD", required = true)]
    exec: String,
    /// USER[:GROUP], names or numeric ids, resolved in the image (default: root)
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// NAME=VALUE in the service's environment; repeatable
    #[arg(long, value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// A service that must start first (and stop after this one); repeatable
    #[arg(long, value_name = "NAME")]
    depends_on: Vec<String>,
    /// no, always, on-failure[:N] or unless-stopped
    #[arg(long, value_name = "POLICY", value_parser = parse_restart, default_value = "no")]
    restart: RestartPolicyArg,
    /// The absolute directory the service runs in
    #[arg(long, value_name = "DIR")]
    workdir: Option<String>,
    /// Also write the SMF manifest /var/svc/manifest/site/NAME.xml
    #[arg(long)]
    smf: bool,
}

#[derive(Debug, Subcommand)]
enum ConfigmapCommand {
    /// Add or replace a config map definition in /etc/aurora/configmaps.json
    #[command(long_about = CONFIGMAP_ABOUT)]
    Add(ConfigmapAdd),
}

const CONFIGMAP_ABOUT: &str = "\
Add or replace a config map definition in /etc/aurora/configmaps.json.

A config map is a file podinit renders when the container starts, from key/values given at
run time: dotted keys become nested tables (server.port = 8080 → [server] port = 8080).
The image defines which file, in which format and with which mode; the data comes later.

Example:
  buildhelper configmap add app --format toml --path /etc/app/app.toml --mode 0640";

#[derive(Debug, Args)]
struct ConfigmapAdd {
    /// The config map's name: 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit
    name: String,
    /// The file's format
    #[arg(long, value_enum)]
    format: FormatArg,
    /// The absolute path of the rendered file in the container
    #[arg(long, value_name = "PATH")]
    path: String,
    /// The rendered file's mode, octal
    #[arg(long, value_name = "MODE", default_value = "0644")]
    mode: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Toml,
    Yaml,
    Json,
}

fn parse_restart(text: &str) -> Result<RestartPolicyArg, String> {
    text.parse::<RestartPolicyArg>().map_err(|e| e.to_string())
}

/// A size in bytes, or with a K, M, G or T suffix (powers of 1024; `KiB`, `kb`… accepted).
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, suffix) = t.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 16G, 512M, 1048576)"))?;
    let suffix = suffix.to_ascii_lowercase();
    let suffix = suffix.trim_end_matches('b').trim_end_matches('i');
    let shift = match suffix {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(format!("{text:?}: unknown size suffix (K, M, G or T)")),
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

fn verb(added: Added) -> &'static str {
    match added {
        Added::New => "added",
        Added::Replaced => "replaced",
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let open_root =
        || ImageRoot::open(&cli.root).with_context(|| format!("--root {}", cli.root.display()));
    match cli.command {
        Command::Extract(a) => {
            let options = ExtractOptions {
                strip_components: a.strip_components,
                same_owner: ExtractOptions::default().same_owner && !a.no_same_owner,
                max_bytes: a.max_bytes,
            };
            let report = extract::extract(&a.archive, &a.dest, &options).context("extract")?;
            for w in &report.warnings {
                eprintln!("buildhelper: warning: {w}");
            }
            if report.warning_count > report.warnings.len() as u64 {
                eprintln!(
                    "buildhelper: warning: {} more warnings",
                    report.warning_count - report.warnings.len() as u64
                );
            }
            println!(
                "extracted {} ({}) into {}: {} files ({} bytes), {} directories, {} symlinks, {} hardlinks, {} skipped",
                a.archive.display(),
                report.format,
                a.dest.display(),
                report.files,
                report.bytes,
                report.directories,
                report.symlinks,
                report.hardlinks,
                report.skipped
            );
        }
        Command::Action(ActionCommand::Add(a)) => {
            let root = open_root()?;
            let new = NewAction {
                name: a.name,
                args: a.command,
                env: a.env,
                cwd: a.workdir,
                description: a.description,
            };
            let added = actions::add_action(&root, &new)
                .with_context(|| format!("action add {}", new.name))?;
            println!(
                "{} action {} in {}",
                verb(added),
                new.name,
                actions::ACTIONS_PATH
            );
        }
        Command::Service(ServiceCommand::Add(a)) => {
            let root = open_root()?;
            let new = NewService {
                name: a.name,
                exec: a.exec,
                user: a.user,
                env: a.env,
                depends_on: a.depends_on,
                restart: a.restart,
                workdir: a.workdir,
                smf: a.smf,
            };
            let done = services::add_service(&root, &new)
                .with_context(|| format!("service add {}", new.name))?;
            println!(
                "{} service {} in {}",
                verb(done.added),
                new.name,
                services::SERVICES_PATH
            );
            if let Some(path) = done.manifest {
                println!("wrote SMF manifest {path}");
            }
            if let Some(path) = done.removed_manifest {
                println!("removed SMF manifest {path} (no --smf this time)");
            }
            for w in done.warnings {
                eprintln!("buildhelper: warning: {w}");
            }
        }
        Command::Configmap(ConfigmapCommand::Add(a)) => {
            let root = open_root()?;
            let context = || format!("configmap add {}", a.name);
            let mode = configmaps::parse_mode(&a.mode).with_context(context)?;
            let format = match a.format {
                FormatArg::Toml => Format::Toml,
                FormatArg::Yaml => Format::Yaml,
                FormatArg::Json => Format::Json,
            };
            let def = ConfigMapDef {
                path: a.path,
                format,
                mode,
            };
            let added = configmaps::add_configmap(&root, &a.name, def).with_context(context)?;
            println!(
                "{} config map {} in {}",
                verb(added),
                a.name,
                configmaps::CONFIGMAPS_PATH
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("buildhelper: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_buildhelper::extract::DEFAULT_MAX_BYTES;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("16G"), Ok(DEFAULT_MAX_BYTES));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert!(parse_size("G").is_err());
        assert!(parse_size("1X").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn parses_each_command() {
        let cli = Cli::try_parse_from([
            "buildhelper",
            "action",
            "add",
            "reload",
            "--env",
            "A=1",
            "--",
            "nginx",
            "-s",
            "reload",
        ])
        .unwrap();
        match cli.command {
            Command::Action(ActionCommand::Add(a)) => {
                assert_eq!(a.command, ["nginx", "-s", "reload"]);
                assert_eq!(a.env, ["A=1"]);
            }
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from([
            "buildhelper",
            "--root",
            "/img",
            "service",
            "add",
            "web",
            "--exec",
            "w -v",
            "--restart",
            "on-failure:3",
            "--depends-on",
            "db",
            "--depends-on",
            "cache",
            "--smf",
        ])
        .unwrap();
        assert_eq!(cli.root, PathBuf::from("/img"));
        match cli.command {
            Command::Service(ServiceCommand::Add(a)) => {
                assert_eq!(a.restart, RestartPolicyArg::OnFailure(Some(3)));
                assert_eq!(a.depends_on, ["db", "cache"]);
                assert!(a.smf);
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from([
            "buildhelper",
            "service",
            "add",
            "x",
            "--exec",
            "a",
            "--restart",
            "sometimes"
        ])
        .is_err());
        assert!(Cli::try_parse_from(["buildhelper", "action", "add", "x"]).is_err());
        let cli = Cli::try_parse_from([
            "buildhelper",
            "extract",
            "a.tgz",
            "/opt",
            "--strip-components",
            "1",
            "--max-bytes",
            "1M",
        ])
        .unwrap();
        match cli.command {
            Command::Extract(a) => {
                assert_eq!(
                    (a.strip_components, a.max_bytes, a.no_same_owner),
                    (1, 1 << 20, false)
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
