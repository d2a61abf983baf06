//! Containers of a pod sandbox as podadm containers of its pod: the CRI config (image,
//! command and args, working directory, environment, bind mounts, labels and annotations,
//! privileged, read-only root, user, capabilities) made a podadm `ContainerConfig`; the
//! monitor's log (already the CRI log format) linked where kubelet reads it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use aurora_engine::{ContainerConfig, ContainerRecord, ContainerState, Engine, MountRequest};
use k8s_cri::v1::{
    Container, ContainerAttributes, ContainerFilter, ContainerMetadata, ContainerStats,
    ContainerStatus, CpuUsage, ImageSpec, MemoryUsage, PodSandboxConfig, UInt64Value,
};

use crate::error::{internal, ApiError};

/// Annotations holding a container's CRI metadata.
const META_PREFIX: &str = "io.aurora.cri.container.";

/// The podadm config and name of a CRI container in pod `pod_id`; `image` is a name the
/// store resolves.
pub(crate) fn container_config(
    pod_id: &str,
    config: &k8s_cri::v1::ContainerConfig,
    sandbox: Option<&PodSandboxConfig>,
    image: String,
) -> Result<(ContainerConfig, String), ApiError> {
    let meta = config
        .metadata
        .clone()
        .ok_or_else(|| ApiError::InvalidArgument("the container config has no metadata".into()))?;
    if meta.name.is_empty() {
        return Err(ApiError::InvalidArgument(
            "the container has no name".into(),
        ));
    }
    let mut annotations: BTreeMap<String, String> = config
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    annotations.insert(format!("{META_PREFIX}name"), meta.name.clone());
    annotations.insert(format!("{META_PREFIX}attempt"), meta.attempt.to_string());
    let security = config
        .linux
        .as_ref()
        .and_then(|l| l.security_context.clone())
        .unwrap_or_default();
    let user = crate::security::user(&security)?;
    let resources = config.linux.as_ref().and_then(|l| l.resources.as_ref());
    let caps = security.capabilities.clone().unwrap_or_default();
    let mounts = config
        .mounts
        .iter()
        .filter(|m| !m.host_path.is_empty())
        .map(|m| MountRequest::Bind {
            source: PathBuf::from(&m.host_path),
            destination: m.container_path.clone(),
            options: vec![propagation(m.propagation).to_string()],
            read_only: m.readonly,
        })
        .collect();
    let container = ContainerConfig {
        image,
        entrypoint: (!config.command.is_empty()).then(|| config.command.clone()),
        command: config.args.clone(),
        env: config
            .envs
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect(),
        workdir: (!config.working_dir.is_empty()).then(|| config.working_dir.clone()),
        user,
        terminal: config.tty,
        interactive: config.stdin,
        read_only: security.readonly_rootfs,
        privileged: security.privileged,
        cap_add: caps.add_capabilities,
        cap_drop: caps.drop_capabilities,
        mounts,
        resources: crate::security::resources(resources),
        security: crate::security::options(&security, resources, sandbox)?,
        labels: config
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        annotations,
        // The monitor writes kubelet's file itself: kubelet rotates it by moving it away and
        // asking for it to be reopened, which a link to another file would not follow.
        log_path: log_path(config, sandbox)?,
        pod: Some(pod_id.to_string()),
        ..Default::default()
    };
    // Unique per pod and attempt, and within podadm's 253 bytes whatever the pod is called.
    let name = format!(
        "k8s_{}_{}_{}",
        meta.name,
        &pod_id[..12.min(pod_id.len())],
        meta.attempt
    );
    Ok((container, name))
}

/// A CRI mount's propagation as a mount option: private unless it is to receive the host's
/// mounts (rslave) or also show its own to the host (rshared).
fn propagation(mode: i32) -> &'static str {
    use k8s_cri::v1::MountPropagation;
    match MountPropagation::try_from(mode) {
        Ok(MountPropagation::PropagationHostToContainer) => "rslave",
        Ok(MountPropagation::PropagationBidirectional) => "rshared",
        _ => "rprivate",
    }
}

