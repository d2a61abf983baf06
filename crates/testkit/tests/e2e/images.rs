use aurora_testkit::{
    host_platform, require_tools, skopeo_inspect_raw, skopeo_push, write_multi_platform_image,
    ImageBuilder, LayerBuilder, PushOpts, Registry,
};

use crate::json;

#[test]
fn pushes_a_multi_platform_index_with_all() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let layout = tempfile::tempdir().expect("tempdir");
    let platforms = ["linux/amd64", "linux/arm64", "linux/arm/v7"];
    let built = write_multi_platform_image(layout.path(), "multi", &platforms);
    let opts = PushOpts {
        all_platforms: true,
        ..PushOpts::default()
    };

    let pushed = skopeo_push(
        layout.path(),
        "multi",
        &registry.image_ref("multi:1"),
        &opts,
    );

    assert_eq!(pushed, built.index_digest);
    let index = json(&skopeo_inspect_raw(&registry.image_ref("multi:1"), None));
    assert_eq!(
        index["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(index["manifests"].as_array().map(Vec::len), Some(3));
    for image in &built.images {
        let by_digest = registry.image_ref(&format!("multi@{}", image.manifest_digest));
        assert_eq!(skopeo_inspect_raw(&by_digest, None), image.manifest);
    }
}

#[test]
fn pushes_as_docker_schema_2() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let layout = tempfile::tempdir().expect("tempdir");
    let image = ImageBuilder::new()
        .layer(LayerBuilder::busybox_rootfs().build())
        .layer(
            LayerBuilder::new()
                .file("app/data", "x", 0o644)
                .uncompressed()
                .build(),
        )
        .cmd(&["/bin/sh", "-c", "echo hi"])
        .write(layout.path(), "v1");
    let opts = PushOpts {
        docker_v2s2: true,
        ..PushOpts::default()
    };

    let pushed = skopeo_push(layout.path(), "v1", &registry.image_ref("docker:v1"), &opts);

    assert_ne!(pushed, image.manifest_digest, "converted manifest differs");
    let manifest = json(&skopeo_inspect_raw(&registry.image_ref("docker:v1"), None));
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(manifest["layers"].as_array().map(Vec::len), Some(2));
}

#[test]
fn pushing_an_index_without_all_sends_the_host_image() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let layout = tempfile::tempdir().expect("tempdir");
    let host = host_platform();
    let built = write_multi_platform_image(layout.path(), "multi", &[&host, "linux/s390x"]);

    let pushed = skopeo_push(
        layout.path(),
        "multi",
        &registry.image_ref("single:1"),
        &PushOpts::default(),
    );

    assert_eq!(pushed, built.image(&host).manifest_digest);
}
