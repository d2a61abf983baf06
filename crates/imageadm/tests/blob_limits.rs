//! Blob sizes are bounded: a descriptor claiming more than `max_blob_size` (64 GiB unless
//! `[limits]` in the config file says otherwise) fails the pull before any blob is downloaded,
//! and the store is left as it was.

mod common;

use std::fs;

use aurora_testkit::{require_tools, FaultProxy, PushOpts, Registry};
use common::{push_image, snapshot, store_names, World};
use serde_json::Value;

/// What the default limit is, as the error prints it.
const DEFAULT_LIMIT: &str = "68719476736";

/// `imageadm ARGS…` in `world` with `config` as its config file.
fn run_with_config(world: &World, config: &str, args: &[&str]) -> common::Run {
    let path = world.dir.path().join("aurora.toml");
    fs::write(&path, config).expect("writing the config file");
    common::Run::from(
        world
            .imageadm()
            .env("AURORA_CONFIG", &path)
            .args(args)
            .output()
            .expect("run imageadm"),
    )
}

/// The blob GETs the proxy saw.
fn blob_gets(proxy: &FaultProxy) -> Vec<String> {
    proxy
        .requests_to("/blobs/")
        .into_iter()
        .filter(|r| r.method == "GET")
        .map(|r| r.path)
        .collect()
}

#[test]
fn a_layer_said_to_be_2_pow_62_bytes_is_refused_before_any_download() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let honest = push_image(&registry, "team/app:1", 1, &PushOpts::default());
    push_image(&registry, "team/other:1", 0, &PushOpts::default());
    // The same image, but its last layer's descriptor lies about its size. The registry
    // stores it: it checks that the blob exists, not the size claimed for it.
    let mut manifest: Value = serde_json::from_slice(&honest.manifest).expect("manifest JSON");
    let huge: u64 = 1 << 62;
    manifest["layers"][1]["size"] = huge.into();
    let media_type = manifest["mediaType"]
        .as_str()
        .unwrap_or("application/vnd.oci.image.manifest.v1+json")
        .to_string();
    let status = registry.put_manifest(
        "team/app",
        "huge",
        &media_type,
        &serde_json::to_vec(&manifest).expect("JSON"),
    );
    assert_eq!(status, 201, "the registry stores the lying manifest");
    let lying_digest = honest.layers[1].digest.clone();
    let proxy = FaultProxy::in_front_of(&registry);
    let world = World::new();
    world.ok(&["pull", &format!("{}/team/other:1", proxy.host())]);
    let before = snapshot(&world.root());
    proxy.clear_requests();

    let refused = world.run(&["pull", &format!("{}/team/app:huge", proxy.host())]);

    assert_eq!(
        blob_gets(&proxy),
        Vec::<String>::new(),
        "no blob is downloaded for an image with a blob over the limit"
    );
    refused.assert_fails(
        1,
        &[
            &lying_digest,
            &huge.to_string(),
            DEFAULT_LIMIT,
            "max_blob_size",
        ],
    );
    assert_eq!(snapshot(&world.root()), before, "the store is unchanged");
    assert!(
        !store_names(&world.root())
            .iter()
            .any(|n| n.contains("huge")),
        "nothing is named"
    );

    // A copy out of the registry pulls the same way, and is refused the same way.
    let out = world.dir.path().join("out");
    let copied = world.run(&[
        "copy",
        &format!("docker://{}/team/app:huge", proxy.host()),
        &format!("oci:{}:huge", out.display()),
    ]);
    assert_eq!(blob_gets(&proxy), Vec::<String>::new(), "copy downloaded");
    copied.assert_fails(1, &[&lying_digest, "max_blob_size"]);
    assert_eq!(snapshot(&world.root()), before, "the store is unchanged");
}

#[test]
fn max_blob_size_in_the_config_file_bounds_layers_and_configs() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let image = push_image(&registry, "team/app:1", 1, &PushOpts::default());
    let proxy = FaultProxy::in_front_of(&registry);
    let reference = format!("{}/team/app:1", proxy.host());
    let world = World::new();
    let largest = image.layers.iter().max_by_key(|l| l.size).expect("a layer");
    assert!(largest.size > 1024 && image.config_size < 1024);

    // 1 KiB: the busybox layer is over it.
    let refused = run_with_config(
        &world,
        "[limits]\nmax_blob_size = \"1KiB\"\n",
        &["pull", &reference],
    );
    assert_eq!(
        blob_gets(&proxy),
        Vec::<String>::new(),
        "nothing downloaded"
    );
    refused.assert_fails(
        1,
        &[
            &largest.digest,
            &largest.size.to_string(),
            "1024",
            "max_blob_size",
        ],
    );
    assert!(
        snapshot(&world.root())
            .keys()
            .all(|k| !k.starts_with("blobs/")),
        "no blob is stored"
    );

    // Below the config's size: the config is bounded by the same limit.
    let limit = image.config_size - 1;
    let refused = run_with_config(
        &world,
        &format!("[limits]\nmax_blob_size = {limit}\n"),
        &["pull", &reference],
    );
    assert_eq!(
        blob_gets(&proxy),
        Vec::<String>::new(),
        "nothing downloaded"
    );
    refused.assert_fails(1, &[&image.config_digest, &limit.to_string()]);

    // A limit the image fits in.
    let pulled = run_with_config(
        &world,
        "[limits]\nmax_blob_size = \"64MiB\"\n",
        &["pull", &reference],
    );
    assert_eq!(pulled.code, 0, "{pulled}");
    assert_eq!(store_names(&world.root()), vec![reference.clone()]);
    // A size that is not one is refused by name.
    run_with_config(
        &world,
        "[limits]\nmax_blob_size = \"lots\"\n",
        &["pull", &reference],
    )
    .assert_fails(1, &["lots", "aurora.toml"]);
}
