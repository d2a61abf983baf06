//! The local image store: a standard OCI image layout that skopeo (`oci:DIR:REF`) and umoci
//! read as they are, made safe for concurrent processes and crashes.
//!
//! ```text
//! ROOT/oci-layout            {"imageLayoutVersion": "1.0.0"}
//! ROOT/index.json            one entry per name, `org.opencontainers.image.ref.name`
//! ROOT/blobs/sha256/HEX      content, only ever written whole and verified
//! ROOT/.aurora/tmp/          partial downloads (resumable) and files being replaced
//! ROOT/.aurora/index.lock    held while index.json is read, changed and replaced
//! ROOT/.aurora/gc.lock       shared by writers, exclusive for garbage collection
//! ```

mod blob;
mod error;
mod fsutil;
mod gc;
mod image;
mod index;
mod layout;
mod walk;

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use aurora_spec::Digest;

pub use blob::{BlobWriter, VerifiedBlob};
pub use error::{Result, StoreError};
pub use fsutil::{copy_capped, read_capped};
pub use gc::GcReport;
pub use image::{NewImage, PutImage, StoredImage, SOURCE_DIGEST_ANNOTATION};
pub use layout::{ref_name, REF_NAME_ANNOTATION};
pub use layout::{LayoutReader, ReadLayout};
pub use oci_spec::image::{Descriptor, ImageIndex};
pub use walk::{walk, Walked, MAX_DEPTH};

const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_CONTENT: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";
const INDEX_FILE: &str = "index.json";
const PRIVATE_DIR: &str = ".aurora";
const LAYOUT_TEMP_PREFIX: &str = ".oci-layout-";

/// An OCI image layout on disk.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// A held advisory lock; released when dropped.
#[derive(Debug)]
pub struct LockGuard {
    _file: File,
}

impl Store {
    /// Opens the layout at `root`, creating it when the directory is missing or empty. A
    /// directory that is not a layout, or a layout of another version, is refused before
    /// anything is written to it.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let store = Store { root: root.into() };
        fsutil::create_dir_all(&store.root)?;
        if !store.check_layout_file()? {
            match store.refuse_non_empty() {
                Ok(()) => store.write_layout_file()?,
                // A concurrent first open may have finished its layout after we looked for
                // it: then what is there is ours.
                Err(e) => {
                    if !store.check_layout_file()? {
                        return Err(e);
                    }
                }
            }
        }
        fsutil::create_dir_all(&store.scratch_dir())?;
        fsutil::create_dir_all(&store.root.join("blobs").join("sha256"))?;
        let _lock = store.lock_index()?;
        if !store.index_path().exists() {
            let empty = index::empty_index()?;
            fsutil::replace_file(&store.index_path(), &empty, &store.scratch_dir())?;
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether `oci-layout` is there (and says 1.0.0); an error if it says anything else.
    fn check_layout_file(&self) -> Result<bool> {
        let path = self.root.join(LAYOUT_FILE);
        let bytes = match File::open(&path) {
            Ok(file) => read_capped(file, &path, aurora_spec::media::MAX_ARCHIVE_METADATA_BYTES)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(StoreError::io(path)(e)),
        };
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|source| StoreError::NotALayout {
                path: self.root.clone(),
                reason: format!("{}: invalid JSON: {source}", path.display()),
            })?;
        match value.get("imageLayoutVersion").and_then(|v| v.as_str()) {
            Some("1.0.0") => Ok(true),
            other => Err(StoreError::NotALayout {
                path: self.root.clone(),
                reason: format!("unsupported imageLayoutVersion {other:?}"),
            }),
        }
    }

    /// Guards against `--root` pointing at the wrong directory (a home, a project). Only
    /// the temporary file of a concurrent first `open` may be there already.
    fn refuse_non_empty(&self) -> Result<()> {
        let entries = fs::read_dir(&self.root).map_err(StoreError::io(&self.root))?;
        for entry in entries {
            let name = entry.map_err(StoreError::io(&self.root))?.file_name();
            if !name.to_string_lossy().starts_with(LAYOUT_TEMP_PREFIX) {
                return Err(StoreError::NotALayout {
                    path: self.root.clone(),
                    reason: format!(
                        "it has no {LAYOUT_FILE} file and is not empty (it holds {name:?}); \
                         choose an empty or new directory"
                    ),
                });
            }
        }
        Ok(())
    }

    /// `oci-layout` is written first, so that a directory holding anything of ours is
    /// recognisable as a layout from then on.
    fn write_layout_file(&self) -> Result<()> {
        let path = self.root.join(LAYOUT_FILE);
        let mut tmp = tempfile::Builder::new()
            .prefix(LAYOUT_TEMP_PREFIX)
            .tempfile_in(&self.root)
            .map_err(StoreError::io(&self.root))?;
        std::io::Write::write_all(&mut tmp, LAYOUT_CONTENT.as_bytes())
            .and_then(|_| tmp.as_file().sync_data())
            .map_err(StoreError::io(tmp.path()))?;
        tmp.persist(&path)
            .map_err(|e| StoreError::io(&path)(e.error))?;
        fsutil::sync_dir(&self.root)
    }

