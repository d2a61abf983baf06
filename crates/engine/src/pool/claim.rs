//! Claiming: `run`'s fast path. A ready sandbox of the image becomes the user's container
//! in one transaction (the sandbox's id becomes the container's: runtime state, monitor,
//! cgroup and storage are keyed by it); its hosts file is rewritten for the name, the
//! attach socket connected, and the process — computed exactly as `create` computes a fresh
//! container's — written to the sandbox's FIFO, where podinit execs it. No runtime call.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use aurora_network::{etc_files, SetupResult};

use super::fill::{SandboxBase, BASE_FILE, CHANNEL_DIR, FIFO_NAME};
use super::{normalized_network, poolable, CHANNEL_IN_CONTAINER};
use crate::config::{ContainerConfig, NetworkMode};
use crate::engine::Engine;
use crate::error::{io, EngineError, Result};
use crate::spec::{MountSource, ResolvedMount, SpecContext, UserdataFiles};
use crate::start::Started;
use crate::state::{ContainerRecord, ContainerState};

/// Why a claimed sandbox could not take the process.
enum HandOver {
    /// The user's configuration is refused (as `create` or `start` would refuse it): the
    /// caller takes the normal path, which reports it as for any container.
    Refused(EngineError),
    /// The sandbox is broken (its podinit is gone): the caller creates as usual.
    Broken(EngineError),
}

impl Engine {
    /// Runs `config` in a ready sandbox when a pool of its image and network holds one and
    /// nothing but what the process carries differs from the defaults ([`poolable`]).
    /// `None`: no pool matches or none is ready; the caller creates and starts as usual.
    pub fn claim(
        &self,
        config: &ContainerConfig,
        name: Option<&str>,
        attach: bool,
    ) -> Result<Option<Started>> {
        if !self.db.has_pools()? {
            return Ok(None);
        }
        if let Some(name) = name {
            crate::names::check_name(name)?;
        }
        let store = self.images.store()?;
        // An image the store lacks is the normal path's to pull.
        let Ok(image) = aurora_images::resolve(store, &config.image, None) else {
            return Ok(None);
        };
        let pools = self.db.pools()?;
        let Some(pool) = pools.iter().find(|p| p.image == image.name) else {
            return Ok(None);
        };
        if !poolable(config, pool) {
            return Ok(None);
        }
        let image_id = image.manifest_digest.to_string();
        let network = normalized_network(&pool.network);
        loop {
            let usable = |sandbox: &ContainerRecord| {
                sandbox.image_id == image_id
                    && normalized_network(&sandbox.config.network) == network
                    && sandbox.pid.is_some_and(crate::process::alive)
            };
            let make = |sandbox: ContainerRecord| claimed_record(sandbox, config, name);
            let Some(record) = self.db.claim_sandbox(&pool.image, usable, make)? else {
                self.spawn_refiller();
                return Ok(None);
            };
            match self.hand_over(&record, attach) {
                Ok(started) => {
                    self.spawn_refiller();
                    return Ok(Some(started));
                }
                Err(HandOver::Refused(e)) => {
                    // The normal path refuses it the same way, and leaves what it leaves.
                    tracing::debug!(container = %record.name, "refused in a sandbox: {e}");
                    self.db.discard_container(&record, &pool.image)?;
                    self.spawn_refiller();
                    return Ok(None);
                }
                Err(HandOver::Broken(e)) => {
                    tracing::debug!(container = %record.name, "a broken sandbox: {e}");
                    self.db.discard_container(&record, &pool.image)?;
                }
            }
        }
    }

