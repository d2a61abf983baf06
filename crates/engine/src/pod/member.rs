//! Containers joining a pod: at create their configuration takes the pod's network and
//! hostname and their cgroup goes under the pod's parent; at start the pod's infra container
//! is started first and their spec joins its shared namespaces by path.

use std::path::Path;

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use super::cgroup;
use super::create::pod_hostname;
use crate::config::{ContainerConfig, NetworkMode};
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

    /// Points the namespaces of `record`'s bundle that its pod shares (but the network's,
    /// which its network mode joins) at its infra container's, which must run. A spec that
    /// joins a UTS namespace sets no hostname (runtimes refuse to set one there).
    pub(crate) fn join_pod_namespaces(
        &self,
        record: &ContainerRecord,
        bundle: &Path,
    ) -> Result<()> {
        if record.config.infra {
            return Ok(());
        }
        let Some(pod) = self.pod_of(record)? else {
            return Ok(());
        };
        let not_running = || EngineError::Pod {
            name: pod.name.clone(),
            message: format!(
                "its infra container is not running, so {} cannot join it",
                record.name
            ),
        };
        let infra = self.find(pod.infra_id.as_deref().ok_or_else(not_running)?)?;
        let pid = infra
            .pid
            .filter(|_| infra.state.is_active())
            .ok_or_else(not_running)?;
        let mut spec = aurora_bundle::read_bundle_config(bundle)?;
        let Some(linux) = spec.linux_mut().as_mut() else {
            return Ok(());
        };
        let mut namespaces: Vec<LinuxNamespace> = linux.namespaces().clone().unwrap_or_default();
        for shared in &pod.config.share {
            let (typ, file) = match shared {
                SharedNamespace::Net => continue,
                SharedNamespace::Ipc => (LinuxNamespaceType::Ipc, "ipc"),
                SharedNamespace::Uts => (LinuxNamespaceType::Uts, "uts"),
                SharedNamespace::Pid => (LinuxNamespaceType::Pid, "pid"),
            };
            namespaces.retain(|ns| ns.typ() != typ);
            let mut ns = LinuxNamespace::default();
            ns.set_typ(typ);
            ns.set_path(Some(format!("/proc/{pid}/ns/{file}").into()));
            namespaces.push(ns);
        }
        linux.set_namespaces(Some(namespaces));
        if pod.config.share.contains(&SharedNamespace::Uts) {
            spec.set_hostname(None);
        }
        aurora_bundle::write_bundle_config_as(bundle, &spec, aurora_bundle::Durability::Unsynced)?;
        Ok(())
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
