//! `imageadm push` against real docker-registry servers, read back with skopeo: digests kept,
//! blobs mounted within a registry and uploaded to another, nothing sent twice, Basic auth,
//! a failed upload tried again, and clear errors.

mod common;

use aurora_testkit::{
    require_tools, sha256_digest, skopeo_inspect_raw, Fault, FaultProxy, PushOpts, Registry,
};
use common::{pulled, skopeo_copy_to_layout, skopeo_inspect_store, World};

/// The registry holds the store's manifest of `source` byte for byte as `destination`.
fn assert_pushed(world: &World, source: &str, destination: &str, creds: Option<&(String, String)>) {
    let theirs = skopeo_inspect_raw(destination, creds);
    assert_eq!(
        theirs,
        skopeo_inspect_store(&world.root(), source),
        "{destination}"
    );
}

fn push_json(world: &World, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--format", "json", "push"];
    all.extend_from_slice(args);
    world.ok(&all).json()
}

#[test]
fn a_push_within_a_registry_mounts_the_blobs_and_keeps_the_digest() {
    let registry = Registry::open();
    let (world, source) = pulled(&registry);
    let destination = registry.image_ref("other/dst:2");
    let report = push_json(&world, &[&source, &destination]);
    assert_eq!(report["mounted"], 4, "{report}");
    assert_eq!(report["uploaded"], 0, "{report}");
    let ours = skopeo_inspect_store(&world.root(), &source);
    let theirs = skopeo_inspect_raw(&destination, None);
    assert_eq!(
        theirs, ours,
        "the registry holds the store's manifest byte for byte"
    );
    assert_eq!(report["digest"], sha256_digest(&ours).to_string());

    // Again: everything is there already.
    let again = push_json(&world, &[&source, &destination]);
    assert_eq!(
        (
            again["present"].as_u64(),
            again["uploaded"].as_u64(),
            again["mounted"].as_u64()
        ),
        (Some(4), Some(0), Some(0)),
        "{again}"
    );
}

#[test]
fn a_push_to_another_registry_uploads_and_skopeo_copies_it_back() {
    let first = Registry::open();
    let (world, source) = pulled(&first);
    let second = Registry::open();
    let proxy = FaultProxy::in_front_of(&second);
    let destination = format!("{}/copied/app:1", proxy.host());
    let report = push_json(&world, &[&source, &destination]);
    assert_eq!(report["uploaded"], 4, "{report}");
    let uploads = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/blobs/uploads/"))
        .count();
    assert_eq!(uploads, 4, "one PUT per blob");

    // skopeo copies it back into a layout: same manifest, same blobs.
    let layout = tempfile::tempdir().unwrap();
    skopeo_copy_to_layout(&format!("docker://{destination}"), layout.path(), "back");
    let back = skopeo_inspect_store(layout.path(), "back");
    assert_eq!(back, skopeo_inspect_store(&world.root(), &source));

    // A second push sends no blob.
    proxy.clear_requests();
    let again = push_json(&world, &[&source, &destination]);
    assert_eq!(again["uploaded"], 0, "{again}");
    assert!(proxy
        .requests()
        .iter()
        .all(|r| r.method != "PUT" || r.path.contains("/manifests/")));
}

#[test]
fn a_failed_upload_is_tried_again() {
    let first = Registry::open();
    let (world, source) = pulled(&first);
    let second = Registry::open();
    let proxy = FaultProxy::in_front_of(&second);
    proxy.push_fault(Fault::Status {
        path_contains: "digest=sha256".into(),
        status: 503,
        times: 2,
    });
    let destination = format!("{}/retried/app:1", proxy.host());
    let report = push_json(&world, &[&source, &destination]);
    assert_eq!(report["uploaded"], 4, "{report}");
    assert!(proxy.pending_faults().is_empty(), "both failures were met");
    assert_pushed(&world, &source, &destination, None);
}

#[test]
fn pushing_with_basic_auth_uses_the_login() {
    let open = Registry::open();
    let (world, source) = pulled(&open);
    let private = Registry::basic_auth("alice", "secret");
    let destination = private.image_ref("private/app:1");
    // Without a login the registry refuses, and says what to do.
    world
        .run(&["push", &source, &destination])
        .assert_fails(4, &["denied", "imageadm login"]);
    world.ok(&["login", &private.host(), "-u", "alice", "-p", "secret"]);
    let report = push_json(&world, &[&source, &destination]);
    assert_eq!(report["uploaded"], 4, "{report}");
    let creds = ("alice".to_string(), "secret".to_string());
    assert_pushed(&world, &source, &destination, Some(&creds));
}

