//! The layer cache: a step's key is the key of everything before it (the base image's
//! manifest digest at the root) hashed with the step's instruction as expanded, and for
//! COPY and ADD the hash of what they copy. An entry keeps the step's time and, for steps
//! that change files, the layer blob it made; a hit costs a file read and a blob check, and
//! a build that hits every step makes the same image, byte for byte.

use std::path::{Path, PathBuf};

use aurora_images::NewLayer;
use aurora_spec::Digest;
use serde::{Deserialize, Serialize};

use crate::error::{io, Result};

/// Keys are small JSON files; a bigger one is not ours.
const MAX_ENTRY: u64 = 64 << 10;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct CachedLayer {
    pub digest: Digest,
    pub size: u64,
    pub diff_id: Digest,
    pub media_type: String,
}

impl From<&NewLayer> for CachedLayer {
    fn from(layer: &NewLayer) -> Self {
        CachedLayer {
            digest: layer.digest.clone(),
            size: layer.size,
            diff_id: layer.diff_id.clone(),
            media_type: layer.media_type.clone(),
        }
    }
}

impl From<CachedLayer> for NewLayer {
    fn from(layer: CachedLayer) -> Self {
        NewLayer {
            digest: layer.digest,
            size: layer.size,
            diff_id: layer.diff_id,
            media_type: layer.media_type,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The history entry's time.
    pub created: String,
    pub layer: Option<CachedLayer>,
}

/// The cache of one store.
pub(crate) struct Cache {
    dir: PathBuf,
    /// `--no-cache`: nothing is found, everything is kept.
    read: bool,
    /// Every entry this build found or kept, in order: what `--cache-to` exports.
    used: std::cell::RefCell<Vec<(Digest, Entry)>>,
}

impl Cache {
    pub fn open(store: &aurora_store::Store, read: bool) -> Result<Cache> {
        let dir = store.root().join(".aurora/build-cache");
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Cache {
            dir,
            read,
            used: Default::default(),
        })
    }

    fn path(&self, key: &Digest) -> PathBuf {
        self.dir.join(key.digest())
    }

    /// The entry for `key`, if any, whose layer blob is still in the store.
    pub fn find(&self, store: &aurora_store::Store, key: &Digest) -> Option<Entry> {
        if !self.read {
            return None;
        }
        let entry = read_entry(&self.path(key))?;
        if let Some(layer) = &entry.layer {
            // gc may have taken the blob: then the step runs again.
            if !matches!(store.blob_size(&layer.digest), Ok(Some(size)) if size == layer.size) {
                return None;
            }
        }
        self.used.borrow_mut().push((key.clone(), entry.clone()));
        Some(entry)
    }

    /// The entries this build found or kept.
    pub fn used(&self) -> Vec<(Digest, Entry)> {
        self.used.borrow().clone()
    }

    /// Keeps `entry` under `key` (written aside, then renamed: readers see all or nothing).
    pub fn keep(&self, key: &Digest, entry: &Entry) -> Result<()> {
        self.used.borrow_mut().push((key.clone(), entry.clone()));
        self.store_entry(key, entry)
    }

    /// Writes an entry without counting it as this build's (an imported one).
    pub fn store_entry(&self, key: &Digest, entry: &Entry) -> Result<()> {
        let path = self.path(key);
        let bytes =
            serde_json::to_vec(entry).map_err(|e| crate::BuildError::Invalid(e.to_string()))?;
        let aside = self
            .dir
            .join(format!(".{}.{}", key.digest(), std::process::id()));
        std::fs::write(&aside, bytes).map_err(io(&aside))?;
        std::fs::rename(&aside, &path).map_err(io(&path))
    }
}

fn read_entry(path: &Path) -> Option<Entry> {
    let file = std::fs::File::open(path).ok()?;
    if file.metadata().ok()?.len() > MAX_ENTRY {
        return None;
    }
    serde_json::from_reader(std::io::BufReader::new(file)).ok()
}

/// The key after `parent` for a step described by `parts`.
pub(crate) fn next_key(parent: &Digest, parts: &[&str]) -> Digest {
    let mut text = parent.to_string();
    for part in parts {
        text.push('\0');
        text.push_str(part);
    }
    aurora_spec::sha256_digest(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_chain_and_separate_their_parts() {
        let root = aurora_spec::sha256_digest(b"base");
        let a = next_key(&root, &["RUN", "a b"]);
        assert_eq!(a, next_key(&root, &["RUN", "a b"]));
        assert_ne!(a, next_key(&root, &["RUN a", "b"]));
        assert_ne!(a, next_key(&next_key(&root, &["ENV x=1"]), &["RUN", "a b"]));
    }
}
