//! A pod's `volumes` and a container's `volumeMounts` → mounts, the named volumes to make,
//! the host paths to check and the configMap and secret files to render.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use aurora_engine::MountRequest;

use crate::error::{KubeError, Location, Result, Warning};
use crate::model::{HostPathType, KeyToPath, Volume, VolumeMount};
use crate::parse::{DataSource, Manifest, PodSource};
use crate::plan::{HostPathCheck, NamedVolume, PodPlan, RenderedFile};

/// Kubernetes' default mode for configMap and secret files.
pub const DEFAULT_FILE_MODE: u32 = 0o644;

/// What a pod volume became.
#[derive(Debug, Clone)]
pub(crate) enum PodVolume {
    Host(PathBuf),
    Named {
        name: String,
        read_only: bool,
    },
    /// Rendered configMap or secret files in this directory.
    Files(PathBuf),
}

/// Resolves `spec.volumes`, recording in `plan` what must exist before the containers.
pub(crate) fn pod_volumes(
    manifest: &Manifest,
    pod: &PodSource,
    plan: &mut PodPlan,
    warnings: &mut Vec<Warning>,
) -> Result<BTreeMap<String, PodVolume>> {
    let mut volumes = BTreeMap::new();
    for (index, volume) in pod.spec.volumes.iter().enumerate() {
        let path = format!("{}.volumes[{index}]", pod.spec_path);
        crate::parse::check_dns_name(&volume.name, &pod.location, &format!("{path}.name"))?;
        let resolved = pod_volume(manifest, pod, volume, &path, plan, warnings)?;
        if volumes.insert(volume.name.clone(), resolved).is_some() {
            return Err(KubeError::invalid(
                &pod.location,
                format!("{path}.name"),
                format!("a volume named {:?} is already defined", volume.name),
            ));
        }
    }
    Ok(volumes)
}

fn pod_volume(
    manifest: &Manifest,
    pod: &PodSource,
    volume: &Volume,
    path: &str,
    plan: &mut PodPlan,
    warnings: &mut Vec<Warning>,
) -> Result<PodVolume> {
    let sources = [
        volume.host_path.is_some(),
        volume.empty_dir.is_some(),
        volume.persistent_volume_claim.is_some(),
        volume.config_map.is_some(),
        volume.secret.is_some(),
    ];
    match sources.iter().filter(|given| **given).count() {
        1 => {}
        0 => return Err(KubeError::invalid(&pod.location, path, "no source: one of hostPath, emptyDir, persistentVolumeClaim, configMap or secret is needed")),
        _ => return Err(KubeError::invalid(&pod.location, path, "more than one source: a volume has one of hostPath, emptyDir, persistentVolumeClaim, configMap or secret")),
    }
    let location = &pod.location;
    if let Some(host) = &volume.host_path {
        let host_path = PathBuf::from(&host.path);
        if !host_path.is_absolute() {
            return Err(KubeError::invalid(
                location,
                format!("{path}.hostPath.path"),
                format!("{:?} is not an absolute path", host.path),
            ));
        }
        let kind = host.path_type.unwrap_or(HostPathType::Unset);
        if kind != HostPathType::Unset {
            plan.host_paths.push(HostPathCheck {
                path: host_path.clone(),
                kind,
            });
        }
        return Ok(PodVolume::Host(host_path));
    }
    if let Some(empty) = &volume.empty_dir {
        match empty.medium.as_deref() {
            None | Some("") => {}
            // A tmpfs per container would not be shared by the pod's containers.
            Some("Memory") => warnings.push(Warning {
                location: location.clone(),
                path: format!("{path}.emptyDir.medium"),
                message: "Memory is not supported: the volume is kept on disk".into(),
            }),
            Some(medium) => {
                return Err(KubeError::invalid(
                    location,
                    format!("{path}.emptyDir.medium"),
                    format!("{medium:?} is not supported (\"\" or \"Memory\" are)"),
                ))
            }
        }
        // Scratch space of this pod alone: a Deployment's replicas do not share it.
        let name = format!("{}-{}", plan.name, volume.name);
        plan.volumes.push(NamedVolume {
            name: name.clone(),
            scratch: true,
        });
        return Ok(PodVolume::Named {
            name,
            read_only: false,
        });
    }
    if let Some(claim) = &volume.persistent_volume_claim {
        crate::parse::check_dns_name(
            &claim.claim_name,
            location,
            &format!("{path}.persistentVolumeClaim.claimName"),
        )?;
        plan.volumes.push(NamedVolume {
            name: claim.claim_name.clone(),
            scratch: false,
        });
        return Ok(PodVolume::Named {
            name: claim.claim_name.clone(),
            read_only: claim.read_only,
        });
    }
    let dir = plan.files_dir.join(&volume.name);
    let rendered = if let Some(map) = &volume.config_map {
        let source = FileSource {
            kind: "ConfigMap",
            name: &map.name,
            field: format!("{path}.configMap"),
            items: &map.items,
            default_mode: map.default_mode.map(|m| m.0),
            optional: map.optional,
        };
        source.render(location, manifest.config_maps.get(&map.name), &dir)?
    } else if let Some(secret) = &volume.secret {
        let source = FileSource {
            kind: "Secret",
            name: &secret.secret_name,
            field: format!("{path}.secret"),
            items: &secret.items,
            default_mode: secret.default_mode.map(|m| m.0),
            optional: secret.optional,
        };
        source.render(location, manifest.secrets.get(&secret.secret_name), &dir)?
    } else {
        unreachable!("one source was counted above")
    };
    plan.directories.push(dir.clone());
    plan.files.extend(rendered);
    Ok(PodVolume::Files(dir))
}

