//! Pulls that go wrong: damaged blobs and manifests, dropped connections, failing and absent
//! registries, bad references and settings. Each test of bad input asserts the exit status,
//! that standard error names the reference or digest concerned, and that the store is exactly
//! as it was.

mod common;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aurora_testkit::{
    host_platform, pseudo_random_bytes, require_tools, sha256_digest, skopeo_push,
    write_multi_platform_image, BuiltImage, Fault, FaultProxy, ImageBuilder, Layer, LayerBuilder,
    PushOpts, Registry,
};
use common::{
    assert_same_files, blob_path, scratch_files, snapshot, store_names, Run, Snapshot, World,
};

const MIB: usize = 1 << 20;
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The waits between five attempts: 200 ms doubling.
const FULL_BACKOFF: Duration = Duration::from_millis(200 + 400 + 800 + 1600);

// ---------------------------------------------------------------------------------------------
// Helpers

/// A small layer whose content (and so digest) depends on `text`.
fn small_layer(text: &str) -> Layer {
    LayerBuilder::new()
        .file("data/file.txt", format!("{text}\n"), 0o644)
        .build()
}

/// A layer of 2 MiB of incompressible bytes, so that a download can be cut in its middle.
fn big_layer(seed: u64) -> Layer {
    LayerBuilder::new()
        .file("data/random.bin", pseudo_random_bytes(2 * MIB, seed), 0o644)
        .build()
}

/// Pushes an image made of `layers` to `registry` as `repo_tag`.
fn push(registry: &Registry, repo_tag: &str, layers: Vec<Layer>) -> BuiltImage {
    let layout = tempfile::tempdir().expect("layout directory");
    let built = layers
        .into_iter()
        .fold(ImageBuilder::new(), ImageBuilder::layer)
        .write(layout.path(), "t");
    let opts = PushOpts {
        creds: registry.credentials(),
        ..PushOpts::default()
    };
    skopeo_push(layout.path(), "t", &registry.image_ref(repo_tag), &opts);
    built
}

/// A registry holding `app:1` (the image under test) and `seed:1`, a fault proxy in front of
/// it, and a world whose store already holds `seed:1`, so that "unchanged" means something:
/// a failed pull must leave an existing index.json and its blobs byte for byte as they were.
struct Scene {
    registry: Registry,
    proxy: FaultProxy,
    image: BuiltImage,
    world: World,
    before: Snapshot,
}

impl Scene {
    fn new(layers: Vec<Layer>) -> Self {
        require_tools(&["docker-registry", "skopeo"]);
        let registry = Registry::open();
        let image = push(&registry, "app:1", layers);
        push(&registry, "seed:1", vec![small_layer("seed")]);
        let world = World::new();
        world.ok(&["pull", &registry.image_ref("seed:1")]);
        let before = snapshot(&world.root());
        assert_eq!(store_names(&world.root()).len(), 1, "the seed is stored");
        let proxy = FaultProxy::in_front_of(&registry);
        Scene {
            registry,
            proxy,
            image,
            world,
            before,
        }
    }

    /// `PROXY/app:1`, the image under test reached through the proxy.
    fn reference(&self) -> String {
        format!("{}/app:1", self.proxy.host())
    }

    fn pull(&self) -> Run {
        self.world.run(&["pull", &self.reference()])
    }

    fn pull_ok(&self) -> Run {
        let run = self.pull();
        assert_eq!(run.code, 0, "the pull should succeed:\n{run}");
        run
    }

    fn root(&self) -> PathBuf {
        self.world.root()
    }

    fn assert_store_unchanged(&self) {
        assert_same_files(&self.before, &snapshot(&self.root()));
    }

    /// Asserts the image under test was stored under its name, with all of its blobs.
    fn assert_pulled(&self) {
        assert!(
            store_names(&self.root()).contains(&self.reference()),
            "{} should be named in index.json: {:?}",
            self.reference(),
            store_names(&self.root())
        );
        assert_blob_stored(&self.root(), &self.image.manifest_digest);
        assert_blob_stored(&self.root(), &self.image.config_digest);
        for layer in &self.image.layers {
            assert_blob_stored(&self.root(), &layer.digest);
        }
    }

