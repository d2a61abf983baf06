//! The `linux` section and annotations: limits, the network namespace, `--privileged`,
//! the cgroup path, labels and the stop signal.

use std::collections::HashMap;
use std::path::Path;

use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType,
    LinuxMemoryBuilder, LinuxNamespaceType, LinuxPidsBuilder, LinuxResources, Spec,
};

use super::{SpecContext, SpecError};
use crate::config::{ContainerConfig, NetworkMode};

/// The annotation that carries the stop signal (the image-spec's name for it).
pub const STOP_SIGNAL_ANNOTATION: &str = "org.opencontainers.image.stopSignal";

/// podman's default `--pids-limit` (containers.conf `pids_limit`).
pub const DEFAULT_PIDS_LIMIT: i64 = 2048;

/// The CFS period `--cpus` is expressed in (µs), as podman and docker use.
const CPU_PERIOD: u64 = 100_000;

pub(super) fn apply(
    spec: &mut Spec,
    config: &ContainerConfig,
    ctx: &SpecContext,
    warnings: &mut Vec<String>,
) -> Result<(), SpecError> {
    annotations(spec, config);
    if config.privileged {
        // podman's --privileged: no seccomp, nothing masked or read-only in /proc and /sys,
        // every device.
        if let Some(process) = spec.process_mut() {
            process.set_apparmor_profile(None);
        }
    }
    let linux = spec.linux_mut().get_or_insert_with(Default::default);
    if let Some(path) = &ctx.cgroups_path {
        linux.set_cgroups_path(Some(path.into()));
    }
    let mut resources = linux.resources().clone().unwrap_or_default();
    limits(&mut resources, config, warnings)?;
    if config.privileged {
        linux.set_seccomp(None);
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
        let allow_all = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .access("rwm")
            .build()
            .map_err(|e| SpecError::Invalid {
                field: "--privileged",
                reason: e.to_string(),
            })?;
        resources.set_devices(Some(vec![allow_all]));
        if !ctx.host_devices.is_empty() {
            linux.set_devices(Some(ctx.host_devices.clone()));
        }
    }
    linux.set_resources(Some(resources));
    let mut namespaces = linux.namespaces().clone().unwrap_or_default();
    match (&config.network, &ctx.netns) {
        (NetworkMode::Host, _) => {
            namespaces.retain(|ns| ns.typ() != LinuxNamespaceType::Network);
        }
        (_, Some(path)) => {
            for ns in namespaces.iter_mut() {
                if ns.typ() == LinuxNamespaceType::Network {
                    ns.set_path(Some(path.clone()));
                }
            }
        }
        (_, None) => {}
    }
    linux.set_namespaces(Some(namespaces));
    Ok(())
}

/// `--memory` (with podman's swap: as much again), `--cpus` (quota per 100 ms period) and
/// `--pids-limit` (podman's 2048 unless given; -1 or 0 for none).
fn limits(
    resources: &mut LinuxResources,
    config: &ContainerConfig,
    warnings: &mut Vec<String>,
) -> Result<(), SpecError> {
    let invalid = |field: &'static str| {
        move |e: oci_spec::OciSpecError| SpecError::Invalid {
            field,
            reason: e.to_string(),
        }
    };
    let wanted = &config.resources;
    if let Some(memory) = wanted.memory {
        let limit = i64::try_from(memory).map_err(|_| SpecError::Invalid {
            field: "--memory",
            reason: format!("{memory} bytes is too large"),
        })?;
        let memory = LinuxMemoryBuilder::default()
            .limit(limit)
            .swap(limit.saturating_mul(2))
            .build()
            .map_err(invalid("--memory"))?;
        resources.set_memory(Some(memory));
    }
    if let Some(cpus) = wanted.cpus {
        if !cpus.is_finite() || cpus <= 0.0 {
            return Err(SpecError::Invalid {
                field: "--cpus",
                reason: format!("{cpus} is not a positive number of CPUs"),
            });
        }
        let quota = (cpus * CPU_PERIOD as f64).round() as i64;
        if quota < 1000 {
            warnings.push(format!(
                "--cpus {cpus} is below the kernel's smallest quota: raised to 0.01"
            ));
        }
        let cpu = LinuxCpuBuilder::default()
            .quota(quota.max(1000))
            .period(CPU_PERIOD)
            .build()
            .map_err(invalid("--cpus"))?;
        resources.set_cpu(Some(cpu));
    }
    match wanted.pids_limit.unwrap_or(DEFAULT_PIDS_LIMIT) {
        limit if limit <= 0 => {
            resources.set_pids(None);
        }
        limit => {
            let pids = LinuxPidsBuilder::default()
                .limit(limit)
                .build()
                .map_err(invalid("--pids-limit"))?;
            resources.set_pids(Some(pids));
        }
    }
    Ok(())
}

