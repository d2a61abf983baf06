//! Garbage collection: delete the blobs no named image reaches.

use std::collections::HashSet;
use std::fs;

use aurora_spec::document::Document;
use aurora_spec::media::{self, Kind};
use aurora_spec::Digest;
use tracing::debug;

use crate::error::{Result, StoreError};
use crate::Store;

/// What a collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Digests of the removed blobs, with their sizes.
    pub removed: Vec<(String, u64)>,
    /// Bytes freed, blobs and abandoned partial downloads together.
    pub freed_bytes: u64,
    /// Partial downloads that no process was writing.
    pub partials_removed: usize,
}

impl Store {
    /// Removes every blob that no name in index.json reaches, and partial downloads that no
    /// process holds. Waits for running pulls to finish and blocks new ones meanwhile.
    pub fn gc(&self) -> Result<GcReport> {
        let _gc = self.gc_lock()?;
        let _index = self.lock_index()?;
        let reachable = self.reachable_blobs()?;
        let mut report = GcReport::default();
        self.remove_unreachable_blobs(&reachable, &mut report)?;
        self.remove_abandoned_scratch(&mut report)?;
        Ok(report)
    }

    fn reachable_blobs(&self) -> Result<HashSet<String>> {
        let mut seen = HashSet::new();
        let mut pending: Vec<(String, String)> = self
            .read_index()?
            .manifests()
            .iter()
            .map(|d| (d.digest().to_string(), d.media_type().to_string()))
            .collect();
        while let Some((digest, media_type)) = pending.pop() {
            if !seen.insert(digest.clone()) {
                continue;
            }
            if matches!(media::kind(&media_type), Kind::Index | Kind::Manifest) {
                pending.extend(self.children_of(&digest)?);
            }
        }
        Ok(seen)
    }

    /// The blobs a stored manifest or index names. One that is missing or unreadable makes
    /// collection fail: what it references cannot be known, so nothing may be deleted.
    fn children_of(&self, digest: &str) -> Result<Vec<(String, String)>> {
        let damaged = |reason: String| StoreError::Damaged {
            digest: digest.to_string(),
            reason,
        };
        let parsed: Digest = digest
            .parse()
            .map_err(|e| damaged(format!("bad digest: {e}")))?;
        let bytes = self
            .read_blob(&parsed, media::MAX_MANIFEST_BYTES)
            .map_err(|e| damaged(e.to_string()))?;
        let document =
            Document::parse(&bytes).map_err(|e| damaged(format!("not a manifest: {e}")))?;
        Ok(document
            .links()
            .map(|l| (l.digest.clone(), l.media_type.clone()))
            .collect())
    }

    fn remove_unreachable_blobs(
        &self,
        reachable: &HashSet<String>,
        report: &mut GcReport,
    ) -> Result<()> {
        let blobs = self.root().join("blobs");
        for algorithm in read_dir_names(&blobs)? {
            let dir = blobs.join(&algorithm);
            for name in read_dir_names(&dir)? {
                let digest = format!("{algorithm}:{name}");
                let path = dir.join(&name);
                // Only files named as blobs are ours to delete; anything else is left alone.
                if reachable.contains(&digest) || !is_blob_file(&digest, &path) {
                    continue;
                }
                let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                fs::remove_file(&path).map_err(StoreError::io(&path))?;
                debug!(%digest, size, "removed unreferenced blob");
                report.freed_bytes += size;
                report.removed.push((digest, size));
            }
        }
        report.removed.sort();
        Ok(())
    }

    fn remove_abandoned_scratch(&self, report: &mut GcReport) -> Result<()> {
        let scratch = self.scratch_dir();
        for name in read_dir_names(&scratch)? {
            let path = scratch.join(&name);
            // A partial download still locked belongs to a live process (one that does not
            // take the writer lock, such as an older version); leave it alone.
            let Ok(file) = fs::File::open(&path) else {
                continue;
            };
            if file.try_lock().is_err() {
                continue;
            }
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            if fs::remove_file(&path).is_ok() {
                report.freed_bytes += size;
                report.partials_removed += 1;
            }
        }
        Ok(())
    }
}

fn is_blob_file(digest: &str, path: &std::path::Path) -> bool {
    let named_as_blob = digest
        .parse::<Digest>()
        .is_ok_and(|d| aurora_spec::Hasher::for_digest(&d).is_ok());
    named_as_blob && fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}

fn read_dir_names(dir: &std::path::Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(dir)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(StoreError::io(dir))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}
