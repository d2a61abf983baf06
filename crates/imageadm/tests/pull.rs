//! The pull path and the local commands, end to end: the real `imageadm` binary against a
//! real docker-registry, with the store read back by independent tools (skopeo, umoci) and
//! checked file by file.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use aurora_testkit::{
    host_platform, require_tools, sha256_digest, skopeo_inspect_raw, skopeo_push, BuiltImage,
    BuiltIndex, FaultProxy, ImageBuilder, IndexBuilder, Layer, LayerBuilder, PushOpts, Registry,
};
use common::{blob_path, push, scratch_files, skopeo_inspect_store, snapshot, umoci_unpack, World};
use serde_json::{json, Value};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The creation time testkit writes into every config.
const CREATED: &str = "1970-01-01T00:00:00Z";

// ---------------------------------------------------------------------------------------------
// Helpers of this file.

/// The busybox root filesystem layer, built once for the whole file (it costs ~0.6 s).
fn busybox() -> Layer {
    static LAYER: OnceLock<Layer> = OnceLock::new();
    LAYER
        .get_or_init(|| LayerBuilder::busybox_rootfs().build())
        .clone()
}

/// A layer holding one file.
fn file_layer(path: &str, contents: &str) -> Layer {
    LayerBuilder::new().file(path, contents, 0o644).build()
}

/// An image of the busybox layer plus one layer per `(path, contents)`.
fn app(files: &[(&str, &str)]) -> ImageBuilder {
    files.iter().fold(
        ImageBuilder::new().layer(busybox()).cmd(&["/bin/sh"]),
        |image, (path, contents)| image.layer(file_layer(path, contents)),
    )
}

/// Writes `index` to a scratch layout and pushes it with every platform.
fn push_index(registry: &Registry, index: &IndexBuilder, repo_tag: &str) -> BuiltIndex {
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
fn image_blobs(image: &BuiltImage) -> BTreeSet<String> {
    [image.manifest_digest.clone(), image.config_digest.clone()]
        .into_iter()
        .chain(image.layers.iter().map(|l| l.digest.clone()))
        .collect()
}

/// config + layers: what a pull downloads as blobs (manifests come by another route).
fn fetched_blobs(image: &BuiltImage) -> BTreeSet<String> {
    let mut blobs = image_blobs(image);
    blobs.remove(&image.manifest_digest);
    blobs
}

fn fetched_bytes(image: &BuiltImage) -> u64 {
    image.config_size + image.layers.iter().map(|l| l.size).sum::<u64>()
}

/// `sha256:HEX` of every file in ROOT/blobs/sha256.
fn stored_blobs(root: &Path) -> BTreeSet<String> {
    let dir = root.join("blobs/sha256");
    match fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| format!("sha256:{}", e.expect("entry").file_name().to_string_lossy()))
            .collect(),
        Err(e) => panic!("reading {}: {e}", dir.display()),
    }
}

/// Panics unless every blob file's content hashes to its name.
fn assert_blobs_verified(root: &Path) {
    for digest in stored_blobs(root) {
        let bytes = fs::read(blob_path(root, &digest)).expect("read blob");
        assert_eq!(
            sha256_digest(&bytes),
            digest,
            "blob content differs from its name"
        );
    }
}

fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}

/// ROOT/index.json's entries.
fn index_entries(root: &Path) -> Vec<Value> {
    let index = parse(&fs::read(root.join("index.json")).expect("read index.json"));
    index["manifests"].as_array().expect("manifests").clone()
}

fn ref_name(entry: &Value) -> &str {
    entry["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .unwrap_or_else(|| panic!("entry without a name: {entry}"))
}

/// The names in index.json, sorted (duplicates kept, so that they show).
fn names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = index_entries(root)
        .iter()
        .map(|e| ref_name(e).to_string())
        .collect();
    names.sort();
    names
}

/// The one index.json entry named `name`.
fn entry(root: &Path, name: &str) -> Value {
    let found: Vec<Value> = index_entries(root)
        .into_iter()
        .filter(|e| ref_name(e) == name)
        .collect();
    assert_eq!(found.len(), 1, "{name} should be named once: {found:?}");
    found.into_iter().next().expect("one entry")
}

