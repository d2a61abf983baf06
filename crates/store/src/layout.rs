//! Reading an OCI image layout: [`ReadLayout`], what a copy needs of its source, which
//! imageadm's own [`Store`] is and which [`LayoutReader`] is for someone else's layout.
//!
//! A layout named as a copy's *source* (`oci:DIR`) belongs to somebody else and may be on a
//! read-only filesystem: [`LayoutReader`] creates, locks and writes nothing in it, and it
//! follows no symbolic link inside it. Every file (`oci-layout`, `index.json`,
//! `blobs/ALG/HEX`) is opened one component at a time from the layout's directory descriptor
//! with `O_NOFOLLOW`, so a planted link (`blobs -> /`, `index.json -> /etc/…`) is an error
//! naming it, never a way out; and only regular files are read (a fifo would block).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use aurora_spec::media;
use aurora_spec::Digest;
use oci_spec::image::{Descriptor, ImageIndex};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Result, StoreError};
use crate::fsutil::read_capped;
use crate::{Store, INDEX_FILE, LAYOUT_FILE};

/// The annotation that names an image in an OCI layout, read by skopeo and umoci.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// The name an index entry carries, if any.
pub fn ref_name(descriptor: &Descriptor) -> Option<&str> {
    descriptor
        .annotations()
        .as_ref()?
        .get(REF_NAME_ANNOTATION)
        .map(String::as_str)
}

/// What can be read from an OCI image layout. Documents are read through the caps of
/// [`aurora_spec::media`] and verified against their digests.
pub trait ReadLayout: Send + Sync {
    /// The layout's directory, for messages.
    fn root(&self) -> &Path;

    /// `index.json`, refused beyond [`media::MAX_LAYOUT_INDEX_BYTES`].
    fn read_index(&self) -> Result<ImageIndex>;

    /// The blob's file, opened for reading; `None` when the layout does not have it.
    fn open_blob(&self, digest: &Digest) -> Result<Option<File>>;

    /// The size of a blob, or `None`.
    fn blob_size(&self, digest: &Digest) -> Result<Option<u64>> {
        match self.open_blob(digest)? {
            Some(file) => Ok(Some(
                file.metadata()
                    .map_err(StoreError::io(blob_name(self.root(), digest)))?
                    .len(),
            )),
            None => Ok(None),
        }
    }

    /// Reads a small document, refusing one larger than `limit`, and verifies its digest.
    fn read_blob(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>> {
        let file = self
            .open_blob(digest)?
            .ok_or_else(|| StoreError::BlobNotFound(digest.to_string()))?;
        let path = blob_name(self.root(), digest);
        let bytes = match read_capped(&file, &path, limit) {
            Err(StoreError::FileTooLarge { .. }) => {
                let size = file.metadata().map_or(limit + 1, |m| m.len());
                return Err(StoreError::TooLarge {
                    digest: digest.to_string(),
                    size,
                    limit,
                });
            }
            other => other?,
        };
        aurora_spec::verify_bytes(digest, &bytes).map_err(|source| StoreError::Digest {
            digest: digest.to_string(),
            source,
        })?;
        Ok(bytes)
    }

    /// The entry named `name`, if any.
    fn find_ref(&self, name: &str) -> Result<Option<Descriptor>> {
        Ok(self
            .read_index()?
            .manifests()
            .iter()
            .find(|d| ref_name(d) == Some(name))
            .cloned())
    }

    /// Every named entry, in index order.
    fn list_refs(&self) -> Result<Vec<(String, Descriptor)>> {
        Ok(self
            .read_index()?
            .manifests()
            .iter()
            .filter_map(|d| ref_name(d).map(|n| (n.to_string(), d.clone())))
            .collect())
    }
}

/// Where a blob is in a layout, for messages and for the store's own paths.
pub(crate) fn blob_name(root: &Path, digest: &Digest) -> PathBuf {
    root.join("blobs")
        .join(digest.algorithm().as_ref())
        .join(digest.digest())
}

/// Parses index.json bytes read from `path`.
pub(crate) fn parse_index(bytes: &[u8], path: PathBuf) -> Result<ImageIndex> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::BadJson { path, source })
}

impl ReadLayout for Store {
    fn root(&self) -> &Path {
        Store::root(self)
    }

