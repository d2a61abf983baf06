//! Applying one OCI image layer (a tar stream, uncompressed, gzip or zstd) onto a root
//! directory, as the image spec's "Applying Changesets" describes, correctly and safely.
//!
//! ```no_run
//! # use aurora_layers::{apply_layer, ApplyOptions, Compression};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let blob = std::fs::File::open("blobs/sha256/…")?;
//! let mut options = ApplyOptions::new("sha256:…");
//! options.expected_diff_id = Some("sha256:…".parse()?);
//! let report = apply_layer("/var/lib/aurora/layers/…/root".as_ref(), blob,
//!     Compression::from_media_type("application/vnd.oci.image.layer.v1.tar+gzip")?, &options)?;
//! println!("{} entries, {} bytes", report.entries, report.file_bytes);
//! # Ok(()) }
//! ```
//!
//! # Safety model
//!
//! A layer is untrusted input: its entries may name `../x` or `/etc/x`, plant symlinks to
//! `/etc` or `../../..` and then write "through" them (in the same layer or a later one),
//! hardlink `/etc/shadow`, or whiteout `../x`. The rule is that **nothing outside the root is
//! ever created, changed or deleted**, and it holds by construction, not by string checks:
//!
//! 1. **Names are normalised lexically first**, and only as normalisation: empty and `.`
//!    components are dropped, a leading `/` is dropped (the entry is relative to the root, as
//!    tar and umoci treat it), `..` removes the previous component, and a name whose `..`
//!    would climb above the root is **rejected** with an error (no well-formed layer has one).
//!    The result is a list of plain components; safety does not rest on this step.
//! 2. **Every parent directory is resolved by the kernel inside the root**: `pathrs::Root`
//!    (`openat2(RESOLVE_IN_ROOT)`, or pathrs' own checked `O_PATH` walk on kernels without it)
//!    resolves, and creates if missing, the entry's parent directory. Symlinks met on the way
//!    — planted by this layer or an earlier one, absolute or relative, chained — are followed
//!    *as if the root were `/`*: a symlink `a -> /etc` followed by the entry `a/passwd` writes
//!    `ROOT/etc/passwd`, and `a -> ../../..` leads to `ROOT`. That is what a container sees
//!    and what the image means; nothing can lead out.
//! 3. **The final component is only ever touched relative to that parent directory's file
//!    descriptor, without following it**: `fstatat(AT_SYMLINK_NOFOLLOW)`, `unlinkat`,
//!    `mkdirat`, `mknodat`, `symlinkat`, `openat(O_CREAT|O_EXCL|O_NOFOLLOW)`,
//!    `fchownat(AT_SYMLINK_NOFOLLOW)`, `utimensat(AT_SYMLINK_NOFOLLOW)`, and `linkat` without
//!    `AT_SYMLINK_FOLLOW`. An entry whose path holds a symlink (or anything of another type)
//!    **replaces** it — unlink, then create — and never writes through it. A directory entry
//!    over an existing directory keeps its contents and updates its metadata. Modes of
//!    devices and fifos are set through `/proc/self/fd` on an `O_PATH|O_NOFOLLOW` descriptor
//!    of the inode just created (`fchmodat` would follow a symlink).
//!
//!    Parents that are missing are created (0755, as tar and umoci do), but never *through* a
//!    symlink: an entry `c/passwd` below a symlink `c` whose target does not exist in the root
//!    is an error, whatever exists outside.
//! 4. **Hardlink targets** are resolved the same way (parent inside the root, last component
//!    not followed) and must already exist: an earlier entry of this layer or of a lower one.
//!    A hardlink to a symlink links the symlink itself (as tar does), so `/etc/passwd` reached
//!    through a planted symlink is never linked; a hardlink to `/etc/passwd` links
//!    `ROOT/etc/passwd` if the image has one, and fails otherwise.
//! 5. **Whiteouts and opaque markers** resolve their directory inside the root the same way and
//!    remove with `unlinkat` on that directory's descriptor (recursive removal never follows
//!    symlinks). A whiteout only hides what lower layers have: paths this layer itself
//!    created are kept, as the image spec requires.
//! 6. **Headers are bounded**: GNU long names and PAX records for one entry may not exceed
//!    [`MAX_HEADER_BYTES`]; memory stays bounded for any layer size (a bounded queue between
//!    the decompressing thread and the thread creating files).
//! 7. **What a layer writes is bounded** when the caller sets [`ApplyOptions::max_bytes`] or
//!    [`ApplyOptions::shared_budget`]: each entry is charged (its declared size, holes
//!    included, plus [`ENTRY_COST`]) before it is written, and the one that would cross a
//!    limit fails the layer with [`ErrorKind::TooLarge`], naming the limit and its setting.
//! 8. **xattrs** in the overlayfs namespaces (`trusted.overlay.*`, `user.overlay.*`) are never
//!    taken from a layer, so a layer cannot forge whiteouts, opaque directories or redirects.
//!    xattrs the filesystem or the user cannot set are skipped with a warning, as are device
//!    nodes when [`ApplyOptions::create_devices`] is off.
//!
//! The threat is the layer's content, not a concurrent process changing the root while the
//! layer is applied: the root is the caller's private snapshot or directory until it is done.
//!
//! # Order of work
//!
//! For each entry: create with a private mode (files 0600, directories 0700), write the
//! contents (runs of zeros become holes), `lchown`, then the mode (after chown, so setuid and
//! setgid survive), then xattrs (after chown, which clears `security.capability`), then
//! times. Directories get their mode and times after the layer's last entry, so their
//! mtimes are not disturbed by their contents and an unprivileged user can fill a read-only
//! directory. Memory is bounded by the chunk queue for any layer size, plus a small record
//! per entry path (for the same-layer whiteout rule) and per directory (deferred metadata).
//!
//! The diff ID is checked while streaming, so it is only known to match at the end: on any
//! error, including a mismatch, the root holds a partial layer and the caller must discard
//! it. Files are not fsynced one by one: the caller syncs the filesystem (or snapshot) once.
//!
//! The filesystem work sits behind a narrow internal trait (`sys::Target`); the Linux
//! implementation uses `pathrs` and `rustix`. Other platforms compile and return
//! [`ErrorKind::Unsupported`].

// Elsewhere only the portable half is used until the platform has its implementation.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

mod apply;
#[cfg(target_os = "linux")]
mod diff;
mod entry;
mod error;
#[cfg(target_os = "linux")]
#[doc(hidden)]
pub mod fuzzing;
mod limits;
mod options;
mod pack;
mod path;
mod stream;
mod sys;

pub use apply::apply_layer;
pub use entry::ChangeSource;
pub use error::{Error, ErrorKind};
pub use limits::{Limit, SharedBudget, ENTRY_COST};
pub use options::{
    ApplyOptions, ApplyReport, Compression, IdMap, IdRange, Ownership, WhiteoutMode,
};
pub use pack::{pack_layer, PackOptions, PackReport};
pub use stream::decoder;

/// Packing needs the walk, which only Linux has so far.
#[cfg(not(target_os = "linux"))]
mod diff {
    pub(crate) fn walk(
        _source: &crate::ChangeSource,
        _emit: &mut dyn FnMut(crate::entry::Entry<'_>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "packing layers is implemented for Linux only",
        ))
    }
}

/// The most bytes of headers (GNU long names and links, PAX records) one entry may have.
/// Paths are at most 4 KiB on Linux and xattr values 64 KiB, so this is generous.
pub const MAX_HEADER_BYTES: u64 = 1024 * 1024;