    /// The process to the sandbox; its files and bundle as a fresh container's.
    fn hand_over(
        &self,
        record: &ContainerRecord,
        attach: bool,
    ) -> std::result::Result<Started, HandOver> {
        let container_dir = self.paths.container_dir(&record.id);
        let base_path = container_dir.join(BASE_FILE);
        let base: SandboxBase = read_json(&base_path).map_err(HandOver::Broken)?;
        let mut spec = base.spec.clone();
        let context = self.claim_context(record, &base);
        for warning in crate::spec::apply(&mut spec, &record.config, &context)
            .map_err(|e| HandOver::Refused(e.into()))?
        {
            tracing::warn!(container = %record.name, "{warning}");
        }
        let process = spec.process().clone().ok_or_else(|| {
            HandOver::Refused(EngineError::Other("the spec has no process".into()))
        })?;
        // As a fresh container's start fails (127, 126) rather than its process exiting so.
        let command = process.args().as_deref().unwrap_or_default();
        if let Some(program) = command.first() {
            let env = process.env().as_deref().unwrap_or_default();
            crate::exec::check_command(&context.rootfs, program, env).map_err(|message| {
                HandOver::Refused(EngineError::StartFailed {
                    name: record.name.clone(),
                    message,
                })
            })?;
        }
        let hosts_path = self.paths.userdata(&record.id).join("hosts");
        std::fs::write(&hosts_path, self.claimed_hosts(record))
            .map_err(|e| HandOver::Broken(io(&hosts_path)(e)))?;
        let client = if attach {
            Some(self.connect_attach(record).map_err(HandOver::Broken)?)
        } else {
            None
        };
        let bytes = serde_json::to_vec(&process)
            .map_err(|e| HandOver::Refused(EngineError::Other(e.to_string())))?;
        let fifo = self
            .paths
            .monitor_dir(&record.id)
            .join(CHANNEL_DIR)
            .join(FIFO_NAME);
        send(&fifo, &bytes).map_err(|e| HandOver::Broken(io(&fifo)(e)))?;
        // The process runs; what follows only makes the bundle a fresh container's, for a
        // later `start` (a `--rm` container has none: it goes with its first exit).
        if !record.config.auto_remove {
            if let Err(e) = self.write_claimed_bundle(record, &spec) {
                tracing::warn!(container = %record.name, "rewriting the bundle: {e}");
            }
            let _ = std::fs::remove_file(&base_path);
        }
        self.event(record, "create");
        self.event(record, "start");
        Ok(Started {
            record: record.clone(),
            attach: client,
        })
    }

    /// What `create` tells `spec::apply`, for the sandbox's clone.
    fn claim_context(&self, record: &ContainerRecord, base: &SandboxBase) -> SpecContext {
        let userdata = self.paths.userdata(&record.id);
        SpecContext {
            container_id: record.id.clone(),
            image: record.image.clone(),
            image_config: base.image_config.clone(),
            rootfs: base
                .spec
                .root()
                .as_ref()
                .map(|r| r.path().clone())
                .unwrap_or_default(),
            // Only their places matter here: the sandbox's mounts are made already.
            resolved_mounts: base
                .volume_destinations
                .iter()
                .map(|destination| ResolvedMount {
                    source: MountSource::Tmpfs,
                    destination: destination.clone(),
                    options: Vec::new(),
                })
                .collect(),
            userdata: UserdataFiles {
                hosts: Some(userdata.join("hosts")),
                resolv_conf: Some(userdata.join("resolv.conf")),
                hostname: Some(userdata.join("hostname")),
            },
            netns: None,
            init_binary: None,
            host_capabilities: crate::spec::host_capabilities(),
            host_devices: Vec::new(),
            cgroups_path: None,
        }
    }

    /// The hosts file with the container's own name (the sandbox was made without it).
    pub(super) fn claimed_hosts(&self, record: &ContainerRecord) -> Vec<u8> {
        let hostname = self.hostname_of(record);
        match &record.config.network {
            NetworkMode::Host => etc_files::hosts_for_host_network(
                &std::fs::read("/etc/hosts").unwrap_or_default(),
                &hostname,
                &record.name,
                &record.config.extra_hosts,
            ),
            _ => {
                let addresses = record
                    .network_status
                    .clone()
                    .and_then(|s| serde_json::from_value::<SetupResult>(s).ok())
                    .map(|s| s.addresses())
                    .unwrap_or_default();
                etc_files::hosts(
                    &hostname,
                    &record.name,
                    &addresses,
                    &record.config.extra_hosts,
                )
            }
        }
    }

