//! Commands over one or more existing containers.

use anyhow::{bail, Context, Result};
use aurora_engine::{ContainerState, Engine, EngineError};

use crate::cli::UpdateArgs;

/// Runs `work` for each container; every one is tried, and the status is 125 if any failed
/// (podman's "no such container" is 125 too; each error is printed as it happens).
pub fn each(containers: &[String], mut work: impl FnMut(&str) -> Result<()>) -> Result<u8> {
    let mut failed = None;
    for container in containers {
        if let Err(e) = work(container) {
            eprintln!("Error: {}", aurora_cli::error_chain(&e));
            failed = Some(e);
        }
    }
    Ok(if failed.is_some() {
        crate::PODADM_FAILED
    } else {
        0
    })
}

/// `podadm stop [-a] [-t N]`.
pub fn stop(engine: &Engine, time: Option<u32>, all: bool, containers: &[String]) -> Result<u8> {
    let targets: Vec<String> = if all {
        engine
            .list()?
            .into_iter()
            .filter(|r| r.state.is_active())
            .map(|r| r.name)
            .collect()
    } else {
        if containers.is_empty() {
            bail!("stop needs at least one container, or --all");
        }
        containers.to_vec()
    };
    each(&targets, |c| {
        engine.stop(c, time)?;
        println!("{c}");
        Ok(())
    })
}

/// `podadm rm [-f] [-v] [-a]`.
pub fn remove(
    engine: &Engine,
    force: bool,
    volumes: bool,
    all: bool,
    time: Option<u32>,
    containers: &[String],
) -> Result<u8> {
    let targets: Vec<String> = if all {
        // A pod's infra container goes only with its pod (`pod rm`).
        engine
            .list()?
            .into_iter()
            .filter(|r| !r.config.infra)
            .map(|r| r.id)
            .collect()
    } else {
        if containers.is_empty() {
            bail!("rm needs at least one container, or --all");
        }
        containers.to_vec()
    };
    let mut status = 0;
    for target in &targets {
        match engine.remove(target, force, volumes, time) {
            Ok(record) => println!("{}", if all { &record.id } else { target }),
            // podman: `rm -f` of a missing container is not an error.
            Err(EngineError::NoSuchContainer(_)) if force => {}
            Err(e) => {
                eprintln!("Error: {e}");
                status = match e {
                    EngineError::NoSuchContainer(_) => 1,
                    EngineError::Running { .. } => 2,
                    _ => crate::PODADM_FAILED,
                };
            }
        }
    }
    Ok(status)
}

/// `podadm wait`: prints each container's exit code; the status is the last one's.
pub fn wait(engine: &Engine, containers: &[String]) -> Result<u8> {
    let mut last = 0;
    for container in containers {
        let code = engine.wait(container)?;
        println!("{code}");
        last = u8::try_from(code).unwrap_or(crate::PODADM_FAILED);
    }
    Ok(last)
}

/// `podadm top`: `ps` of the container's processes, in podman's columns.
pub fn top(engine: &Engine, container: &str) -> Result<u8> {
    let pids = engine.top(container)?;
    if pids.is_empty() {
        bail!("container {container} has no processes");
    }
    show_processes(&pids)
}

/// `ps`'s view of `pids`, in podman `top`'s columns.
pub fn show_processes(pids: &[i32]) -> Result<u8> {
    let list: Vec<String> = pids.iter().map(i32::to_string).collect();
    let status = std::process::Command::new("ps")
        .args([
            "-o",
            "user,pid,ppid,pcpu,etime,tty,time,args",
            "-p",
            &list.join(","),
        ])
        .status()
        .context("running ps")?;
    Ok(if status.success() {
        0
    } else {
        crate::PODADM_FAILED
    })
}

/// `podadm update`.
pub fn update(engine: &Engine, args: &UpdateArgs) -> Result<u8> {
    let resources = crate::flags::resources(
        args.memory.as_deref(),
        args.cpus.as_deref(),
        args.pids_limit,
    )?;
    let record = engine.update(&args.container, &resources)?;
    println!("{}", record.id);
    Ok(0)
}

/// `podadm cp SRC DEST`: one side is `CONTAINER:PATH`.
pub fn copy(engine: &Engine, source: &str, destination: &str) -> Result<u8> {
    match (
        split_container(engine, source),
        split_container(engine, destination),
    ) {
        (Some((record, path)), None) => {
            let root = engine
                .images()
                .storage()?
                .container_rootfs(record.storage_name())?;
            aurora_engine::copy::copy_out(&root, path, std::path::Path::new(destination))
                .with_context(|| format!("copying {source} to {destination}"))?;
        }
        (None, Some((record, path))) => {
            let root = engine
                .images()
                .storage()?
                .container_rootfs(record.storage_name())?;
            aurora_engine::copy::copy_into(&root, path, std::path::Path::new(source))
                .with_context(|| format!("copying {source} to {destination}"))?;
        }
        (Some(_), Some(_)) => {
            bail!("cp copies between a container and the host, not two containers")
        }
        (None, None) => bail!("cp needs CONTAINER:PATH on one side ({source:?}, {destination:?})"),
    }
    Ok(0)
}

/// `NAME:PATH` where NAME is a container; `None` for a host path.
fn split_container<'a>(
    engine: &Engine,
    text: &'a str,
) -> Option<(aurora_engine::ContainerRecord, &'a str)> {
    if text.starts_with('/') || text.starts_with('.') || text == "-" {
        return None;
    }
    let (name, path) = text.split_once(':')?;
    let record = engine.find(name).ok()?;
    (record.state != ContainerState::Removing).then_some((record, path))
}
