//! Helpers of the pull and local-command tests (pull.rs, local.rs).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use super::blob_path;
use aurora_testkit::{
    sha256_digest, skopeo_push, BuiltImage, BuiltIndex, FaultProxy, ImageBuilder, IndexBuilder,
    Layer, LayerBuilder, PushOpts, Registry,
};
use serde_json::Value;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The creation time testkit writes into every config.
pub const CREATED: &str = "1970-01-01T00:00:00Z";

// ---------------------------------------------------------------------------------------------
// Helpers.

/// The busybox root filesystem layer, built once per test binary (it costs ~0.6 s).
pub fn busybox() -> Layer {
    static LAYER: OnceLock<Layer> = OnceLock::new();
    LAYER
        .get_or_init(|| LayerBuilder::busybox_rootfs().build())
        .clone()
}

/// A layer holding one file.
pub fn file_layer(path: &str, contents: &str) -> Layer {
    LayerBuilder::new().file(path, contents, 0o644).build()
}

/// Pushes an image of the busybox layer and one file `(path, contents)` as `repo_tag`.
pub fn push_app(registry: &Registry, file: (&str, &str), repo_tag: &str) -> BuiltImage {
    super::push(registry, &app(&[file]), repo_tag, &PushOpts::default())
}

/// An image of the busybox layer plus one layer per `(path, contents)`.
pub fn app(files: &[(&str, &str)]) -> ImageBuilder {
    files.iter().fold(
        ImageBuilder::new().layer(busybox()).cmd(&["/bin/sh"]),
        |image, (path, contents)| image.layer(file_layer(path, contents)),
    )
}

/// Writes `index` to a scratch layout and pushes it with every platform.
pub fn push_index(registry: &Registry, index: &IndexBuilder, repo_tag: &str) -> BuiltIndex {
    let layout = tempfile::tempdir().expect("layout directory");
    let built = index.write(layout.path(), "t");
    let opts = PushOpts {
        all_platforms: true,
        ..PushOpts::default()
    };
    let pushed = skopeo_push(layout.path(), "t", &registry.image_ref(repo_tag), &opts);
    assert_eq!(pushed, built.index_digest, "skopeo kept the index as built");
    built
}

/// The digests of every blob an image is made of: manifest, config, layers.
pub fn image_blobs(image: &BuiltImage) -> BTreeSet<String> {
    [image.manifest_digest.clone(), image.config_digest.clone()]
        .into_iter()
        .chain(image.layers.iter().map(|l| l.digest.clone()))
        .collect()
}

/// config + layers: what a pull downloads as blobs (manifests come by another route).
pub fn fetched_blobs(image: &BuiltImage) -> BTreeSet<String> {
    let mut blobs = image_blobs(image);
    blobs.remove(&image.manifest_digest);
    blobs
}

pub fn fetched_bytes(image: &BuiltImage) -> u64 {
    image.config_size + image.layers.iter().map(|l| l.size).sum::<u64>()
}

/// `sha256:HEX` of every file in ROOT/blobs/sha256.
pub fn stored_blobs(root: &Path) -> BTreeSet<String> {
    let dir = root.join("blobs/sha256");
    match fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| format!("sha256:{}", e.expect("entry").file_name().to_string_lossy()))
            .collect(),
        Err(e) => panic!("reading {}: {e}", dir.display()),
    }
}

/// Panics unless every blob file's content hashes to its name.
pub fn assert_blobs_verified(root: &Path) {
    for digest in stored_blobs(root) {
        let bytes = fs::read(blob_path(root, &digest)).expect("read blob");
        assert_eq!(
            sha256_digest(&bytes),
            digest,
            "blob content differs from its name"
        );
    }
}

pub fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}

/// ROOT/index.json's entries.
pub fn index_entries(root: &Path) -> Vec<Value> {
    let index = parse(&fs::read(root.join("index.json")).expect("read index.json"));
    index["manifests"].as_array().expect("manifests").clone()
}

pub fn ref_name(entry: &Value) -> &str {
    entry["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .unwrap_or_else(|| panic!("entry without a name: {entry}"))
}

/// The names in index.json, sorted (duplicates kept, so that they show).
pub fn names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = index_entries(root)
        .iter()
        .map(|e| ref_name(e).to_string())
        .collect();
    names.sort();
    names
}

/// The one index.json entry named `name`.
pub fn entry(root: &Path, name: &str) -> Value {
    let found: Vec<Value> = index_entries(root)
        .into_iter()
        .filter(|e| ref_name(e) == name)
        .collect();
    assert_eq!(found.len(), 1, "{name} should be named once: {found:?}");
    found.into_iter().next().expect("one entry")
}

/// Digests of the blobs fetched with GET through the proxy, and how many GETs there were.
pub fn blob_gets(proxy: &FaultProxy) -> (BTreeSet<String>, usize) {
    let gets: Vec<String> = proxy
        .requests_to("/blobs/")
        .into_iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.path.rsplit('/').next().expect("digest").to_string())
        .collect();
    (gets.iter().cloned().collect(), gets.len())
}

/// Every file, directory and symlink under `dir`, hidden ones included, with file bytes
/// and modes: to prove a directory was left untouched.
pub fn full_tree(dir: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u32, Vec<u8>)>) {
        for entry in fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("metadata");
            let name = path
                .strip_prefix(root)
                .expect("inside")
                .display()
                .to_string();
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                out.insert(name, (mode, Vec::new()));
                walk(root, &path, out);
            } else if meta.file_type().is_symlink() {
                let target = fs::read_link(&path).expect("readlink");
                out.insert(name, (mode, target.display().to_string().into_bytes()));
            } else {
                out.insert(name, (mode, fs::read(&path).expect("read")));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Panics, naming the paths that differ, unless `dir` is as `before` says.
pub fn assert_untouched(dir: &Path, before: &BTreeMap<String, (u32, Vec<u8>)>, context: &str) {
    let after = full_tree(dir);
    let paths: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let changed: Vec<&String> = paths
        .into_iter()
        .filter(|path| before.get(*path) != after.get(*path))
        .collect();
    assert!(changed.is_empty(), "{context}: changed {changed:?}");
}

/// `skopeo copy oci:ROOT:NAME dir:DEST`, which reads and verifies every blob of the image.
pub fn skopeo_copy_out(root: &Path, name: &str, dest: &Path) {
    let output = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--quiet"])
        .arg(format!("oci:{}:{name}", root.display()))
        .arg(format!("dir:{}", dest.display()))
        .output()
        .expect("run skopeo");
    assert!(
        output.status.success(),
        "skopeo could not copy {name} out of the store: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub fn short(digest: &str) -> &str {
    &digest["sha256:".len().."sha256:".len() + 12]
}

pub const PLATFORMS: [&str; 3] = ["linux/amd64", "linux/arm64", "linux/arm/v7"];

/// One image per platform of [`PLATFORMS`], sharing a layer.
pub fn multi_platform() -> IndexBuilder {
    let shared = file_layer("etc/motd", "shared by every platform\n");
    PLATFORMS
        .iter()
        .fold(IndexBuilder::new(), |index, platform| {
            index.image(
                ImageBuilder::new()
                    .platform(platform)
                    .layer(shared.clone())
                    .layer(file_layer("etc/aurora-platform", &format!("{platform}\n"))),
            )
        })
}
