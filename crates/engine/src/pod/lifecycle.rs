//! A pod's containers started, stopped, signalled and removed together: the infra first on
//! the way up, last on the way down.

use super::cgroup;
use super::create::pod_lock;
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::pod::PodRecord;
use crate::state::{ContainerRecord, ContainerState};

impl Engine {
    /// Infra first, then the init containers run to their end in creation order (a failed
    /// one stops the start; `once` ones are removed), then the others in creation order;
    /// running ones are left running. Every other container is tried; the first failure is
    /// returned after.
    pub fn pod_start(&self, key: &str) -> Result<PodRecord> {
        let pod = self.pod_find(key)?;
        let mut first_error = None;
        let (inits, others): (Vec<ContainerRecord>, Vec<ContainerRecord>) = self
            .pod_containers(&pod.id)?
            .into_iter()
            .partition(|c| init_kind(c).is_some() && !c.config.infra);
        let mut others = others.into_iter().peekable();
        // The infra (first) holds the namespaces the init containers join.
        if let Some(infra) = others.next_if(|c| c.config.infra) {
            if !infra.state.is_active() {
                self.start(&infra.id, false)?;
            }
        }
        for init in inits {
            self.run_init_container(&pod, &init)?;
        }
        for container in others {
            if container.state.is_active() {
                continue;
            }
            if let Err(e) = self.start(&container.id, false) {
                tracing::warn!(pod = %pod.name, container = %container.name, "start: {e}");
                first_error.get_or_insert(e);
            }
        }
        self.pod_event(&pod, "start");
        first_error.map_or(Ok(pod), Err)
    }

    /// Starts init container `init` and waits for its end: refused unless it exits 0, removed
    /// after when it runs `once`.
    fn run_init_container(&self, pod: &PodRecord, init: &ContainerRecord) -> Result<()> {
        self.start(&init.id, false)?;
        let code = self.wait(&init.id)?;
        if code != 0 {
            return Err(EngineError::Pod {
                name: pod.name.clone(),
                message: format!("init container {} exited with code {code}", init.name),
            });
        }
        if init_kind(init) == Some("once") {
            self.remove(&init.id, true, true, Some(0))?;
        }
        Ok(())
    }

    /// Containers in reverse creation order, the infra last; each with its stop timeout
    /// (or `timeout` when given).
    pub fn pod_stop(&self, key: &str, timeout: Option<u32>) -> Result<PodRecord> {
        let pod = self.pod_find(key)?;
        let mut first_error = None;
        for container in stop_order(self.pod_containers(&pod.id)?) {
            if !container.state.is_active() {
                continue;
            }
            match self.stop(&container.id, timeout) {
                Ok(_) | Err(EngineError::NoSuchContainer(_)) => {}
                Err(e) => {
                    tracing::warn!(pod = %pod.name, container = %container.name, "stop: {e}");
                    first_error.get_or_insert(e);
                }
            }
        }
        self.pod_event(&pod, "stop");
        first_error.map_or(Ok(pod), Err)
    }

    /// Sends `signal` to every running container of the pod (the infra last); refused when
    /// none runs.
    pub fn pod_kill(&self, key: &str, signal: &str) -> Result<PodRecord> {
        let pod = self.pod_find(key)?;
        let running: Vec<ContainerRecord> = stop_order(self.pod_containers(&pod.id)?)
            .into_iter()
            .filter(|c| c.state.is_active())
            .collect();
        if running.is_empty() {
            return Err(EngineError::Pod {
                name: pod.name.clone(),
                message: "no container of it is running: nothing to kill".into(),
            });
        }
        for container in running {
            self.kill(&container.id, signal)?;
        }
        self.pod_event(&pod, "kill");
        Ok(pod)
    }

    /// Pauses every running container of the pod (with `paused` false, resumes every paused
    /// one), the infra too, as podman does; refused when none runs or is paused.
    pub fn pod_set_paused(&self, key: &str, paused: bool) -> Result<PodRecord> {
        let pod = self.pod_find(key)?;
        let (from, action) = if paused {
            (ContainerState::Running, "pause")
        } else {
            (ContainerState::Paused, "unpause")
        };
        let containers = self.pod_containers(&pod.id)?;
        let already = containers
            .iter()
            .any(|c| c.state != from && c.state.is_active());
        let targets: Vec<ContainerRecord> =
            containers.into_iter().filter(|c| c.state == from).collect();
        // As podman's: pausing a paused pod (resuming a running one) is done already.
        if targets.is_empty() && !already {
            return Err(EngineError::Pod {
                name: pod.name.clone(),
                message: format!("no container of it is {from}: nothing to {action}"),
            });
        }
        for container in targets {
            if paused {
                self.pause(&container.id)?;
            } else {
                self.unpause(&container.id)?;
            }
        }
        self.pod_event(&pod, action);
        Ok(pod)
    }

    /// Stops the pod, then starts it.
    pub fn pod_restart(&self, key: &str) -> Result<PodRecord> {
        let pod = self.pod_stop(key, None)?;
        let pod = self.pod_start(&pod.id)?;
        self.pod_event(&pod, "restart");
        Ok(pod)
    }

    /// Refuses a pod with running containers unless `force` (then stops them); removes its
    /// containers, infra, cgroup parent and record.
    pub fn pod_remove(&self, key: &str, force: bool) -> Result<PodRecord> {
        let pod = self.pod_find(key)?;
        let _lock = self.lock(&pod_lock(&pod.id))?;
        // Again under the lock: another removal may have finished meanwhile.
        let pod = self.pod_find(&pod.id)?;
        if !force {
            let running: Vec<String> = self
                .pod_containers(&pod.id)?
                .into_iter()
                .filter(|c| c.state.is_active())
                .map(|c| c.name)
                .collect();
            if !running.is_empty() {
                return Err(EngineError::Pod {
                    name: pod.name.clone(),
                    message: format!(
                        "it has running containers ({}): stop it first or use --force",
                        running.join(", ")
                    ),
                });
            }
        }
        // Recorded first: a podadm killed from here on leaves a pod the next read removes.
        self.db.update_pod(&pod, Some(std::process::id() as i32))?;
        self.finish_pod_remove(&pod)?;
        Ok(pod)
    }

    /// Everything of a pod goes, then its record: its containers (stopped first; the infra
    /// last), its cgroup parent. Each step tolerates what is already gone.
    pub(crate) fn finish_pod_remove(&self, pod: &PodRecord) -> Result<()> {
        for container in stop_order(self.pod_containers(&pod.id)?) {
            match self.remove_container(&container.id, true, false, None) {
                Ok(_) | Err(EngineError::NoSuchContainer(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.remove_pod_volumes(pod);
        cgroup::remove(&pod.cgroup_parent)?;
        self.db.delete_pod(&pod.id)?;
        crate::lock::forget(&self.paths.locks(), &pod_lock(&pod.id));
        self.pod_event(pod, "remove");
        Ok(())
    }
}

/// `once` or `always` for an init container, else `None`.
fn init_kind(container: &ContainerRecord) -> Option<&str> {
    container
        .config
        .annotations
        .get(super::INIT_CONTAINER_ANNOTATION)
        .map(String::as_str)
}

/// The members in reverse creation order, then the infra.
fn stop_order(mut containers: Vec<ContainerRecord>) -> Vec<ContainerRecord> {
    containers.reverse();
    // A stable sort: the infra (first in creation) goes last, the rest keep their order.
    containers.sort_by_key(|c| c.config.infra);
    containers
}
