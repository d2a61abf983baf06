//! Helpers shared by the store's integration tests (blobs, names, gc, partials, concurrency,
//! layout), each a test binary of its own against the public API of `aurora-store`.

// Each test binary uses some of these helpers, none uses all of them.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use aurora_spec::media::{OCI_INDEX, OCI_MANIFEST};
use aurora_spec::{sha256_digest, Digest, Hasher};
use aurora_store::{BlobWriter, Descriptor, ImageIndex, Store};
use oci_spec::image::MediaType;
use serde_json::{json, Value};
use tempfile::TempDir;

pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Deterministic, incompressible-looking bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn new_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("layout")).unwrap();
    (dir, store)
}

pub fn scratch(store: &Store) -> PathBuf {
    store.root().join(".aurora").join("tmp")
}

/// Names of the files in ROOT/.aurora/tmp, sorted.
pub fn scratch_files(store: &Store) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(scratch(store))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

pub fn partial_name(digest: &Digest) -> String {
    format!("{}-{}.partial", digest.algorithm(), digest.digest())
}

pub fn partial_path(store: &Store, digest: &Digest) -> PathBuf {
    scratch(store).join(partial_name(digest))
}

/// Every file under ROOT/blobs, as `algorithm:hex`.
pub fn blob_names(store: &Store) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for algorithm in fs::read_dir(store.root().join("blobs")).unwrap() {
        let algorithm = algorithm.unwrap();
        for blob in fs::read_dir(algorithm.path()).unwrap() {
            names.insert(format!(
                "{}:{}",
                algorithm.file_name().to_string_lossy(),
                blob.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    names
}

pub fn write_in_chunks(writer: &mut BlobWriter, bytes: &[u8], chunk: usize) {
    for piece in bytes.chunks(chunk) {
        writer.write(piece).unwrap();
    }
}

pub fn flip_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0xff;
    fs::write(path, bytes).unwrap();
}

pub fn desc(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor::new(MediaType::from(media_type), size, digest.clone())
}

pub fn sha512_digest(bytes: &[u8]) -> Digest {
    let template: Digest = format!("sha512:{}", "0".repeat(128)).parse().unwrap();
    let mut hasher = Hasher::for_digest(&template).unwrap();
    hasher.update(bytes);
    hasher.finish().parse().unwrap()
}

pub fn names(store: &Store) -> Vec<String> {
    store
        .list_refs()
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

pub fn index_json(store: &Store) -> Vec<u8> {
    fs::read(store.root().join("index.json")).unwrap()
}

/// index.json as another OCI tool would read it.
pub fn index_as_oci_spec_reads_it(store: &Store) -> ImageIndex {
    ImageIndex::from_file(store.root().join("index.json")).unwrap()
}

pub fn named_descriptor(name: &str) -> Descriptor {
    desc(
        OCI_MANIFEST,
        &sha256_digest(name.as_bytes()),
        name.len() as u64,
    )
}

pub fn set_many_refs(store: &Store, prefix: &str, count: usize) {
    for i in 0..count {
        let name = format!("{prefix}-{i}");
        store.set_ref(&name, &named_descriptor(&name)).unwrap();
    }
}

pub fn assert_fresh_layout(root: &Path, store: &Store) {
    assert_eq!(store.root(), root);
    let layout: Value =
        serde_json::from_slice(&fs::read(root.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout, json!({"imageLayoutVersion": "1.0.0"}));

    let raw: Value = serde_json::from_slice(&fs::read(root.join("index.json")).unwrap()).unwrap();
    assert_eq!(raw["schemaVersion"], json!(2));
    assert_eq!(raw["mediaType"], json!(OCI_INDEX));
    assert_eq!(raw["manifests"], json!([]));
    let index = ImageIndex::from_file(root.join("index.json")).unwrap();
    assert_eq!(index.schema_version(), 2);
    assert!(index.manifests().is_empty());
    assert_eq!(store.read_index().unwrap(), index);

    assert!(root.join("blobs").join("sha256").is_dir());
    assert_eq!(
        fs::read_dir(root.join("blobs").join("sha256"))
            .unwrap()
            .count(),
        0
    );
    assert!(scratch(store).is_dir());
    assert_eq!(
        scratch_files(store),
        Vec::<String>::new(),
        "no temporary file left"
    );
    assert!(store.list_refs().unwrap().is_empty());
}