/// Digests of the blobs fetched with GET through the proxy, and how many GETs there were.
fn blob_gets(proxy: &FaultProxy) -> (BTreeSet<String>, usize) {
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
fn full_tree(dir: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
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
fn assert_untouched(dir: &Path, before: &BTreeMap<String, (u32, Vec<u8>)>, context: &str) {
    let after = full_tree(dir);
    let paths: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let changed: Vec<&String> = paths
        .into_iter()
        .filter(|path| before.get(*path) != after.get(*path))
        .collect();
    assert!(changed.is_empty(), "{context}: changed {changed:?}");
}

/// `skopeo copy oci:ROOT:NAME dir:DEST`, which reads and verifies every blob of the image.
fn skopeo_copy_out(root: &Path, name: &str, dest: &Path) {
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

fn short(digest: &str) -> &str {
    &digest["sha256:".len().."sha256:".len() + 12]
}

// ---------------------------------------------------------------------------------------------
// 1. Pull, then read back with skopeo and umoci.

#[test]
fn pulled_image_reads_back_with_skopeo_and_umoci() {
    require_tools(&["docker-registry", "skopeo", "umoci"]);
    let registry = Registry::open();
    let built = push(
        &registry,
        &app(&[
            ("data/one.txt", "first extra layer\n"),
            ("data/two.txt", "second extra layer\n"),
        ]),
        "team/app:1",
        &PushOpts::default(),
    );
    let world = World::new();
    let root = world.root();
    let reference = registry.image_ref("team/app:1");

    let pulled = world.ok(&["--format", "json", "pull", &reference]).json();
    assert_eq!(pulled["name"], reference);
    assert_eq!(pulled["digest"], built.manifest_digest);
    assert_eq!(pulled["media_type"], OCI_MANIFEST);

    // The registry serves the bytes skopeo pushed, and the store holds those same bytes.
    assert_eq!(skopeo_inspect_raw(&reference, None), built.manifest);
    assert_eq!(skopeo_inspect_store(&root, &reference), built.manifest);
    assert_eq!(stored_blobs(&root), image_blobs(&built));
    assert_blobs_verified(&root);
    assert_eq!(
        fs::read(blob_path(&root, &built.config_digest)).unwrap(),
        built.config
    );
    assert_eq!(
        fs::read(root.join("oci-layout")).unwrap(),
        br#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let named = entry(&root, &reference);
    assert_eq!(named["mediaType"], OCI_MANIFEST);
    assert_eq!(named["digest"], built.manifest_digest);
    assert_eq!(named["size"], built.manifest_size);
    assert!(
        named.get("platform").is_none(),
        "not chosen from an index: {named}"
    );
    assert_eq!(names(&root), vec![reference.clone()]);
    assert!(
        scratch_files(&root).is_empty(),
        "{:?}",
        scratch_files(&root)
    );

    // umoci unpacks it: the rootfs is busybox plus the extra layers' files.
    let bundle = world.dir.path().join("bundle");
    let unpacked = umoci_unpack(&root, &reference, &bundle);
    assert!(
        unpacked.status.success(),
        "umoci unpack failed: {}",
        String::from_utf8_lossy(&unpacked.stderr)
    );
    let rootfs = bundle.join("rootfs");
    assert!(
        fs::read(rootfs.join("bin/busybox")).unwrap() == fs::read("/bin/busybox").unwrap(),
        "bin/busybox differs from /bin/busybox"
    );
    assert_eq!(
        fs::read_link(rootfs.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("data/one.txt")).unwrap(),
        "first extra layer\n"
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("data/two.txt")).unwrap(),
        "second extra layer\n"
    );
    assert!(fs::read_to_string(rootfs.join("etc/passwd"))
        .unwrap()
        .starts_with("root:x:0:0:"));
    let runtime = parse(&fs::read(bundle.join("config.json")).unwrap());
    assert_eq!(runtime["process"]["args"], json!(["/bin/sh"]));
    // Reading the store changed nothing in it.
    assert_eq!(stored_blobs(&root), image_blobs(&built));
}

// ---------------------------------------------------------------------------------------------
// 2. Blobs already in the store are not downloaded again.

#[test]
fn second_pull_downloads_nothing_and_shared_layers_are_reused() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let proxy = FaultProxy::in_front_of(&registry);
    let first = push(
        &registry,
        &app(&[("data/a.txt", "a\n")]),
        "team/a:1",
        &PushOpts::default(),
    );
    let second = push(
        &registry,
        &app(&[("data/b.txt", "b\n")]),
        "team/b:1",
        &PushOpts::default(),
    );
    assert_eq!(
        first.layers[0].digest, second.layers[0].digest,
        "busybox shared"
    );
    let world = World::new();
    let root = world.root();
    let a = format!("{}/team/a:1", proxy.host());
    let b = format!("{}/team/b:1", proxy.host());

    let report = world.ok(&["--format", "json", "pull", &a]).json();
    assert_eq!(report["digest"], first.manifest_digest);
    assert_eq!(report["blobs_fetched"], 3);
    assert_eq!(report["blobs_present"], 0);
    assert_eq!(report["bytes_fetched"], fetched_bytes(&first));
    assert_eq!(blob_gets(&proxy), (fetched_blobs(&first), 3));

    // The same image again: the tag is resolved again, but no blob is asked for.
    proxy.clear_requests();
    let before = snapshot(&root);
    let report = world.ok(&["--format", "json", "pull", &a]).json();
    assert_eq!(report["digest"], first.manifest_digest);
    assert_eq!(report["blobs_fetched"], 0);
    assert_eq!(report["bytes_fetched"], 0);
    assert_eq!(report["blobs_present"], 3);
    let blob_requests = proxy.requests_to("/blobs/");
    assert!(blob_requests.is_empty(), "{blob_requests:?}");
    assert!(!proxy.requests_to("/manifests/1").is_empty());
    assert_eq!(
        snapshot(&root),
        before,
        "a pull of nothing new changes nothing"
    );

    // Another image on the same busybox layer: only its own config and layer come.
    proxy.clear_requests();
    let report = world.ok(&["--format", "json", "pull", &b]).json();
    assert_eq!(report["digest"], second.manifest_digest);
    assert_eq!(report["blobs_fetched"], 2);
    assert_eq!(report["blobs_present"], 1);
    assert_eq!(
        report["bytes_fetched"],
        second.config_size + second.layers[1].size
    );
    let expected: BTreeSet<String> = [
        second.config_digest.clone(),
        second.layers[1].digest.clone(),
    ]
    .into_iter()
    .collect();
    assert_eq!(blob_gets(&proxy), (expected, 2));
    let all: BTreeSet<String> = image_blobs(&first)
        .union(&image_blobs(&second))
        .cloned()
        .collect();
    assert_eq!(stored_blobs(&root), all);
    assert_blobs_verified(&root);
    assert_eq!(names(&root), [a, b]);
}

// ---------------------------------------------------------------------------------------------
// 3. References: tag, digest, tag and digest, the default tag, a digest not in the registry.

#[test]
fn references_by_tag_digest_both_and_default_tag() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let proxy = FaultProxy::in_front_of(&registry);
    let one_image = app(&[("data/v.txt", "one\n")]);
    let one = push(&registry, &one_image, "team/app:1", &PushOpts::default());
    let two = push(
        &registry,
        &app(&[("data/v.txt", "two\n")]),
        "team/app:2",
        &PushOpts::default(),
    );
    let latest = push(
        &registry,
        &one_image,
        "team/app:latest",
        &PushOpts::default(),
    );
    assert_eq!(latest.manifest_digest, one.manifest_digest);
    assert_ne!(one.manifest_digest, two.manifest_digest);
    let world = World::new();
    let root = world.root();
    let host = proxy.host();

    // No tag: `latest`.
    let pulled = world
        .ok(&["--format", "json", "pull", &format!("{host}/team/app")])
        .json();
    assert_eq!(pulled["name"], format!("{host}/team/app:latest"));
    assert_eq!(pulled["digest"], one.manifest_digest);
    assert!(proxy
        .requests_to("/manifests/")
        .iter()
        .any(|r| r.path == "/v2/team/app/manifests/latest"));

    // By digest: stored under the digest name, which skopeo can read.
    let by_digest = format!("{host}/team/app@{}", two.manifest_digest);
    let pulled = world.ok(&["--format", "json", "pull", &by_digest]).json();
    assert_eq!(pulled["name"], by_digest);
    assert_eq!(pulled["digest"], two.manifest_digest);
    assert_eq!(entry(&root, &by_digest)["digest"], two.manifest_digest);
    assert_eq!(skopeo_inspect_store(&root, &by_digest), two.manifest);

    // Tag and digest: the digest wins; the registry's `2` (image two) is never asked for.
    proxy.clear_requests();
    let pinned = format!("{host}/team/app:2@{}", one.manifest_digest);
    let pulled = world.ok(&["--format", "json", "pull", &pinned]).json();
    assert_eq!(pulled["name"], format!("{host}/team/app:2"));
    assert_eq!(pulled["digest"], one.manifest_digest);
    assert_eq!(
        entry(&root, &format!("{host}/team/app:2"))["digest"],
        one.manifest_digest
    );
    let manifest_paths: Vec<String> = proxy
        .requests_to("/manifests/")
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(
        manifest_paths,
        [format!("/v2/team/app/manifests/{}", one.manifest_digest)]
    );

    // Not in the registry: exit 3, and the store is as it was.
    let before = snapshot(&root);
    let absent = sha256_digest(b"never pushed");
    world
        .run(&["pull", &format!("{host}/team/app@{absent}")])
        .assert_fails(3, &[&absent]);
    world
        .run(&["pull", &format!("{host}/team/app:nope")])
        .assert_fails(3, &["nope"]);
    world
        .run(&["pull", &format!("{host}/team/absent:1")])
        .assert_fails(3, &["team/absent"]);
    assert_eq!(snapshot(&root), before);
    assert!(scratch_files(&root).is_empty());

    let mut expected = vec![
        format!("{host}/team/app:latest"),
        by_digest,
        format!("{host}/team/app:2"),
    ];
    expected.sort();
    assert_eq!(names(&root), expected);
}

// ---------------------------------------------------------------------------------------------
// 4. Multi-platform images.

const PLATFORMS: [&str; 3] = ["linux/amd64", "linux/arm64", "linux/arm/v7"];

fn multi_platform() -> IndexBuilder {
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

fn platform_json(platform: &str) -> Value {
    let parts: Vec<&str> = platform.split('/').collect();
    match parts.as_slice() {
        [os, arch] => json!({"os": os, "architecture": arch}),
        [os, arch, variant] => json!({"os": os, "architecture": arch, "variant": variant}),
        _ => panic!("bad platform {platform}"),
    }
}

#[test]
fn multi_platform_pulls_choose_one_or_keep_all() {
    require_tools(&["docker-registry", "skopeo"]);
    let host_platform = host_platform();
    assert!(
        PLATFORMS.contains(&host_platform.as_str()),
        "this test expects to run on one of {PLATFORMS:?}, not {host_platform}"
    );
    let registry = Registry::open();
    let built = push_index(&registry, &multi_platform(), "team/multi:1");
    let served = skopeo_inspect_raw(&registry.image_ref("team/multi:1"), None);
    assert_eq!(
        served, built.index,
        "the registry serves the index as built"
    );
    let reference = registry.image_ref("team/multi:1");

    // Default: the host's platform, recorded with its platform in index.json.
    let host_world = World::new();
    let root = host_world.root();
    let mine = built.image(&host_platform);
    let pulled = host_world
        .ok(&["--format", "json", "pull", &reference])
        .json();
    assert_eq!(pulled["name"], reference);
    assert_eq!(pulled["digest"], mine.manifest_digest);
    assert_eq!(pulled["media_type"], OCI_MANIFEST);
    let named = entry(&root, &reference);
    assert_eq!(named["digest"], mine.manifest_digest);
    assert_eq!(named["mediaType"], OCI_MANIFEST);
    assert_eq!(named["size"], mine.manifest_size);
    assert_eq!(named["platform"], platform_json(&host_platform));
    assert_eq!(stored_blobs(&root), image_blobs(mine));
    assert_eq!(skopeo_inspect_store(&root, &reference), mine.manifest);

    // A platform the index lacks: exit 3, the available ones listed, nothing changed.
    let before = snapshot(&root);
    host_world
        .run(&["pull", "--platform", "windows/amd64", &reference])
        .assert_fails(
            3,
            &[
                "windows/amd64",
                "linux/amd64",
                "linux/arm64",
                "linux/arm/v7",
            ],
        );
    assert_eq!(snapshot(&root), before);

    // --platform linux/arm/v7.
    let arm_world = World::new();
    let root = arm_world.root();
    let arm = built.image("linux/arm/v7");
    let pulled = arm_world
        .ok(&[
            "--format",
            "json",
            "pull",
            "--platform",
            "linux/arm/v7",
            &reference,
        ])
        .json();
    assert_eq!(pulled["digest"], arm.manifest_digest);
    let named = entry(&root, &reference);
    assert_eq!(named["digest"], arm.manifest_digest);
    assert_eq!(named["platform"], platform_json("linux/arm/v7"));
    assert_eq!(stored_blobs(&root), image_blobs(arm));
    assert_eq!(skopeo_inspect_store(&root, &reference), arm.manifest);

    // --all-platforms: the index under the name, and every child's blobs.
    let all_world = World::new();
    let root = all_world.root();
    let pulled = all_world
        .ok(&["--format", "json", "pull", "--all-platforms", &reference])
        .json();
    assert_eq!(pulled["digest"], built.index_digest);
    assert_eq!(pulled["media_type"], OCI_INDEX);
    // The layer every platform shares is fetched once: 3 configs, 3 own layers, 1 shared.
    assert_eq!(pulled["blobs_fetched"], 7);
    let named = entry(&root, &reference);
    assert_eq!(named["digest"], built.index_digest);
    assert_eq!(named["mediaType"], OCI_INDEX);
    assert_eq!(named["size"], built.index_size);
    let mut everything: BTreeSet<String> = built.images.iter().flat_map(image_blobs).collect();
    everything.insert(built.index_digest.clone());
    assert_eq!(stored_blobs(&root), everything);
    assert_blobs_verified(&root);
    assert_eq!(skopeo_inspect_store(&root, &reference), built.index);
    let listed = all_world.ok(&["--format", "json", "images"]).json();
    assert_eq!(listed[0]["platforms"], json!(PLATFORMS));
    assert_eq!(listed[0]["media_type"], OCI_INDEX);

    // inspect --platform shows that platform's manifest and config, with the index.
    let arm64 = built.image("linux/arm64");
    let shown = all_world
        .ok(&["inspect", "--platform", "linux/arm64", &reference])
        .json();
    assert_eq!(shown["manifest"], parse(&arm64.manifest));
    assert_eq!(shown["config"], parse(&arm64.config));
    assert_eq!(shown["config"]["architecture"], "arm64");
    assert_eq!(shown["index"], parse(&built.index));
    assert_eq!(shown["digest"], built.index_digest);
    let shown = all_world.ok(&["inspect", &reference]).json();
    assert_eq!(shown["manifest"], parse(&mine.manifest));
    all_world
        .run(&["inspect", "--platform", "windows/amd64", &reference])
        .assert_fails(3, &["windows/amd64", "linux/arm/v7"]);
}

// ---------------------------------------------------------------------------------------------
// 5. Docker schema 2.

/// A busybox image pushed as Docker schema 2 and pulled into a fresh world: the world, the
/// reference, the image as built (OCI) and the manifest bytes the registry serves.
fn pull_docker_image() -> (Registry, World, String, BuiltImage, Vec<u8>) {
    let registry = Registry::open();
    let opts = PushOpts {
        docker_v2s2: true,
        ..PushOpts::default()
    };
    let built = push(
        &registry,
        &app(&[("data/d.txt", "docker\n")]),
        "team/docker:1",
        &opts,
    );
    let reference = registry.image_ref("team/docker:1");
    let served = skopeo_inspect_raw(&reference, None);
    assert_eq!(parse(&served)["mediaType"], DOCKER_MANIFEST);
    let world = World::new();
    let pulled = world.ok(&["--format", "json", "pull", &reference]).json();
    assert_eq!(pulled["source_digest"], sha256_digest(&served));
    assert_ne!(pulled["digest"], sha256_digest(&served));
    assert_eq!(pulled["media_type"], OCI_MANIFEST);
    (registry, world, reference, built, served)
}

/// A Docker schema 2 image is stored in OCI form, as skopeo stores one in an OCI layout: the
/// manifest's media types change (and so its digest), config and layers keep their bytes and
/// digests, and the registry's digest is kept on the name.
#[test]
fn docker_schema2_is_stored_in_oci_form_that_skopeo_and_umoci_read() {
    require_tools(&["docker-registry", "skopeo", "umoci"]);
    let (_registry, world, reference, built, served) = pull_docker_image();
    let root = world.root();
    let docker = parse(&served);
    let served_digest = sha256_digest(&served);

    let named = entry(&root, &reference);
    assert_eq!(named["mediaType"], OCI_MANIFEST);
    assert_ne!(named["digest"], served_digest);
    assert_eq!(
        named["annotations"]["org.aurora.image.source.digest"],
        served_digest
    );
    let stored_digest = named["digest"].as_str().unwrap().to_string();
    let stored = fs::read(blob_path(&root, &stored_digest)).unwrap();
    assert_eq!(sha256_digest(&stored), stored_digest);
    assert_eq!(named["size"], stored.len());

    // The same config and layers, under OCI media types.
    let oci = parse(&stored);
    assert_eq!(oci["mediaType"], OCI_MANIFEST);
    assert_eq!(
        oci["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(oci["config"]["digest"], docker["config"]["digest"]);
    assert_eq!(oci["config"]["size"], docker["config"]["size"]);
    let layers = oci["layers"].as_array().unwrap();
    assert_eq!(layers.len(), built.layers.len());
    for (layer, built_layer) in layers.iter().zip(&built.layers) {
        assert_eq!(
            layer["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert_eq!(layer["digest"], built_layer.digest);
        assert_eq!(layer["size"], built_layer.size);
    }
    let mut expected: BTreeSet<String> = built.layers.iter().map(|l| l.digest.clone()).collect();
    expected.insert(docker["config"]["digest"].as_str().unwrap().to_string());
    expected.insert(stored_digest.clone());
    assert_eq!(stored_blobs(&root), expected);
    assert_blobs_verified(&root);

    // imageadm's own commands read it, also by the registry's digest.
    let listed = world.ok(&["--format", "json", "images"]).json();
    assert_eq!(listed[0]["media_type"], OCI_MANIFEST);
    assert_eq!(listed[0]["digest"], stored_digest);
    let shown = world
        .ok(&["inspect", &format!("{reference}@{served_digest}")])
        .json();
    assert_eq!(shown["manifest"], oci);
    assert_eq!(
        shown["config"]["rootfs"]["diff_ids"][0],
        built.layers[0].diff_id
    );

    // skopeo and umoci read it from the store.
    assert_eq!(skopeo_inspect_store(&root, &reference), stored);
    skopeo_copy_out(&root, &reference, &world.dir.path().join("copied"));
    let bundle = world.dir.path().join("bundle");
    let unpacked = umoci_unpack(&root, &reference, &bundle);
    assert!(
        unpacked.status.success(),
        "umoci unpack: {}",
        String::from_utf8_lossy(&unpacked.stderr)
    );
    assert_eq!(
        fs::read(bundle.join("rootfs/bin/busybox")).unwrap(),
        fs::read("/bin/busybox").unwrap()
    );

    // Pulled again, the same store entry results: the conversion is deterministic.
    world.ok(&["--quiet", "pull", &reference]);
    assert_eq!(entry(&root, &reference)["digest"], stored_digest);
}

// ---------------------------------------------------------------------------------------------
// 6. Local commands.

#[test]
fn images_and_inspect_describe_what_was_pulled() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let built = push(
        &registry,
        &app(&[("data/x.txt", "x\n")]).label("org.example.k", "v"),
        "team/app:1",
        &PushOpts::default(),
    );
    let world = World::new();
    let reference = registry.image_ref("team/app:1");
    world.ok(&["--quiet", "pull", &reference]);

    let listed = world.ok(&["--format", "json", "images"]).json();
    assert_eq!(
        listed,
        json!([{
            "repository": registry.image_ref("team/app"),
            "tag": "1",
            "digest": built.manifest_digest,
            "media_type": OCI_MANIFEST,
            "size": built.manifest_size + fetched_bytes(&built),
            "created": CREATED,
            "platforms": [host_platform()],
        }])
    );

    let table = world.ok(&["images"]).stdout;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["REPOSITORY", "TAG", "DIGEST", "SIZE", "CREATED"]);
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[0], registry.image_ref("team/app"));
    assert_eq!(row[1], "1");
    assert_eq!(row[2], short(&built.manifest_digest));
    assert_eq!(row[row.len() - 1], CREATED);
    // The columns line up under their headings.
    let column = |heading: &str| &lines[1][lines[0].find(heading).unwrap()..];
    assert!(column("TAG").starts_with("1 "), "{table}");
    assert!(
        column("DIGEST").starts_with(short(&built.manifest_digest)),
        "{table}"
    );
    assert!(
        column("SIZE").starts_with(|c: char| c.is_ascii_digit()),
        "{table}"
    );
    assert_eq!(column("CREATED"), CREATED, "{table}");

    let shown = world.ok(&["inspect", &reference]).json();
    assert_eq!(shown["name"], reference);
    assert_eq!(shown["digest"], built.manifest_digest);
    assert_eq!(shown["media_type"], OCI_MANIFEST);
    assert_eq!(shown["manifest"], parse(&built.manifest));
    assert_eq!(shown["config"], parse(&built.config));
    assert_eq!(shown["config"]["config"]["Labels"]["org.example.k"], "v");
    assert!(shown.get("index").is_none(), "{shown}");

    // By digest, by a digest prefix with or without `sha256:`, by name@digest.
    let hex = &built.manifest_digest["sha256:".len()..];
    for lookup in [
        built.manifest_digest.clone(),
        hex[..12].to_string(),
        hex[..6].to_string(),
        format!("sha256:{}", &hex[..12]),
        format!(
            "{}@{}",
            registry.image_ref("team/app"),
            built.manifest_digest
        ),
    ] {
        let shown = world.ok(&["inspect", &lookup]).json();
        assert_eq!(shown["name"], reference, "{lookup}");
        assert_eq!(shown["manifest"], parse(&built.manifest), "{lookup}");
    }
    // Too short a prefix, or one nothing has: not found.
    world
        .run(&["inspect", &hex[..5]])
        .assert_fails(3, &[&hex[..5]]);
    let other = &sha256_digest(b"other")["sha256:".len()..];
    let unknown = if other.starts_with(&hex[..1]) {
        "000000"
    } else {
        &other[..12]
    };
    world.run(&["inspect", unknown]).assert_fails(3, &[unknown]);
    world
        .run(&["inspect", &registry.image_ref("team/app:2")])
        .assert_fails(3, &["team/app:2"]);
}

#[test]
fn tag_rm_and_gc_manage_names_and_blobs() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let one = push(
        &registry,
        &app(&[("data/v.txt", "one\n")]),
        "team/app:1",
        &PushOpts::default(),
    );
    let two = push(
        &registry,
        &app(&[("data/v.txt", "two\n")]),
        "team/app:2",
        &PushOpts::default(),
    );
    let world = World::new();
    let root = world.root();
    let ref1 = registry.image_ref("team/app:1");
    let ref2 = registry.image_ref("team/app:2");
    world.ok(&["--quiet", "pull", &ref1]);
    world.ok(&["--quiet", "pull", &ref2]);
    let all: BTreeSet<String> = image_blobs(&one)
        .union(&image_blobs(&two))
        .cloned()
        .collect();
    assert_eq!(stored_blobs(&root), all);

    // tag: a second name for the same descriptor, which skopeo reads.
    let copy = registry.image_ref("team/app:copy");
    let tagged = world.ok(&["tag", &ref1, &copy]);
    assert_eq!(tagged.stdout, format!("Tagged {copy}\n"));
    let tagged = world
        .ok(&[
            "--format",
            "json",
            "tag",
            &one.manifest_digest[..19],
            "local/mine",
        ])
        .json();
    assert_eq!(tagged, json!({"tagged": "docker.io/local/mine:latest"}));
    let mut expected = vec![
        ref1.clone(),
        ref2.clone(),
        copy.clone(),
        "docker.io/local/mine:latest".to_string(),
    ];
    expected.sort();
    assert_eq!(names(&root), expected);
    let (original, renamed) = (entry(&root, &ref1), entry(&root, &copy));
    assert_eq!(renamed["digest"], original["digest"]);
    assert_eq!(renamed["size"], original["size"]);
    assert_eq!(renamed["mediaType"], original["mediaType"]);
    assert_eq!(skopeo_inspect_store(&root, &copy), one.manifest);
    assert_eq!(stored_blobs(&root), all, "tag writes no blob");
    let listed = world.ok(&["--format", "json", "images"]).json();
    let tags: BTreeSet<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["tag"].as_str())
        .collect();
    assert_eq!(tags, ["1", "2", "copy", "latest"].into_iter().collect());

    // A target with a digest is refused, and changes nothing.
    let before = snapshot(&root);
    world
        .run(&[
            "tag",
            &ref1,
            &format!("{}@{}", registry.image_ref("team/app"), one.manifest_digest),
        ])
        .assert_fails(1, &["digest"]);
    world
        .run(&[
            "tag",
            &ref1,
            &format!(
                "{}@{}",
                registry.image_ref("team/app:x"),
                one.manifest_digest
            ),
        ])
        .assert_fails(1, &["digest"]);
    world
        .run(&["tag", &registry.image_ref("team/app:9"), "local/other"])
        .assert_fails(3, &["team/app:9"]);
    assert_eq!(snapshot(&root), before);

    // rm: the name goes, the blobs stay.
    let removed = world.ok(&["--format", "json", "rm", &ref1, "local/mine"]);
    let lines: Vec<Value> = removed
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            json!({"removed": ref1, "digest": one.manifest_digest}),
            json!({"removed": "docker.io/local/mine:latest", "digest": one.manifest_digest}),
        ]
    );
    let mut expected = vec![ref2.clone(), copy.clone()];
    expected.sort();
    assert_eq!(names(&root), expected);
    assert_eq!(stored_blobs(&root), all);
    world.run(&["rm", &ref1]).assert_fails(3, &["team/app:1"]);

    // gc while `copy` still names image one: nothing is unreferenced.
    let gc = world.ok(&["--format", "json", "gc"]).json();
    assert_eq!(
        gc,
        json!({"removed": [], "partials_removed": 0, "freed_bytes": 0, "layers_removed": []})
    );
    assert_eq!(stored_blobs(&root), all);

    // Once image one has no name, exactly its own blobs go; busybox stays for image two.
    world.ok(&["--quiet", "rm", &copy]);
    let gc = world.ok(&["--format", "json", "gc"]).json();
    let mut own: Vec<(String, u64)> = vec![
        (one.manifest_digest.clone(), one.manifest_size),
        (one.config_digest.clone(), one.config_size),
        (one.layers[1].digest.clone(), one.layers[1].size),
    ];
    own.sort();
    let removed: Vec<(String, u64)> = gc["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["digest"].as_str().unwrap().to_string(),
                r["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(removed, own);
    assert_eq!(gc["freed_bytes"], own.iter().map(|(_, s)| s).sum::<u64>());
    assert_eq!(stored_blobs(&root), image_blobs(&two));
    assert_eq!(skopeo_inspect_store(&root, &ref2), two.manifest);
    let text = world.ok(&["gc"]).stdout;
    assert_eq!(
        text,
        "Removed 0 blobs, 0 partial downloads and 0 layers, freed 0 B of blobs\n"
    );

    // The last name gone, gc empties blobs/.
    world.ok(&["rm", &ref2]);
    world.ok(&["gc"]);
    assert_eq!(stored_blobs(&root), BTreeSet::new());
    assert!(index_entries(&root).is_empty());
}

// ---------------------------------------------------------------------------------------------
// 7. Parallel pulls into one store.

#[test]
fn parallel_pulls_into_one_store() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    // A layer of a few MiB, so that the downloads overlap.
    let big = LayerBuilder::new()
        .file(
            "data/big",
            aurora_testkit::pseudo_random_bytes(4 << 20, 7),
            0o644,
        )
        .build();
    let image = app(&[("data/v.txt", "parallel\n")]).layer(big);
    let built = push(&registry, &image, "team/app:1", &PushOpts::default());
    let again = push(&registry, &image, "team/app:2", &PushOpts::default());
    assert_eq!(again.manifest_digest, built.manifest_digest);
    let world = World::new();
    let root = world.root();
    let ref1 = registry.image_ref("team/app:1");
    let ref2 = registry.image_ref("team/app:2");

    let children: Vec<_> = [&ref1, &ref1, &ref1, &ref1, &ref2, &ref2]
        .iter()
        .map(|reference| {
            world
                .imageadm()
                .args(["--format", "json", "pull", reference])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start imageadm")
        })
        .collect();
    for child in children {
        let run = common::Run::from(child.wait_with_output().expect("wait for imageadm"));
        assert_eq!(run.code, 0, "a parallel pull failed:\n{run}");
        let report = run.json();
        assert_eq!(report["digest"], built.manifest_digest);
        // Each process accounts for every blob, fetched or found (usually all six fetch
        // all four at once: the downloads overlap).
        let (fetched, present) = (&report["blobs_fetched"], &report["blobs_present"]);
        assert_eq!(
            fetched.as_u64().unwrap() + present.as_u64().unwrap(),
            4,
            "{run}"
        );
    }

    let mut expected = vec![ref1.clone(), ref2.clone()];
    expected.sort();
    assert_eq!(names(&root), expected);
    assert_eq!(stored_blobs(&root), image_blobs(&built));
    assert_blobs_verified(&root);
    assert_eq!(scratch_files(&root), Vec::<String>::new());
    assert_eq!(skopeo_inspect_store(&root, &ref1), built.manifest);
    assert_eq!(skopeo_inspect_store(&root, &ref2), built.manifest);
}

