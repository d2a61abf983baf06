//! The pool of pods' infra sandboxes (`pool set --pod`): each is a pod's infra container
//! made ahead — the pod's id and cgroup parent chosen, the empty root and bundle written,
//! the network namespace wired, the container created and started by the runtime under its
//! monitor, podinit in sandbox mode waiting for its process.
//!
//! `pod create` claims one in the transaction that writes the pod: the sandbox becomes the
//! pod's infra container, in state `created` (as a fresh pod's infra is), with the pod's
//! name, hostname files and limits. Its process — the pod's pause, and the pod's hostname
//! for its UTS namespace — is sent when the infra is started (`pod start`, or the first
//! member's start), with no runtime call. Until then the base file beside the bundle says
//! the infra waits; an infra whose sandbox died meanwhile is started the usual way.

use super::claim::{as_new_container, read_json, send};
use super::fill::{SandboxBase, BASE_FILE, CHANNEL_DIR, FIFO_NAME};
use super::{normalized_network, pod_poolable, POD_INFRA_POOL};
use crate::config::ContainerConfig;
use crate::engine::Engine;
use crate::error::{io, EngineError, Result};
use crate::pod::{cgroup, infra_spec, pod_hostname, PodConfig, PodRecord, PodResources};
use crate::state::{ContainerRecord, ContainerState, SandboxRow};

impl Engine {
    /// Makes a pod's infra sandbox: its cgroup parent (the pod's id is in the record), an
    /// empty root, the infra's bundle, then what every sandbox gets.
    pub(super) fn make_infra_sandbox(&self, row: &mut SandboxRow) -> Result<()> {
        let record = &row.record;
        let pod_id = record
            .config
            .pod
            .clone()
            .ok_or_else(|| EngineError::Other("an infra sandbox without a pod id".into()))?;
        let parent = cgroup::parent_of(&pod_id);
        cgroup::create(&record.name, &parent, &PodResources::default())?;
        self.make_userdata(record)?;
        let rootfs = self.paths.container_dir(&record.id).join("rootfs");
        std::fs::create_dir_all(&rootfs).map_err(io(&rootfs))?;
        let podinit = crate::create::podinit_binary().ok_or_else(|| {
            EngineError::Other(
                "podinit, which pods' infra containers run, was not found \
                 (AURORA_PODINIT, beside podadm, or on PATH)"
                    .into(),
            )
        })?;
        let spec = infra_spec(
            &rootfs,
            &self.hostname_of(record),
            &podinit,
            &cgroup::container_path(&parent, &record.id),
        )?;
        let bundle = self.paths.bundle(&record.id);
        std::fs::create_dir_all(&bundle).map_err(io(&bundle))?;
        aurora_bundle::write_bundle_config_as(&bundle, &spec, aurora_bundle::Durability::Unsynced)?;
        let base = SandboxBase {
            spec,
            image_config: Default::default(),
            volume_destinations: Vec::new(),
        };
        self.wire_sandbox(&mut row.record, &base)
    }

    /// `pod create`'s fast path: a ready infra sandbox becomes pod `name`'s infra container
    /// (named `infra_name`, else `ID[..12]-infra`) when a pool of pods on the pod's network
    /// holds one and the pod publishes no port. `None`: the caller makes the pod as usual.
    pub(crate) fn claim_pod(
        &self,
        config: &PodConfig,
        name: &str,
        infra_name: Option<&str>,
    ) -> Result<Option<PodRecord>> {
        if !self.db.has_pools()? {
            return Ok(None);
        }
        let pools = self.db.pools()?;
        let Some(pool) = pools.iter().find(|p| p.holds_pods()) else {
            return Ok(None);
        };
        if !pod_poolable(config, pool) {
            return Ok(None);
        }
        let network = normalized_network(&pool.network);
        loop {
            let usable = |sandbox: &ContainerRecord| {
                sandbox.config.infra
                    && sandbox.config.pod.as_ref().is_some_and(|id| id.len() == 64)
                    && normalized_network(&sandbox.config.network) == network
                    && sandbox.pid.is_some_and(crate::process::alive)
            };
            let make = |sandbox: ContainerRecord| claimed_pod(sandbox, config, name, infra_name);
            let Some((record, pod)) =
                self.db
                    .claim_sandbox_with_pod(POD_INFRA_POOL, usable, make)?
            else {
                self.spawn_refiller();
                return Ok(None);
            };
            let Some(pod) = pod else {
                return Err(EngineError::Other(
                    "a claimed infra sandbox has no pod".into(),
                ));
            };
            match self.prepare_claimed_infra(&pod, &record) {
                Ok(()) => {
                    self.event(&record, "create");
                    self.pod_event(&pod, "create");
                    self.spawn_refiller();
                    return Ok(Some(pod));
                }
                Err(e) => {
                    // Its cgroup or files could not be written: the pod goes with it, and
                    // the next sandbox (or the usual path) is tried.
                    tracing::debug!(pod = %pod.name, "a broken infra sandbox: {e}");
                    self.db.delete_pod(&pod.id)?;
                    self.db.discard_container(&record, POD_INFRA_POOL)?;
                }
            }
        }
    }

