//! The entry point: an `Engine` over one store root and run root.

use std::cell::OnceCell;
use std::path::PathBuf;

use aurora_images::{Images, StorageChoice, UnpackLimits};

use crate::error::{io, Result};
use crate::lock::{self, ContainerLock};
use crate::paths::Paths;
use crate::runtime::OciRuntime;
use crate::state::{ContainerRecord, StateDb};

/// How the engine is set up (podadm's global flags).
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub root: PathBuf,
    pub runroot: PathBuf,
    pub storage: StorageChoice,
    /// `runz`, `runc`, `crun`, or a path: the runtime of containers created from now on.
    pub runtime: String,
    pub unpack_limits: UnpackLimits,
    /// Container logs rotate past this size (bytes; 0: never).
    pub log_max_size: u64,
    /// The monitor runs this, followed by `ID`, after a container's last exit (podadm:
    /// `podadm --root R --runroot RR container cleanup`).
    pub exit_command: Vec<String>,
    /// Where CNI networks (`NetworkMode::Cni`) come from. Only setup reads it: teardown
    /// runs from the CNI cache (`ROOT/podadm/cni`), so an engine opened with the defaults
    /// (podadm's `container cleanup`) tears down what the CRI server's set up.
    pub cni: CniOptions,
}

/// The CNI conf dir and plugin dirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniOptions {
    pub conf_dir: PathBuf,
    pub bin_dirs: Vec<PathBuf>,
}

impl CniOptions {
    /// Whether pods can be networked: the conf dir's default network loads and its plugins
    /// are installed (its name), or why not (kubelet's NetworkReady condition).
    pub fn ready(&self) -> std::result::Result<String, aurora_network::NetworkError> {
        // Readiness reads no cache.
        aurora_network::Cni::new(&self.conf_dir, &self.bin_dirs, std::path::Path::new("")).ready()
    }
}

impl Default for CniOptions {
    /// kubelet's conf dir; Debian's plugins, then the upstream install's.
    fn default() -> Self {
        CniOptions {
            conf_dir: PathBuf::from(aurora_network::cni::DEFAULT_CONF_DIR),
            bin_dirs: aurora_network::cni::DEFAULT_BIN_DIRS
                .iter()
                .map(PathBuf::from)
                .collect(),
        }
    }
}

/// The container engine.
pub struct Engine {
    pub(crate) paths: Paths,
    pub(crate) db: StateDb,
    pub(crate) images: Images,
    pub(crate) options: EngineOptions,
    pub(crate) volumes: OnceCell<crate::volume::Volumes>,
    pub(crate) networks: OnceCell<aurora_network::Networks>,
}

impl Engine {
    /// Opens the engine's state under `options.root` (created when missing).
    pub fn open(options: EngineOptions) -> Result<Engine> {
        let paths = Paths {
            root: crate::paths::absolute(&options.root),
            runroot: crate::paths::absolute(&options.runroot),
        };
        let images = Images::new(&paths.root, options.storage.clone());
        // The store first: it refuses a directory that is not a layout before podadm writes.
        images.store()?;
        let podadm = paths.podadm();
        std::fs::create_dir_all(podadm.join("containers")).map_err(io(&podadm))?;
        let db = StateDb::open(&paths.state_db())?;
        Ok(Engine {
            paths,
            db,
            images,
            options,
            volumes: OnceCell::new(),
            networks: OnceCell::new(),
        })
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The image flows over the same store (for pulling what `run` lacks).
    pub fn images(&self) -> &Images {
        &self.images
    }

    /// The state database's checkpoint, from the commands nobody waits for (see
    /// [`StateDb::checkpoint_in_background`]); a failure only leaves it to the next one.
    pub(crate) fn checkpoint_state(&self) {
        if let Err(e) = self.db.checkpoint_in_background() {
            tracing::debug!("checkpointing the state database: {e}");
        }
    }

    pub(crate) fn lock(&self, id: &str) -> Result<ContainerLock> {
        lock::lock(&self.paths.locks(), id)
    }

    /// The runtime a container was created with.
    pub(crate) fn runtime_of(&self, record: &ContainerRecord) -> OciRuntime {
        OciRuntime::at(std::path::Path::new(&record.runtime), &self.paths)
    }

    /// The volumes, opened on first use.
    pub fn volumes(&self) -> Result<&crate::volume::Volumes> {
        if let Some(volumes) = self.volumes.get() {
            return Ok(volumes);
        }
        let storage = match self.images.storage()?.kind() {
            aurora_storage::DriverKind::Zfs => {
                aurora_storage::volume::VolumeStorage::zfs(self.images.zfs_storage()?)
            }
            aurora_storage::DriverKind::Btrfs => aurora_storage::volume::VolumeStorage::btrfs(),
            _ => aurora_storage::volume::VolumeStorage::dir(),
        };
        let volumes = crate::volume::Volumes::open(&self.paths.root, storage)?;
        Ok(self.volumes.get_or_init(|| volumes))
    }

    /// The network definitions, opened on first use.
    pub fn networks(&self) -> Result<&aurora_network::Networks> {
        if let Some(networks) = self.networks.get() {
            return Ok(networks);
        }
        let networks = aurora_network::Networks::open(&self.paths.root, &self.paths.runroot)?;
        Ok(self.networks.get_or_init(|| networks))
    }

    /// Records an event about a container.
    pub(crate) fn event(&self, record: &ContainerRecord, action: &str) {
        let attributes = serde_json::json!({ "name": record.name, "image": record.image });
        if let Err(e) = self.db.add_event(
            "container",
            action,
            &record.id,
            &record.name,
            &record.image,
            attributes,
        ) {
            tracing::warn!(container = %record.name, "recording the {action} event: {e}");
        }
    }
}