// ---------------------------------------------------------------------------------------------
// 8. Output.

#[test]
fn output_goes_where_scripts_expect_it() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let built = push(
        &registry,
        &app(&[("data/o.txt", "o\n")]),
        "team/app:1",
        &PushOpts::default(),
    );
    let reference = registry.image_ref("team/app:1");

    // Not on a terminal: plain progress lines on stderr, one result line on stdout.
    let world = World::new();
    let run = world.ok(&["pull", &reference]);
    let prefix = format!(
        "Pulled {reference} ({}): 3 blobs fetched (",
        built.manifest_digest
    );
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{run}");
    assert!(lines[0].starts_with(&prefix), "{run}");
    assert!(lines[0].ends_with("), 0 already present"), "{run}");
    let progress: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        progress[0],
        format!("Resolved {reference} to {}", built.manifest_digest)
    );
    for digest in fetched_blobs(&built) {
        let short = short(&digest);
        assert!(
            progress
                .iter()
                .any(|l| l.starts_with(&format!("Fetching blob {short} ("))),
            "{run}"
        );
        assert!(
            progress.contains(&format!("Blob {short} done").as_str()),
            "{run}"
        );
    }
    assert_eq!(progress.len(), 1 + 2 * 3, "{run}");
    assert!(
        !run.stderr.contains('\r') && !run.stderr.contains('\x1b'),
        "no bars: {run}"
    );

    // Again: every blob already present.
    let run = world.ok(&["pull", &reference]);
    assert!(
        run.stdout
            .ends_with(": 0 blobs fetched (0 B), 3 already present\n"),
        "{run}"
    );
    for digest in fetched_blobs(&built) {
        assert!(
            run.stderr
                .contains(&format!("Blob {} already present\n", short(&digest))),
            "{run}"
        );
    }

    // --quiet: nothing at all, fresh or not.
    let quiet = World::new();
    for _ in 0..2 {
        let run = quiet.ok(&["--quiet", "pull", &reference]);
        assert_eq!(
            (run.stdout.as_str(), run.stderr.as_str()),
            ("", ""),
            "{run}"
        );
    }
    assert_eq!(
        entry(&quiet.root(), &reference)["digest"],
        built.manifest_digest
    );

    // --format json: one JSON document on stdout and nothing else anywhere.
    let json_world = World::new();
    let run = json_world.ok(&["--format", "json", "pull", &reference]);
    assert_eq!(run.stderr, "", "{run}");
    assert_eq!(run.stdout.lines().count(), 1, "{run}");
    assert_eq!(
        run.json(),
        json!({
            "name": reference,
            "digest": built.manifest_digest,
            "source_digest": built.manifest_digest,
            "media_type": OCI_MANIFEST,
            "blobs_fetched": 3,
            "bytes_fetched": fetched_bytes(&built),
            "blobs_present": 0,
        })
    );

    // A failure: the message on stderr, nothing on stdout, even with --quiet.
    let run = json_world.run(&["--quiet", "pull", &registry.image_ref("team/app:nope")]);
    run.assert_fails(3, &["imageadm: ", "nope"]);
    assert_eq!(run.stdout, "");
}