#[test]
fn pushing_what_is_not_there_or_to_nowhere_fails_clearly() {
    let registry = Registry::open();
    let (world, source) = pulled(&registry);
    world
        .run(&["push", "no/such:image", &registry.image_ref("x:1")])
        .assert_fails(3, &["no image no/such:image in the store"]);
    world
        .run(&["push", &source, "127.0.0.1:1/nowhere:1"])
        .assert_fails(1, &["127.0.0.1:1"]);
    world
        .run(&["push", &source, "Not A Reference"])
        .assert_fails(1, &["invalid image reference", "Not A Reference"]);
}

#[test]
fn pushing_with_token_auth_asks_for_push_access() {
    let open = Registry::open();
    let (world, source) = pulled(&open);
    let private = Registry::token_auth("alice", "secret");
    let destination = private.image_ref("tokens/app:1");
    world.ok(&["login", &private.host(), "-u", "alice", "-p", "secret"]);
    let report = push_json(&world, &[&source, &destination]);
    assert_eq!(report["uploaded"], 4, "{report}");
    let creds = ("alice".to_string(), "secret".to_string());
    assert_pushed(&world, &source, &destination, Some(&creds));
}

#[test]
fn large_blobs_go_in_chunks_and_a_failed_chunk_is_sent_again() {
    let first = Registry::open();
    let (world, source) = pulled(&first);
    let second = Registry::open();
    let proxy = FaultProxy::in_front_of(&second);
    // The first chunk request of a session fails once (before reaching the registry).
    proxy.push_fault(Fault::Status {
        path_contains: "_state=".into(),
        status: 503,
        times: 1,
    });
    let destination = format!("{}/chunked/app:1", proxy.host());
    let report = push_json(&world, &["--chunk-size", "65536", &source, &destination]);
    assert_eq!(report["uploaded"], 4, "{report}");
    let patches: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    // The busybox layer is about a megabyte: many chunks, each at most 64 KiB.
    assert!(patches.len() > 8, "{} PATCH requests", patches.len());
    assert!(proxy.pending_faults().is_empty());
    assert_pushed(&world, &source, &destination, None);
    // And skopeo can read every blob back (the chunks were put together right).
    let layout = tempfile::tempdir().unwrap();
    skopeo_copy_to_layout(&format!("docker://{destination}"), layout.path(), "back");
}

#[test]
fn a_multi_platform_index_goes_up_whole_and_by_digest() {
    require_tools(&["docker-registry", "skopeo"]);
    let first = Registry::open();
    let shared = aurora_testkit::LayerBuilder::new()
        .file("etc/motd", "shared\n", 0o644)
        .build();
    let index = ["linux/amd64", "linux/arm64"].iter().fold(
        aurora_testkit::IndexBuilder::new(),
        |index, platform| {
            index.image(
                aurora_testkit::ImageBuilder::new()
                    .platform(platform)
                    .layer(shared.clone())
                    .layer(
                        aurora_testkit::LayerBuilder::new()
                            .file("etc/platform", format!("{platform}\n"), 0o644)
                            .build(),
                    ),
            )
        },
    );
    let layout = tempfile::tempdir().unwrap();
    let built = index.write(layout.path(), "t");
    let opts = PushOpts {
        all_platforms: true,
        ..PushOpts::default()
    };
    aurora_testkit::skopeo_push(layout.path(), "t", &first.image_ref("multi/app:1"), &opts);
    let world = World::new();
    let source = first.image_ref("multi/app:1");
    world.ok(&["--quiet", "pull", "--all-platforms", &source]);

    let second = Registry::open();
    let destination = second.image_ref("copied/multi:1");
    let report = push_json(&world, &[&source, &destination]);
    // Two configs, the shared layer once, one layer each; two manifests and the index.
    assert_eq!(report["uploaded"], 5, "{report}");
    assert_eq!(report["manifests"], 3, "{report}");
    assert_eq!(report["digest"], built.index_digest.as_str(), "{report}");
    assert_pushed(&world, &source, &destination, None);
    // The children are there by digest, and the index can be pushed by digest too.
    let by_digest = second.image_ref(&format!("copied/multi@{}", built.index_digest));
    let again = push_json(&world, &[&source, &by_digest]);
    assert_eq!(again["uploaded"], 0, "{again}");
    assert_pushed(&world, &source, &by_digest, None);
}

#[test]
fn push_reports_each_blob_on_stderr_and_a_summary_on_stdout() {
    let first = Registry::open();
    let (world, source) = pulled(&first);
    let second = Registry::open();
    let destination = second.image_ref("lines/app:1");
    let run = world.ok(&["push", &source, &destination]);
    let uploads = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("Uploading blob "))
        .count();
    assert_eq!(uploads, 4, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with(&format!("Pushed {destination} (sha256:")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("4 blobs uploaded"), "{}", run.stdout);
    let again = world.ok(&["push", &source, &destination]);
    let skipped = again
        .stderr
        .lines()
        .filter(|l| l.ends_with("already in the repository"))
        .count();
    assert_eq!(skipped, 4, "{}", again.stderr);
}
