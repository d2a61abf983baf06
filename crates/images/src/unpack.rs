//! Unpacking: an image's layers laid down once per host as a chain of snapshots (named by
//! chain ID, so images that share base layers share them), then a container cloned from the
//! top one and a runtime bundle written for it.

use crate::error::{ImageError, Result};
use crate::laydown::{ensure_layers, LayDown};
use crate::plan::{plan_layers_mapped, PlannedLayer};
use crate::storage::StorageChoice;
use aurora_store::StoredImage;

/// How to unpack.
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    pub platform: Option<aurora_spec::Platform>,
    /// The container's name in storage; the bundle directory's name when `None`.
    pub name: Option<String>,
    pub overrides: aurora_bundle::Overrides,
    /// Owners mapped through this map (container id → host id), and the bundle given a user
    /// namespace with the same mappings; `None` keeps the layers' owners.
    pub id_map: Option<aurora_layers::IdMap>,
    /// How much laying the image's layers down may write.
    pub limits: crate::UnpackLimits,
    /// Whether the bundle's `config.json` is fsynced (for users' bundles) or not (a container
    /// engine's working copy).
    pub durability: aurora_bundle::Durability,
}

/// What an unpack did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UnpackReport {
    pub image: String,
    pub manifest: String,
    pub driver: &'static str,
    pub container: String,
    pub bundle: std::path::PathBuf,
    pub rootfs: std::path::PathBuf,
    /// Layers laid down now, and layers that were already there (shared or unpacked before).
    pub layers_created: usize,
    pub layers_reused: usize,
}

/// The file in a bundle that says which container it belongs to.
const BUNDLE_NOTE: &str = ".aurora-bundle.json";

#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct BundleNote {
    pub driver: String,
    pub container: String,
    pub image: String,
    pub manifest: String,
}

