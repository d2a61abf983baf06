//! Volumes: `ROOT/podadm/volumes/NAME/volume.json` (what podadm knows of it) and
//! `NAME/_data` (its data: a zfs dataset mounted there, a btrfs subvolume or a directory,
//! made by `aurora_storage::volume`). Named volumes are made by `volume create` or on first
//! use (`-v NAME:/path`); anonymous ones (`-v /path`, an image's `VOLUME`) get a random
//! 64-hex name and go with their container (`rm -v`). A new volume mounted over a path the
//! image has gets the image's content copied in on its first use, as podman does.
//!
//! Creations and removals hold `volumes/.lock`, so concurrent podadm processes agree on
//! which of them made a volume; readers need no lock (`volume.json` is replaced atomically).

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use aurora_storage::volume::VolumeStorage;
use oci_spec::image::Config as ImageConfig;
use serde::{Deserialize, Serialize};

use crate::config::MountRequest;
use crate::spec::flags::is_valid_name;
use crate::spec::{ResolvedMount, SpecError};

/// The metadata file of a volume.
const METADATA: &str = "volume.json";
/// The data directory of a volume.
const DATA: &str = "_data";
/// Held while volumes are created or removed.
const LOCK: &str = ".lock";

/// A volume error, naming the volume.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("volume {0:?} does not exist")]
    NotFound(String),
    #[error("volume {0:?} already exists")]
    Exists(String),
    #[error("invalid volume name {0:?}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")]
    BadName(String),
    #[error("volume {name}: {}: {source}", path.display())]
    Io {
        name: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("volume {name}: {source}")]
    Storage {
        name: String,
        #[source]
        source: aurora_storage::StorageError,
    },
    #[error("volume {name}: {}: {source}", path.display())]
    Metadata {
        name: String,
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("volume {name}: copying the image's {path} into it: {source}")]
    CopyUp {
        name: String,
        path: String,
        #[source]
        source: crate::copy::CopyError,
    },
    #[error(transparent)]
    Mount(#[from] SpecError),
}

/// What `volume.json` holds (and `volume inspect` shows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    /// `zfs`, `btrfs` or `dir`.
    pub driver: String,
    /// The host path of the data (`…/NAME/_data`).
    pub mountpoint: PathBuf,
    /// RFC 3339, UTC.
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `--opt` given to `volume create`, kept as given.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Made for one container (`-v /path`, an image's `VOLUME`).
    #[serde(default)]
    pub anonymous: bool,
    /// The image's content still has to be copied in at its first mount.
    #[serde(default)]
    pub needs_copy_up: bool,
}

/// What to create.
#[derive(Debug, Clone, Default)]
pub struct VolumeCreate {
    /// `None` for an anonymous volume (a random name).
    pub name: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// The mounts a container gets, and the volumes made for it.
#[derive(Debug, Clone, Default)]
pub struct ContainerMounts {
    /// For `SpecContext::resolved_mounts`.
    pub mounts: Vec<ResolvedMount>,
    /// Anonymous volumes made for the container (removed with it by `rm -v`).
    pub anonymous: Vec<String>,
    /// Named volumes made because they did not exist yet.
    pub created: Vec<String>,
}

/// The volumes of one store.
#[derive(Debug)]
pub struct Volumes {
    dir: PathBuf,
    storage: VolumeStorage,
}

impl Volumes {
    /// The volumes under `ROOT/podadm/volumes` (created if missing), made by `storage`.
    pub fn open(root: &Path, storage: VolumeStorage) -> Result<Volumes, VolumeError> {
        let dir = root.join("podadm").join("volumes");
        fs::create_dir_all(&dir).map_err(|source| VolumeError::Io {
            name: String::new(),
            path: dir.clone(),
            source,
        })?;
        Ok(Volumes { dir, storage })
    }

    /// Creates a volume; an anonymous one when `request.name` is `None`.
    pub fn create(&self, request: &VolumeCreate) -> Result<Volume, VolumeError> {
        let name = match &request.name {
            Some(name) => {
                check_name(name)?;
                name.clone()
            }
            None => random_name(),
        };
        let _lock = self.lock()?;
        self.create_locked(&name, request, request.name.is_none())
    }

    fn create_locked(
        &self,
        name: &str,
        request: &VolumeCreate,
        anonymous: bool,
    ) -> Result<Volume, VolumeError> {
        let vol_dir = self.dir.join(name);
        match fs::create_dir(&vol_dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return if vol_dir.join(METADATA).exists() {
                    Err(VolumeError::Exists(name.to_string()))
                } else {
                    // A creation that died before writing its metadata: start again.
                    self.discard(name);
                    fs::create_dir(&vol_dir)
                        .map_err(io_err(name, &vol_dir))
                        .and_then(|()| self.create_locked_fresh(name, request, anonymous))
                };
            }
            Err(e) => return Err(io_err(name, &vol_dir)(e)),
        }
        self.create_locked_fresh(name, request, anonymous)
    }