/// A configMap or secret volume: one file per key (or per listed item).
struct FileSource<'a> {
    kind: &'static str,
    name: &'a str,
    field: String,
    items: &'a [KeyToPath],
    default_mode: Option<u32>,
    optional: bool,
}

impl FileSource<'_> {
    fn render(
        &self,
        location: &Location,
        source: Option<&DataSource>,
        dir: &Path,
    ) -> Result<Vec<RenderedFile>> {
        let Some(source) = source else {
            if self.optional {
                return Ok(Vec::new());
            }
            let name_field = if self.kind == "Secret" {
                "secretName"
            } else {
                "name"
            };
            return Err(KubeError::invalid(
                location,
                format!("{}.{name_field}", self.field),
                format!("no {} named {:?} in the file", self.kind, self.name),
            ));
        };
        let mode = self.default_mode.unwrap_or(DEFAULT_FILE_MODE);
        if self.items.is_empty() {
            return Ok(source
                .data
                .iter()
                .map(|(key, content)| RenderedFile {
                    path: dir.join(key),
                    content: content.clone(),
                    mode,
                })
                .collect());
        }
        let mut files = Vec::new();
        for (index, item) in self.items.iter().enumerate() {
            let item_path = format!("{}.items[{index}]", self.field);
            let Some(content) = source.data.get(&item.key) else {
                if self.optional {
                    continue;
                }
                return Err(KubeError::invalid(
                    location,
                    format!("{item_path}.key"),
                    format!(
                        "the {} {:?} has no key {:?}",
                        self.kind, self.name, item.key
                    ),
                ));
            };
            let relative = relative_path(&item.path, location, &format!("{item_path}.path"))?;
            files.push(RenderedFile {
                path: dir.join(relative),
                content: content.clone(),
                mode: item.mode.map_or(mode, |m| m.0),
            });
        }
        Ok(files)
    }
}

/// A path that stays below its directory: relative, no `..`.
pub(crate) fn relative_path(text: &str, location: &Location, field: &str) -> Result<PathBuf> {
    let path = Path::new(text);
    let inside = !text.is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if inside {
        Ok(path.to_path_buf())
    } else {
        Err(KubeError::invalid(
            location,
            field,
            format!("{text:?} must be a relative path without '..'"),
        ))
    }
}

/// One `volumeMounts` entry → a mount request.
pub(crate) fn mount(
    volumes: &BTreeMap<String, PodVolume>,
    mount: &VolumeMount,
    location: &Location,
    path: &str,
) -> Result<MountRequest> {
    let Some(volume) = volumes.get(&mount.name) else {
        return Err(KubeError::invalid(
            location,
            format!("{path}.name"),
            format!("no volume named {:?} in the pod's volumes", mount.name),
        ));
    };
    if !mount.mount_path.starts_with('/') {
        return Err(KubeError::invalid(
            location,
            format!("{path}.mountPath"),
            format!("{:?} is not an absolute path", mount.mount_path),
        ));
    }
    let sub_path = match &mount.sub_path {
        Some(sub) if !sub.is_empty() => {
            Some(relative_path(sub, location, &format!("{path}.subPath"))?)
        }
        _ => None,
    };
    let destination = mount.mount_path.clone();
    let bind = |source: &Path, read_only: bool| MountRequest::Bind {
        source: sub_path
            .as_ref()
            .map_or(source.to_path_buf(), |s| source.join(s)),
        destination: destination.clone(),
        options: Vec::new(),
        read_only,
    };
    let no_sub_path = || {
        KubeError::invalid(
            location,
            format!("{path}.subPath"),
            "subPath is supported for hostPath, configMap and secret volumes only",
        )
    };
    Ok(match volume {
        PodVolume::Host(source) => bind(source, mount.read_only),
        PodVolume::Files(dir) => bind(dir, true),
        PodVolume::Named { name, read_only } => {
            if sub_path.is_some() {
                return Err(no_sub_path());
            }
            MountRequest::Volume {
                name: Some(name.clone()),
                destination,
                read_only: mount.read_only || *read_only,
            }
        }
    })
}
