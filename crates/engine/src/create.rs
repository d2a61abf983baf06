//! `create`: a container's record, its root cloned from the image's layers, its volumes, and
//! its runtime bundle. The record is written first (state `creating`, with this process as
//! its owner), so that a podadm killed half-way leaves a record the next podadm recognises
//! and undoes (see `reconcile`).

use std::path::PathBuf;

use aurora_images::{NoProgress, UnpackOptions};

use crate::config::{ContainerConfig, MountRequest};
use crate::engine::Engine;
use crate::error::{io, EngineError, Result};
use crate::spec::{SpecContext, UserdataFiles};
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
        // A start usually follows: the runtime's cgroup moves then find the kernel ready.
        aurora_cgroups::start_grace_period();
        // A pod member's namespaces, network and hostname are the pod's.
        let config = self.pod_member_config(config)?;
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
        let record = ContainerRecord::creating(
            id,
            name,
            (image.name.clone(), image.manifest_digest.to_string()),
            config,
            runtime.path.display().to_string(),
        );
        self.record_creation(record, |record| self.build(record, &image).map(drop))
    }

    /// A creation as every kind of container goes through it: the record first (`creating`,
    /// owned by this process), then `make`; `created` when it succeeds, everything it made
    /// undone and the record gone when it fails.
    pub(crate) fn record_creation(
        &self,
        mut record: ContainerRecord,
        make: impl FnOnce(&mut ContainerRecord) -> Result<()>,
    ) -> Result<ContainerRecord> {
        self.db.insert(&record)?;
        match make(&mut record) {
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

    /// Everything but the record: storage, volumes, bundle. Returns what the warm pool
    /// needs to apply another configuration later: the image's spec before `spec::apply`
    /// and the destinations of the volumes it mounted.
    pub(crate) fn build(
        &self,
        record: &mut ContainerRecord,
        image: &aurora_store::StoredImage,
    ) -> Result<(oci_spec::runtime::Spec, Vec<String>)> {
        // Before anything is made: a missing bind source is the user's to fix.
        self.check_bind_sources(record)?;
        let userdata = self.make_userdata(record)?;
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
                name: Some(record.storage_name().to_string()),
                overrides,
                limits: self.options.unpack_limits,
                durability: aurora_bundle::Durability::Unsynced,
                ..Default::default()
            },
            &NoProgress,
        )?;
        let made = self.volumes()?.container_mounts(
            &record.config.mounts,
            image
                .config
                .config()
                .as_ref()
                .unwrap_or(&Default::default()),
            &unpacked.rootfs,
        )?;
        record.anonymous_volumes = made.anonymous.clone();
        self.db.update(record)?;
        let mut spec = aurora_bundle::read_bundle_config(&bundle)?;
        let base = spec.clone();
        let volume_destinations = made.mounts.iter().map(|m| m.destination.clone()).collect();
        let context = SpecContext {
            container_id: record.id.clone(),
            image: record.image.clone(),
            image_config: image.config.config().clone().unwrap_or_default(),
            rootfs: unpacked.rootfs.clone(),
            resolved_mounts: made.mounts,
            userdata: UserdataFiles {
                hosts: Some(userdata.join("hosts")),
                resolv_conf: Some(userdata.join("resolv.conf")),
                hostname: Some(userdata.join("hostname")),
            },
            netns: None,
            init_binary: podinit_binary(),
            host_capabilities: crate::spec::host_capabilities(),
            host_devices: if record.config.privileged {
                crate::spec::host_devices()
            } else {
                Vec::new()
            },
            cgroups_path: self.pod_cgroups_path(record)?,
        };
        for warning in crate::spec::apply(&mut spec, &record.config, &context)? {
            tracing::warn!(container = %record.name, "{warning}");
        }
        aurora_bundle::write_bundle_config_as(&bundle, &spec, aurora_bundle::Durability::Unsynced)?;
        // A zfs clone's files are read again at their first use (see `warm`); the others
        // share their pages with the image's layers.
        if let (Some(process), Ok(aurora_storage::DriverKind::Zfs)) =
            (spec.process(), self.images.storage().map(|s| s.kind()))
        {
            crate::warm::spawn_read_program(unpacked.rootfs.clone(), process);
        }
        Ok((base, volume_destinations))
    }

    /// The container's userdata directory with its (empty until start) files.
    pub(crate) fn make_userdata(&self, record: &ContainerRecord) -> Result<PathBuf> {
        let userdata = self.paths.userdata(&record.id);
        std::fs::create_dir_all(&userdata).map_err(io(&userdata))?;
        for (file, _) in USERDATA_FILES {
            let path = userdata.join(file);
            std::fs::write(&path, b"").map_err(io(&path))?;
        }
        Ok(userdata)
    }

    /// The hostname: `--hostname`, else the id's first 12 digits (as podman's).
    pub(crate) fn hostname_of(&self, record: &ContainerRecord) -> String {
        record
            .config
            .hostname
            .clone()
            .unwrap_or_else(|| record.id[..12].to_string())
    }

    /// Bind mount sources must exist (podman refuses a missing one, naming it).
    fn check_bind_sources(&self, record: &ContainerRecord) -> Result<()> {
        for mount in &record.config.mounts {
            if let MountRequest::Bind { source, .. } = mount {
                if !source.exists() {
                    return Err(EngineError::Invalid {
                        name: record.name.clone(),
                        message: format!("bind mount source {} does not exist", source.display()),
                    });
                }
            }
        }
        Ok(())
    }

    /// Removes what a failed or abandoned create made, and its record.
    pub(crate) fn undo_create(&self, record: &ContainerRecord) {
        if let Ok(Some(driver)) = self.images.storage_in_use() {
            let _ = driver.remove_container(record.storage_name());
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

/// The podinit `--init` uses: `AURORA_PODINIT`, else beside podadm, else on PATH (it runs
/// inside the container, so it must be static).
pub(crate) fn podinit_binary() -> Option<PathBuf> {
    std::env::var_os("AURORA_PODINIT")
        .map(PathBuf::from)
        .or_else(|| crate::runtime::find_program("podinit"))
}