    /// The GET requests the proxy saw for `digest`'s blob.
    fn blob_gets(&self, digest: &str) -> Vec<aurora_testkit::RecordedRequest> {
        let mut requests = self.proxy.requests_to(&format!("/blobs/{digest}"));
        requests.retain(|r| r.method == "GET");
        requests
    }
}

/// For a first pull into an empty store: the layout may have been created, but it holds no
/// blob and its index.json names nothing.
fn assert_no_image(root: &Path) {
    let files = snapshot(root);
    let extra: Vec<&String> = files
        .keys()
        .filter(|name| *name != "oci-layout" && *name != "index.json")
        .collect();
    assert!(extra.is_empty(), "the store should hold no blob: {extra:?}");
    if let Some(index) = files.get("index.json") {
        let index: serde_json::Value = serde_json::from_slice(index).expect("index.json is JSON");
        let manifests = index["manifests"].as_array().cloned().unwrap_or_default();
        assert!(manifests.is_empty(), "index.json names {manifests:?}");
    }
}

fn hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").expect("a sha256 digest")
}

fn assert_blob_stored(root: &Path, digest: &str) {
    let bytes = fs::read(blob_path(root, digest))
        .unwrap_or_else(|e| panic!("blob {digest} should be in the store: {e}"));
    assert_eq!(sha256_digest(&bytes), digest, "stored bytes of {digest}");
}

/// The name of a blob's resumable partial download in `ROOT/.aurora/tmp`.
fn partial_name(digest: &str) -> String {
    format!("sha256-{}.partial", hex(digest))
}

/// Scratch files that belong to `digest` (its partial, or a private copy).
fn scratch_files_of(root: &Path, digest: &str) -> Vec<String> {
    let mut files = scratch_files(root);
    files.retain(|name| name.contains(hex(digest)));
    files
}

/// The N of a `bytes=N-` Range header.
fn range_start(range: Option<&str>) -> u64 {
    let range = range.expect("a Range header");
    range
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not an open-ended byte range: {range:?}"))
}

fn replace_manifest(proxy: &FaultProxy, content_type: &str, body: Vec<u8>) {
    proxy.push_fault(Fault::ReplaceBody {
        path_contains: "/manifests/1".into(),
        status: 200,
        content_type: content_type.into(),
        body,
        times: 1,
    });
}

/// A port on 127.0.0.1 that nothing listens on (it was free a moment ago).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("binding a port")
        .port()
}

// ---------------------------------------------------------------------------------------------
// Damaged blobs

#[test]
fn a_blob_that_does_not_match_its_digest_is_refused_and_not_kept() {
    let scene = Scene::new(vec![small_layer("base"), small_layer("top")]);
    let layer = scene.image.layers[1].clone();
    // Damage the registry's copy: same length, one byte flipped.
    let data = scene.registry.blob_data_path(&layer.digest);
    let good = fs::read(&data).expect("the layer in the registry's storage");
    let mut bad = good.clone();
    let middle = bad.len() / 2;
    bad[middle] ^= 0xff;
    fs::write(&data, &bad).expect("damaging the layer");

    let run = scene.pull();

    run.assert_fails(1, &[&layer.digest, &scene.reference()]);
    scene.assert_store_unchanged();
    assert_eq!(
        scratch_files_of(&scene.root(), &layer.digest),
        Vec::<String>::new(),
        "bytes known to be wrong must not be kept for resuming"
    );
    assert!(!blob_path(&scene.root(), &layer.digest).exists());

    // Nothing stale stands in the way once the registry serves the right bytes.
    fs::write(&data, &good).expect("repairing the layer");
    scene.pull_ok();
    scene.assert_pulled();
}

