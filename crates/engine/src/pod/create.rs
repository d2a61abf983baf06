//! Making a pod (its record, cgroup parent and infra container), finding and listing pods.
//! A pod's record is written first, owned by the podadm process making it; a pod whose
//! owner died before it was done (or during its removal) is removed by the next reader.

use std::path::Path;

use oci_spec::runtime::Spec;

use super::cgroup;
use crate::config::{ContainerConfig, NetworkMode};
use crate::engine::Engine;
use crate::error::{io, EngineError, Result};
use crate::pod::{PodConfig, PodRecord, PodState, SharedNamespace};
use crate::state::{ContainerRecord, ContainerState};

impl Engine {
    /// Creates the pod record, its cgroup parent and its infra container (created, not
    /// started). Name taken -> clear error; default name generated like containers'.
    pub fn pod_create(&self, config: PodConfig, name: Option<&str>) -> Result<PodRecord> {
        self.pod_create_with_infra_name(config, name, None)
    }

    /// [`Engine::pod_create`], the infra container named `infra_name` (`--infra-name`)
    /// rather than `ID[..12]-infra`.
    pub fn pod_create_with_infra_name(
        &self,
        config: PodConfig,
        name: Option<&str>,
        infra_name: Option<&str>,
    ) -> Result<PodRecord> {
        let id = crate::names::new_id()?;
        let name = match name {
            Some(name) => {
                crate::names::check_name(name)?;
                name.to_string()
            }
            None => crate::names::generated_name(&id),
        };
        check_config(&name, &config)?;
        if let Some(infra_name) = infra_name {
            crate::names::check_name(infra_name)?;
        }
        if let Some(pod) = self.claim_pod(&config, &name, infra_name)? {
            return Ok(pod);
        }
        let mut pod = PodRecord {
            cgroup_parent: cgroup::parent_of(&id),
            id,
            name,
            config,
            infra_id: None,
            created_at: crate::clock::now(),
        };
        self.db.insert_pod(&pod, std::process::id() as i32)?;
        let made = cgroup::create(&pod.name, &pod.cgroup_parent, &pod.config.resources)
            .and_then(|()| self.create_infra(&pod, infra_name));
        match made {
            Ok(infra) => {
                pod.infra_id = Some(infra.id);
                self.db.update_pod(&pod, None)?;
                self.pod_event(&pod, "create");
                Ok(pod)
            }
            Err(e) => {
                if let Err(undo) = self.finish_pod_remove(&pod) {
                    tracing::warn!(pod = %pod.name, "undoing a failed pod create: {undo}");
                }
                Err(e)
            }
        }
    }

    /// By name, id or unique id prefix.
    pub fn pod_find(&self, key: &str) -> Result<PodRecord> {
        let row = self.db.find_pod(key)?;
        match self.reconcile_pod(row)? {
            Some(pod) => Ok(pod),
            None => Err(EngineError::NoSuchPod(key.to_string())),
        }
    }

    pub fn pod_list(&self) -> Result<Vec<PodRecord>> {
        let mut pods = Vec::new();
        for row in self.db.list_pods()? {
            pods.extend(self.reconcile_pod(row)?);
        }
        Ok(pods)
    }

    /// Derived from its containers (reconciled).
    pub fn pod_state(&self, pod: &PodRecord) -> Result<PodState> {
        let states: Vec<ContainerState> = self
            .pod_containers(&pod.id)?
            .iter()
            .map(|c| c.state)
            .collect();
        Ok(PodState::of(&states))
    }

    /// Its containers in creation order, the infra first.
    pub fn pod_containers(&self, pod_id: &str) -> Result<Vec<ContainerRecord>> {
        let mut containers: Vec<ContainerRecord> = self
            .list()?
            .into_iter()
            .filter(|c| c.config.pod.as_deref() == Some(pod_id))
            .collect();
        // `list` is in creation order; a stable sort keeps it among the members.
        containers.sort_by_key(|c| !c.config.infra);
        Ok(containers)
    }