    fn create_locked_fresh(
        &self,
        name: &str,
        request: &VolumeCreate,
        anonymous: bool,
    ) -> Result<Volume, VolumeError> {
        let data = self.dir.join(name).join(DATA);
        if let Err(source) = self.storage.create(name, &data) {
            self.discard(name);
            return Err(VolumeError::Storage {
                name: name.to_string(),
                source,
            });
        }
        let volume = Volume {
            name: name.to_string(),
            driver: self.storage.name().to_string(),
            mountpoint: data,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            labels: request.labels.clone(),
            options: request.options.clone(),
            anonymous,
            needs_copy_up: true,
        };
        if let Err(e) = self.write(&volume) {
            self.discard(name);
            return Err(e);
        }
        Ok(volume)
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>, VolumeError> {
        let entries = fs::read_dir(&self.dir).map_err(io_err("", &self.dir))?;
        let mut volumes = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("", &self.dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !is_valid_name(&name) {
                continue;
            }
            match self.inspect(&name) {
                Ok(volume) => volumes.push(volume),
                // Being created or removed by another process right now.
                Err(VolumeError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        volumes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(volumes)
    }

    /// One volume's metadata.
    pub fn inspect(&self, name: &str) -> Result<Volume, VolumeError> {
        check_name(name)?;
        let path = self.dir.join(name).join(METADATA);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(VolumeError::NotFound(name.to_string()))
            }
            Err(e) => return Err(io_err(name, &path)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|source| VolumeError::Metadata {
            name: name.to_string(),
            path,
            source,
        })
    }

    /// The host path of a volume's data, mounted (zfs remounts it after a reboot).
    pub fn path(&self, name: &str) -> Result<PathBuf, VolumeError> {
        let volume = self.inspect(name)?;
        self.storage
            .ensure_mounted(name)
            .map_err(|source| VolumeError::Storage {
                name: name.to_string(),
                source,
            })?;
        Ok(volume.mountpoint)
    }

    /// Removes a volume and its data. The engine checks first that no container uses it.
    pub fn remove(&self, name: &str) -> Result<(), VolumeError> {
        check_name(name)?;
        let _lock = self.lock()?;
        if !self.dir.join(name).exists() {
            return Err(VolumeError::NotFound(name.to_string()));
        }
        self.remove_locked(name)
    }

    fn remove_locked(&self, name: &str) -> Result<(), VolumeError> {
        let vol_dir = self.dir.join(name);
        // The metadata goes first: a removal cut short leaves a volume `list` no longer
        // shows and `create` of the same name cleans up.
        match fs::remove_file(vol_dir.join(METADATA)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_err(name, &vol_dir.join(METADATA))(e))
            }
            _ => {}
        }
        self.storage
            .destroy(name, &vol_dir.join(DATA))
            .map_err(|source| VolumeError::Storage {
                name: name.to_string(),
                source,
            })?;
        fs::remove_dir_all(&vol_dir).map_err(io_err(name, &vol_dir))
    }

    /// Removes every volume not in `in_use`; returns the names removed.
    pub fn prune(&self, in_use: &HashSet<String>) -> Result<Vec<String>, VolumeError> {
        let _lock = self.lock()?;
        let mut removed = Vec::new();
        for volume in self.list()? {
            if !in_use.contains(&volume.name) {
                self.remove_locked(&volume.name)?;
                removed.push(volume.name);
            }
        }
        Ok(removed)
    }

    /// The volume `name`, made now if it does not exist; whether it was.
    pub fn open_or_create(&self, name: &str) -> Result<(Volume, bool), VolumeError> {
        check_name(name)?;
        if let Ok(volume) = self.inspect(name) {
            return Ok((volume, false));
        }
        let _lock = self.lock()?;
        match self.inspect(name) {
            Ok(volume) => Ok((volume, false)),
            Err(VolumeError::NotFound(_)) => {
                let request = VolumeCreate {
                    name: Some(name.to_string()),
                    ..VolumeCreate::default()
                };
                Ok((self.create_locked(name, &request, false)?, true))
            }
            Err(e) => Err(e),
        }
    }

    /// The mounts of a container: its `-v`/`--mount`/`--tmpfs` requests, then anonymous
    /// volumes for the image's `VOLUME`s no request covers. Named volumes are made when
    /// missing; a volume mounted for the first time over a path that holds something in the
    /// image (the container's `rootfs`) gets that content copied in. On failure the volumes
    /// made here are removed again.
    pub fn container_mounts(
        &self,
        requests: &[MountRequest],
        image: &ImageConfig,
        rootfs: &Path,
    ) -> Result<ContainerMounts, VolumeError> {
        let mut made = ContainerMounts::default();
        let result = self.container_mounts_into(requests, image, rootfs, &mut made);
        if result.is_err() {
            for name in made.anonymous.iter().chain(&made.created) {
                let _ = self.remove(name);
            }
        }
        result.map(|()| made)
    }

    fn container_mounts_into(
        &self,
        requests: &[MountRequest],
        image: &ImageConfig,
        rootfs: &Path,
        made: &mut ContainerMounts,
    ) -> Result<(), VolumeError> {
        let image_volumes = anonymous_volumes_for(image, requests);
        let implied = image_volumes.iter().map(|dest| MountRequest::Volume {
            name: None,
            destination: dest.clone(),
            read_only: false,
        });
        let all: Vec<MountRequest> = requests.iter().cloned().chain(implied).collect();
        for request in &all {
            let MountRequest::Volume {
                name, destination, ..
            } = request
            else {
                made.mounts
                    .push(ResolvedMount::from_request(request, None)?);
                continue;
            };
            let volume = match name {
                Some(name) => {
                    let (volume, created) = self.open_or_create(name)?;
                    if created {
                        made.created.push(name.clone());
                    }
                    volume
                }
                None => {
                    let volume = self.create(&VolumeCreate::default())?;
                    made.anonymous.push(volume.name.clone());
                    volume
                }
            };
            let data = self.path(&volume.name)?;
            if volume.needs_copy_up {
                self.copy_up(volume, rootfs, destination)?;
            }
            made.mounts
                .push(ResolvedMount::from_request(request, Some(&data))?);
        }
        Ok(())
    }

    /// Copies what the image has at `destination` into the volume, if the volume is still
    /// empty (podman's copy-up), then records that it is done.
    fn copy_up(
        &self,
        mut volume: Volume,
        rootfs: &Path,
        destination: &str,
    ) -> Result<(), VolumeError> {
        let data = volume.mountpoint.clone();
        let empty = fs::read_dir(&data)
            .map_err(io_err(&volume.name, &data))?
            .next()
            .is_none();
        let copy_up_err = |source| VolumeError::CopyUp {
            name: volume.name.clone(),
            path: destination.to_string(),
            source,
        };
        let image_dir = crate::copy::container_metadata(rootfs, destination)
            .map_err(copy_up_err)?
            .filter(|meta| meta.is_dir());
        if let (true, Some(meta)) = (empty, image_dir) {
            let content = format!("{}/.", destination.trim_end_matches('/'));
            crate::copy::copy_out(rootfs, &content, &data).map_err(copy_up_err)?;
            // The volume's root takes the owner and mode of the directory it covers, so
            // that the image's user can still write there (podman does the same).
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            std::os::unix::fs::chown(&data, Some(meta.uid()), Some(meta.gid()))
                .and_then(|()| {
                    fs::set_permissions(&data, fs::Permissions::from_mode(meta.mode() & 0o7777))
                })
                .map_err(io_err(&volume.name, &data))?;
        }
        volume.needs_copy_up = false;
        self.write(&volume)
    }

    fn write(&self, volume: &Volume) -> Result<(), VolumeError> {
        let path = self.dir.join(&volume.name).join(METADATA);
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(volume).map_err(|source| VolumeError::Metadata {
            name: volume.name.clone(),
            path: path.clone(),
            source,
        })?;
        let written = File::create(&tmp)
            .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()))
            .and_then(|()| fs::rename(&tmp, &path));
        written.map_err(io_err(&volume.name, &path))
    }

    /// Best effort: whatever a failed creation left.
    fn discard(&self, name: &str) {
        let vol_dir = self.dir.join(name);
        let _ = self.storage.destroy(name, &vol_dir.join(DATA));
        let _ = fs::remove_dir_all(&vol_dir);
    }

    fn lock(&self) -> Result<File, VolumeError> {
        let path = self.dir.join(LOCK);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("", &path))?;
        file.lock().map_err(io_err("", &path))?;
        Ok(file)
    }
}

