//! Filling: one sandbox made as `create` and `start` make a container of the image with a
//! default configuration (same clone, bundle, volumes, network, monitor and runtime), except
//! that its process is podinit in sandbox mode, with CAP_SYS_ADMIN to remove its channel and
//! the channel bind-mounted in. The row is written first (`filling`, owned by this process).

use std::path::Path;

use oci_spec::image::Config as ImageConfig;
use oci_spec::runtime::{Capability, MountBuilder, Spec, User};
use serde::{Deserialize, Serialize};

use super::{PoolConfig, SandboxState, CHANNEL_IN_CONTAINER};
use crate::config::ContainerConfig;
use crate::engine::Engine;
use crate::error::{io, EngineError, Result};
use crate::state::SandboxRow;
use crate::state::{ContainerRecord, ContainerState};

/// The channel's directory inside the monitor directory (removed with it).
pub(super) const CHANNEL_DIR: &str = "sandbox";
/// The FIFO podinit reads its process from (podinit's `sandbox::FIFO_NAME`).
pub(super) const FIFO_NAME: &str = "process";
/// What a claim needs to apply the user's configuration as `create` would: kept beside the
/// bundle (`ROOT/podadm/containers/ID/pool-base.json`) and removed by the claim.
pub(super) const BASE_FILE: &str = "pool-base.json";

/// The image's spec before `spec::apply`, and what `spec::apply` is told besides.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SandboxBase {
    pub spec: Spec,
    pub image_config: ImageConfig,
    pub volume_destinations: Vec<String>,
}

/// Capabilities podinit needs on top of the container's until it execs: SYS_ADMIN to
/// detach its channel, SETPCAP to drop from the bounding set, SETUID/SETGID to switch user.
const SANDBOX_CAPABILITIES: [Capability; 4] = [
    Capability::SysAdmin,
    Capability::Setpcap,
    Capability::Setuid,
    Capability::Setgid,
];

impl Engine {
    /// Makes one ready sandbox of `pool`. A failure leaves nothing (the row goes last).
    pub(super) fn fill_one(&self, pool: &PoolConfig) -> Result<()> {
        let image = if pool.holds_pods() {
            None
        } else {
            let store = self.images.store()?;
            Some(aurora_images::resolve(store, &pool.image, None)?)
        };
        let id = crate::names::new_id()?;
        let runtime = crate::runtime::OciRuntime::find(&self.options.runtime, &self.paths)?;
        let name = format!("sandbox-{}", &id[..12]);
        let (names, config) = match &image {
            Some(image) => (
                (image.name.clone(), image.manifest_digest.to_string()),
                ContainerConfig {
                    image: pool.image.clone(),
                    network: pool.network.clone(),
                    ..Default::default()
                },
            ),
            // A pod's infra: the pod's id is chosen now, for its cgroup parent.
            None => (
                (String::new(), String::new()),
                ContainerConfig {
                    network: pool.network.clone(),
                    pod: Some(crate::names::new_id()?),
                    infra: true,
                    ..Default::default()
                },
            ),
        };
        let mut record =
            ContainerRecord::creating(id, name, names, config, runtime.path.display().to_string());
        // The sandbox row carries the owner; the record is not a container yet.
        record.owner_pid = None;
        let mut row = SandboxRow {
            pool: pool.image.clone(),
            state: SandboxState::Filling,
            owner_pid: Some(std::process::id() as i32),
            record,
        };
        self.db.insert_sandbox(&row)?;
        let made = match &image {
            Some(image) => self.make_sandbox(&mut row, image),
            None => self.make_infra_sandbox(&mut row),
        };
        match made {
            Ok(()) => {
                row.state = SandboxState::Ready;
                row.owner_pid = None;
                self.db.update_sandbox(&row)
            }
            Err(e) => {
                match self.destroy_sandbox(&row.record) {
                    Ok(()) => {
                        let _ = self.db.delete_sandbox(&row.record.id);
                    }
                    Err(_) => {
                        // Kept for the next reclaim to try again.
                        row.state = SandboxState::Discard;
                        row.owner_pid = None;
                        let _ = self.db.update_sandbox(&row);
                    }
                }
                Err(e)
            }
        }
    }