    fn read_index(&self) -> Result<ImageIndex> {
        Store::read_index(self)
    }

    fn open_blob(&self, digest: &Digest) -> Result<Option<File>> {
        let path = self.blob_path(digest);
        match File::open(&path) {
            Ok(file) => Ok(Some(file)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(path)(e)),
        }
    }

    fn blob_size(&self, digest: &Digest) -> Result<Option<u64>> {
        Store::blob_size(self, digest)
    }
}

/// Someone else's OCI image layout, opened only to be read: no `.aurora` directory, no lock,
/// no temporary file is made in it, and no symbolic link in it is followed.
#[derive(Debug)]
pub struct LayoutReader {
    root: PathBuf,
    dir: OwnedFd,
}

impl LayoutReader {
    /// Opens the layout at `root` (the directory itself may be reached through links: the
    /// user named it). It must have an `oci-layout` file saying 1.0.0.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let dir = rustix::fs::open(
            &root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| StoreError::io(&root)(e.into()))?;
        let reader = LayoutReader { root, dir };
        let not_a_layout = |reason: String| StoreError::NotALayout {
            path: reader.root.clone(),
            reason,
        };
        let layout_file = reader
            .open_file(&[LAYOUT_FILE])?
            .ok_or_else(|| not_a_layout(format!("it has no {LAYOUT_FILE} file")))?;
        let path = reader.root.join(LAYOUT_FILE);
        let bytes = read_capped(&layout_file, &path, media::MAX_ARCHIVE_METADATA_BYTES)?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| not_a_layout(format!("{}: invalid JSON: {e}", path.display())))?;
        match value.get("imageLayoutVersion").and_then(|v| v.as_str()) {
            Some("1.0.0") => Ok(reader),
            other => Err(not_a_layout(format!(
                "unsupported imageLayoutVersion {other:?}"
            ))),
        }
    }

    /// Opens `components` (directories, then a regular file) below the layout's directory
    /// without following any link; `None` when one of them does not exist.
    fn open_file(&self, components: &[&str]) -> Result<Option<File>> {
        let mut path = self.root.clone();
        let mut dir: Option<OwnedFd> = None;
        let last = components.len().saturating_sub(1);
        for (index, component) in components.iter().enumerate() {
            path.push(component);
            let at = dir.as_ref().unwrap_or(&self.dir);
            let flags = if index == last {
                // Non-blocking: opening a fifo planted under a blob's name must not hang.
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC
            } else {
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::DIRECTORY | OFlags::CLOEXEC
            };
            let fd = match rustix::fs::openat(at, *component, flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => return Ok(None),
                // O_NOFOLLOW refuses a link with ELOOP, O_DIRECTORY with ENOTDIR: say which.
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    let link =
                        rustix::fs::statat(at, *component, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                            .is_ok_and(|st| {
                                rustix::fs::FileType::from_raw_mode(st.st_mode)
                                    == rustix::fs::FileType::Symlink
                            });
                    let what = if link {
                        "a symbolic link"
                    } else {
                        "not a directory"
                    };
                    return Err(StoreError::NotPlain { path, what });
                }
                Err(e) => return Err(StoreError::io(path)(e.into())),
            };
            dir = Some(fd);
        }
        let Some(fd) = dir else {
            return Ok(None);
        };
        let stat = rustix::fs::fstat(&fd).map_err(|e| StoreError::io(&path)(e.into()))?;
        if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(StoreError::NotPlain {
                path,
                what: "not a regular file",
            });
        }
        Ok(Some(File::from(fd)))
    }
}

impl ReadLayout for LayoutReader {
    fn root(&self) -> &Path {
        &self.root
    }

    fn read_index(&self) -> Result<ImageIndex> {
        let path = self.root.join(INDEX_FILE);
        let file = self
            .open_file(&[INDEX_FILE])?
            .ok_or_else(|| StoreError::NotALayout {
                path: self.root.clone(),
                reason: format!("it has no {INDEX_FILE}"),
            })?;
        let bytes = read_capped(&file, &path, media::MAX_LAYOUT_INDEX_BYTES)?;
        parse_index(&bytes, path)
    }

    fn open_blob(&self, digest: &Digest) -> Result<Option<File>> {
        self.open_file(&["blobs", digest.algorithm().as_ref(), digest.digest()])
    }
}