/// Where kubelet reads the container's log: the sandbox's log directory joined with the
/// container's log path (relative to it). The result must be absolute: the monitor that
/// writes it runs from `/`, and a path relative to this server's directory would be a
/// surprise (kubelet always gives the directory).
fn log_path(
    config: &k8s_cri::v1::ContainerConfig,
    sandbox: Option<&PodSandboxConfig>,
) -> Result<Option<PathBuf>, ApiError> {
    if config.log_path.is_empty() {
        return Ok(None);
    }
    let directory = sandbox.map(|s| s.log_directory.as_str()).unwrap_or("");
    let path = PathBuf::from(directory).join(&config.log_path);
    if path.is_absolute()
        && !path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
    {
        Ok(Some(path))
    } else {
        Err(ApiError::InvalidArgument(format!(
            "the log path {} is not an absolute path without '..' (the sandbox's \
             log_directory is {directory:?})",
            path.display()
        )))
    }
}

/// Makes the directory of the container's CRI log (the monitor creates the file). A
/// symbolic link there is one an earlier version of this server left (it linked the log
/// path to the monitor's file): it is removed rather than followed.
pub(crate) fn prepare_log(record: &ContainerRecord) -> Result<(), ApiError> {
    let Some(path) = record.config.log_path.as_deref() else {
        return Ok(());
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(internal)?;
    }
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        std::fs::remove_file(path).map_err(internal)?;
    }
    Ok(())
}

fn metadata(record: &ContainerRecord) -> ContainerMetadata {
    let get = |key: &str| {
        record
            .config
            .annotations
            .get(&format!("{META_PREFIX}{key}"))
            .cloned()
            .unwrap_or_default()
    };
    ContainerMetadata {
        name: get("name"),
        attempt: get("attempt").parse().unwrap_or(0),
    }
}

