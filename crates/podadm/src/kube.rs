//! `kube play [--down]`, `kube down` and `kube generate`: Kubernetes YAML over pods.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use aurora_engine::{ContainerConfig, ContainerRecord, Engine, EngineError, NetworkMode};
use aurora_kube::{HostPathCheck, HostPathType, Plan, PodPlan, RenderedFile};

use crate::cli::{Cli, KubeCommand};

pub fn kube(cli: &Cli, engine: &Engine, command: &KubeCommand) -> Result<u8> {
    match command {
        KubeCommand::Play {
            file, down: true, ..
        } => down_file(engine, file),
        KubeCommand::Play {
            file,
            start,
            network,
            ..
        } => {
            let network = network.as_deref().map(play_network).transpose()?;
            play_file(cli, engine, file, *start, network.as_ref())
        }
        KubeCommand::Down { file } => down_file(engine, file),
        KubeCommand::Generate { name } => generate(engine, name),
    }
}

/// Where rendered configMap and secret volumes live: beside the state, so that a pod
/// restarted after a reboot still finds them.
fn files_root(engine: &Engine) -> PathBuf {
    engine.paths().podadm().join("kube")
}

/// The plan for `file` (`-`: standard input), its warnings printed.
fn read_plan(engine: &Engine, file: &Path) -> Result<Plan> {
    let text = if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the YAML from standard input")?;
        text
    } else {
        fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    let plan = aurora_kube::play(&text, &files_root(engine))
        .with_context(|| format!("{}", file.display()))?;
    for warning in &plan.warnings {
        eprintln!("Warning: {}: {warning}", file.display());
    }
    Ok(plan)
}

/// `kube play --network`: as `--network` for a pod, but the host's is the YAML's to ask for
/// (hostNetwork), as podman has it.
fn play_network(text: &str) -> Result<NetworkMode> {
    match crate::flags::network(Some(text))? {
        NetworkMode::Host => bail!(
            "--network host: a pod asks for the host's network in the YAML (hostNetwork: true)"
        ),
        NetworkMode::Container(_) => {
            bail!("--network {text}: a pod's network cannot be another container's")
        }
        mode => Ok(mode),
    }
}

fn play_file(
    cli: &Cli,
    engine: &Engine,
    file: &Path,
    start: bool,
    network: Option<&NetworkMode>,
) -> Result<u8> {
    let mut plan = read_plan(engine, file)?;
    if let Some(network) = network {
        for pod in &mut plan.pods {
            if pod.config.network != NetworkMode::Host {
                pod.config.network = network.clone();
            }
        }
    }
    remove_orphaned_files(engine);
    for pod in &plan.pods {
        if engine.pod_find(&pod.name).is_ok() {
            bail!(
                "pod {:?} already exists (kube play --down removes it)",
                pod.name
            );
        }
    }
    for pod in &plan.pods {
        let played = play_pod(cli, engine, pod, start)?;
        println!("Pod:\n{}", played.pod_id);
        let heading = if played.containers.len() == 1 {
            "Container"
        } else {
            "Containers"
        };
        println!("{heading}:");
        for id in &played.containers {
            println!("{id}");
        }
        println!();
    }
    Ok(0)
}

struct Played {
    pod_id: String,
    containers: Vec<String>,
}

/// Makes one pod. The pod is created first, so that files and volumes exist only for a pod
/// that does; a failure after that removes what this play made. An init container that
/// fails leaves the pod as podman leaves it (the failed container exited, the others
/// created), for its logs to be read.
fn play_pod(cli: &Cli, engine: &Engine, pod: &PodPlan, start: bool) -> Result<Played> {
    let record = engine
        .pod_create(pod.config.clone(), Some(&pod.name))
        .with_context(|| format!("creating pod {}", pod.name))?;
    let containers = match fill_pod(cli, engine, pod, &record.id) {
        Ok(made) => made,
        Err(error) => {
            undo_pod(engine, pod, &record.id);
            return Err(error.context(format!("playing pod {}", pod.name)));
        }
    };
    if start {
        // The infra, the init containers run to their end in order, then the others.
        engine
            .pod_start(&record.id)
            .with_context(|| format!("starting pod {}", pod.name))?;
    }
    Ok(Played {
        pod_id: record.id,
        containers,
    })
}