#[test]
fn a_damaged_partial_download_is_deleted_when_found_wrong() {
    let scene = Scene::new(vec![big_layer(7)]);
    let layer = scene.image.layers[0].clone();
    // What an earlier, interrupted pull left behind, damaged since (a crash before the bytes
    // reached the disk leaves zeros): the right length prefix, the wrong bytes.
    let scratch = scene.root().join(".aurora/tmp");
    let partial = scratch.join(partial_name(&layer.digest));
    fs::write(&partial, vec![0u8; MIB]).expect("planting a damaged partial");

    let run = scene.pull();

    // Either the pull notices and downloads the blob again, or it fails naming the blob; what
    // it must not do is keep the wrong bytes around, or store them.
    if run.code == 0 {
        scene.assert_pulled();
    } else {
        run.assert_fails(1, &[&layer.digest]);
        scene.assert_store_unchanged();
    }
    assert!(
        !partial.exists(),
        "the damaged partial must be deleted:\n{run}"
    );
    let gets = scene.blob_gets(&layer.digest);
    assert_eq!(
        gets[0].range.as_deref(),
        Some(format!("bytes={MIB}-").as_str()),
        "the partial is resumed first"
    );
}

#[test]
fn a_damaged_partial_download_is_fetched_again_in_the_same_pull() {
    let scene = Scene::new(vec![big_layer(8)]);
    let layer = scene.image.layers[0].clone();
    let partial = scene
        .root()
        .join(".aurora/tmp")
        .join(partial_name(&layer.digest));
    fs::write(&partial, vec![0u8; MIB]).expect("planting a damaged partial");

    scene.pull_ok();

    scene.assert_pulled();
    let gets = scene.blob_gets(&layer.digest);
    assert_eq!(gets.len(), 2, "a resumed attempt, then one from scratch");
    assert_eq!(gets[1].range, None);
}

// ---------------------------------------------------------------------------------------------
// Dropped connections

#[test]
fn a_download_cut_short_once_resumes_with_a_range_request() {
    let layer = big_layer(1);
    let scene = Scene::new(vec![layer.clone()]);
    let digest = layer.digest().to_string();
    scene.proxy.push_fault(Fault::Truncate {
        path_contains: digest.clone(),
        after_bytes: MIB,
        times: 1,
    });

    scene.pull_ok();

    assert!(scene.proxy.pending_faults().is_empty(), "the cut happened");
    let gets = scene.blob_gets(&digest);
    assert_eq!(gets.len(), 2, "one cut attempt, one resumed: {gets:#?}");
    assert_eq!(gets[0].range, None);
    // The client received exactly the MiB the proxy relayed; it asks for what follows.
    assert_eq!(
        range_start(gets[1].range.as_deref()),
        MIB as u64,
        "the second GET must start where the first stopped"
    );
    assert_eq!(gets[1].status, Some(206));
    let stored = fs::read(blob_path(&scene.root(), &digest)).expect("the stored layer");
    assert!(
        stored == layer.blob(),
        "the stored layer has the right bytes"
    );
    scene.assert_pulled();
    assert_eq!(
        scratch_files_of(&scene.root(), &digest),
        Vec::<String>::new()
    );
}

#[test]
fn a_download_cut_short_every_time_is_tried_five_times_each_resuming() {
    let layer = big_layer(2);
    let scene = Scene::new(vec![layer.clone()]);
    let digest = layer.digest().to_string();
    let cut = 256 * 1024;
    // Five attempts, each cut after 256 KiB: 1.25 MiB of a blob of over 2 MiB arrive.
    scene.proxy.push_fault(Fault::Truncate {
        path_contains: digest.clone(),
        after_bytes: cut,
        times: 5,
    });

    let started = Instant::now();
    let run = scene.pull();
    let elapsed = started.elapsed();

    run.assert_fails(1, &[&digest]);
    scene.assert_store_unchanged();
    assert!(
        scene.proxy.pending_faults().is_empty(),
        "five attempts:\n{run}"
    );
    let gets = scene.blob_gets(&digest);
    let ranges: Vec<Option<String>> = gets.iter().map(|r| r.range.clone()).collect();
    let expected: Vec<Option<String>> = (0..5)
        .map(|n| (n > 0).then(|| format!("bytes={}-", n * cut)))
        .collect();
    assert_eq!(
        ranges, expected,
        "each attempt resumes where the last stopped"
    );
    assert!(
        elapsed >= FULL_BACKOFF,
        "retries wait 200 ms doubling; took {elapsed:?}"
    );
    let partial = scene.root().join(".aurora/tmp").join(partial_name(&digest));
    let kept = fs::read(&partial).expect("the partial download is kept for resuming");
    assert_eq!(kept.len(), 5 * cut);
}

