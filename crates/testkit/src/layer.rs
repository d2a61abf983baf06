//! In-memory image layers (tar, optionally gzip), so tests can craft exactly
//! the filesystem changes they need (whiteouts, links, hostile paths)
//! without Docker.

use std::io::Write;
use std::path::Path;

use flate2::write::GzEncoder;
use sha2::{Digest as _, Sha256};
use tar::{EntryType, Header};

use crate::tools::require_tools;

/// How a layer blob is stored in the image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// `application/vnd.oci.image.layer.v1.tar+gzip`, what registries
    /// usually serve.
    #[default]
    Gzip,
    /// `application/vnd.oci.image.layer.v1.tar`.
    None,
}

/// A finished layer: the uncompressed tar (whose digest is the config's
/// `diff_id`) and the blob as pushed (whose digest the manifest names).
#[derive(Clone, Debug)]
pub struct Layer {
    tar: Vec<u8>,
    blob: Vec<u8>,
    compression: Compression,
    digest: String,
    diff_id: String,
}

impl Layer {
    /// Wraps an existing uncompressed tar, compressing it as asked. Useful
    /// for tars no builder would produce (e.g. truncated archives).
    pub fn from_tar(tar: Vec<u8>, compression: Compression) -> Self {
        let blob = match compression {
            Compression::Gzip => gzip(&tar),
            Compression::None => tar.clone(),
        };
        Self {
            digest: sha256_digest(&blob),
            diff_id: sha256_digest(&tar),
            tar,
            blob,
            compression,
        }
    }

    /// The uncompressed tar.
    pub fn tar(&self) -> &[u8] {
        &self.tar
    }

    /// The blob bytes as stored in the layout and pushed to registries.
    pub fn blob(&self) -> &[u8] {
        &self.blob
    }

    /// `sha256:…` of the blob (what the manifest references).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// `sha256:…` of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub fn diff_id(&self) -> &str {
        &self.diff_id
    }

    /// Size of the blob in bytes.
    pub fn size(&self) -> u64 {
        self.blob.len() as u64
    }

    /// How the blob is compressed.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The OCI media type for the manifest's layer descriptor.
    pub fn media_type(&self) -> &'static str {
        match self.compression {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
        }
    }
}

/// Builds a layer tar entry by entry. Paths may be given with or without a
/// leading `/`; entries are owned by root with mtime 0 so the same builder
/// calls always give the same digests.
pub struct LayerBuilder {
    tar: tar::Builder<Vec<u8>>,
    compression: Compression,
}

impl Default for LayerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerBuilder {
    /// An empty, gzip-compressed layer.
    pub fn new() -> Self {
        Self {
            tar: tar::Builder::new(Vec::new()),
            compression: Compression::Gzip,
        }
    }

    /// A minimal runnable root filesystem: the host's static busybox as
    /// `/bin/busybox`, `sh`, `ls`, `cat`, `echo` and `true` linked to it,
    /// and `/etc/passwd` and `/etc/group` for root and nobody.
    pub fn busybox_rootfs() -> Self {
        let mut layer = Self::new()
            .dir("bin", 0o755)
            .dir("etc", 0o755)
            .dir("root", 0o700)
            .dir("tmp", 0o1777)
            .file("bin/busybox", read_host_busybox(), 0o755);
        for applet in ["sh", "ls", "cat", "echo", "true"] {
            layer = layer.symlink(&format!("bin/{applet}"), "busybox");
        }
        layer
            .file(
                "etc/passwd",
                "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
                0o644,
            )
            .file("etc/group", "root:x:0:\nnogroup:x:65534:\n", 0o644)
    }

    /// Chooses how the blob is compressed (gzip by default).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Stores the layer as a plain, uncompressed tar.
    pub fn uncompressed(self) -> Self {
        self.compression(Compression::None)
    }

    /// A regular file owned by root.
    pub fn file(self, path: &str, contents: impl AsRef<[u8]>, mode: u32) -> Self {
        self.file_owned(path, contents, mode, 0, 0)
    }