    fn make_sandbox(&self, row: &mut SandboxRow, image: &aurora_store::StoredImage) -> Result<()> {
        let (spec, volume_destinations) = self.build(&mut row.record, image)?;
        // Recorded as soon as they exist: a death from now on destroys them too.
        self.db.update_sandbox(row)?;
        let base = SandboxBase {
            spec,
            image_config: image.config.config().clone().unwrap_or_default(),
            volume_destinations,
        };
        self.wire_sandbox(&mut row.record, &base)
    }

    /// The rest of a sandbox whose bundle is written (`base.spec` as its config): the base
    /// kept for the claim, the channel, podinit in sandbox mode as the process, the network,
    /// and the container created and started under its monitor.
    pub(super) fn wire_sandbox(
        &self,
        record: &mut ContainerRecord,
        base: &SandboxBase,
    ) -> Result<()> {
        let base_path = self.paths.container_dir(&record.id).join(BASE_FILE);
        let text = serde_json::to_vec(base).map_err(|e| EngineError::Other(e.to_string()))?;
        std::fs::write(&base_path, text).map_err(io(&base_path))?;

        let monitor_dir = self.paths.monitor_dir(&record.id);
        let channel = monitor_dir.join(CHANNEL_DIR);
        make_channel(&channel)?;
        let bundle = self.paths.bundle(&record.id);
        let mut spec = aurora_bundle::read_bundle_config(&bundle)?;
        sandbox_spec(&mut spec, &channel)?;
        aurora_bundle::write_bundle_config_as(&bundle, &spec, aurora_bundle::Durability::Unsynced)?;

        let mut plan = self.attach_network(record)?;
        let (pid, _) = self.launch_and_start(record, &mut plan, false)?;
        record.pid = Some(pid);
        record.state = ContainerState::Running;
        Ok(())
    }
}

/// The channel on the host: podinit (copied: the container may outlive the binary it was
/// started from) and the FIFO.
fn make_channel(channel: &Path) -> Result<()> {
    std::fs::create_dir_all(channel).map_err(io(channel))?;
    let podinit = crate::create::podinit_binary().ok_or_else(|| {
        EngineError::Other(
            "podinit was not found (install it beside podadm or set AURORA_PODINIT): \
             the warm pool's sandboxes run it"
                .into(),
        )
    })?;
    let copy = channel.join("podinit");
    std::fs::copy(&podinit, &copy).map_err(io(&podinit))?;
    let fifo = channel.join(FIFO_NAME);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .map_err(|e| io(&fifo)(e.into()))?;
    Ok(())
}

/// The container's spec with podinit in sandbox mode as its process: root, the container's
/// capabilities plus [`SANDBOX_CAPABILITIES`] in every set podinit uses, the channel mounted
/// read-only. podinit puts back what the claimed process asks for before it execs.
fn sandbox_spec(spec: &mut Spec, channel: &Path) -> Result<()> {
    let process = spec
        .process_mut()
        .as_mut()
        .ok_or_else(|| EngineError::Invalid {
            name: channel.display().to_string(),
            message: "the image's runtime spec has no process".into(),
        })?;
    process.set_args(Some(vec![
        format!("{CHANNEL_IN_CONTAINER}/podinit"),
        "sandbox".into(),
        CHANNEL_IN_CONTAINER.into(),
    ]));
    process.set_user(User::default());
    process.set_terminal(Some(false));
    let mut caps = process.capabilities().clone().unwrap_or_default();
    let mut bounding = caps.bounding().clone().unwrap_or_default();
    bounding.extend(SANDBOX_CAPABILITIES);
    caps.set_bounding(Some(bounding.clone()));
    caps.set_effective(Some(bounding.clone()));
    caps.set_permitted(Some(bounding));
    process.set_capabilities(Some(caps));
    let mount = MountBuilder::default()
        .destination(CHANNEL_IN_CONTAINER)
        .source(channel)
        .typ("bind")
        .options(["bind", "ro", "nosuid", "nodev"].map(String::from).to_vec())
        .build()
        .map_err(|e| EngineError::Other(format!("the sandbox's channel mount: {e}")))?;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(mount);
    spec.set_mounts(Some(mounts));
    Ok(())
}