    /// The bundle as a fresh container's: the user's process and annotations, without the
    /// channel (a later `start` runs it as any container).
    fn write_claimed_bundle(
        &self,
        record: &ContainerRecord,
        claimed: &oci_spec::runtime::Spec,
    ) -> Result<()> {
        let bundle = self.paths.bundle(&record.id);
        let mut spec = aurora_bundle::read_bundle_config(&bundle)?;
        spec.set_process(claimed.process().clone());
        spec.set_annotations(claimed.annotations().clone());
        let mounts = spec.mounts().clone().map(|mounts| {
            mounts
                .into_iter()
                .filter(|m| m.destination() != Path::new(CHANNEL_IN_CONTAINER))
                .collect()
        });
        spec.set_mounts(mounts);
        aurora_bundle::write_bundle_config_as(&bundle, &spec, aurora_bundle::Durability::Unsynced)?;
        Ok(())
    }

    /// After a claimed `--rm` container's process exited (its attach saw the exit): the
    /// record goes at once and the rest (runtime state, network, clone) is left to the
    /// refiller as a sandbox to destroy, so `run --rm` returns now and `ps -a` no longer
    /// shows it.
    pub fn release_claimed(&self, id: &str) -> Result<()> {
        // Not under the container's lock: the monitor's exit command may hold it, removing
        // the container the slow way; the row is swapped for a `discard` one in one
        // transaction whoever is first, and every step of a destruction tolerates the
        // other's.
        let record = match self.db.find(id) {
            Err(EngineError::NoSuchContainer(_)) => return Ok(()),
            other => other?,
        };
        if record.id != id || !record.config.auto_remove {
            return Ok(());
        }
        if self.db.discard_container(&record, &record.image)? {
            self.event(&record, "died");
            self.event(&record, "remove");
        }
        self.spawn_refiller();
        Ok(())
    }
}

/// The user's container in the sandbox's place: the sandbox's id, storage, runtime,
/// network and process; the user's name and configuration.
fn claimed_record(
    sandbox: ContainerRecord,
    config: &ContainerConfig,
    name: Option<&str>,
) -> ContainerRecord {
    let name = name
        .map(str::to_string)
        .unwrap_or_else(|| crate::names::generated_name(&sandbox.id));
    as_new_container(sandbox, name, config.clone(), ContainerState::Running)
}

/// A sandbox's record as a new container's, in `state` (running, or created for a pod's
/// infra that waits for its start): its ids, storage, runtime, network (and pid when
/// running) kept; `name` and `config` given; no history (created now, no exit, no
/// restart, no owner).
pub(super) fn as_new_container(
    sandbox: ContainerRecord,
    name: String,
    config: ContainerConfig,
    state: ContainerState,
) -> ContainerRecord {
    let now = crate::clock::now();
    let running = state == ContainerState::Running;
    ContainerRecord {
        name,
        config,
        state,
        pid: sandbox.pid.filter(|_| running),
        created_at: now.clone(),
        started_at: running.then_some(now),
        finished_at: None,
        exit_code: None,
        restarts: 0,
        owner_pid: None,
        stopped_by_user: false,
        ..sandbox
    }
}

pub(super) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| EngineError::Other(format!("{} cannot be read: {e}", path.display())))
}

/// Writes the process to the FIFO. Opened without blocking, so a sandbox whose podinit is
/// gone (no reader) fails at once (ENXIO) instead of hanging; then blocking again, for a
/// process larger than the pipe.
pub(super) fn send(fifo: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)?;
    rustix::fs::fcntl_setfl(&file, rustix::fs::OFlags::empty())?;
    file.write_all(bytes)
}
