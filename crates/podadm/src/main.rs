//! `podadm`: podman's command line over `aurora-engine`.

mod attach;
mod cli;
mod containers;
mod flags;
mod kube;
mod logs;
mod pods;
mod pool;
mod resources;
mod run;
mod stats;
mod views;

use std::process::ExitCode;

use anyhow::Result;
use aurora_engine::{Engine, EngineError, EngineOptions};
use clap::Parser;

use cli::{Cli, Command, ContainerCommand};

/// podman's status for its own failures.
const PODADM_FAILED: u8 = 125;
/// The container's command exists but cannot be run.
const CANNOT_RUN: u8 = 126;
/// The container's command does not exist.
const NOT_FOUND: u8 = 127;

fn main() -> ExitCode {
    // Parsing podadm's arguments takes about a millisecond; a command that will move a
    // process into a cgroup starts the kernel's wait for that before it (see aurora_cgroups).
    if cli::may_move_processes(std::env::args_os().skip(1)) {
        aurora_cgroups::start_grace_period();
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    aurora_cli::init_logging();
    match run_command(&cli) {
        Ok(status) => ExitCode::from(status),
        Err(error) => {
            eprintln!("Error: {}", aurora_cli::error_chain(&error));
            ExitCode::from(exit_code(&error))
        }
    }
}

/// podman's verbs for images, which are imageadm's here, with imageadm's verb for each.
const IMAGE_VERBS: [(&str, &str); 11] = [
    ("images", "images"),
    ("image", "images"),
    ("pull", "pull"),
    ("push", "push"),
    ("rmi", "rm"),
    ("tag", "tag"),
    ("build", "build"),
    ("commit", "commit"),
    ("login", "login"),
    ("logout", "logout"),
    ("save", "copy"),
];

/// Help and version to stdout (0); a bad command line to stderr with podman's 125, and a
/// pointer to imageadm for podman's image verbs.
fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    let _ = error.print();
    if error.kind() == ErrorKind::InvalidSubcommand {
        if let Some(ContextValue::String(verb)) = error.get(ContextKind::InvalidSubcommand) {
            if let Some((_, imageadm_verb)) = IMAGE_VERBS.iter().find(|(v, _)| v == verb) {
                eprintln!(
                    "Images are imageadm's, over the same store: `imageadm {imageadm_verb} …` \
                     (with podadm's --root); `podadm run` pulls an image it lacks."
                );
            }
        }
    }
    ExitCode::from(PODADM_FAILED)
}

/// 126 or 127 when the container's command could not be run or found (as podman tells
/// them apart: from the runtime's message), else 125.
fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        // podman: a working directory the container lacks cannot be entered (126).
        if let Some(EngineError::Spec(spec)) = cause.downcast_ref::<EngineError>() {
            if let aurora_engine::SpecError::MissingWorkdir { .. } = **spec {
                return CANNOT_RUN;
            }
        }
        let message = match cause.downcast_ref::<EngineError>() {
            Some(EngineError::StartFailed { message, .. })
            | Some(EngineError::Runtime { message, .. }) => message.to_lowercase(),
            _ => continue,
        };
        if message.contains("permission denied")
            || message.contains("is a directory")
            || message.contains("correct permission")
        {
            return CANNOT_RUN;
        }
        if message.contains("no such file")
            || message.contains("not found")
            || message.contains("executable file not found")
        {
            return NOT_FOUND;
        }
    }
    PODADM_FAILED
}