    /// `None` when the pod turned out to be gone: its creator or remover died half-way, and
    /// the removal was finished here.
    fn reconcile_pod(&self, row: crate::state::PodRow) -> Result<Option<PodRecord>> {
        let Some(owner) = row.owner_pid else {
            return Ok(Some(row.record));
        };
        if crate::reconcile::owner_alive(owner) {
            return Ok(Some(row.record));
        }
        let Some(_lock) = crate::lock::try_lock(&self.paths.locks(), &pod_lock(&row.record.id))?
        else {
            // Someone is removing it now.
            return Ok(Some(row.record));
        };
        tracing::info!(pod = %row.record.name, "removing a pod left half made or half removed");
        self.finish_pod_remove(&row.record)?;
        Ok(None)
    }

    /// The infra container: a record like any other's, with a bundle the engine writes
    /// (no image): podinit's pause mode on an empty read-only root.
    fn create_infra(&self, pod: &PodRecord, name: Option<&str>) -> Result<ContainerRecord> {
        let id = crate::names::new_id()?;
        let name = match name {
            Some(name) => {
                crate::names::check_name(name)?;
                name.to_string()
            }
            None => format!("{}-infra", &pod.id[..12]),
        };
        let runtime = crate::runtime::OciRuntime::find(&self.options.runtime, &self.paths)?;
        let config = ContainerConfig {
            hostname: Some(pod_hostname(pod)),
            ports: pod.config.ports.clone(),
            network: pod.config.network.clone(),
            dns: pod.config.dns.clone(),
            extra_hosts: pod.config.extra_hosts.clone(),
            pod: Some(pod.id.clone()),
            infra: true,
            ..Default::default()
        };
        let record = ContainerRecord::creating(
            id,
            name,
            (String::new(), String::new()),
            config,
            runtime.path.display().to_string(),
        );
        self.record_creation(record, |record| self.build_infra(record, pod))
    }

    fn build_infra(&self, record: &ContainerRecord, pod: &PodRecord) -> Result<()> {
        self.make_userdata(record)?;
        let rootfs = self.paths.container_dir(&record.id).join("rootfs");
        std::fs::create_dir_all(&rootfs).map_err(io(&rootfs))?;
        let podinit = crate::create::podinit_binary().ok_or_else(|| EngineError::Pod {
            name: pod.name.clone(),
            message: "podinit, which its infra container runs, was not found \
                      (AURORA_PODINIT, beside podadm, or on PATH)"
                .into(),
        })?;
        let mut spec = infra_spec(
            &rootfs,
            &pod_hostname(pod),
            &podinit,
            &cgroup::container_path(&pod.cgroup_parent, &record.id),
        )?;
        leave_to_host(&mut spec, &pod.config.host_namespaces);
        let bundle = self.paths.bundle(&record.id);
        std::fs::create_dir_all(&bundle).map_err(io(&bundle))?;
        aurora_bundle::write_bundle_config_as(&bundle, &spec, aurora_bundle::Durability::Unsynced)?;
        Ok(())
    }

    /// Records an event about a pod.
    pub(crate) fn pod_event(&self, pod: &PodRecord, action: &str) {
        let attributes = serde_json::json!({ "name": pod.name });
        if let Err(e) = self
            .db
            .add_event("pod", action, &pod.id, &pod.name, "", attributes)
        {
            tracing::warn!(pod = %pod.name, "recording the {action} event: {e}");
        }
    }
}

/// The name of pod `id`'s lock (beside the containers' locks).
pub(crate) fn pod_lock(id: &str) -> String {
    format!("pod-{id}")
}

/// The pod's hostname: `--hostname`, else its name (as podman's).
pub(crate) fn pod_hostname(pod: &PodRecord) -> String {
    pod.config
        .hostname
        .clone()
        .unwrap_or_else(|| pod.name.clone())
}