/// Labels become annotations (after the image's); the stop signal is `--stop-signal`, else the
/// image's, else TERM.
fn annotations(spec: &mut Spec, config: &ContainerConfig) {
    let mut annotations: HashMap<String, String> = spec.annotations().clone().unwrap_or_default();
    for (key, value) in &config.labels {
        annotations.insert(key.clone(), value.clone());
    }
    // Annotations given as such (kube play's) win over labels of the same key, as podman's.
    for (key, value) in &config.annotations {
        annotations.insert(key.clone(), value.clone());
    }
    let signal = match &config.stop_signal {
        Some(signal) => Some(signal_name(signal)),
        None => annotations.get(STOP_SIGNAL_ANNOTATION).cloned(),
    };
    annotations.insert(
        STOP_SIGNAL_ANNOTATION.to_string(),
        signal.unwrap_or_else(|| "SIGTERM".into()),
    );
    spec.set_annotations(Some(annotations));
}

/// `kill`, `KILL` or `SIGKILL` → `SIGKILL`; a number stays a number.
fn signal_name(signal: &str) -> String {
    let upper = signal.trim().to_ascii_uppercase();
    if upper.starts_with("SIG") || upper.bytes().all(|b| b.is_ascii_digit()) {
        upper
    } else {
        format!("SIG{upper}")
    }
}

/// The host's character and block devices under /dev (not in /dev/pts, /dev/shm or
/// /dev/mqueue, which the container has of its own), for `--privileged`, as podman lists them.
pub fn host_devices() -> Vec<LinuxDevice> {
    let mut devices = Vec::new();
    collect_devices(Path::new("/dev"), &mut devices);
    devices.sort_by(|a, b| a.path().cmp(b.path()));
    devices
}

fn collect_devices(dir: &Path, devices: &mut Vec<LinuxDevice>) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let kind = meta.file_type();
        if kind.is_dir() {
            let skipped = ["/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/fd"];
            if !skipped.iter().any(|s| path == Path::new(s)) {
                collect_devices(&path, devices);
            }
            continue;
        }
        let typ = if kind.is_char_device() {
            LinuxDeviceType::C
        } else if kind.is_block_device() {
            LinuxDeviceType::B
        } else {
            continue;
        };
        // /dev/console is the container's own terminal, when it has one.
        if path == Path::new("/dev/console") {
            continue;
        }
        let rdev = meta.rdev();
        let device = LinuxDeviceBuilder::default()
            .path(path)
            .typ(typ)
            .major(rustix::fs::major(rdev) as i64)
            .minor(rustix::fs::minor(rdev) as i64)
            .file_mode(meta.mode() & 0o7777)
            .uid(meta.uid())
            .gid(meta.gid())
            .build();
        devices.extend(device.ok());
    }
}

/// The limits alone, as [`apply`] sets them (for `update` on a container's bundle).
pub(super) fn apply_limits(
    spec: &mut Spec,
    config: &ContainerConfig,
) -> Result<Vec<String>, SpecError> {
    let mut warnings = Vec::new();
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut resources = linux.resources().clone().unwrap_or_default();
    limits(&mut resources, config, &mut warnings)?;
    linux.set_resources(Some(resources));
    spec.set_linux(Some(linux));
    Ok(warnings)
}
