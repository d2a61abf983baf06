//! Volumes that belong to a pod (Kubernetes emptyDirs): made with the pod's label, removed
//! with the pod however it goes.

use crate::engine::Engine;
use crate::error::Result;
use crate::pod::PodRecord;

/// The label of a volume that belongs to a pod: the pod's id.
const POD_VOLUME_LABEL: &str = "io.podadm.pod";

impl Engine {
    /// A volume that belongs to pod `pod_id` (a Kubernetes emptyDir): `name` made afresh with
    /// the pod's label, so that it goes with the pod however the pod is removed. A volume of
    /// that name made by someone else is used as it is, and kept.
    pub fn pod_volume(&self, pod_id: &str, name: &str) -> Result<crate::volume::Volume> {
        let volumes = self.volumes()?;
        let request = crate::volume::VolumeCreate {
            name: Some(name.to_string()),
            labels: [(POD_VOLUME_LABEL.to_string(), pod_id.to_string())].into(),
            ..Default::default()
        };
        match volumes.create(&request) {
            Err(crate::volume::VolumeError::Exists(_)) => Ok(volumes.open_or_create(name)?.0),
            made => Ok(made?),
        }
    }

    /// Removes the volumes that belong to `pod` (see [`Engine::pod_volume`]).
    pub(crate) fn remove_pod_volumes(&self, pod: &PodRecord) {
        let Ok(volumes) = self.volumes() else {
            return;
        };
        let owned = volumes.list().unwrap_or_default().into_iter().filter(|v| {
            v.labels.get(POD_VOLUME_LABEL).map(String::as_str) == Some(pod.id.as_str())
        });
        for volume in owned {
            if let Err(e) = volumes.remove(&volume.name) {
                tracing::warn!(pod = %pod.name, "removing volume {}: {e}", volume.name);
            }
        }
    }
}