/// A new pod's files, volumes and containers (created, not started); the ids of those that
/// are not init containers.
fn fill_pod(cli: &Cli, engine: &Engine, pod: &PodPlan, pod_id: &str) -> Result<Vec<String>> {
    for check in &pod.host_paths {
        check_host_path(check)?;
    }
    render_files(pod)?;
    for volume in &pod.volumes {
        // An emptyDir belongs to the pod and goes with it; a claim's volume stays.
        let made = if volume.scratch {
            engine.pod_volume(pod_id, &volume.name).map(drop)
        } else {
            engine
                .volumes()?
                .open_or_create(&volume.name)
                .map(drop)
                .map_err(Into::into)
        };
        made.with_context(|| format!("volume {}", volume.name))?;
    }
    for container in &pod.init_containers {
        let config = container.config_in_pod(pod_id);
        create_container(cli, engine, &container.name, &config)?;
    }
    let mut containers = Vec::new();
    for container in &pod.containers {
        let config = container.config_in_pod(pod_id);
        containers.push(create_container(cli, engine, &container.name, &config)?.id);
    }
    Ok(containers)
}

/// Creates a container, pulling its image first when the store lacks it.
fn create_container(
    cli: &Cli,
    engine: &Engine,
    name: &str,
    config: &ContainerConfig,
) -> Result<ContainerRecord> {
    let created = match engine.create(config.clone(), Some(name)) {
        Err(EngineError::Image(e)) if matches!(*e, aurora_images::ImageError::NotInStore(_)) => {
            crate::run::pull(cli, engine, &config.image, false)?;
            engine.create(config.clone(), Some(name))
        }
        created => created,
    };
    created.with_context(|| format!("creating container {name}"))
}

/// What a failed play made goes again: the pod (and with it its containers), its files
/// and its scratch volumes.
fn undo_pod(engine: &Engine, pod: &PodPlan, pod_id: &str) {
    if let Err(e) = engine.pod_remove(pod_id, true) {
        tracing::debug!("undoing pod {}: {e}", pod.name);
    }
    remove_pod_files(pod);
    remove_scratch_volumes(engine, pod);
}

/// The files of pods that are gone (removed by `pod rm`, or a play that was killed before it
/// could undo itself). Files are rendered only once their pod exists, so a play under way
/// keeps its own.
fn remove_orphaned_files(engine: &Engine) {
    let Ok(entries) = fs::read_dir(files_root(engine)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if matches!(engine.pod_find(&name), Err(EngineError::NoSuchPod(_))) {
            if let Err(e) = fs::remove_dir_all(entry.path()) {
                tracing::debug!("removing {}: {e}", entry.path().display());
            }
        }
    }
}

fn remove_pod_files(pod: &PodPlan) {
    if let Err(e) = fs::remove_dir_all(&pod.files_dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            eprintln!("Warning: removing {}: {e}", pod.files_dir.display());
        }
    }
}

fn remove_scratch_volumes(engine: &Engine, pod: &PodPlan) {
    for volume in pod.volumes.iter().filter(|v| v.scratch) {
        if let Ok(volumes) = engine.volumes() {
            if let Err(e) = volumes.remove(&volume.name) {
                tracing::debug!("removing volume {}: {e}", volume.name);
            }
        }
    }
}

/// The pod's configMap and secret files, written afresh (a directory per volume, 0755).
fn render_files(pod: &PodPlan) -> Result<()> {
    remove_pod_files(pod);
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true).mode(0o755);
    for dir in &pod.directories {
        builder
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    for file in &pod.files {
        write_file(&mut builder, file)?;
    }
    Ok(())
}