/// The image's `VOLUME`s that none of `requests` mounts over: each gets an anonymous volume.
pub fn anonymous_volumes_for(image: &ImageConfig, requests: &[MountRequest]) -> Vec<String> {
    let clean = |p: &str| {
        let trimmed = p.trim_end_matches('/');
        if trimmed.is_empty() {
            "/".to_string()
        } else {
            trimmed.to_string()
        }
    };
    let taken: HashSet<String> = requests
        .iter()
        .map(|r| match r {
            MountRequest::Volume { destination, .. }
            | MountRequest::Bind { destination, .. }
            | MountRequest::Tmpfs { destination, .. } => clean(destination),
        })
        .collect();
    let mut volumes: Vec<String> = image
        .volumes()
        .iter()
        .flatten()
        .map(|v| clean(v))
        .filter(|v| v.starts_with('/') && !taken.contains(v))
        .collect();
    volumes.sort();
    volumes.dedup();
    volumes
}

fn check_name(name: &str) -> Result<(), VolumeError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(VolumeError::BadName(name.to_string()))
    }
}

/// 64 hex digits from the kernel's random source, as podman names anonymous volumes.
fn random_name() -> String {
    let mut bytes = [0u8; 32];
    if rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty()).is_err() {
        // Unique enough: the time and the process.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes[..16].copy_from_slice(&nanos.to_le_bytes());
        bytes[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn io_err<'a>(name: &'a str, path: &'a Path) -> impl FnOnce(io::Error) -> VolumeError + 'a {
    move |source| VolumeError::Io {
        name: name.to_string(),
        path: path.to_path_buf(),
        source,
    }
}