fn user_annotations(record: &ContainerRecord) -> HashMap<String, String> {
    record
        .config
        .annotations
        .iter()
        .filter(|(k, _)| !k.starts_with(META_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn labels(record: &ContainerRecord) -> HashMap<String, String> {
    record
        .config
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The CRI state of a record.
fn state(record: &ContainerRecord) -> k8s_cri::v1::ContainerState {
    use k8s_cri::v1::ContainerState as Cri;
    match record.state {
        ContainerState::Created => Cri::ContainerCreated,
        ContainerState::Running | ContainerState::Paused => Cri::ContainerRunning,
        ContainerState::Exited => Cri::ContainerExited,
        ContainerState::Creating | ContainerState::Removing => Cri::ContainerUnknown,
    }
}

/// Whether the record is one of this server's containers (it carries CRI metadata).
pub(crate) fn is_cri_container(record: &ContainerRecord) -> bool {
    record
        .config
        .annotations
        .contains_key(&format!("{META_PREFIX}name"))
}

pub(crate) fn matches(record: &ContainerRecord, filter: &ContainerFilter) -> bool {
    (filter.id.is_empty() || record.id.starts_with(&filter.id))
        && (filter.pod_sandbox_id.is_empty()
            || record
                .config
                .pod
                .as_deref()
                .is_some_and(|p| p.starts_with(&filter.pod_sandbox_id)))
        && filter
            .state
            .as_ref()
            .is_none_or(|s| state(record) as i32 == s.state)
        && filter
            .label_selector
            .iter()
            .all(|(k, v)| record.config.labels.get(k) == Some(v))
}

fn nanos(rfc3339: Option<&str>) -> i64 {
    rfc3339
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0)
}

fn image_spec(record: &ContainerRecord) -> ImageSpec {
    ImageSpec {
        image: record.image.clone(),
        ..Default::default()
    }
}

pub(crate) fn container(record: &ContainerRecord) -> Container {
    Container {
        id: record.id.clone(),
        pod_sandbox_id: record.config.pod.clone().unwrap_or_default(),
        metadata: Some(metadata(record)),
        image: Some(image_spec(record)),
        image_ref: record.image_id.clone(),
        state: state(record) as i32,
        created_at: nanos(Some(&record.created_at)),
        labels: labels(record),
        annotations: user_annotations(record),
        image_id: record.image_id.clone(),
    }
}

pub(crate) fn status(engine: &Engine, record: &ContainerRecord) -> ContainerStatus {
    let exited = record.state == ContainerState::Exited;
    ContainerStatus {
        id: record.id.clone(),
        metadata: Some(metadata(record)),
        state: state(record) as i32,
        created_at: nanos(Some(&record.created_at)),
        started_at: nanos(record.started_at.as_deref()),
        finished_at: nanos(record.finished_at.as_deref()),
        exit_code: record.exit_code.unwrap_or(0),
        image: Some(image_spec(record)),
        image_ref: record.image_id.clone(),
        reason: if exited {
            if engine.oom_killed(record) {
                "OOMKilled".into()
            } else if record.exit_code == Some(0) {
                "Completed".into()
            } else {
                "Error".into()
            }
        } else {
            String::new()
        },
        labels: labels(record),
        annotations: user_annotations(record),
        log_path: record
            .config
            .log_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        image_id: record.image_id.clone(),
        mounts: mounts(record),
        ..Default::default()
    }
}

/// The container's bind mounts as the CRI describes them.
fn mounts(record: &ContainerRecord) -> Vec<k8s_cri::v1::Mount> {
    use k8s_cri::v1::MountPropagation;
    record
        .config
        .mounts
        .iter()
        .filter_map(|mount| match mount {
            MountRequest::Bind {
                source,
                destination,
                options,
                read_only,
            } => {
                let has = |mode: &str| options.iter().any(|o| o == mode);
                let propagation = if has("rshared") {
                    MountPropagation::PropagationBidirectional
                } else if has("rslave") {
                    MountPropagation::PropagationHostToContainer
                } else {
                    MountPropagation::PropagationPrivate
                };
                Some(k8s_cri::v1::Mount {
                    container_path: destination.clone(),
                    host_path: source.display().to_string(),
                    readonly: *read_only,
                    propagation: propagation as i32,
                    ..Default::default()
                })
            }
            _ => None,
        })
        .collect()
}

/// A container's usage: CPU time and memory from the runtime's `events --stats` while it
/// runs (a created or exited container reports its attributes only).
pub(crate) fn stats(engine: &Engine, record: &ContainerRecord) -> ContainerStats {
    let attributes = ContainerAttributes {
        id: record.id.clone(),
        metadata: Some(metadata(record)),
        labels: labels(record),
        annotations: user_annotations(record),
    };
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let usage = match record.state {
        ContainerState::Running => engine.stats(&record.id).ok(),
        _ => None,
    };
    let (cpu, memory) = match usage {
        Some(usage) => (
            CpuUsage {
                timestamp,
                usage_core_nano_seconds: Some(UInt64Value {
                    value: usage.cpu_ns,
                }),
                usage_nano_cores: None,
            },
            MemoryUsage {
                timestamp,
                working_set_bytes: Some(UInt64Value {
                    value: usage.working_set(),
                }),
                usage_bytes: Some(UInt64Value {
                    value: usage.memory_usage,
                }),
                rss_bytes: Some(UInt64Value {
                    value: usage.memory_rss,
                }),
                ..Default::default()
            },
        ),
        None => (
            CpuUsage {
                timestamp,
                ..Default::default()
            },
            MemoryUsage {
                timestamp,
                ..Default::default()
            },
        ),
    };
    ContainerStats {
        attributes: Some(attributes),
        cpu: Some(cpu),
        memory: Some(memory),
        writable_layer: Some(k8s_cri::v1::FilesystemUsage {
            timestamp,
            fs_id: None,
            used_bytes: Some(UInt64Value { value: 0 }),
            inodes_used: Some(UInt64Value { value: 0 }),
        }),
        swap: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_paths_are_absolute_under_the_sandbox_directory() {
        let config = |path: &str| k8s_cri::v1::ContainerConfig {
            log_path: path.into(),
            ..Default::default()
        };
        let sandbox = |dir: &str| PodSandboxConfig {
            log_directory: dir.into(),
            ..Default::default()
        };
        assert_eq!(
            log_path(&config("app/0.log"), Some(&sandbox("/var/log/pods/p"))).unwrap(),
            Some(PathBuf::from("/var/log/pods/p/app/0.log"))
        );
        assert_eq!(log_path(&config(""), Some(&sandbox("/x"))).unwrap(), None);
        assert!(log_path(&config("app/0.log"), Some(&sandbox(""))).is_err());
        assert!(log_path(&config("app/0.log"), None).is_err());
        assert!(log_path(&config("../../etc/x"), Some(&sandbox("/var/log/pods/p"))).is_err());
    }
}
