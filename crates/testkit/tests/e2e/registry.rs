use aurora_testkit::{
    require_tools, skopeo_inspect_raw, skopeo_push, try_skopeo_inspect_raw, try_skopeo_push,
    PushOpts, Registry,
};

use crate::{json, small_image};

fn creds(user: &str, password: &str) -> Option<(String, String)> {
    Some((user.to_string(), password.to_string()))
}

#[test]
fn open_registry_round_trips_an_image() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let layout = tempfile::tempdir().expect("tempdir");
    let image = small_image(layout.path(), "v1");

    let pushed = skopeo_push(
        layout.path(),
        "v1",
        &registry.image_ref("demo/app:v1"),
        &PushOpts::default(),
    );

    assert_eq!(
        pushed, image.manifest_digest,
        "OCI manifest pushed unchanged"
    );
    let raw = skopeo_inspect_raw(&registry.image_ref("demo/app:v1"), None);
    assert_eq!(raw, image.manifest);
    let blob = registry.blob_data_path(&image.layers[0].digest);
    assert_eq!(
        std::fs::metadata(&blob).expect("layer blob on disk").len(),
        image.layers[0].size
    );
    assert!(registry.credentials().is_none());
}

#[test]
fn basic_auth_registry_requires_credentials() {
    require_tools(&["docker-registry", "skopeo", "htpasswd"]);
    let registry = Registry::basic_auth("alice", "s3cret");
    let layout = tempfile::tempdir().expect("tempdir");
    let image = small_image(layout.path(), "v1");
    let reference = registry.image_ref("private/app:v1");

    let anonymous = try_skopeo_push(layout.path(), "v1", &reference, &PushOpts::default());
    assert!(anonymous.is_err(), "anonymous push must be refused");
    let opts = PushOpts {
        creds: registry.credentials(),
        ..PushOpts::default()
    };
    skopeo_push(layout.path(), "v1", &reference, &opts);

    let raw = skopeo_inspect_raw(&reference, registry.credentials().as_ref());
    assert_eq!(raw, image.manifest);
    assert!(try_skopeo_inspect_raw(&reference, None).is_err());
    assert!(try_skopeo_inspect_raw(&reference, creds("alice", "wrong").as_ref()).is_err());
}

#[test]
fn token_auth_registry_accepts_tokens_and_refuses_anonymous_pull() {
    require_tools(&["docker-registry", "skopeo", "openssl"]);
    let registry = Registry::token_auth("bob", "hunter2");
    let layout = tempfile::tempdir().expect("tempdir");
    let image = small_image(layout.path(), "v1");
    let reference = registry.image_ref("team/app:v1");
    let opts = PushOpts {
        creds: registry.credentials(),
        ..PushOpts::default()
    };

    skopeo_push(layout.path(), "v1", &reference, &opts);
    assert!(registry.token_requests() > 0);
    assert!(registry
        .token_request_log()
        .iter()
        .all(|r| r.had_credentials));

    let raw = skopeo_inspect_raw(&reference, registry.credentials().as_ref());
    assert_eq!(raw, image.manifest);

    let before = registry.token_requests();
    let refused = try_skopeo_inspect_raw(&reference, None).expect_err("anonymous pull refused");
    assert!(
        refused.contains("unauthorized") || refused.contains("denied"),
        "unexpected refusal: {refused}"
    );
    let anonymous = &registry.token_request_log()[before..];
    assert!(!anonymous.is_empty() && anonymous.iter().all(|r| !r.had_credentials));

    let wrong = try_skopeo_inspect_raw(&reference, creds("bob", "nope").as_ref());
    assert!(wrong.is_err(), "wrong password refused");
    assert!(registry.token_request_log().iter().any(|r| r.status == 401));
}

#[test]
fn token_auth_with_anonymous_pull_serves_the_public() {
    require_tools(&["docker-registry", "skopeo", "openssl"]);
    let registry = Registry::token_auth_anonymous_pull("carol", "pw");
    let layout = tempfile::tempdir().expect("tempdir");
    small_image(layout.path(), "v1");
    let reference = registry.image_ref("public/app:v1");

    assert!(try_skopeo_push(layout.path(), "v1", &reference, &PushOpts::default()).is_err());
    let opts = PushOpts {
        creds: registry.credentials(),
        ..PushOpts::default()
    };
    skopeo_push(layout.path(), "v1", &reference, &opts);
    let raw = skopeo_inspect_raw(&reference, None);
    assert_eq!(json(&raw)["schemaVersion"], 2);
}

#[test]
fn registries_start_concurrently_on_distinct_ports() {
    require_tools(&["docker-registry"]);
    let registries: Vec<Registry> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4).map(|_| scope.spawn(Registry::open)).collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("registry thread"))
            .collect()
    });
    let mut hosts: Vec<String> = registries.iter().map(Registry::host).collect();
    hosts.sort();
    hosts.dedup();
    assert_eq!(hosts.len(), 4);
}

#[test]
fn dropping_a_registry_stops_it() {
    require_tools(&["docker-registry"]);
    let registry = Registry::open();
    let host = registry.host();
    let storage = registry.storage_dir().to_path_buf();
    drop(registry);
    assert!(
        std::net::TcpStream::connect(&host).is_err(),
        "still listening"
    );
    assert!(!storage.exists(), "storage not cleaned up");
}
