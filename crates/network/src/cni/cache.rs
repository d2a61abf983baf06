//! What an ADD was given and what it answered, kept per container and interface (libcni's
//! `/var/lib/cni/results`), so that DEL and CHECK run the same configuration with the same
//! arguments and result even after the conf dir changed, and without the caller's options
//! (podadm's `container cleanup` knows neither the conf dir nor the bin dirs). Written
//! before the first plugin runs: a caller that dies during ADD leaves what DEL needs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::conf::NetworkConfList;
use crate::error::{io, NetworkError, Result};

const KIND: &str = "aurora-cni-cache/v1";
const MAX_ENTRY_BYTES: u64 = 4 << 20;

/// One network of one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Entry {
    pub kind: String,
    pub container_id: String,
    pub if_name: String,
    /// Its place in the attachment (interfaces are torn down last made first).
    pub index: usize,
    pub netns: PathBuf,
    pub cni_args: String,
    /// The capability arguments (`portMappings`, `dns`) as given to ADD.
    pub runtime_config: Map<String, Value>,
    pub config: NetworkConfList,
    pub bin_dirs: Vec<PathBuf>,
    /// The chain's result; `None` while ADD runs or when it failed half-way.
    pub result: Option<Value>,
}

impl Entry {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        container_id: &str,
        if_name: &str,
        index: usize,
        netns: &Path,
        cni_args: String,
        runtime_config: Map<String, Value>,
        config: NetworkConfList,
        bin_dirs: Vec<PathBuf>,
    ) -> Entry {
        Entry {
            kind: KIND.into(),
            container_id: container_id.into(),
            if_name: if_name.into(),
            index,
            netns: netns.to_path_buf(),
            cni_args,
            runtime_config,
            config,
            bin_dirs,
            result: None,
        }
    }
}

/// The cache directory: `DIR/results/NETWORK-CONTAINER-IFNAME`.
#[derive(Debug, Clone)]
pub(crate) struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(dir: &Path) -> Cache {
        Cache {
            dir: dir.join("results"),
        }
    }

    fn path(&self, entry: &Entry) -> PathBuf {
        self.dir.join(format!(
            "{}-{}-{}",
            entry.config.name, entry.container_id, entry.if_name
        ))
    }

    /// Writes `entry` (replacing the one before, atomically).
    pub fn save(&self, entry: &Entry) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir, "create directory"))?;
        let path = self.path(entry);
        let temporary = path.with_extension("tmp");
        let bytes = serde_json::to_vec(entry).map_err(|source| NetworkError::Json {
            path: path.clone(),
            what: "CNI cache entry",
            source,
        })?;
        std::fs::write(&temporary, bytes).map_err(io(&temporary, "write"))?;
        std::fs::rename(&temporary, &path).map_err(io(&path, "rename into place"))
    }

    pub fn remove(&self, entry: &Entry) -> Result<()> {
        let path = self.path(entry);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path, "remove")(e)),
            _ => Ok(()),
        }
    }

    /// Every entry of `container_id`, last made first; unreadable ones are skipped (and
    /// logged): they cannot be torn down from.
    pub fn entries_of(&self, container_id: &str) -> Vec<Entry> {
        let Ok(files) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let needle = format!("-{container_id}-");
        let mut entries: Vec<Entry> = files
            .flatten()
            .filter(|f| {
                let name = f.file_name();
                let name = name.to_string_lossy();
                name.contains(&needle) && !name.ends_with(".tmp")
            })
            .filter_map(|f| match read(&f.path()) {
                Ok(entry) if entry.container_id == container_id => Some(entry),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!("skipping a CNI cache entry: {e}");
                    None
                }
            })
            .collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.index));
        entries
    }
}

fn read(path: &Path) -> Result<Entry> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(io(path, "open"))?;
    let mut bytes = Vec::new();
    file.take(MAX_ENTRY_BYTES)
        .read_to_end(&mut bytes)
        .map_err(io(path, "read"))?;
    let entry: Entry = serde_json::from_slice(&bytes).map_err(|source| NetworkError::Json {
        path: path.to_path_buf(),
        what: "CNI cache entry",
        source,
    })?;
    if entry.kind != KIND {
        return Err(NetworkError::CniConfig {
            path: path.to_path_buf(),
            reason: format!("a cache entry of kind {:?}", entry.kind),
        });
    }
    Ok(entry)
}
