//! Garbage collection: delete the blobs no named image reaches.

use std::collections::HashSet;
use std::fs;

use aurora_spec::document::Link;
use aurora_spec::Digest;
use tracing::debug;

use crate::error::{Result, StoreError};
use crate::{walk, Store};

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

    /// Everything index.json's names reach. A damaged document anywhere makes collection
    /// fail: what it references cannot be known, so nothing may be deleted.
    fn reachable_blobs(&self) -> Result<HashSet<String>> {
        let roots: Vec<Link> = self
            .read_index()?
            .manifests()
            .iter()
            .map(Link::from_descriptor)
            .collect();
        match walk::walk(self, roots, |_, _| true) {
            Ok(walked) => Ok(walk::digests(&walked)),
            Err(StoreError::BadDocument { digest, reason }) => {
                Err(StoreError::Damaged { digest, reason })
            }
            Err(other) => Err(other),
        }
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
