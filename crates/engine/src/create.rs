//! `create`: a container's record, its root cloned from the image's layers, its volumes, and
//! its runtime bundle. The record is written first (state `creating`, with this process as
//! its owner), so that a podadm killed half-way leaves a record the next podadm recognises
//! and undoes (see `reconcile`).

use std::path::PathBuf;

use aurora_images::{NoProgress, UnpackOptions};

use crate::config::{ContainerConfig, MountRequest};
use crate::engine::Engine;
use crate::error::{io, EngineError, Result};
use crate::spec::{ResolvedMount, SpecContext};
use crate::state::{ContainerRecord, ContainerState};

/// The files made for each container and bind-mounted over the image's.
pub(crate) const USERDATA_FILES: [(&str, &str); 3] = [
    ("hosts", "/etc/hosts"),
    ("resolv.conf", "/etc/resolv.conf"),
    ("hostname", "/etc/hostname"),
];

impl Engine {
    /// Creates a container of `config.image` (which must be in the store: see
    /// [`Engine::images`] to pull it) named `name` (or a generated name). Returns its record.
    pub fn create(&self, config: ContainerConfig, name: Option<&str>) -> Result<ContainerRecord> {
        let store = self.images.store()?;
        let image = aurora_images::resolve(store, &config.image, None)?;
        let id = crate::names::new_id()?;
        let name = match name {
            Some(name) => {
                crate::names::check_name(name)?;
                name.to_string()
            }
            None => crate::names::generated_name(&id),
        };
        let runtime = crate::runtime::OciRuntime::find(&self.options.runtime, &self.paths)?;
        let mut record = ContainerRecord {
            id,
            name,
            image: image.name.clone(),
            image_id: image.manifest_digest.to_string(),
            config,
            state: ContainerState::Creating,
            pid: None,
            exit_code: None,
            created_at: crate::clock::now(),
            started_at: None,
            finished_at: None,
            restarts: 0,
            runtime: runtime.path.display().to_string(),
            owner_pid: Some(std::process::id() as i32),
            stopped_by_user: false,
            anonymous_volumes: Vec::new(),
            network_status: None,
        };
        self.db.insert(&record)?;
        match self.build(&mut record, &image) {
            Ok(()) => {
                record.state = ContainerState::Created;
                record.owner_pid = None;
                self.db.update(&record)?;
                self.event(&record, "create");
                Ok(record)
            }
            Err(e) => {
                self.undo_create(&record);
                Err(e)
            }
        }
    }

    /// Everything but the record: storage, volumes, bundle.
    fn build(&self, record: &mut ContainerRecord, image: &aurora_store::StoredImage) -> Result<()> {
        let userdata = self.paths.userdata(&record.id);
        std::fs::create_dir_all(&userdata).map_err(io(&userdata))?;
        for (file, _) in USERDATA_FILES {
            let path = userdata.join(file);
            std::fs::write(&path, b"").map_err(io(&path))?;
        }
        let bundle = self.paths.bundle(&record.id);
        let overrides = aurora_bundle::Overrides {
            terminal: record.config.terminal,
            hostname: Some(self.hostname_of(record)),
            ..Default::default()
        };
        let unpacked = self.images.unpack(
            &record.image,
            &bundle,
            &UnpackOptions {
                name: Some(record.id.clone()),
                overrides,
                limits: self.options.unpack_limits,
                ..Default::default()
            },
            &NoProgress,
        )?;
        let mounts = self.resolve_mounts(record, image)?;
        self.db.update(record)?;
        let spec_path = bundle.join("config.json");
        let mut spec = oci_spec::runtime::Spec::load(&spec_path)
            .map_err(|e| EngineError::Other(format!("{}: {e}", spec_path.display())))?;
        let context = SpecContext {
            rootfs: unpacked.rootfs.clone(),
            mounts,
            userdata: USERDATA_FILES
                .iter()
                .map(|(file, target)| (userdata.join(file), target.to_string()))
                .collect(),
            podinit: podinit_binary(),
        };
        for warning in crate::spec::apply(&mut spec, &record.config, &context)? {
            tracing::warn!(container = %record.name, "{warning}");
        }
        aurora_bundle::write_bundle_config(&bundle, &spec)?;
        Ok(())
    }

    /// The hostname: `--hostname`, else the id's first 12 digits (as podman's).
    pub(crate) fn hostname_of(&self, record: &ContainerRecord) -> String {
        record
            .config
            .hostname
            .clone()
            .unwrap_or_else(|| record.id[..12].to_string())
    }

    /// Volumes made or found, bind sources checked, tmpfs passed on; the image's VOLUMEs
    /// not covered by a mount get anonymous volumes.
    fn resolve_mounts(
        &self,
        record: &mut ContainerRecord,
        image: &aurora_store::StoredImage,
    ) -> Result<Vec<ResolvedMount>> {
        let mut requests = record.config.mounts.clone();
        let covered = |requests: &[MountRequest], dest: &str| {
            requests.iter().any(|r| destination(r).trim_end_matches('/') == dest.trim_end_matches('/'))
        };
        for dest in crate::volume::image_volumes(&image.config) {
            if !covered(&requests, &dest) {
                requests.push(MountRequest::Volume {
                    name: None,
                    destination: dest,
                    read_only: false,
                });
            }
        }
        let mut resolved = Vec::new();
        for request in requests {
            let mount = match request {
                MountRequest::Volume {
                    name,
                    destination,
                    read_only,
                } => {
                    let volumes = self.volumes()?;
                    let volume = match name {
                        Some(name) => volumes.get_or_create(&name)?,
                        None => {
                            let volume = volumes.create_anonymous()?;
                            record.anonymous_volumes.push(volume.name.clone());
                            volume
                        }
                    };
                    ResolvedMount::volume(volume.path(), &destination, read_only)
                }
                MountRequest::Bind {
                    source,
                    destination,
                    options,
                    read_only,
                } => {
                    if !source.exists() {
                        return Err(EngineError::Invalid {
                            name: record.name.clone(),
                            message: format!(
                                "bind mount source {} does not exist",
                                source.display()
                            ),
                        });
                    }
                    ResolvedMount::bind(source, &destination, &options, read_only)
                }
                MountRequest::Tmpfs {
                    destination,
                    options,
                } => ResolvedMount::tmpfs(&destination, &options),
            };
            resolved.push(mount);
        }
        Ok(resolved)
    }

    /// Removes what a failed or abandoned create made, and its record.
    pub(crate) fn undo_create(&self, record: &ContainerRecord) {
        if let Ok(Some(driver)) = self.images.storage_in_use() {
            let _ = driver.remove_container(&record.id);
        }
        let _ = std::fs::remove_dir_all(self.paths.container_dir(&record.id));
        if let Ok(volumes) = self.volumes() {
            for volume in &record.anonymous_volumes {
                let _ = volumes.remove(volume);
            }
        }
        let _ = self.db.delete(&record.id);
    }
}

fn destination(request: &MountRequest) -> &str {
    match request {
        MountRequest::Volume { destination, .. }
        | MountRequest::Bind { destination, .. }
        | MountRequest::Tmpfs { destination, .. } => destination,
    }
}

/// The podinit `--init` uses: `AURORA_PODINIT`, else beside podadm, else on PATH (it runs
/// inside the container, so it must be static).
fn podinit_binary() -> Option<PathBuf> {
    std::env::var_os("AURORA_PODINIT")
        .map(PathBuf::from)
        .or_else(|| crate::runtime::find_program("podinit"))
}