    /// A regular file with the given owner.
    pub fn file_owned(
        mut self,
        path: &str,
        contents: impl AsRef<[u8]>,
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> Self {
        let contents = contents.as_ref();
        let mut header = header(EntryType::Regular, mode, contents.len() as u64);
        header.set_uid(uid);
        header.set_gid(gid);
        self.tar
            .append_data(&mut header, relative(path), contents)
            .unwrap_or_else(|err| panic!("adding file {path} to layer: {err}"));
        self
    }

    /// A regular file owned by root with extended attributes, as PAX `SCHILY.xattr.NAME`
    /// records (what GNU tar, docker and umoci write).
    pub fn file_with_xattrs(
        mut self,
        path: &str,
        contents: impl AsRef<[u8]>,
        mode: u32,
        xattrs: &[(&str, &[u8])],
    ) -> Self {
        let records: Vec<(String, &[u8])> = xattrs
            .iter()
            .map(|(name, value)| (format!("SCHILY.xattr.{name}"), *value))
            .collect();
        self.tar
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))
            .unwrap_or_else(|err| panic!("adding xattrs of {path} to layer: {err}"));
        self.file(path, contents, mode)
    }

    /// A directory.
    pub fn dir(mut self, path: &str, mode: u32) -> Self {
        let mut header = header(EntryType::Directory, mode, 0);
        self.tar
            .append_data(&mut header, relative(path), std::io::empty())
            .unwrap_or_else(|err| panic!("adding dir {path} to layer: {err}"));
        self
    }

    /// A symbolic link; `target` is stored verbatim (may be absolute or
    /// contain `..`, as hostile images do).
    pub fn symlink(self, path: &str, target: &str) -> Self {
        self.link(EntryType::Symlink, path, target)
    }

    /// A hard link to `target`, a path inside the layer (stored verbatim).
    pub fn hardlink(self, path: &str, target: &str) -> Self {
        self.link(EntryType::Link, path, target)
    }

    fn link(mut self, kind: EntryType, path: &str, target: &str) -> Self {
        let mut header = header(kind, 0o777, 0);
        self.tar
            .append_link(&mut header, relative(path), target)
            .unwrap_or_else(|err| panic!("adding link {path} -> {target} to layer: {err}"));
        self
    }

    /// A named pipe.
    pub fn fifo(mut self, path: &str, mode: u32) -> Self {
        let mut header = header(EntryType::Fifo, mode, 0);
        self.tar
            .append_data(&mut header, relative(path), std::io::empty())
            .unwrap_or_else(|err| panic!("adding fifo {path} to layer: {err}"));
        self
    }

    /// A character device node.
    pub fn char_device(mut self, path: &str, major: u32, minor: u32, mode: u32) -> Self {
        let mut header = header(EntryType::Char, mode, 0);
        header
            .set_device_major(major)
            .and_then(|()| header.set_device_minor(minor))
            .expect("GNU headers have device fields");
        self.tar
            .append_data(&mut header, relative(path), std::io::empty())
            .unwrap_or_else(|err| panic!("adding device {path} to layer: {err}"));
        self
    }

    /// An OCI whiteout deleting `path` from lower layers (`dir/.wh.name`).
    pub fn whiteout(self, path: &str) -> Self {
        let path = relative(path);
        let name = path
            .file_name()
            .unwrap_or_else(|| panic!("whiteout needs a file name: {}", path.display()));
        let marker = path.with_file_name(format!(".wh.{}", name.to_string_lossy()));
        self.file(&marker.to_string_lossy(), [], 0o644)
    }

    /// An opaque whiteout hiding everything lower layers put in `dir`.
    pub fn opaque_whiteout(self, dir: &str) -> Self {
        let marker = relative(dir).join(".wh..wh..opq");
        self.file(&marker.to_string_lossy(), [], 0o644)
    }

    /// A regular file whose tar name is written verbatim, bypassing the
    /// `tar` crate's checks, to build hostile layers (`../escape`,
    /// `/etc/shadow`). Limited to the 100-byte classic name field.
    pub fn file_with_raw_name(mut self, raw_name: &str, contents: impl AsRef<[u8]>) -> Self {
        let contents = contents.as_ref();
        let mut header = header(EntryType::Regular, 0o644, contents.len() as u64);
        let name = &mut header.as_old_mut().name;
        assert!(
            raw_name.len() < name.len(),
            "raw tar name longer than 99 bytes: {raw_name}"
        );
        name[..raw_name.len()].copy_from_slice(raw_name.as_bytes());
        header.set_cksum();
        self.tar
            .append(&header, contents)
            .unwrap_or_else(|err| panic!("adding raw entry {raw_name} to layer: {err}"));
        self
    }

    /// Finishes the tar and compresses it.
    pub fn build(self) -> Layer {
        let tar = self.tar.into_inner().expect("finishing the layer tar");
        Layer::from_tar(tar, self.compression)
    }
}

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

/// Tar entry names are relative to the layer root.
fn relative(path: &str) -> &Path {
    Path::new(path.trim_start_matches('/'))
}

fn read_host_busybox() -> Vec<u8> {
    const HOST_BUSYBOX: &str = "/bin/busybox";
    if !Path::new(HOST_BUSYBOX).exists() {
        require_tools(&["busybox"]);
    }
    std::fs::read(HOST_BUSYBOX).unwrap_or_else(|err| panic!("reading {HOST_BUSYBOX}: {err}"))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    // Fast compression: test layers are mostly busybox, and a debug-build
    // deflate of it at the default level is noticeably slow.
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).expect("gzip to memory");
    encoder.finish().expect("gzip to memory")
}

