//! runz's own note beside libcontainer's state.json: what `state` reports that libcontainer
//! does not keep (the rootfs), and how the container was made (with an injected init).

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const FILE: &str = "runz.json";

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct Note {
    pub rootfs: PathBuf,
    #[serde(default)]
    pub init: bool,
}

impl Note {
    pub fn write(&self, container_dir: &Path) -> Result<()> {
        let path = container_dir.join(FILE);
        let tmp = container_dir.join(".runz.json.tmp");
        let bytes = serde_json::to_vec(self).map_err(|e| Error::Invalid(e.to_string()))?;
        fs::write(&tmp, bytes)
            .and_then(|()| fs::rename(&tmp, &path))
            .map_err(|source| Error::Io {
                what: "cannot write",
                path,
                source,
            })
    }

    pub fn read(container_dir: &Path) -> Option<Note> {
        let bytes = fs::read(container_dir.join(FILE)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}