    /// What differs from the sandbox as made: the pod's limits on its cgroup parent, the
    /// hostname and hosts files.
    fn prepare_claimed_infra(&self, pod: &PodRecord, record: &ContainerRecord) -> Result<()> {
        if pod.config.resources != PodResources::default() {
            cgroup::create(&pod.name, &pod.cgroup_parent, &pod.config.resources)?;
        }
        let userdata = self.paths.userdata(&record.id);
        let hostname = userdata.join("hostname");
        std::fs::write(&hostname, self.hostname_of(record)).map_err(io(&hostname))?;
        let hosts = userdata.join("hosts");
        std::fs::write(&hosts, self.claimed_hosts(record)).map_err(io(&hosts))?;
        Ok(())
    }

    /// An infra container claimed by `pod create` whose sandbox waits for its process.
    pub(crate) fn infra_waits(&self, record: &ContainerRecord) -> bool {
        record.config.infra
            && self
                .paths
                .container_dir(&record.id)
                .join(BASE_FILE)
                .exists()
    }

    /// Starts a claimed infra container by sending its process to its sandbox; the caller
    /// holds its lock. False when it does not wait (or its sandbox died, and what is left of
    /// it was released): the caller starts it as any container.
    pub(crate) fn start_waiting_infra(&self, record: &mut ContainerRecord) -> Result<bool> {
        if !self.infra_waits(record) {
            return Ok(false);
        }
        let base_path = self.paths.container_dir(&record.id).join(BASE_FILE);
        let base: SandboxBase = read_json(&base_path)?;
        let mut spec = base.spec;
        spec.set_hostname(Some(self.hostname_of(record)));
        // The bundle as a fresh infra's: a later start runs it the usual way.
        let bundle = self.paths.bundle(&record.id);
        aurora_bundle::write_bundle_config_as(&bundle, &spec, aurora_bundle::Durability::Unsynced)?;
        std::fs::remove_file(&base_path).map_err(io(&base_path))?;
        match self.send_infra_process(record, &spec) {
            Ok(pid) => {
                record.state = ContainerState::Running;
                record.pid = Some(pid);
                record.started_at = Some(crate::clock::now());
                record.finished_at = None;
                record.exit_code = None;
                self.db.update(record)?;
                self.event(record, "start");
                Ok(true)
            }
            Err(e) => {
                tracing::info!(container = %record.name, "its sandbox is gone ({e}); starting it anew");
                self.release_sandbox(record)?;
                Ok(false)
            }
        }
    }

    /// The pause process and the pod's hostname to the sandbox's podinit; its pid.
    fn send_infra_process(
        &self,
        record: &ContainerRecord,
        spec: &oci_spec::runtime::Spec,
    ) -> Result<i32> {
        let monitor_dir = self.paths.monitor_dir(&record.id);
        let report = crate::monitor::report(&monitor_dir);
        let pid = report
            .status
            .map(|status| status.pid)
            .filter(|pid| report.alive && crate::process::alive(*pid))
            .ok_or_else(|| EngineError::Other("its podinit or monitor is gone".into()))?;
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| EngineError::Other("the infra's spec has no process".into()))?;
        let mut message =
            serde_json::to_value(process).map_err(|e| EngineError::Other(e.to_string()))?;
        message["hostname"] = serde_json::Value::String(self.hostname_of(record));
        let fifo = monitor_dir.join(CHANNEL_DIR).join(FIFO_NAME);
        send(&fifo, message.to_string().as_bytes()).map_err(io(&fifo))?;
        Ok(pid)
    }

    /// What a dead sandbox left: its monitor, runtime state and network.
    fn release_sandbox(&self, record: &mut ContainerRecord) -> Result<()> {
        self.stop_sandbox(record);
        let _ = std::fs::remove_dir_all(self.paths.monitor_dir(&record.id));
        self.detach_network(record);
        self.db.update(record)?;
        Ok(())
    }

    /// Removes an infra sandbox's cgroup parent (its container's cgroup is gone with it).
    pub(super) fn remove_infra_cgroup(&self, record: &ContainerRecord) {
        let Some(pod_id) = record.config.pod.as_deref().filter(|_| record.config.infra) else {
            return;
        };
        if pod_id.len() < 12 {
            return;
        }
        if let Err(e) = cgroup::remove(&cgroup::parent_of(pod_id)) {
            tracing::warn!(sandbox = %record.id, "{e}");
        }
    }
}

/// The pod and its infra container in the sandbox's place: the sandbox's ids (the pod's was
/// chosen with it), network and cgroup parent; the user's names and configuration.
fn claimed_pod(
    sandbox: ContainerRecord,
    config: &PodConfig,
    name: &str,
    infra_name: Option<&str>,
) -> (ContainerRecord, Option<PodRecord>) {
    let pod_id = sandbox.config.pod.clone().unwrap_or_default();
    let pod = PodRecord {
        cgroup_parent: cgroup::parent_of(&pod_id),
        id: pod_id.clone(),
        name: name.to_string(),
        config: config.clone(),
        infra_id: Some(sandbox.id.clone()),
        created_at: crate::clock::now(),
    };
    let name = infra_name
        .map(str::to_string)
        .unwrap_or_else(|| format!("{}-infra", &pod_id[..12]));
    let config = ContainerConfig {
        hostname: Some(pod_hostname(&pod)),
        network: config.network.clone(),
        pod: Some(pod_id),
        infra: true,
        ..Default::default()
    };
    let infra = as_new_container(sandbox, name, config, ContainerState::Created);
    (infra, Some(pod))
}
