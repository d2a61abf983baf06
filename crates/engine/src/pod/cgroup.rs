//! A pod's cgroup parent: every container of the pod (its infra too) gets its cgroup under
//! it (`linux.cgroupsPath` = `PARENT/CONTAINER-ID`, which runz, runc and crun read as a path
//! under each hierarchy's mount with the cgroupfs driver), and the pod's limits are written
//! on it, so that they bound the pod's containers together.
//!
//! The directories are made here (libcgroups makes a cgroup only when it moves a process
//! into it, and a pod's parent holds none); the limits are written, and the parent removed,
//! through libcgroups, the library runz itself runs on, which knows cgroup v1, hybrid and v2
//! hosts.

use crate::error::{EngineError, Result};
use crate::pod::PodResources;

/// Where pods' cgroup parents live (beside runz's `/runz`).
const PODS_CGROUP: &str = "/aurora";

/// The CFS period `--cpus` is expressed in (µs), as for containers.
const CPU_PERIOD: u64 = 100_000;

/// The cgroup parent of pod `pod_id`.
pub(crate) fn parent_of(pod_id: &str) -> String {
    format!("{PODS_CGROUP}/pod-{}", &pod_id[..12])
}

/// The `linux.cgroupsPath` of container `id` in the pod whose parent is `parent`.
pub(crate) fn container_path(parent: &str, id: &str) -> String {
    format!("{parent}/{id}")
}

/// Makes the parent and writes the pod's limits on it.
#[cfg(target_os = "linux")]
pub(crate) fn create(pod_name: &str, parent: &str, resources: &PodResources) -> Result<()> {
    use libcgroups::common::{CgroupManager, ControllerOpt};

    let error = |message: String| EngineError::Pod {
        name: pod_name.to_string(),
        message,
    };
    make_directories(parent).map_err(|e| error(format!("making cgroup {parent}: {e}")))?;
    let Some(limits) = limits(resources).map_err(|e| error(e.to_string()))? else {
        return Ok(());
    };
    let manager = manager(parent).map_err(&error)?;
    let options = ControllerOpt {
        resources: &limits,
        disable_oom_killer: false,
        oom_score_adj: None,
        freezer_state: None,
    };
    manager
        .apply(&options)
        .map_err(|e| error(format!("setting the limits of cgroup {parent}: {e}")))
}

/// Removes the parent (its containers' cgroups are gone with them): in every hierarchy.
#[cfg(target_os = "linux")]
pub(crate) fn remove(parent: &str) -> Result<()> {
    use libcgroups::common::CgroupManager;

    let manager = manager(parent).map_err(EngineError::Other)?;
    if let Err(e) = manager.remove() {
        return Err(EngineError::Other(format!("removing cgroup {parent}: {e}")));
    }
    // Hierarchies libcgroups does not manage (runc also makes one in `name=systemd`).
    if !unified() {
        if let Ok(entries) = std::fs::read_dir(CGROUP_ROOT) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_dir(entry.path().join(relative(parent)));
            }
        }
    }
    Ok(())
}

#[cfg(target_os = "linux")]
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

#[cfg(target_os = "linux")]
fn unified() -> bool {
    std::path::Path::new(CGROUP_ROOT)
        .join("cgroup.controllers")
        .exists()
}

#[cfg(target_os = "linux")]
fn relative(parent: &str) -> &str {
    parent.trim_start_matches('/')
}

#[cfg(target_os = "linux")]
fn manager(parent: &str) -> std::result::Result<libcgroups::common::AnyCgroupManager, String> {
    libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
        cgroup_path: parent.into(),
        systemd_cgroup: false,
        container_name: String::new(),
    })
    .map_err(|e| format!("cgroup {parent}: {e}"))
}

/// The parent's directories: on v2 the one directory (with the memory, cpu and pids
/// controllers enabled down to it); on v1 one in every hierarchy (libcgroups writes the
/// limits through each controller it knows, the devices one included).
#[cfg(target_os = "linux")]
fn make_directories(parent: &str) -> std::io::Result<()> {
    let root = std::path::Path::new(CGROUP_ROOT);
    if unified() {
        let mut dir = root.to_path_buf();
        for component in relative(parent).split('/') {
            // Best effort: a controller the host lacks is simply not enabled.
            let _ = std::fs::write(dir.join("cgroup.subtree_control"), "+memory +cpu +pids");
            dir.push(component);
            match std::fs::create_dir(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
        }
        let _ = std::fs::write(dir.join("cgroup.subtree_control"), "+memory +cpu +pids");
        return Ok(());
    }
    for hierarchy in std::fs::read_dir(root)?.flatten() {
        // A hybrid host's v2 tree carries no controllers here.
        if hierarchy.file_name() != "unified" && hierarchy.path().is_dir() {
            std::fs::create_dir_all(hierarchy.path().join(relative(parent)))?;
        }
    }
    Ok(())
}

/// The pod's limits as a runtime spec's resources; `None` when it has none.
#[cfg(target_os = "linux")]
fn limits(
    resources: &PodResources,
) -> std::result::Result<Option<oci_spec::runtime::LinuxResources>, String> {
    use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxResources};

    if resources.memory.is_none() && resources.cpus.is_none() {
        return Ok(None);
    }
    let mut limits = LinuxResources::default();
    if let Some(memory) = resources.memory {
        let bytes = i64::try_from(memory).map_err(|_| format!("--memory {memory} is too large"))?;
        let memory = LinuxMemoryBuilder::default()
            .limit(bytes)
            .build()
            .map_err(|e| format!("--memory: {e}"))?;
        limits.set_memory(Some(memory));
    }
    if let Some(cpus) = resources.cpus {
        if !cpus.is_finite() || cpus <= 0.0 {
            return Err(format!("--cpus {cpus} is not a positive number of CPUs"));
        }
        let quota = ((cpus * CPU_PERIOD as f64).round() as i64).max(1000);
        let cpu = LinuxCpuBuilder::default()
            .quota(quota)
            .period(CPU_PERIOD)
            .build()
            .map_err(|e| format!("--cpus: {e}"))?;
        limits.set_cpu(Some(cpu));
    }
    Ok(Some(limits))
}

/// Other systems give pods no cgroup parent (illumos zones have their own resource controls).
#[cfg(not(target_os = "linux"))]
pub(crate) fn create(_pod_name: &str, _parent: &str, _resources: &PodResources) -> Result<()> {
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn remove(_parent: &str) -> Result<()> {
    Ok(())
}