// ---------------------------------------------------------------------------------------------
// 9. A directory that is not a store.

#[test]
fn a_foreign_directory_is_refused_and_left_untouched() {
    let world = World::new();
    let root = world.root();
    fs::create_dir_all(root.join("src")).unwrap();
    fs::write(root.join("notes.txt"), "my notes\n").unwrap();
    fs::write(root.join("src/main.rs"), "fn main() {}\n").unwrap();
    let before = full_tree(&root);
    let root_text = root.display().to_string();
    for args in [
        vec!["images"],
        vec!["gc"],
        vec!["rm", "anything"],
        vec!["tag", "a", "b"],
        vec!["inspect", "a"],
        vec!["pull", "127.0.0.1:9/app:1"],
    ] {
        let run = world.run(&args);
        run.assert_fails(
            1,
            &[
                &root_text,
                "not an OCI image layout",
                "oci-layout",
                "not empty",
            ],
        );
        assert_eq!(run.stdout, "", "{args:?}");
        assert_untouched(&root, &before, &format!("imageadm {args:?}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Bugs found while writing the tests above: each test states the right behaviour and is
// ignored until the code is fixed.

#[test]
fn rm_reports_each_unknown_name_once() {
    let world = World::new();
    let run = world.run(&["rm", "nothing-here"]);
    run.assert_fails(3, &["no image nothing-here in the store"]);
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    let run = world.run(&["rm", "first-missing", "second-missing"]);
    run.assert_fails(3, &["first-missing", "second-missing"]);
    assert_eq!(run.stderr.lines().count(), 2, "{run}");
}

#[test]
fn local_lookup_of_tag_and_digest_honours_the_digest() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let one = push(
        &registry,
        &app(&[("data/v.txt", "one\n")]),
        "team/app:1",
        &PushOpts::default(),
    );
    let two = push(
        &registry,
        &app(&[("data/v.txt", "two\n")]),
        "team/app:2",
        &PushOpts::default(),
    );
    let world = World::new();
    let root = world.root();
    let tagged = registry.image_ref("team/app:2");
    world.ok(&["--quiet", "pull", &tagged]);
    assert_eq!(entry(&root, &tagged)["digest"], two.manifest_digest);

    // Image one is nowhere in the store: asking for app:2 pinned to it must not give image two.
    let pinned = format!("{tagged}@{}", one.manifest_digest);
    let run = world.run(&["inspect", &pinned]);
    assert_eq!(
        run.code, 3,
        "inspect {pinned} answered with another image:\n{run}"
    );
    let before = snapshot(&root);
    world
        .run(&["rm", &pinned])
        .assert_fails(3, &[&one.manifest_digest]);
    assert_eq!(
        snapshot(&root),
        before,
        "rm {pinned} removed app:2, which is image two"
    );
}

#[test]
fn a_directory_with_only_a_foreign_index_json_is_left_untouched() {
    let world = World::new();
    let root = world.root();
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("index.json"), "{\"title\": \"my web page\"}\n").unwrap();
    let before = full_tree(&root);
    let run = world.run(&["images"]);
    assert_untouched(&root, &before, &run.to_string());
    run.assert_fails(1, &["not an OCI image layout"]);
}

#[test]
fn gc_deletes_nothing_in_a_directory_that_is_not_a_store() {
    let world = World::new();
    let root = world.root();
    fs::create_dir_all(root.join("blobs/holiday")).unwrap();
    fs::write(root.join("blobs/holiday/photo.jpg"), "not a blob").unwrap();
    let before = full_tree(&root);
    let run = world.run(&["gc"]);
    assert!(
        root.join("blobs/holiday/photo.jpg").exists(),
        "gc deleted a file of a directory that is not a store:\n{run}"
    );
    assert_untouched(&root, &before, &run.to_string());
    run.assert_fails(1, &["not an OCI image layout"]);
}

#[test]
fn a_layout_of_another_version_is_refused_and_left_untouched() {
    let world = World::new();
    let root = world.root();
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"9.9.9"}"#).unwrap();
    fs::write(
        root.join("index.json"),
        r#"{"schemaVersion":2,"manifests":[]}"#,
    )
    .unwrap();
    let before = full_tree(&root);
    let run = world.run(&["gc"]);
    run.assert_fails(1, &["not an OCI image layout", "9.9.9"]);
    assert_untouched(&root, &before, &run.to_string());
}

#[test]
fn images_counts_a_shared_blob_once() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let built = push_index(&registry, &multi_platform(), "team/multi:1");
    let world = World::new();
    let reference = registry.image_ref("team/multi:1");
    world.ok(&["--quiet", "pull", "--all-platforms", &reference]);
    // The store holds this image alone: its size is the size of blobs/.
    let on_disk: u64 = stored_blobs(&world.root())
        .iter()
        .map(|d| fs::metadata(blob_path(&world.root(), d)).unwrap().len())
        .sum();
    let shared = &built.images[0].layers[0];
    let listed = world.ok(&["--format", "json", "images"]).json();
    assert_eq!(
        listed[0]["size"],
        on_disk,
        "the layer shared by {} platforms is {} bytes",
        built.images.len(),
        shared.size
    );
}

