//! Mounts: volumes and binds (host paths the engine resolved), tmpfs, the read-only root's
//! scratch tmpfs, and the hosts/resolv.conf/hostname files podadm writes.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount, MountBuilder, Spec};

use super::flags::PROPAGATION;
use super::{SpecContext, SpecError};
use crate::config::{ContainerConfig, MountRequest};

/// With `--read-only`, these get a tmpfs of their own so that programs can still write
/// scratch files (podman's `--read-only-tmpfs`, on by default).
pub const READ_ONLY_TMPFS: &[&str] = &["/run", "/tmp", "/var/tmp"];

/// Where a mount's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// A host path: a volume's `_data` or a bind source.
    Host(PathBuf),
    /// A new tmpfs.
    Tmpfs,
}

/// A mount ready for the runtime spec: volume names already turned into host paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedMount {
    pub source: MountSource,
    /// An absolute path in the container.
    pub destination: String,
    /// mount(8) options, as the runtime spec takes them.
    pub options: Vec<String>,
}

impl ResolvedMount {
    /// The mount `request` asks for, as podman writes it; `volume_path` is the host path of
    /// the volume's data, for a [`MountRequest::Volume`].
    pub fn from_request(
        request: &MountRequest,
        volume_path: Option<&Path>,
    ) -> Result<ResolvedMount, SpecError> {
        match request {
            MountRequest::Volume {
                destination,
                read_only,
                ..
            } => {
                let path = volume_path.ok_or_else(|| SpecError::Mount {
                    destination: destination.clone(),
                    reason: "the volume has no path (it was not created)".into(),
                })?;
                Ok(ResolvedMount::volume(path, destination, *read_only))
            }
            MountRequest::Bind {
                source,
                destination,
                options,
                read_only,
            } => {
                let mut resolved = vec![rw(*read_only)];
                // z and Z ask for an SELinux relabel: nothing to pass to the mount.
                resolved.extend(
                    options
                        .iter()
                        .filter(|o| !matches!(o.as_str(), "z" | "Z"))
                        .cloned(),
                );
                if !options.iter().any(|o| PROPAGATION.contains(&o.as_str())) {
                    resolved.push("rprivate".into());
                }
                if !options.iter().any(|o| o == "bind" || o == "rbind") {
                    resolved.push("rbind".into());
                }
                Ok(ResolvedMount {
                    source: MountSource::Host(source.clone()),
                    destination: destination.clone(),
                    options: resolved,
                })
            }
            MountRequest::Tmpfs {
                destination,
                options,
            } => {
                let mut resolved = options.clone();
                let has = |o: &str| options.iter().any(|x| x == o);
                if !has("ro") && !has("rw") {
                    resolved.push("rw".into());
                }
                if !options.iter().any(|o| PROPAGATION.contains(&o.as_str())) {
                    resolved.push("rprivate".into());
                }
                if !has("suid") && !has("nosuid") {
                    resolved.push("nosuid".into());
                }
                if !has("dev") && !has("nodev") {
                    resolved.push("nodev".into());
                }
                Ok(ResolvedMount {
                    source: MountSource::Tmpfs,
                    destination: destination.clone(),
                    options: resolved,
                })
            }
        }
    }

    /// A named or anonymous volume's data mounted on `destination`.
    pub fn volume(data: &Path, destination: &str, read_only: bool) -> ResolvedMount {
        ResolvedMount {
            source: MountSource::Host(data.to_path_buf()),
            destination: destination.to_string(),
            options: vec![
                rw(read_only),
                "rprivate".into(),
                "nosuid".into(),
                "nodev".into(),
                "rbind".into(),
            ],
        }
    }

    fn to_oci(&self) -> Result<Mount, SpecError> {
        let (typ, source) = match &self.source {
            MountSource::Host(path) => ("bind", path.clone()),
            MountSource::Tmpfs => ("tmpfs", PathBuf::from("tmpfs")),
        };
        build_mount(&self.destination, typ, source, self.options.clone())
    }
}

fn rw(read_only: bool) -> String {
    if read_only { "ro" } else { "rw" }.to_string()
}