/// The note in a bundle made by `imageadm unpack`; `None` for anything else.
pub(crate) fn read_bundle_note(bundle: &std::path::Path) -> Option<BundleNote> {
    std::fs::read(bundle.join(BUNDLE_NOTE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Unpacks `reference` from the store into a runtime bundle at `bundle`: lays down the layers
/// the storage lacks, clones a container from the top one, and writes `config.json` and a
/// `rootfs` link to the container's root.
pub fn unpack(
    store: &aurora_store::Store,
    driver: &dyn aurora_storage::Driver,
    reference: &str,
    bundle: &std::path::Path,
    options: &UnpackOptions,
    progress: &dyn crate::Progress,
) -> Result<UnpackReport> {
    // Shared, as pulls hold it: gc (exclusive) cannot take layers this unpack is using.
    let _writer = store.writer_lock()?;
    let image = crate::resolve::resolve(store, reference, options.platform.as_ref())?;
    let layers = plan_layers_mapped(&image, options.id_map.as_ref())?;
    // The bundle's checks of the config (user, env, paths) are made on the bytes as stored.
    let config = aurora_bundle::parse_image_config(&image.name, &image.config_bytes)?;
    let name = container_name(bundle, options.name.as_deref())?;
    let created_dir = prepare_bundle_dir(bundle)?;
    let work = LayDown {
        store,
        driver,
        progress,
        id_map: options.id_map.as_ref(),
        limits: options.limits,
    };
    let made = make_container(&work, &image, &layers, &name).and_then(|made| {
        let written = write_bundle(bundle, &made.2, &image, &config, options, driver, &name);
        if written.is_err() {
            let _ = driver.remove_container(&name);
        }
        written.map(|()| made)
    });
    let (created, reused, rootfs) = match made {
        Ok(made) => made,
        Err(e) => {
            clear_bundle(bundle, created_dir);
            return Err(e);
        }
    };
    Ok(UnpackReport {
        image: image.name,
        manifest: image.manifest_digest.to_string(),
        driver: driver.kind().name(),
        container: name,
        bundle: bundle.to_path_buf(),
        rootfs,
        layers_created: created,
        layers_reused: reused,
    })
}

/// Lays down the layers the storage lacks and clones the container from the top one.
/// Returns (layers created, layers reused, the container's rootfs).
fn make_container(
    work: &LayDown<'_>,
    image: &StoredImage,
    layers: &[PlannedLayer],
    name: &str,
) -> Result<(usize, usize, std::path::PathBuf)> {
    let top = layers
        .last()
        .map(|l| l.id.clone())
        .ok_or_else(|| ImageError::BadManifest {
            reference: image.name.clone(),
            digest: image.manifest_digest.to_string(),
            reason: "the image has no layers".into(),
        })?;
    // Usually the layers are there (a second container of an image): the clone alone says so.
    match work.driver.create_container(name, &top) {
        Ok(rootfs) => return Ok((0, layers.len(), rootfs)),
        Err(aurora_storage::StorageError::NoSuchLayer(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let (created, reused) = ensure_layers(work, layers)?;
    let rootfs = work.driver.create_container(name, &top)?;
    Ok((created, reused, rootfs))
}

fn write_bundle(
    bundle: &std::path::Path,
    rootfs: &std::path::Path,
    image: &StoredImage,
    config: &oci_spec::image::ImageConfiguration,
    options: &UnpackOptions,
    driver: &dyn aurora_storage::Driver,
    name: &str,
) -> Result<()> {
    let converted = aurora_bundle::convert(&image.name, config, rootfs, &options.overrides)?;
    let mut spec = converted.spec;
    if let Some(map) = &options.id_map {
        aurora_bundle::add_user_namespace(&mut spec, &map.uids, &map.gids)?;
    }
    // The rootfs lives in the driver's storage; config.json names it absolutely, and the
    // `rootfs` link in the bundle shows where it is.
    if let Some(root) = spec.root().clone() {
        let mut root = root;
        root.set_path(rootfs.to_path_buf());
        spec.set_root(Some(root));
    }
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| ImageError::from(aurora_storage::StorageError::Io { path, source })
    };
    let link = bundle.join("rootfs");
    std::os::unix::fs::symlink(rootfs, &link).map_err(io(&link))?;
    let note = BundleNote {
        driver: driver.kind().name().to_string(),
        container: name.to_string(),
        image: image.name.clone(),
        manifest: image.manifest_digest.to_string(),
    };
    let note_path = bundle.join(BUNDLE_NOTE);
    std::fs::write(
        &note_path,
        serde_json::to_vec_pretty(&note).unwrap_or_default(),
    )
    .map_err(io(&note_path))?;
    aurora_bundle::write_bundle_config_as(bundle, &spec, options.durability)?;
    Ok(())
}

/// The container's name: given, or the bundle directory's own name.
fn container_name(bundle: &std::path::Path, given: Option<&str>) -> Result<String> {
    let name = match given {
        Some(name) => name.to_string(),
        None => bundle
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    aurora_storage::check_container_name(&name)?;
    Ok(name)
}

/// The bundle directory must be new or empty: an unpack never overwrites a bundle. Returns
/// whether it was created here (and so is removed again if the unpack fails).
fn prepare_bundle_dir(bundle: &std::path::Path) -> Result<bool> {
    let err = |source| {
        ImageError::from(aurora_storage::StorageError::Io {
            path: bundle.to_path_buf(),
            source,
        })
    };
    let existed = bundle.exists();
    std::fs::create_dir_all(bundle).map_err(err)?;
    let mut entries = std::fs::read_dir(bundle).map_err(err)?;
    if entries.next().is_some() {
        return Err(ImageError::BundleExists(bundle.to_path_buf()));
    }
    Ok(!existed)
}

/// Removes what an unpack wrote into a bundle directory, and the directory if it made it.
fn clear_bundle(bundle: &std::path::Path, remove_dir: bool) {
    for file in ["config.json", "rootfs", BUNDLE_NOTE] {
        let _ = std::fs::remove_file(bundle.join(file));
    }
    if remove_dir {
        let _ = std::fs::remove_dir(bundle);
    }
}

/// Removes the container a bundle was made for, and the bundle's own files.
pub fn remove_bundle(
    store_root: &std::path::Path,
    choice: &StorageChoice,
    bundle: &std::path::Path,
) -> Result<String> {
    let note =
        read_bundle_note(bundle).ok_or_else(|| ImageError::NotABundle(bundle.to_path_buf()))?;
    let driver = crate::storage::open_storage_if_used(store_root, choice)?
        .ok_or_else(|| ImageError::NotABundle(bundle.to_path_buf()))?;
    match driver.remove_container(&note.container) {
        Ok(()) | Err(aurora_storage::StorageError::NoSuchContainer(_)) => {}
        Err(e) => return Err(e.into()),
    }
    clear_bundle(bundle, true);
    Ok(note.container)
}