fn write_file(builder: &mut fs::DirBuilder, file: &RenderedFile) -> Result<()> {
    use std::io::Write;
    if let Some(parent) = file.path.parent() {
        builder
            .create(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(file.mode)
        .open(&file.path)
        .with_context(|| format!("creating {}", file.path.display()))?;
    out.write_all(&file.content)
        .with_context(|| format!("writing {}", file.path.display()))?;
    // The umask must not narrow the mode the file asked for.
    out.set_permissions(fs::Permissions::from_mode(file.mode))
        .with_context(|| format!("setting the mode of {}", file.path.display()))?;
    Ok(())
}

/// A hostPath's `type`: checked, or made (`DirectoryOrCreate`, `FileOrCreate`).
fn check_host_path(check: &HostPathCheck) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let path = &check.path;
    let shown = path.display();
    let metadata = fs::metadata(path);
    let file_type = metadata.as_ref().map(|m| m.file_type());
    let ok = match check.kind {
        HostPathType::Unset => true,
        HostPathType::DirectoryOrCreate if metadata.is_err() => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(path)
                .with_context(|| format!("hostPath {shown}: creating the directory"))?;
            true
        }
        HostPathType::FileOrCreate if metadata.is_err() => {
            fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(path)
                .with_context(|| format!("hostPath {shown}: creating the file"))?;
            true
        }
        HostPathType::Directory | HostPathType::DirectoryOrCreate => {
            file_type.is_ok_and(|t| t.is_dir())
        }
        HostPathType::File | HostPathType::FileOrCreate => file_type.is_ok_and(|t| t.is_file()),
        HostPathType::Socket => file_type.is_ok_and(|t| t.is_socket()),
        HostPathType::CharDevice => file_type.is_ok_and(|t| t.is_char_device()),
        HostPathType::BlockDevice => file_type.is_ok_and(|t| t.is_block_device()),
    };
    if !ok {
        bail!(
            "hostPath {shown} is not a {:?} (its volume's type)",
            check.kind
        );
    }
    Ok(())
}

/// Removes the file's pods (killed first, as podman does), their rendered files and scratch volumes;
/// named volumes of claims stay, as podman keeps them.
fn down_file(engine: &Engine, file: &Path) -> Result<u8> {
    let plan = read_plan(engine, file)?;
    remove_orphaned_files(engine);
    let mut found = Vec::new();
    for pod in &plan.pods {
        let record = engine
            .pod_find(&pod.name)
            .with_context(|| format!("pod {}", pod.name))?;
        found.push((pod, record));
    }
    println!("Pods stopped:");
    for (_, record) in &found {
        // podman's --down stops without a grace period (its stop options' zero timeout).
        engine
            .pod_stop(&record.id, Some(0))
            .with_context(|| format!("stopping pod {}", record.name))?;
        println!("{}", record.id);
    }
    println!("Pods removed:");
    for (pod, record) in &found {
        engine
            .pod_remove(&record.id, true)
            .with_context(|| format!("removing pod {}", record.name))?;
        remove_pod_files(pod);
        remove_scratch_volumes(engine, pod);
        println!("{}", record.id);
    }
    Ok(0)
}

/// `kube generate POD|CONTAINER`: a Pod document on standard output.
fn generate(engine: &Engine, name: &str) -> Result<u8> {
    let yaml = match engine.pod_find(name) {
        Ok(pod) => {
            let containers = engine.pod_containers(&pod.id)?;
            aurora_kube::generate(&pod, &containers)
        }
        Err(_) => {
            let record = engine
                .find(name)
                .with_context(|| format!("{name:?} is neither a pod nor a container"))?;
            aurora_kube::generate::generate_container(&record)
        }
    };
    print!("{yaml}");
    Ok(0)
}