#[test]
fn a_download_cut_short_every_time_fails_keeps_its_partial_and_a_later_pull_resumes_it() {
    let layer = big_layer(3);
    let scene = Scene::new(vec![layer.clone()]);
    let digest = layer.digest().to_string();
    let cut = 256 * 1024;
    scene.proxy.push_fault(Fault::Truncate {
        path_contains: digest.clone(),
        after_bytes: cut,
        times: 1000,
    });

    let run = scene.pull();

    run.assert_fails(1, &[&digest]);
    scene.assert_store_unchanged();
    let partial = scene.root().join(".aurora/tmp").join(partial_name(&digest));
    let kept = fs::read(&partial).expect("the partial download is kept for resuming");
    let attempts = scene.blob_gets(&digest).len();
    assert!((1..=5).contains(&attempts), "{attempts} attempts");
    assert_eq!(kept.len(), attempts * cut, "every byte received is kept");
    assert!(
        kept[..] == layer.blob()[..kept.len()],
        "the partial holds the blob's first bytes"
    );

    // The next pull, from a registry that behaves (the same one through a proxy without
    // faults), resumes from the partial.
    let healthy = FaultProxy::in_front_of(&scene.registry);
    let reference = format!("{}/app:1", healthy.host());
    let run = scene.world.run(&["pull", &reference]);
    assert_eq!(run.code, 0, "{run}");

    let mut gets = healthy.requests_to(&format!("/blobs/{digest}"));
    gets.retain(|r| r.method == "GET");
    assert_eq!(gets.len(), 1, "{gets:#?}");
    assert_eq!(range_start(gets[0].range.as_deref()), kept.len() as u64);
    assert_eq!(gets[0].status, Some(206));
    let stored = fs::read(blob_path(&scene.root(), &digest)).expect("the stored layer");
    assert!(
        stored == layer.blob(),
        "the stored layer has the right bytes"
    );
    assert!(store_names(&scene.root()).contains(&reference));
    assert!(!partial.exists(), "the partial became the blob");
}

// ---------------------------------------------------------------------------------------------
// Failing registries

fn transient_manifest_failures_are_retried(status: u16) {
    let scene = Scene::new(vec![small_layer("retry")]);
    scene.proxy.push_fault(Fault::Status {
        path_contains: "/manifests/".into(),
        status,
        times: 2,
    });

    scene.pull_ok();

    let statuses: Vec<Option<u16>> = scene
        .proxy
        .requests_to("/manifests/")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [Some(status), Some(status), Some(200)]);
    scene.assert_pulled();
}

#[test]
fn a_manifest_answering_500_twice_is_retried() {
    transient_manifest_failures_are_retried(500);
}

#[test]
fn a_manifest_answering_503_twice_is_retried() {
    transient_manifest_failures_are_retried(503);
}

#[test]
fn a_manifest_answering_429_twice_is_retried() {
    transient_manifest_failures_are_retried(429);
}

