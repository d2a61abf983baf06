//! The verbs that act on the container's cgroup: pause, resume, ps, update, statistics.

use libcontainer::container::Container;
use oci_spec::runtime::{LinuxResources, Spec};

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::linux::resources;
use crate::linux::state_dir::{wrong_status, Runtime};

pub(super) fn pause(runtime: &Runtime, id: &str) -> Result<()> {
    let mut container = runtime.load(id)?;
    if !container.can_pause() {
        return Err(wrong_status(id, container.status(), "pause", ""));
    }
    container
        .pause()
        .map_err(|e| Error::backend(id, "cannot pause", e))
}

pub(super) fn resume(runtime: &Runtime, id: &str) -> Result<()> {
    let mut container = runtime.load(id)?;
    if !container.can_resume() {
        return Err(wrong_status(id, container.status(), "resume", ""));
    }
    container
        .resume()
        .map_err(|e| Error::backend(id, "cannot resume", e))
}

/// `ps`: the host PIDs of every process in the container's cgroup.
pub(super) fn ps(runtime: &Runtime, id: &str) -> Result<Vec<i32>> {
    let container = runtime.load(id)?;
    let manager = cgroup_manager(&container)?;
    use libcgroups::common::CgroupManager;
    let mut pids: Vec<i32> = manager
        .get_all_pids()
        .map_err(|e| Error::backend(id, "cannot list the processes of", e))?
        .into_iter()
        .map(|p| p.as_raw())
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// `update`: applies new cgroup resources to a running container.
pub(super) fn update(runtime: &Runtime, id: &str, resources: &LinuxResources) -> Result<()> {
    let container = runtime.load(id)?;
    if let Ok(setup) = libcgroups::common::get_cgroup_setup() {
        if let Some(why) = resources::unsupported_resources(resources, &setup) {
            return Err(Error::Invalid(format!(
                "cannot update container {id:?}: {why}"
            )));
        }
    }
    let manager = cgroup_manager(&container)?;
    let created = created_spec(&container);
    use libcgroups::common::{CgroupManager, ControllerOpt};
    manager
        .apply(&ControllerOpt {
            resources,
            disable_oom_killer: resources::oom_killer_disabled(resources, created.as_ref()),
            oom_score_adj: None,
            freezer_state: None,
        })
        .map_err(|e| Error::backend(id, "cannot update the resources of", e))
}

/// The configuration the container was created from, read again from its bundle (runz
/// adapts it only in memory, and never in what an update consults); None when it cannot
/// be read any more.
fn created_spec(container: &Container) -> Option<Spec> {
    Bundle::load(container.bundle())
        .ok()
        .map(|bundle| bundle.into_parts().1)
}

/// The container's resource statistics (its cgroup's), as runc's `events` reports them
/// under `data`.
pub(super) fn stats(runtime: &Runtime, id: &str) -> Result<serde_json::Value> {
    let container = runtime.load(id)?;
    let manager = cgroup_manager(&container)?;
    use libcgroups::common::CgroupManager;
    let stats = manager
        .stats()
        .map_err(|e| Error::backend(id, "cannot read the statistics of", e))?;
    serde_json::to_value(stats)
        .map_err(|e| Error::backend(id, "cannot encode the statistics of", e))
}

fn cgroup_manager(container: &Container) -> Result<libcgroups::common::AnyCgroupManager> {
    let id = container.id();
    let config = container
        .spec()
        .map_err(|e| Error::backend(id, "cannot read the cgroup of", e))?;
    libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
        cgroup_path: config.cgroup_path,
        systemd_cgroup: container.systemd(),
        container_name: id.to_string(),
    })
    .map_err(|e| Error::backend(id, "cannot open the cgroup of", e))
}