/// Opens the engine as the global flags say.
pub fn engine(cli: &Cli) -> Result<Engine> {
    let podadm = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "podadm".into());
    let root = std::path::absolute(&cli.store.root)?;
    let runroot = std::path::absolute(&cli.runroot)?;
    let mut exit_command = vec![
        podadm,
        "--root".into(),
        root.display().to_string(),
        "--runroot".into(),
        runroot.display().to_string(),
    ];
    if let Some(storage) = &cli.store.storage {
        exit_command.extend(["--storage".into(), storage.clone()]);
    }
    if let Some(dataset) = &cli.store.zfs_dataset {
        exit_command.extend(["--zfs-dataset".into(), dataset.clone()]);
    }
    exit_command.extend(["container".into(), "cleanup".into()]);
    let config = aurora_cli::Config::load(&cli.store.config)?;
    Ok(Engine::open(EngineOptions {
        root,
        runroot,
        storage: cli.store.storage_choice()?,
        runtime: cli.runtime.clone(),
        unpack_limits: config.limits.unpack(),
        log_max_size: cli.log_max_size,
        exit_command,
        // podadm's own networks are netavark's; its `container cleanup` tears CNI pods
        // down from the CNI cache.
        cni: Default::default(),
    })?)
}

fn run_command(cli: &Cli) -> Result<u8> {
    let engine = engine(cli)?;
    match &cli.command {
        Command::Run(args) => run::run(cli, &engine, args),
        Command::Create(args) => run::create(cli, &engine, args),
        Command::Start {
            attach,
            interactive,
            containers,
        } => run::start(&engine, *attach, *interactive, containers),
        Command::Stop {
            time,
            all,
            containers,
        } => containers::stop(&engine, *time, *all, containers),
        Command::Restart { time, containers } => containers::each(containers, |c| {
            engine.restart(c, *time)?;
            println!("{c}");
            Ok(())
        }),
        Command::Kill { signal, containers } => containers::each(containers, |c| {
            engine.kill(c, signal)?;
            println!("{c}");
            Ok(())
        }),
        Command::Rm {
            force,
            volumes,
            all,
            time,
            containers,
        } => containers::remove(&engine, *force, *volumes, *all, *time, containers),
        Command::Ps(args) => views::ps(&engine, args),
        Command::Logs(args) => logs::logs(&engine, args),
        Command::Exec(args) => run::exec(&engine, args),
        Command::Attach {
            no_stdin,
            container,
        } => run::attach(&engine, container, !no_stdin),
        Command::Inspect { containers, .. } => views::inspect(&engine, containers),
        Command::Wait { containers } => containers::wait(&engine, containers),
        Command::Top { container } => containers::top(&engine, container),
        Command::Port { container, port } => views::port(&engine, container, port.as_deref()),
        Command::Update(args) => containers::update(&engine, args),
        Command::Pause { containers } => containers::each(containers, |c| {
            engine.pause(c)?;
            println!("{c}");
            Ok(())
        }),
        Command::Unpause { containers } => containers::each(containers, |c| {
            engine.unpause(c)?;
            println!("{c}");
            Ok(())
        }),
        Command::Rename { container, name } => {
            engine.rename(container, name)?;
            Ok(0)
        }
        Command::Cp {
            source,
            destination,
        } => containers::copy(&engine, source, destination),
        Command::Stats {
            no_stream,
            interval,
            all,
            format,
            containers,
        } => {
            let sampling = stats::Sampling {
                stream: !no_stream,
                interval: std::time::Duration::from_secs(*interval),
                format: *format,
            };
            stats::stats(&engine, sampling, *all, containers)
        }
        Command::Events {
            no_stream,
            format,
            filter,
        } => views::events(&engine, *no_stream, *format, filter),
        Command::Prune { .. } | Command::Container(ContainerCommand::Prune { .. }) => {
            for id in engine.prune()? {
                println!("{id}");
            }
            Ok(0)
        }
        Command::Container(ContainerCommand::Cleanup { container }) => {
            engine.cleanup(container)?;
            Ok(0)
        }
        Command::Volume(command) => resources::volume(&engine, command),
        Command::Network(command) => resources::network(&engine, command),
        Command::Pod(command) => pods::pod(&engine, command),
        Command::Kube(command) => kube::kube(cli, &engine, command),
        Command::Pool(command) => pool::pool(&engine, command),
    }
}