/// A Docker manifest list pulled with --all-platforms: the list and every child are stored in
/// OCI form, the index pointing at the converted children, readable by skopeo.
#[test]
fn docker_manifest_lists_are_stored_as_oci_indexes() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let layout = tempfile::tempdir().unwrap();
    multi_platform().write(layout.path(), "t");
    let reference = registry.image_ref("team/dlist:1");
    let opts = PushOpts {
        all_platforms: true,
        docker_v2s2: true,
        ..PushOpts::default()
    };
    skopeo_push(layout.path(), "t", &reference, &opts);
    let served = parse(&skopeo_inspect_raw(&reference, None));
    assert_eq!(
        served["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );

    let world = World::new();
    let root = world.root();
    world.ok(&["--quiet", "pull", "--all-platforms", &reference]);
    let named = entry(&root, &reference);
    assert_eq!(named["mediaType"], OCI_INDEX);
    let index = parse(&fs::read(blob_path(&root, named["digest"].as_str().unwrap())).unwrap());
    assert_eq!(index["mediaType"], OCI_INDEX);
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), PLATFORMS.len());
    for (entry, served_entry) in entries.iter().zip(served["manifests"].as_array().unwrap()) {
        assert_eq!(entry["mediaType"], OCI_MANIFEST);
        assert_eq!(entry["platform"], served_entry["platform"]);
        let child = fs::read(blob_path(&root, entry["digest"].as_str().unwrap())).unwrap();
        assert_eq!(entry["size"], child.len());
        assert_eq!(parse(&child)["mediaType"], OCI_MANIFEST);
    }
    assert_blobs_verified(&root);
    skopeo_copy_out(&root, &reference, &world.dir.path().join("copied"));
}