fn build_mount(
    destination: &str,
    typ: &str,
    source: PathBuf,
    options: Vec<String>,
) -> Result<Mount, SpecError> {
    MountBuilder::default()
        .destination(destination)
        .typ(typ)
        .source(source)
        .options(options)
        .build()
        .map_err(|e| SpecError::Mount {
            destination: destination.to_string(),
            reason: e.to_string(),
        })
}

fn check_destination(destination: &str) -> Result<(), SpecError> {
    let reason = if !destination.starts_with('/') {
        "the destination must be an absolute path"
    } else if destination.split('/').any(|c| c == "..") {
        "the destination must not contain '..'"
    } else if destination == "/" {
        "the container's root cannot be mounted over"
    } else {
        return Ok(());
    };
    Err(SpecError::Mount {
        destination: destination.to_string(),
        reason: reason.into(),
    })
}

/// A destination as compared: without trailing slashes.
fn clean(destination: &str) -> &str {
    let trimmed = destination.trim_end_matches('/');
    if trimmed.is_empty() {
        "/"
    } else {
        trimmed
    }
}

/// Adds the container's mounts to `spec`; a mount on a destination the image's defaults use
/// (`/dev/shm`, say) replaces the default.
pub(super) fn apply(
    spec: &mut Spec,
    config: &ContainerConfig,
    ctx: &SpecContext,
) -> Result<(), SpecError> {
    let mut added: Vec<Mount> = Vec::new();
    for mount in &ctx.resolved_mounts {
        check_destination(&mount.destination)?;
        if added
            .iter()
            .any(|m| clean(&m.destination().to_string_lossy()) == clean(&mount.destination))
        {
            return Err(SpecError::Mount {
                destination: mount.destination.clone(),
                reason: "more than one mount on this destination".into(),
            });
        }
        added.push(mount.to_oci()?);
    }
    let covered = |added: &[Mount], dest: &str| {
        added
            .iter()
            .any(|m| clean(&m.destination().to_string_lossy()) == dest)
    };
    if config.read_only {
        if let Some(root) = spec.root_mut() {
            root.set_readonly(Some(true));
        }
        for dest in READ_ONLY_TMPFS {
            if !covered(&added, dest) {
                let options = ["rw", "rprivate", "nosuid", "nodev"]
                    .map(String::from)
                    .to_vec();
                added.push(build_mount(dest, "tmpfs", "tmpfs".into(), options)?);
            }
        }
    }
    let userdata = [
        ("/etc/hosts", &ctx.userdata.hosts),
        ("/etc/resolv.conf", &ctx.userdata.resolv_conf),
        ("/etc/hostname", &ctx.userdata.hostname),
    ];
    for (dest, file) in userdata {
        let Some(file) = file else { continue };
        if covered(&added, dest) {
            continue;
        }
        let mut options: Vec<String> = vec!["bind".into(), "rprivate".into()];
        if config.read_only {
            options.extend(["ro", "nosuid", "noexec", "nodev"].map(String::from));
        }
        added.push(build_mount(dest, "bind", file.clone(), options)?);
    }
    // Parents before what is mounted inside them, whatever order they were given in.
    added.sort_by_key(|m| m.destination().components().count());
    rootfs_propagation(spec, &added);
    let mut mounts: Vec<Mount> = spec
        .mounts()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| !covered(&added, clean(&m.destination().to_string_lossy())))
        .collect();
    mounts.extend(added);
    spec.set_mounts(Some(mounts));
    Ok(())
}

/// A mount that receives (rslave) or also sends (rshared) mount events needs the root's
/// mount to propagate as well: runtimes make the root rprivate unless told otherwise, which
/// would cut the mount off from the host (containerd sets the same).
fn rootfs_propagation(spec: &mut Spec, mounts: &[Mount]) {
    let has = |mode: &str| {
        mounts
            .iter()
            .any(|m| m.options().iter().flatten().any(|o| o == mode))
    };
    let mode = if has("rshared") || has("shared") {
        "rshared"
    } else if has("rslave") || has("slave") {
        "rslave"
    } else {
        return;
    };
    spec.linux_mut()
        .get_or_insert_with(Default::default)
        .set_rootfs_propagation(Some(mode.to_string()));
}
