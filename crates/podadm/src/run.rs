//! `run`, `create`, `start`, `exec` and `attach`: the commands that bring a container's
//! process to the user's terminal.

use std::io::IsTerminal;

use anyhow::{bail, Context, Result};
use aurora_engine::{Engine, EngineError, ExecOptions, RestartPolicy};

use crate::cli::{Cli, CreateCommand, ExecArgs, RunArgs};

/// `podadm run`: create (pulling the image if needed), start, and unless detached, attach
/// until the container exits; the status is the container's.
pub fn run(cli: &Cli, engine: &Engine, args: &RunArgs) -> Result<u8> {
    replace(engine, &args.create.flags)?;
    if let Some(status) = run_claimed(engine, args)? {
        return Ok(status);
    }
    let record = create_record(cli, engine, &args.create)?;
    let attach = !args.detach;
    let started = match engine.start(&record.id, attach) {
        Ok(started) => started,
        Err(e) => {
            if record.config.auto_remove {
                let _ = engine.remove(&record.id, true, true, Some(0));
            }
            return Err(e.into());
        }
    };
    if args.detach {
        println!("{}", record.id);
        return Ok(0);
    }
    let client = started
        .attach
        .context("the monitor gave no attach connection")?;
    let code = crate::attach::pump(client, record.config.interactive, record.config.terminal)?;
    Ok(after_attach(engine, &record, code))
}

/// `run` in a ready sandbox of the warm pool when one matches (see `Engine::claim`);
/// `None` when none does and the container is created as usual.
fn run_claimed(engine: &Engine, args: &RunArgs) -> Result<Option<u8>> {
    if args.create.flags.pull == "always" {
        return Ok(None);
    }
    let create = &args.create;
    let config = crate::flags::container_config(&create.flags, &create.image, &create.command)?;
    let name = create.flags.name.as_deref();
    let Some(started) = engine.claim(&config, name, !args.detach)? else {
        return Ok(None);
    };
    let record = started.record;
    if args.detach {
        println!("{}", record.id);
        return Ok(Some(0));
    }
    let client = started
        .attach
        .context("the monitor gave no attach connection")?;
    let code = crate::attach::pump(client, false, false)?;
    if record.config.auto_remove {
        // The record goes now; the refiller destroys the rest.
        if let Err(e) = engine.release_claimed(&record.id) {
            tracing::debug!("releasing the claimed container: {e}");
        }
        return Ok(Some(status_byte(code)));
    }
    Ok(Some(after_attach(engine, &record, code)))
}

/// After an attached container exited: a --rm container's record is removed (the rest of it
/// is left to the monitor's exit command), else the exit command that records the exit is
/// waited for, so that what follows this command sees the container as it is (unless a
/// restart policy keeps it going); the status to exit with.
fn after_attach(engine: &Engine, record: &aurora_engine::ContainerRecord, code: i32) -> u8 {
    if record.config.auto_remove {
        if let Err(e) = engine.remove_exited(&record.id) {
            tracing::debug!("removing the exited container: {e}");
        }
    } else if record.config.restart == RestartPolicy::No {
        match engine.wait(&record.id) {
            Ok(_) | Err(EngineError::NoSuchContainer(_)) => {}
            Err(e) => tracing::debug!("waiting for the cleanup: {e}"),
        }
    }
    status_byte(code)
}

/// `podadm create`: prints the new container's id.
pub fn create(cli: &Cli, engine: &Engine, args: &CreateCommand) -> Result<u8> {
    replace(engine, &args.flags)?;
    let record = create_record(cli, engine, args)?;
    println!("{}", record.id);
    Ok(0)
}

