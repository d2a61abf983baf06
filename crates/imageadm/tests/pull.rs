//! The pull path and the local commands, end to end: the real `imageadm` binary against a
//! real docker-registry, with the store read back by independent tools (skopeo, umoci) and
//! checked file by file.

mod common;

use common::pull::*;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Stdio;

use aurora_testkit::{
    host_platform, require_tools, sha256_digest, skopeo_inspect_raw, BuiltImage, FaultProxy,
    LayerBuilder, PushOpts, Registry,
};
use common::{blob_path, push, scratch_files, skopeo_inspect_store, snapshot, umoci_unpack, World};
use serde_json::{json, Value};

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
    let first = push_app(&registry, ("data/a.txt", "a\n"), "team/a:1");
    let second = push_app(&registry, ("data/b.txt", "b\n"), "team/b:1");
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
    let two = push_app(&registry, ("data/v.txt", "two\n"), "team/app:2");
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
// 6. Parallel pulls into one store.

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