#[test]
fn a_manifest_failing_for_ever_fails_after_five_attempts() {
    let scene = Scene::new(vec![small_layer("down")]);
    scene.proxy.push_fault(Fault::Status {
        path_contains: "/manifests/".into(),
        status: 500,
        times: 1000,
    });

    let started = Instant::now();
    let run = scene.pull();
    let elapsed = started.elapsed();

    let url = format!("http://{}/v2/app/manifests/1", scene.proxy.host());
    run.assert_fails(1, &[&url, "500"]);
    scene.assert_store_unchanged();
    assert_eq!(scene.proxy.requests_to("/manifests/").len(), 5);
    // A lower bound only: a loaded machine makes the run longer, never shorter.
    assert!(
        elapsed >= FULL_BACKOFF,
        "retries wait 200 ms doubling; took {elapsed:?}"
    );
}

#[test]
fn a_blob_failing_for_ever_fails_after_five_attempts() {
    let scene = Scene::new(vec![small_layer("down")]);
    let layer = scene.image.layers[0].digest.clone();
    scene.proxy.push_fault(Fault::Status {
        path_contains: layer.clone(),
        status: 500,
        times: 1000,
    });

    let run = scene.pull();

    run.assert_fails(1, &[&layer, "500"]);
    scene.assert_store_unchanged();
    // Counted, not timed: five attempts in all, not five per layer of retrying.
    assert_eq!(scene.blob_gets(&layer).len(), 5, "five attempts in all");
}

#[test]
fn an_absent_registry_fails_with_a_connection_error_after_retries() {
    let port = closed_port();
    let world = World::new();

    let started = Instant::now();
    let run = world.run(&["pull", &format!("127.0.0.1:{port}/app:1")]);
    let elapsed = started.elapsed();

    run.assert_fails(1, &[&format!("http://127.0.0.1:{port}/v2/app/manifests/1")]);
    assert!(
        run.stderr.to_lowercase().contains("connect"),
        "a connection error:\n{run}"
    );
    // A lower bound only: a loaded machine makes the run longer, never shorter.
    assert!(
        elapsed >= FULL_BACKOFF,
        "retried with back-off; took {elapsed:?}"
    );
    assert_no_image(&world.root());
}

#[test]
fn an_unknown_tag_repository_or_digest_is_not_found() {
    let scene = Scene::new(vec![small_layer("known")]);
    let host = scene.proxy.host();
    let absent = format!("sha256:{}", "0".repeat(64));
    for (reference, named) in [
        (format!("{host}/app:nosuchtag"), "nosuchtag"),
        (format!("{host}/no/such/repo:1"), "no/such/repo"),
        (format!("{host}/app@{absent}"), absent.as_str()),
    ] {
        let run = scene.world.run(&["pull", &reference]);
        run.assert_fails(3, &[named]);
        scene.assert_store_unchanged();
    }
}

// ---------------------------------------------------------------------------------------------
// Bad manifests

#[test]
fn a_manifest_of_an_unknown_media_type_is_refused_by_name() {
    let scene = Scene::new(vec![small_layer("odd")]);
    // The header claims OCI; the document itself says otherwise, and wins.
    let body = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/x-unknown",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": scene.image.config_digest,
            "size": scene.image.config_size,
        },
        "layers": [],
    });
    replace_manifest(&scene.proxy, OCI_MANIFEST, body.to_string().into_bytes());

    let run = scene.pull();

    run.assert_fails(1, &["application/x-unknown", &scene.reference()]);
    scene.assert_store_unchanged();
}

#[test]
fn a_schema_1_manifest_is_not_supported() {
    let scene = Scene::new(vec![small_layer("old")]);
    let body = serde_json::json!({
        "schemaVersion": 1,
        "name": "app",
        "tag": "1",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": scene.image.layers[0].digest}],
        "history": [{"v1Compatibility": "{}"}],
        "signatures": [],
    });
    replace_manifest(
        &scene.proxy,
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        serde_json::to_vec_pretty(&body).expect("JSON"),
    );

    let run = scene.pull();

    run.assert_fails(1, &["not supported", &scene.reference()]);
    scene.assert_store_unchanged();
}

