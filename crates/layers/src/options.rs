//! What the caller chooses ([`ApplyOptions`], [`Compression`]) and what it gets back
//! ([`ApplyReport`]).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use aurora_spec::media;
use aurora_spec::Digest;

pub use aurora_spec::idmap::{IdMap, IdRange};

use crate::{ErrorKind, Limit, SharedBudget};

/// How the layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// A plain tar stream (`…layer.v1.tar`).
    None,
    /// gzip, possibly several members (`…tar+gzip`, Docker's `…diff.tar.gzip`).
    Gzip,
    /// zstd, possibly several frames (`…tar+zstd`).
    Zstd,
    /// bzip2, possibly several streams: SmartOS image files only (no layer media type names
    /// it, so [`Compression::from_media_type`] and detection never choose it; packing refuses it).
    Bzip2,
    /// xz, possibly several streams: SmartOS image files only, as [`Compression::Bzip2`].
    Xz,
    /// Decide from the first bytes: gzip's `1f 8b`, zstd's `28 b5 2f fd`, else plain tar.
    #[default]
    Detect,
}

impl Compression {
    /// The compression a layer media type names (OCI or Docker, distributable or not).
    /// Unknown media types are refused rather than guessed.
    pub fn from_media_type(media_type: &str) -> Result<Self, ErrorKind> {
        match media::layer(media_type).map(|layer| layer.compression) {
            Some(media::LayerCompression::None) => Ok(Compression::None),
            Some(media::LayerCompression::Gzip) => Ok(Compression::Gzip),
            Some(media::LayerCompression::Zstd) => Ok(Compression::Zstd),
            None => Err(ErrorKind::Unsupported(format!(
                "layer media type {media_type:?} (known: tar, tar+gzip, tar+zstd)"
            ))),
        }
    }

    /// The compression the first bytes of a blob show (a plain tar has no magic at offset 0).
    pub fn from_magic(first_bytes: &[u8]) -> Self {
        if first_bytes.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if first_bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "tar",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
            Compression::Detect => "detected",
        })
    }
}

/// What the root holds, and so what whiteouts become.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhiteoutMode {
    /// The root already holds the lower layers' content (a clone, snapshot or copy): a
    /// whiteout `.wh.NAME` deletes `NAME`, and `.wh..wh..opq` deletes what the directory held
    /// before this layer. Nothing marks them afterwards.
    #[default]
    Delete,
    /// The root is an empty upper ("diff") directory for overlayfs: a whiteout becomes a
    /// character device 0:0 and an opaque directory gets `trusted.overlay.opaque=y`.
    Overlay,
}

/// Whose files they are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Ownership {
    /// `lchown` to the uid and gid in the tar headers (needs root, or CAP_CHOWN).
    #[default]
    Preserve,
    /// `lchown` to the headers' ids mapped through an id map (for user namespaces); an id
    /// outside the map is an error naming the entry.
    Map(IdMap),
    /// Leave every file owned by the user applying the layer (unprivileged use).
    Ignore,
}

/// How to apply one layer.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Names the layer in errors and warnings (e.g. its digest).
    pub label: String,
    pub whiteouts: WhiteoutMode,
    /// The layer's diff ID (digest of the *uncompressed* tar), checked while streaming. A
    /// mismatch is an error after the whole stream has been applied: discard the root.
    pub expected_diff_id: Option<Digest>,
    pub ownership: Ownership,
    /// Create character and block devices; when false they are skipped with a warning (an
    /// unprivileged user cannot create them). Fifos are always created.
    pub create_devices: bool,
    /// In [`WhiteoutMode::Overlay`], the upper directories of the layers below, topmost
    /// first. A hardlink whose target this layer does not have is made by copying the target
    /// up from the topmost of these that has it (with its metadata, and that of any parent
    /// directory it needs), as overlayfs' own copy-up would; without them such a hardlink is
    /// an error.
    pub overlay_lowers: Vec<PathBuf>,
    /// The most this layer may write (see [`crate::ENTRY_COST`] for what counts); `None`:
    /// unbounded.
    pub max_bytes: Option<Limit>,
    /// A budget this layer draws on together with others (an image's layers).
    pub shared_budget: Option<Arc<SharedBudget>>,
}

