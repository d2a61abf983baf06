//! Containers joining a pod: at create their configuration takes the pod's network and
//! hostname and their cgroup goes under the pod's parent; at start the pod's infra container
//! is started first and their spec joins its shared namespaces by path.

use std::path::Path;

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use super::cgroup;
use super::create::pod_hostname;
use crate::config::{ContainerConfig, NamespaceChoice, NetworkMode};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::pod::{PodRecord, SharedNamespace};
use crate::state::ContainerRecord;

impl Engine {
    /// `config` of a container joining the pod it names (by name, id or prefix): the pod's
    /// id kept, its network (the infra container's) and hostname taken. A container of a
    /// pod that shares its network cannot publish ports or choose a network, nor choose a
    /// hostname in a shared UTS namespace (podman refuses them too).
    pub(crate) fn pod_member_config(&self, mut config: ContainerConfig) -> Result<ContainerConfig> {
        let Some(key) = config.pod.clone() else {
            return Ok(config);
        };
        let pod = self.pod_find(&key)?;
        let refuse = |message: String| EngineError::Pod {
            name: pod.name.clone(),
            message,
        };
        if config.infra {
            return Err(refuse(
                "only the engine makes a pod's infra container".into(),
            ));
        }
        let infra = pod
            .infra_id
            .clone()
            .ok_or_else(|| refuse("it has no infra container (it is being made)".into()))?;
        if pod.config.share.contains(&SharedNamespace::Net) {
            if !config.ports.is_empty() {
                return Err(refuse(
                    "a container sharing the pod's network cannot publish ports (-p): \
                     publish them when the pod is created (pod create -p)"
                        .into(),
                ));
            }
            if config.network != NetworkMode::default() {
                return Err(refuse(
                    "a container sharing the pod's network cannot choose one (--network)".into(),
                ));
            }
            config.network = NetworkMode::Container(infra);
        }
        if pod.config.share.contains(&SharedNamespace::Uts) {
            if let Some(hostname) = &config.hostname {
                return Err(refuse(format!(
                    "--hostname {hostname}: a container sharing the pod's UTS namespace has \
                     the pod's hostname"
                )));
            }
            config.hostname = Some(pod_hostname(&pod));
        }
        config.pod = Some(pod.id);
        Ok(config)
    }

    /// The `linux.cgroupsPath` of a pod's container: under the pod's cgroup parent.
    pub(crate) fn pod_cgroups_path(&self, record: &ContainerRecord) -> Result<Option<String>> {
        let Some(pod_id) = &record.config.pod else {
            return Ok(None);
        };
        let pod = self.db.find_pod(pod_id)?.record;
        Ok(Some(cgroup::container_path(&pod.cgroup_parent, &record.id)))
    }

    /// Starts the infra container of `record`'s pod, unless `record` is that infra or in no
    /// pod; a running infra is left as it is.
    pub(crate) fn start_pod_infra(&self, record: &ContainerRecord) -> Result<()> {
        if record.config.infra {
            return Ok(());
        }
        let Some(infra) = self.pod_of(record)?.and_then(|pod| pod.infra_id) else {
            return Ok(());
        };
        self.start(&infra, false)?;
        Ok(())
    }

    /// Points the namespaces of `record`'s bundle at the ones it shares: those its pod
    /// shares (but the network's, which its network mode joins) at its infra container's,
    /// which must run, and the PID and IPC namespaces its security options name (its own,
    /// the pod's, the host's or another running container's). A spec that joins a UTS
    /// namespace sets no hostname (runtimes refuse to set one there).
    pub(crate) fn join_pod_namespaces(
        &self,
        record: &ContainerRecord,
        bundle: &Path,
    ) -> Result<()> {
        if record.config.infra {
            return Ok(());
        }
        let pod = self.pod_of(record)?;
        let security = &record.config.security;
        if pod.is_none() && security.pid.is_none() && security.ipc.is_none() {
            return Ok(());
        }
        let shared = |kind: SharedNamespace| {
            pod.as_ref()
                .is_some_and(|pod| pod.config.share.contains(&kind))
                .then_some(NamespaceChoice::Pod)
        };
        let mut wanted = vec![(LinuxNamespaceType::Uts, "uts", shared(SharedNamespace::Uts))];
        wanted.push((
            LinuxNamespaceType::Ipc,
            "ipc",
            security
                .ipc
                .clone()
                .or_else(|| shared(SharedNamespace::Ipc)),
        ));
        wanted.push((
            LinuxNamespaceType::Pid,
            "pid",
            security
                .pid
                .clone()
                .or_else(|| shared(SharedNamespace::Pid)),
        ));
        let mut spec = aurora_bundle::read_bundle_config(bundle)?;
        let Some(linux) = spec.linux_mut().as_mut() else {
            return Ok(());
        };
        let mut namespaces: Vec<LinuxNamespace> = linux.namespaces().clone().unwrap_or_default();
        for (typ, file, choice) in wanted {
            let Some(choice) = choice else {
                continue;
            };
            namespaces.retain(|ns| ns.typ() != typ);
            let path = match choice {
                NamespaceChoice::Host => continue,
                NamespaceChoice::Private => None,
                NamespaceChoice::Pod => {
                    let pod = pod.as_ref().ok_or_else(|| EngineError::Invalid {
                        name: record.name.clone(),
                        message: format!("it is in no pod whose {file} namespace it could join"),
                    })?;
                    Some(self.running_pid(pod.infra_id.as_deref(), record, &pod.name)?)
                }
                NamespaceChoice::Container(key) => {
                    let other = self.find(&key)?;
                    Some(self.running_pid(Some(&other.id), record, &other.name)?)
                }
            };
            let mut ns = LinuxNamespace::default();
            ns.set_typ(typ);
            ns.set_path(path.map(|pid| format!("/proc/{pid}/ns/{file}").into()));
            namespaces.push(ns);
        }
        linux.set_namespaces(Some(namespaces));
        if shared(SharedNamespace::Uts).is_some() {
            spec.set_hostname(None);
        }
        aurora_bundle::write_bundle_config_as(bundle, &spec, aurora_bundle::Durability::Unsynced)?;
        Ok(())
    }

    /// The pid of container `id` (a pod's infra, or the target of a namespace choice), which
    /// must run for `record` to join its namespaces.
    fn running_pid(&self, id: Option<&str>, record: &ContainerRecord, owner: &str) -> Result<i32> {
        let not_running = || EngineError::Invalid {
            name: record.name.clone(),
            message: format!("{owner} is not running, so its namespaces cannot be joined"),
        };
        let other = self.find(id.ok_or_else(not_running)?)?;
        other
            .pid
            .filter(|_| other.state.is_active())
            .ok_or_else(not_running)
    }

    /// The pod `record` belongs to, if any (a pod removed under it: none).
    pub(crate) fn pod_of(&self, record: &ContainerRecord) -> Result<Option<PodRecord>> {
        let Some(pod_id) = &record.config.pod else {
            return Ok(None);
        };
        match self.db.find_pod(pod_id) {
            Ok(row) => Ok(Some(row.record)),
            Err(EngineError::NoSuchPod(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The pod whose infra container `record` is, if that pod still exists.
    pub(crate) fn pod_of_infra(&self, record: &ContainerRecord) -> Result<Option<PodRecord>> {
        if !record.config.infra {
            return Ok(None);
        }
        self.pod_of(record)
    }
}