/// What a pod cannot be asked for.
fn check_config(name: &str, config: &PodConfig) -> Result<()> {
    let refuse = |message: &str| {
        Err(EngineError::Pod {
            name: name.to_string(),
            message: message.to_string(),
        })
    };
    if matches!(config.network, NetworkMode::Container(_)) {
        return refuse("--network container:NAME is not a pod's network (none, host or networks)");
    }
    if !config.ports.is_empty() && !config.share.contains(&SharedNamespace::Net) {
        return refuse("ports (-p) are published on the pod's network: --share must include net");
    }
    if !config.ports.is_empty() && config.network == NetworkMode::Host {
        return refuse("ports (-p) cannot be published with --network host");
    }
    for kind in &config.host_namespaces {
        if !matches!(kind, SharedNamespace::Ipc | SharedNamespace::Pid) {
            return refuse(&format!(
                "only the ipc and pid namespaces can be the host's (not {})",
                kind.as_str()
            ));
        }
        if !config.share.contains(kind) {
            return refuse(&format!(
                "the host's {} namespace is given to the pod's containers through the pod: \
                 --share must include it",
                kind.as_str()
            ));
        }
    }
    if let Some(hostname) = &config.hostname {
        if !config.share.contains(&SharedNamespace::Uts) {
            return refuse(&format!(
                "--hostname {hostname} needs the UTS namespace shared (--share uts)"
            ));
        }
    }
    Ok(())
}

/// Drops the spec's own namespaces of the kinds the pod takes from the host (ipc, pid): the
/// infra then runs in the host's, and members sharing them join the host's through it.
fn leave_to_host(spec: &mut Spec, host: &[SharedNamespace]) {
    use oci_spec::runtime::LinuxNamespaceType;
    let Some(linux) = spec.linux_mut() else {
        return;
    };
    let kinds: Vec<LinuxNamespaceType> = host
        .iter()
        .filter_map(|shared| match shared {
            SharedNamespace::Ipc => Some(LinuxNamespaceType::Ipc),
            SharedNamespace::Pid => Some(LinuxNamespaceType::Pid),
            // The network is `network: Host`; the host's UTS namespace is not offered.
            SharedNamespace::Net | SharedNamespace::Uts => None,
        })
        .collect();
    if let Some(namespaces) = linux.namespaces_mut() {
        namespaces.retain(|ns| !kinds.contains(&ns.typ()));
    }
}

/// The infra container's runtime spec: runc's defaults, the root an empty directory mounted
/// read-only, podinit (bind-mounted read-only) in its pause mode as the process, the pod's
/// hostname and the container's cgroup under the pod's parent.
pub(crate) fn infra_spec(
    rootfs: &Path,
    hostname: &str,
    podinit: &Path,
    cgroups_path: &str,
) -> Result<Spec> {
    let mut spec = aurora_bundle::default_spec();
    if let Some(root) = spec.root_mut() {
        root.set_path(rootfs.to_path_buf());
        root.set_readonly(Some(true));
    }
    spec.set_hostname(Some(hostname.to_string()));
    if let Some(process) = spec.process_mut() {
        process.set_terminal(Some(false));
        process.set_args(Some(vec!["pause".to_string()]));
    }
    // `inject` mounts podinit where `--init` puts it and puts it in front of the process;
    // the infra then runs podinit's own `pause` mode rather than supervising a `pause`.
    aurora_bundle::init::inject(&mut spec, podinit)?;
    if let Some(process) = spec.process_mut() {
        process.set_args(Some(vec![
            aurora_bundle::init::INIT_IN_CONTAINER.to_string(),
            "pause".to_string(),
        ]));
    }
    if let Some(linux) = spec.linux_mut() {
        linux.set_cgroups_path(Some(cgroups_path.into()));
    }
    let mut annotations = std::collections::HashMap::new();
    annotations.insert(
        crate::spec::STOP_SIGNAL_ANNOTATION.to_string(),
        "SIGTERM".to_string(),
    );
    spec.set_annotations(Some(annotations));
    Ok(spec)
}
