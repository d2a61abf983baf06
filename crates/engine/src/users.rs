//! Volumes and networks that containers use: removal is refused while a container uses one
//! (or, forced, removes those containers first), as podman does.

use std::collections::BTreeSet;

use crate::config::{MountRequest, NetworkMode};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::state::ContainerRecord;

impl Engine {
    /// The containers that mount volume `name`.
    pub fn volume_users(&self, name: &str) -> Result<Vec<ContainerRecord>> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|r| volumes_of(r).contains(name))
            .collect())
    }

    /// Removes volume `name`; refused while containers use it unless `force`, which
    /// removes them first.
    pub fn remove_volume(&self, name: &str, force: bool) -> Result<()> {
        let users = self.volume_users(name)?;
        if !users.is_empty() {
            if !force {
                return Err(in_use("volume", name, &users));
            }
            for user in users {
                self.remove(&user.id, true, false, Some(0))?;
            }
        }
        self.volumes()?.remove(name)?;
        Ok(())
    }

    /// Removes every volume no container uses; returns their names.
    pub fn prune_volumes(&self) -> Result<Vec<String>> {
        let used: std::collections::HashSet<String> =
            self.list()?.iter().flat_map(volumes_of).collect();
        Ok(self.volumes()?.prune(&used)?)
    }

    /// Removes network `name`; refused while containers use it unless `force`.
    pub fn remove_network(&self, name: &str, force: bool) -> Result<()> {
        let users: Vec<ContainerRecord> = self
            .list()?
            .into_iter()
            .filter(|r| matches!(&r.config.network, NetworkMode::Bridge(n) if n.iter().any(|n| n == name)))
            .collect();
        if !users.is_empty() {
            if !force {
                return Err(in_use("network", name, &users));
            }
            for user in users {
                self.remove(&user.id, true, false, Some(0))?;
            }
        }
        self.networks()?.remove(name)?;
        Ok(())
    }
}

/// The named and anonymous volumes of a container.
fn volumes_of(record: &ContainerRecord) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = record.anonymous_volumes.iter().cloned().collect();
    for mount in &record.config.mounts {
        if let MountRequest::Volume {
            name: Some(name), ..
        } = mount
        {
            names.insert(name.clone());
        }
    }
    names
}

fn in_use(what: &str, name: &str, users: &[ContainerRecord]) -> EngineError {
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    EngineError::Other(format!(
        "{what} {name} is in use by container(s) {}: remove them first or use --force",
        names.join(", ")
    ))
}