#[test]
fn an_oversized_manifest_is_refused_naming_the_limit() {
    let scene = Scene::new(vec![small_layer("huge")]);
    let mut body = br#"{"schemaVersion":2,"layers":[],"padding":""#.to_vec();
    body.resize(5 * MIB, b'x');
    body.extend_from_slice(b"\"}");
    replace_manifest(&scene.proxy, OCI_MANIFEST, body);

    let run = scene.pull();

    run.assert_fails(1, &[&(4 * MIB).to_string(), &scene.reference()]);
    scene.assert_store_unchanged();
}

#[test]
fn a_manifest_that_is_not_json_is_a_clear_error() {
    let scene = Scene::new(vec![small_layer("html")]);
    replace_manifest(
        &scene.proxy,
        "text/html",
        b"<html><body><h1>Welcome to nginx!</h1></body></html>".to_vec(),
    );

    let run = scene.pull();

    run.assert_fails(1, &["not valid JSON", "text/html", &scene.reference()]);
    scene.assert_store_unchanged();
}

/// The digest the proxy's CorruptBody fault turns `bytes` into: one byte flipped in the middle.
fn corrupted_digest(bytes: &[u8]) -> String {
    let mut bytes = bytes.to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    sha256_digest(&bytes)
}

#[test]
fn a_manifest_fetched_by_digest_must_have_that_digest() {
    let scene = Scene::new(vec![small_layer("pinned")]);
    let expected = scene.image.manifest_digest.clone();
    let actual = corrupted_digest(&scene.image.manifest);
    scene.proxy.push_fault(Fault::CorruptBody {
        path_contains: "/manifests/sha256:".into(),
        times: 1,
    });
    let reference = format!("{}/app@{expected}", scene.proxy.host());

    let run = scene.world.run(&["pull", &reference]);

    run.assert_fails(1, &[&expected, &actual]);
    scene.assert_store_unchanged();
}

#[test]
fn a_manifest_fetched_by_tag_must_have_the_digest_the_registry_announced() {
    let scene = Scene::new(vec![small_layer("tagged")]);
    scene.proxy.push_fault(Fault::CorruptBody {
        path_contains: "/manifests/1".into(),
        times: 1,
    });

    let run = scene.pull();

    let actual = corrupted_digest(&scene.image.manifest);
    run.assert_fails(1, &[&scene.image.manifest_digest, &actual]);
    scene.assert_store_unchanged();
}