/// `sha256:<hex>` of `bytes`, the digest form used throughout OCI.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// `len` deterministic, incompressible bytes: gzip cannot shrink them, so a
/// layer holding them has a blob about as big as asked (useful for
/// resumable-download tests).
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    // xorshift64*: tiny, fast, and good enough to defeat deflate.
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Appends to `out` a tar holding one regular file `name` of `size` zero bytes, streamed
/// (never in memory), and returns `out`: the body of a decompression bomb.
pub fn tar_of_zeros<W: Write>(out: W, name: &str, size: u64) -> W {
    let mut tar = tar::Builder::new(out);
    let mut header = Header::new_gnu();
    header.set_path(name).expect("a plain name");
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(EntryType::Regular);
    header.set_cksum();
    tar.append(&header, std::io::Read::take(std::io::repeat(0), size))
        .expect("writing a tar");
    tar.into_inner().expect("finishing a tar")
}

/// Writes a tar of `files` (name, bytes) at `path`, each a regular file, with the name
/// written into the header as it is (`../x` too: for archives no honest tool writes).
pub fn write_raw_tar(path: &Path, files: &[(&str, &[u8])]) {
    let file = std::fs::File::create(path).expect("creating a tar file");
    let mut tar = tar::Builder::new(file);
    for (name, data) in files {
        let mut header = Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(EntryType::Regular);
        header.set_cksum();
        tar.append(&header, *data).expect("writing a tar");
    }
    tar.finish().expect("finishing a tar");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn entries(layer: &Layer) -> Vec<(String, EntryType, Vec<u8>)> {
        let mut archive = tar::Archive::new(layer.tar());
        archive
            .entries()
            .expect("tar entries")
            .map(|entry| {
                let mut entry = entry.expect("tar entry");
                let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                let kind = entry.header().entry_type();
                let mut data = Vec::new();
                entry.read_to_end(&mut data).expect("entry data");
                (path, kind, data)
            })
            .collect()
    }

    #[test]
    fn builds_entries_of_each_kind() {
        let layer = LayerBuilder::new()
            .dir("/a", 0o755)
            .file("/a/f", "hi", 0o600)
            .symlink("a/s", "../../etc/passwd")
            .hardlink("a/h", "a/f")
            .whiteout("a/gone")
            .opaque_whiteout("b")
            .file_with_raw_name("../escape", "x")
            .build();
        let names: Vec<_> = entries(&layer)
            .into_iter()
            .map(|(p, k, _)| (p, k))
            .collect();
        assert_eq!(
            names,
            [
                ("a".to_string(), EntryType::Directory),
                ("a/f".to_string(), EntryType::Regular),
                ("a/s".to_string(), EntryType::Symlink),
                ("a/h".to_string(), EntryType::Link),
                ("a/.wh.gone".to_string(), EntryType::Regular),
                ("b/.wh..wh..opq".to_string(), EntryType::Regular),
                ("../escape".to_string(), EntryType::Regular),
            ]
        );
    }

    #[test]
    fn digests_cover_blob_and_tar() {
        let gz = LayerBuilder::new().file("x", "1", 0o644).build();
        let plain = LayerBuilder::new()
            .file("x", "1", 0o644)
            .uncompressed()
            .build();
        assert_eq!(gz.diff_id(), plain.diff_id());
        assert_ne!(gz.digest(), plain.digest());
        assert_eq!(plain.digest(), plain.diff_id());
        assert_eq!(gz.digest(), sha256_digest(gz.blob()));
        assert_eq!(
            gz.media_type(),
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
    }

    #[test]
    fn builds_are_reproducible() {
        let build = || LayerBuilder::new().file("x", "1", 0o644).build();
        assert_eq!(build().digest(), build().digest());
    }

    #[test]
    fn busybox_rootfs_has_shell() {
        let layer = LayerBuilder::busybox_rootfs().build();
        let entries = entries(&layer);
        let sh = entries
            .iter()
            .find(|(p, _, _)| p == "bin/sh")
            .expect("bin/sh");
        assert_eq!(sh.1, EntryType::Symlink);
        let busybox = entries
            .iter()
            .find(|(p, _, _)| p == "bin/busybox")
            .expect("busybox");
        assert!(busybox.2.starts_with(b"\x7fELF"));
    }

    #[test]
    fn random_bytes_do_not_compress() {
        let data = pseudo_random_bytes(100_000, 7);
        assert_eq!(data, pseudo_random_bytes(100_000, 7));
        assert!(gzip(&data).len() > 99_000);
    }
}