impl ApplyOptions {
    /// Defaults for root: delete whiteouts, preserve owners, create devices.
    pub fn new(label: impl Into<String>) -> Self {
        ApplyOptions {
            label: label.into(),
            whiteouts: WhiteoutMode::Delete,
            expected_diff_id: None,
            ownership: Ownership::Preserve,
            create_devices: true,
            overlay_lowers: Vec::new(),
            max_bytes: None,
            shared_budget: None,
        }
    }

    /// Defaults for an unprivileged user: owners ignored, devices skipped.
    pub fn unprivileged(label: impl Into<String>) -> Self {
        ApplyOptions {
            ownership: Ownership::Ignore,
            create_devices: false,
            ..ApplyOptions::new(label)
        }
    }
}

/// What applying a layer did.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    /// Tar entries read (every kind, GNU/PAX extension headers not counted).
    pub entries: u64,
    pub files: u64,
    pub directories: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    /// Character and block devices created.
    pub devices: u64,
    pub fifos: u64,
    /// Whiteout entries (`.wh.NAME`) seen.
    pub whiteouts: u64,
    /// Opaque markers (`.wh..wh..opq`) seen.
    pub opaque_dirs: u64,
    /// Entries skipped (devices not allowed, aufs metadata, global PAX headers, unknown types).
    pub skipped: u64,
    /// Bytes of regular-file contents written.
    pub file_bytes: u64,
    /// What the layer was charged against its limits: declared file sizes plus
    /// [`crate::ENTRY_COST`] per entry.
    pub unpacked_bytes: u64,
    /// Bytes of the uncompressed tar stream.
    pub tar_bytes: u64,
    /// Bytes read from the blob.
    pub blob_bytes: u64,
    /// How the blob was compressed (after detection).
    pub compression: Compression,
    /// The digest of the uncompressed stream (the diff ID), in the expected diff ID's
    /// algorithm, or sha256.
    pub diff_id: Option<Digest>,
    /// Whether the layer had an entry for the root directory itself (`./`), which sets the
    /// root's owner, mode and times; without one the root keeps what it had.
    pub root_entry: bool,
    /// Overlay mode: parent directories this layer needed but does not have, that none of
    /// [`ApplyOptions::overlay_lowers`] has either, made 0755. With the lowers all given they
    /// are new; without them, the merged tree may show other attributes than a full apply.
    pub implied_dirs: u64,
    /// Warnings (unsupported xattrs, skipped devices, …), at most [`ApplyReport::MAX_WARNINGS`];
    /// `warning_count` counts them all.
    pub warnings: Vec<String>,
    pub warning_count: u64,
}

impl ApplyReport {
    pub const MAX_WARNINGS: usize = 100;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_and_magic_choose_the_decompressor() {
        assert_eq!(
            Compression::from_media_type("application/vnd.oci.image.layer.v1.tar+gzip").unwrap(),
            Compression::Gzip
        );
        assert_eq!(
            Compression::from_media_type(media::DOCKER_LAYER_GZIP).unwrap(),
            Compression::Gzip
        );
        assert_eq!(
            Compression::from_media_type("application/vnd.oci.image.layer.v1.tar+zstd").unwrap(),
            Compression::Zstd
        );
        assert_eq!(
            Compression::from_media_type("application/vnd.oci.image.layer.v1.tar").unwrap(),
            Compression::None
        );
        assert!(
            Compression::from_media_type("application/vnd.oci.image.layer.v1.tar+bzip2").is_err()
        );
        assert_eq!(Compression::from_magic(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::from_magic(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::from_magic(b"etc/"), Compression::None);
        assert_eq!(Compression::from_magic(b""), Compression::None);
    }
}