#[test]
fn an_index_entry_whose_size_does_not_match_its_manifest_is_refused() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let host = host_platform();
    let other = if host == "linux/arm64" {
        "linux/amd64"
    } else {
        "linux/arm64"
    };
    let layout = tempfile::tempdir().expect("layout directory");
    let built = write_multi_platform_image(layout.path(), "t", &[&host, other]);
    let opts = PushOpts {
        all_platforms: true,
        ..PushOpts::default()
    };
    skopeo_push(layout.path(), "t", &registry.image_ref("app:1"), &opts);
    push(&registry, "seed:1", vec![small_layer("seed")]);
    let world = World::new();
    world.ok(&["pull", &registry.image_ref("seed:1")]);
    let before = snapshot(&world.root());
    // The index as the registry has it, but claiming one byte more for every child.
    let mut index: serde_json::Value = serde_json::from_slice(&built.index).expect("index JSON");
    for entry in index["manifests"].as_array_mut().expect("manifests") {
        entry["size"] = (entry["size"].as_u64().expect("a size") + 1).into();
    }
    let proxy = FaultProxy::in_front_of(&registry);
    proxy.push_fault(Fault::ReplaceBody {
        path_contains: "/manifests/1".into(),
        status: 200,
        content_type: OCI_INDEX.into(),
        body: index.to_string().into_bytes(),
        times: 2,
    });
    let reference = format!("{}/app:1", proxy.host());
    let child = &built.image(&host).manifest_digest;

    let run = world.run(&["pull", &reference]);
    run.assert_fails(1, &[child, &reference]);
    assert_same_files(&before, &snapshot(&world.root()));

    let run = world.run(&["pull", "--all-platforms", &reference]);
    run.assert_fails(1, &[&reference]);
    assert!(
        built
            .images
            .iter()
            .any(|i| run.stderr.contains(&i.manifest_digest)),
        "the error names the entry:\n{run}"
    );
    assert_same_files(&before, &snapshot(&world.root()));
    assert!(proxy.pending_faults().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Bad references and settings

#[test]
fn malformed_references_are_refused_quoting_them_and_creating_nothing() {
    let world = World::new();
    for input in ["UPPER/case", "a//b", "app@sha256:short", "", ":tag"] {
        let run = world.run(&["pull", input]);
        assert!(
            run.code == 1 || run.code == 2,
            "{input:?} should be refused as bad input:\n{run}"
        );
        assert!(
            run.stderr.contains(&format!("{input:?}")),
            "stderr should quote {input:?}:\n{run}"
        );
        assert!(
            !world.root().exists(),
            "{input:?}: the store must not be created"
        );
    }
}

/// `imageadm pull registry.invalid:5000/a`: a registry that does not resolve, so the error
/// shows which URL was tried.
fn pull_unresolvable(mut command: std::process::Command) -> std::process::Child {
    command
        .args(["pull", "registry.invalid:5000/a"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run imageadm")
}

#[test]
fn plain_http_is_used_off_this_machine_only_for_registries_listed_as_insecure() {
    let (default, flag, config) = (World::new(), World::new(), World::new());
    let config_file = config.dir.path().join("aurora.toml");
    fs::write(
        &config_file,
        "[registries]\ninsecure = [\"registry.lan:5000\", \"registry.invalid:5000\"]\n",
    )
    .expect("writing the config");
    let mut with_flag = flag.imageadm();
    with_flag.args(["--insecure-registry", "registry.invalid:5000"]);
    let mut with_config = config.imageadm();
    with_config.env("AURORA_CONFIG", &config_file);
    // Each run fails only after its retries: run the three side by side.
    let children = [
        (
            "by default",
            &default,
            pull_unresolvable(default.imageadm()),
        ),
        (
            "with --insecure-registry",
            &flag,
            pull_unresolvable(with_flag),
        ),
        (
            "with the config file",
            &config,
            pull_unresolvable(with_config),
        ),
    ];
    for (case, world, child) in children {
        let run = Run::from(child.wait_with_output().expect("wait for imageadm"));
        let (used, unused) = if case == "by default" {
            ("https://", "http://")
        } else {
            ("http://", "https://")
        };
        let url = format!("{used}registry.invalid:5000/v2/a/manifests/latest");
        assert!(
            run.code == 1 && run.stderr.contains(&url),
            "{case}: should try {url}:\n{run}"
        );
        assert!(
            !run.stderr.contains(&format!("{unused}registry.invalid")),
            "{case}: should not try {unused}:\n{run}"
        );
        assert_no_image(&world.root());
    }
}

#[test]
fn a_broken_config_file_is_an_error_naming_it() {
    let world = World::new();
    let dir = world.dir.path();
    // A proxy that records every request (and answers 502: nothing behind it): the pull of
    // an image behind it must not reach it.
    let proxy = FaultProxy::start(&format!("127.0.0.1:{}", closed_port()));
    let reference = format!("{}/a", proxy.host());
    for (name, text) in [
        ("syntax.toml", "[registries\ninsecure = [\"a:1\"]\n"),
        ("typo.toml", "[registries]\ninsecur = [\"a:1\"]\n"),
        ("type.toml", "[registries]\ninsecure = \"a:1\"\n"),
    ] {
        let config = dir.join(name);
        fs::write(&config, text).expect("writing the config");
        let mut command = world.imageadm();
        command.env("AURORA_CONFIG", &config);
        let run = Run::from(
            command
                .args(["pull", &reference])
                .output()
                .expect("run imageadm"),
        );
        run.assert_fails(1, &[&config.display().to_string()]);
        assert_eq!(
            proxy.requests(),
            Vec::new(),
            "{name}: refused before any network access:\n{run}"
        );
        assert_no_image(&world.root());
    }
}