/// `--replace`: the container of the same name goes first, as `rm -f` removes it (its name
/// printed, as podman prints it).
fn replace(engine: &Engine, flags: &crate::cli::CreateFlags) -> Result<()> {
    if !flags.replace {
        return Ok(());
    }
    let Some(name) = flags.name.as_deref() else {
        bail!("cannot replace container without --name being set");
    };
    match engine.find(name) {
        // By name only: --replace never takes another container's id for a name.
        Ok(record) if record.name == name => {
            engine.remove(&record.id, true, false, None)?;
            // As podman's: the removed container's name, as `rm` prints it.
            println!("{name}");
            Ok(())
        }
        Ok(_) | Err(EngineError::NoSuchContainer(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn create_record(
    cli: &Cli,
    engine: &Engine,
    args: &CreateCommand,
) -> Result<aurora_engine::ContainerRecord> {
    let config = crate::flags::container_config(&args.flags, &args.image, &args.command)?;
    let (image, name) = (&args.image, args.flags.name.as_deref());
    let quiet = args.flags.quiet;
    match args.flags.pull.as_str() {
        "always" => pull(cli, engine, image, quiet)?,
        "missing" | "never" => {}
        other => bail!("--pull {other:?}: expected missing, always or never"),
    }
    // The store is asked once, by create: an image it lacks is pulled (unless --pull never
    // forbids it) and the create tried again.
    match engine.create(config.clone(), name) {
        Err(EngineError::Image(e)) if matches!(*e, aurora_images::ImageError::NotInStore(_)) => {
            if args.flags.pull == "never" {
                bail!("image {image} is not in the store, and --pull never forbids pulling it");
            }
            pull(cli, engine, image, quiet)?;
            Ok(engine.create(config, name)?)
        }
        created => Ok(created?),
    }
}

/// Pulls `image` into the store, with progress unless `quiet`.
pub(crate) fn pull(cli: &Cli, engine: &Engine, image: &str, quiet: bool) -> Result<()> {
    let store = engine.images().store()?;
    let reference =
        aurora_spec::ImageRef::parse(image).with_context(|| format!("image name {image:?}"))?;
    let client = cli.store.registry_client(cli.store.credential_store())?;
    let runtime = aurora_cli::tokio_runtime()?;
    let mode = if quiet {
        aurora_cli::ProgressMode::Hidden
    } else {
        aurora_cli::ProgressMode::Shown
    };
    aurora_cli::with_progress(mode, |progress| {
        runtime.block_on(aurora_transfer::pull(
            store,
            &client,
            &reference,
            &aurora_transfer::PullOptions::default(),
            progress,
        ))
    })
    .with_context(|| format!("pulling {reference}"))?;
    Ok(())
}

/// `podadm start [-a] CONTAINER…`.
pub fn start(
    engine: &Engine,
    attach: bool,
    interactive: bool,
    containers: &[String],
) -> Result<u8> {
    if attach {
        let [container] = containers else {
            bail!("start --attach takes one container");
        };
        let started = engine.start(container, true)?;
        let client = started
            .attach
            .context("the monitor gave no attach connection")?;
        let stdin = interactive && started.record.config.interactive;
        let code = crate::attach::pump(client, stdin, started.record.config.terminal)?;
        return Ok(after_attach(engine, &started.record, code));
    }
    crate::containers::each(containers, |c| {
        engine.start(c, false)?;
        println!("{c}");
        Ok(())
    })
}

/// `podadm attach CONTAINER`.
pub fn attach(engine: &Engine, container: &str, stdin: bool) -> Result<u8> {
    let record = engine.find(container)?;
    let started = engine.start(&record.id, true)?;
    if !started.record.state.is_active() {
        bail!("container {} is not running", record.name);
    }
    let client = started
        .attach
        .context("the monitor gave no attach connection")?;
    let code = crate::attach::pump(
        client,
        stdin && record.config.interactive,
        record.config.terminal,
    )?;
    Ok(after_attach(engine, &record, code))
}

/// `podadm exec`: the process's status.
pub fn exec(engine: &Engine, args: &ExecArgs) -> Result<u8> {
    let options = ExecOptions {
        command: args.command.clone(),
        env: args.env.clone(),
        user: args.user.clone(),
        workdir: args.workdir.clone(),
        tty: args.tty && std::io::stdin().is_terminal(),
        detach: args.detach,
    };
    let mut prepared = engine.exec(&args.container, &options)?;
    if !args.interactive && !args.tty {
        prepared.command.stdin(std::process::Stdio::null());
    }
    let status = prepared
        .command
        .status()
        .with_context(|| format!("running the OCI runtime for exec in {}", args.container))?;
    Ok(match status.code() {
        Some(code) => status_byte(code),
        None => PODADM_SIGNALLED,
    })
}

/// A process killed by a signal, as a shell reports it.
const PODADM_SIGNALLED: u8 = 137;

/// An exit code as a process status byte; an unknown one (-1) is podadm's failure.
fn status_byte(code: i32) -> u8 {
    u8::try_from(code).unwrap_or(crate::PODADM_FAILED)
}