    pub(crate) fn scratch_dir(&self) -> PathBuf {
        self.root.join(PRIVATE_DIR).join("tmp")
    }

    pub(crate) fn index_path(&self) -> PathBuf {
        self.root.join(INDEX_FILE)
    }

    fn lock_file(&self, name: &str) -> Result<File> {
        let path = self.root.join(PRIVATE_DIR).join(name);
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(StoreError::io(path))
    }

    pub(crate) fn lock_index(&self) -> Result<LockGuard> {
        let file = self.lock_file("index.lock")?;
        file.lock().map_err(StoreError::io(
            self.root.join(PRIVATE_DIR).join("index.lock"),
        ))?;
        Ok(LockGuard { _file: file })
    }

    /// Held by every operation that writes blobs before naming them in index.json, so that
    /// a concurrent `gc` never deletes a blob that is about to be referenced.
    pub fn writer_lock(&self) -> Result<LockGuard> {
        let file = self.lock_file("gc.lock")?;
        file.lock_shared()
            .map_err(StoreError::io(self.root.join(PRIVATE_DIR).join("gc.lock")))?;
        Ok(LockGuard { _file: file })
    }

    /// Excludes every holder of [`Store::writer_lock`]: for collecting what nothing names.
    pub fn gc_lock(&self) -> Result<LockGuard> {
        let file = self.lock_file("gc.lock")?;
        file.lock()
            .map_err(StoreError::io(self.root.join(PRIVATE_DIR).join("gc.lock")))?;
        Ok(LockGuard { _file: file })
    }

    /// Where a blob lives in the layout.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        layout::blob_name(&self.root, digest)
    }

    /// The size of a stored blob, or `None`. Blobs only reach their final name verified.
    pub fn blob_size(&self, digest: &Digest) -> Result<Option<u64>> {
        let path = self.blob_path(digest);
        match fs::metadata(&path) {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(path)(e)),
        }
    }

    /// Starts writing a blob; see [`BlobWriter`].
    pub fn begin_blob(&self, digest: &Digest, expected_size: Option<u64>) -> Result<BlobWriter> {
        let final_path = self.blob_path(digest);
        if let Some(dir) = final_path.parent() {
            fsutil::create_dir_all(dir)?;
        }
        BlobWriter::start(digest, expected_size, self.scratch_dir(), final_path)
    }

    /// A new file in the store's scratch directory, for a blob whose digest is known only once
    /// it is written (a layer being packed); removed if dropped unpublished.
    pub fn scratch_file(&self) -> Result<tempfile::NamedTempFile> {
        let dir = self.scratch_dir();
        fsutil::create_dir_all(&dir)?;
        tempfile::Builder::new()
            .prefix("new-")
            .tempfile_in(&dir)
            .map_err(StoreError::io(&dir))
    }

    /// Publishes a scratch file as blob `digest`, which the caller computed over the very
    /// bytes it wrote: synced, then renamed into `blobs/`. Returns the blob's size.
    pub fn publish_file(&self, file: tempfile::NamedTempFile, digest: &Digest) -> Result<u64> {
        let final_path = self.blob_path(digest);
        let size = file
            .as_file()
            .metadata()
            .map_err(StoreError::io(file.path()))?
            .len();
        if self.blob_size(digest)? == Some(size) {
            return Ok(size);
        }
        // Blobs are world-readable, as the ones the store writes itself (tempfile makes 0600).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.as_file()
                .set_permissions(fs::Permissions::from_mode(0o644))
                .map_err(StoreError::io(file.path()))?;
        }
        file.as_file()
            .sync_all()
            .map_err(StoreError::io(file.path()))?;
        let dir = final_path.parent().map(Path::to_path_buf);
        if let Some(dir) = &dir {
            fsutil::create_dir_all(dir)?;
        }
        file.persist(&final_path)
            .map_err(|e| StoreError::io(&final_path)(e.error))?;
        if let Some(dir) = &dir {
            fsutil::sync_dir(dir)?;
        }
        Ok(size)
    }

    /// Stores a small document (manifest, config) whose bytes are already in memory.
    pub fn put_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<()> {
        if self.blob_size(digest)? == Some(bytes.len() as u64) {
            return Ok(());
        }
        let mut writer = self.begin_blob(digest, Some(bytes.len() as u64))?;
        writer.restart()?;
        writer.write(bytes)?;
        writer.commit().map(drop)
    }

    /// Reads a small document, refusing one larger than `limit`, and re-verifies its digest.
    pub fn read_blob(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>> {
        ReadLayout::read_blob(self, digest, limit)
    }
}
