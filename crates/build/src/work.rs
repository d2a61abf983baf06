//! A step's working container: a writable clone of the stage's top layer (an empty layer
//! for `FROM scratch`), removed when the step is over; its changes packed into a layer blob
//! (the driver-native diff `imageadm commit` uses) and laid down as the stage's new top.

use std::path::{Path, PathBuf};

use aurora_images::{LayDown, NewLayer, PlannedLayer};
use aurora_storage::{Driver, LayerId};
use aurora_store::Store;

use crate::error::Result;
use crate::stage::StageState;

/// The diff ID of an empty tar (two zero blocks): the layer `FROM scratch` steps clone.
const EMPTY_TAR_DIFF_ID: &str =
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// Names of build containers start with this, then the building process's pid.
const BUILD_PREFIX: &str = "build-";

/// Removes what builds that no longer run (killed mid-step) left: the step containers the
/// runtime still runs, their run directories, their clones in storage.
pub(crate) fn remove_abandoned(driver: &dyn Driver, run_root: &Path, runtime: &Path) -> Result<()> {
    if let Ok(entries) = std::fs::read_dir(run_root) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if dead_builder(&name).is_some() {
                stop_step_containers(&entry.path(), runtime);
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    for dataset in driver.list()? {
        if dataset.kind == aurora_storage::DatasetKind::Container
            && dead_builder(&dataset.name).is_some()
        {
            tracing::info!(
                "removing {}, left by a build that no longer runs",
                dataset.name
            );
            driver.remove_container(&dataset.name)?;
        }
    }
    Ok(())
}

/// The pid in a `build-PID[-…]` name, if that process is gone.
fn dead_builder(name: &str) -> Option<i32> {
    let pid = name
        .strip_prefix(BUILD_PREFIX)?
        .split('-')
        .next()?
        .parse::<i32>()
        .ok()?;
    (pid != std::process::id() as i32 && !process_exists(pid)).then_some(pid)
}

/// `RUNTIME delete --force` for each container a dead build's runtime state names.
fn stop_step_containers(run_dir: &Path, runtime: &Path) {
    let state = run_dir.join("runtime");
    let Ok(containers) = std::fs::read_dir(&state) else {
        return;
    };
    for container in containers.flatten() {
        let _ = std::process::Command::new(runtime)
            .arg("--root")
            .arg(&state)
            .args(["delete", "--force"])
            .arg(container.file_name())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// This build's run directory, removed when the build ends.
pub(crate) struct RunDir(PathBuf);

impl RunDir {
    pub fn make(run_root: &Path) -> Result<RunDir> {
        let dir = run_root.join(format!("{BUILD_PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(crate::error::io(&dir))?;
        Ok(RunDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn process_exists(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

pub(crate) struct Working<'a> {
    driver: &'a dyn Driver,
    pub name: String,
    pub rootfs: PathBuf,
    /// The driver made the container a layer: nothing is left to remove.
    adopted: bool,
}

impl Drop for Working<'_> {
    fn drop(&mut self) {
        if self.adopted {
            return;
        }
        if let Err(e) = self.driver.remove_container(&self.name) {
            tracing::warn!("removing the build container {}: {e}", self.name);
        }
    }
}

impl<'a> Working<'a> {
    /// A clone of `stage`'s top (created now).
    pub fn clone_of(store: &Store, driver: &'a dyn Driver, stage: &StageState) -> Result<Self> {
        let top = match &stage.top {
            Some(top) => top.clone(),
            None => empty_layer(store, driver)?,
        };
        // The pid in the name lets a later build remove what a killed one left.
        let name = format!("{BUILD_PREFIX}{}-{}", std::process::id(), random_hex());
        let rootfs = driver.create_container(&name, &top)?;
        Ok(Working {
            driver,
            name,
            rootfs,
            adopted: false,
        })
    }

    /// Packs the changes into a layer blob and lays it down on the stage's top; the stage
    /// gets the layer. Returns it.
    /// Where the driver can, the container itself becomes the layer (overlay: its upper
    /// directory renamed); else the blob is applied onto a new layer.
    pub fn commit(mut self, store: &Store, stage: &mut StageState) -> Result<NewLayer> {
        let options = aurora_layers::PackOptions::default();
        let (layer, _) =
            aurora_images::pack_container_changes(store, self.driver, &self.name, &options)?;
        let id = next_layer_id(stage, &layer)?;
        if self.driver.adopt_container(&self.name, &id)? {
            self.adopted = true;
            stage.add_diff_id(&layer);
            stage.top = Some(id);
            return Ok(layer);
        }
        lay_down(store, self.driver, stage, &layer)?;
        Ok(layer)
    }
}

/// Makes `layer` the stage's new top, laying it down in storage unless it is there.
pub(crate) fn lay_down(
    store: &Store,
    driver: &dyn Driver,
    stage: &mut StageState,
    layer: &NewLayer,
) -> Result<()> {
    let id = next_layer_id(stage, layer)?;
    let planned = PlannedLayer {
        id: id.clone(),
        parent: stage.top.clone(),
        blob: layer.digest.clone(),
        media_type: layer.media_type.clone(),
        diff_id: layer.diff_id.clone(),
    };
    ensure(store, driver, &[planned])?;
    stage.add_diff_id(layer);
    stage.top = Some(id);
    Ok(())
}

/// Lays `layers` down in storage where it lacks them (base first).
pub(crate) fn ensure(store: &Store, driver: &dyn Driver, layers: &[PlannedLayer]) -> Result<()> {
    let work = LayDown {
        store,
        driver,
        progress: &aurora_images::NoProgress,
        id_map: None,
        limits: aurora_images::UnpackLimits::default(),
    };
    aurora_images::ensure_layers(&work, layers)?;
    Ok(())
}

/// The storage name of `layer` on top of the stage's layers: its chain ID.
fn next_layer_id(stage: &StageState, layer: &NewLayer) -> Result<LayerId> {
    let mut diff_ids: Vec<aurora_spec::Digest> =
        stage.layers.iter().map(|l| l.diff_id.clone()).collect();
    diff_ids.push(layer.diff_id.clone());
    aurora_spec::chain::chain_ids(&diff_ids)
        .last()
        .map(LayerId::from_chain_id)
        .ok_or_else(|| crate::BuildError::Invalid("a layer without a chain".into()))
}

/// The empty layer, made once per storage.
fn empty_layer(store: &Store, driver: &dyn Driver) -> Result<LayerId> {
    let diff_id: aurora_spec::Digest = EMPTY_TAR_DIFF_ID
        .parse()
        .map_err(|_| crate::BuildError::Invalid("the empty layer's diff ID".into()))?;
    let id = LayerId::from_chain_id(&diff_id);
    if driver.has_layer(&id)? {
        return Ok(id);
    }
    let empty = vec![0u8; 1024];
    let digest = aurora_spec::sha256_digest(&empty);
    store.put_blob(&digest, &empty)?;
    let planned = PlannedLayer {
        id: id.clone(),
        parent: None,
        blob: digest,
        media_type: "application/vnd.oci.image.layer.v1.tar".into(),
        diff_id,
    };
    ensure(store, driver, &[planned])?;
    Ok(id)
}

pub(crate) fn random_hex() -> String {
    let mut bytes = [0u8; 8];
    if rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty()).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = ((nanos as u64) ^ u64::from(std::process::id())).to_le_bytes();
    }
    hex::encode(bytes)
}
