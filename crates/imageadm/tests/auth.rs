//! Credentials end to end: `login` and `logout`, the auth files docker and podman keep, Basic
//! and token registries, and credentials kept from the hosts a registry redirects blob
//! downloads to.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use aurora_testkit::{
    require_tools, skopeo_push, BuiltImage, Fault, FaultProxy, ImageBuilder, LayerBuilder,
    PushOpts, Registry,
};
use common::{assert_same_files, snapshot, store_names, Run, World};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret:with colon";
/// What the registries' auth error says when no credentials were found.
const LOGIN_HINT: &str = "imageadm login";
/// What it says when stored credentials were sent and refused.
const REFUSED_HINT: &str = "refused";

// ---------------------------------------------------------------------------------------------
// Helpers

/// Builds an image of `layers` small layers into a fresh layout; returns the layout too, to
/// push the same image to several registries.
fn build_image(layers: usize) -> (tempfile::TempDir, BuiltImage) {
    let layout = tempfile::tempdir().expect("layout directory");
    let built = (0..layers)
        .map(|n| {
            LayerBuilder::new()
                .file(&format!("data/{n}.txt"), format!("layer {n}\n"), 0o644)
                .build()
        })
        .fold(ImageBuilder::new(), ImageBuilder::layer)
        .write(layout.path(), "t");
    (layout, built)
}

fn push_layout(layout: &Path, registry: &Registry, repo_tag: &str) {
    let opts = PushOpts {
        creds: registry.credentials(),
        ..PushOpts::default()
    };
    skopeo_push(layout, "t", &registry.image_ref(repo_tag), &opts);
}

/// A registry requiring `USER`/`PASSWORD` over HTTP Basic, holding `team/app:1`.
fn basic_registry() -> (Registry, BuiltImage) {
    require_tools(&["docker-registry", "skopeo", "htpasswd"]);
    let registry = Registry::basic_auth(USER, PASSWORD);
    let (layout, image) = build_image(2);
    push_layout(layout.path(), &registry, "team/app:1");
    (registry, image)
}

/// A registry using token auth for `USER`/`PASSWORD`, holding `team/app:1` of `layers` layers.
fn token_registry(layers: usize) -> (Registry, BuiltImage) {
    require_tools(&["docker-registry", "skopeo", "openssl"]);
    let registry = Registry::token_auth(USER, PASSWORD);
    let (layout, image) = build_image(layers);
    push_layout(layout.path(), &registry, "team/app:1");
    (registry, image)
}

/// Standard base64, as auth files hold `user:password`.
fn base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = byte(0) << 16 | byte(1) << 8 | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An auth file (docker's and podman's format) with one entry.
fn auth_file_text(registry: &str, user: &str, password: &str) -> String {
    serde_json::json!({"auths": {registry: {"auth": base64(&format!("{user}:{password}"))}}})
        .to_string()
}

fn write_file(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("a parent directory")).expect("directory");
    fs::write(path, text).expect("writing a file");
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).expect("reading a JSON file")).expect("JSON")
}

/// The world's empty HOME, where docker's and podman's files live.
fn home(world: &World) -> PathBuf {
    world.dir.path().join("home")
}

/// `imageadm login REGISTRY --username USER --password-stdin`, the password written to stdin.
fn login(world: &World, registry: &str, user: &str, password: &str) -> Run {
    let mut child = world
        .imageadm()
        .args(["login", registry, "--username", user, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run imageadm login");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("writing the password");
    Run::from(child.wait_with_output().expect("wait for imageadm login"))
}

fn run(command: &mut Command) -> Run {
    Run::from(command.output().expect("run imageadm"))
}

/// Asserts `run` succeeded and stored `reference` as `image`.
fn assert_pulled(run: &Run, world: &World, reference: &str, image: &BuiltImage) {
    assert_eq!(run.code, 0, "the pull should succeed:\n{run}");
    assert!(
        store_names(&world.root()).iter().any(|n| n == reference),
        "{reference} should be named in the store"
    );
    let manifest = world
        .root()
        .join("blobs/sha256")
        .join(&image.manifest_digest["sha256:".len()..]);
    assert_eq!(
        fs::read(&manifest).expect("the manifest is stored"),
        image.manifest
    );
}

/// For a failed first pull: the layout may exist, but holds no blob and names nothing.
fn assert_no_image(root: &Path) {
    let files = snapshot(root);
    let extra: Vec<&String> = files
        .keys()
        .filter(|name| *name != "oci-layout" && *name != "index.json")
        .collect();
    assert!(extra.is_empty(), "the store should hold no blob: {extra:?}");
    if files.contains_key("index.json") {
        assert_eq!(store_names(root), Vec::<String>::new());
    }
}

#[test]
fn base64_is_standard() {
    assert_eq!(base64("user:pass"), "dXNlcjpwYXNz");
    assert_eq!(base64("a"), "YQ==");
    assert_eq!(base64("ab"), "YWI=");
    assert_eq!(base64(""), "");
}

// ---------------------------------------------------------------------------------------------
// Basic auth: login, pull, logout

#[test]
fn basic_auth_needs_a_login_the_registry_accepts_and_logout_forgets_it() {
    let (registry, image) = basic_registry();
    let host = registry.host();
    let reference = registry.image_ref("team/app:1");
    let world = World::new();
    let authfile = world.authfile();

    // No credentials anywhere.
    let anonymous = world.run(&["pull", &reference]);
    anonymous.assert_fails(4, &[&reference, LOGIN_HINT]);
    assert_no_image(&world.root());

    // A wrong password is refused, and nothing is written.
    let wrong = login(&world, &host, USER, "wrong");
    wrong.assert_fails(4, &[&host, REFUSED_HINT]);
    assert!(!authfile.exists(), "a refused login writes no auth file");

    // The right one is kept, in docker's format, readable by its owner only.
    let right = login(&world, &host, USER, PASSWORD);
    assert_eq!(right.code, 0, "{right}");
    let saved = read_json(&authfile);
    assert_eq!(
        saved["auths"][&host]["auth"],
        base64(&format!("{USER}:{PASSWORD}")),
        "{saved}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(&authfile)
        .expect("auth file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "auth file mode {mode:o}");

    // A later wrong login leaves the saved credentials alone.
    let kept = fs::read(&authfile).expect("auth file");
    login(&world, &host, USER, "wrong").assert_fails(4, &[&host, REFUSED_HINT]);
    assert_eq!(fs::read(&authfile).expect("auth file"), kept);

    let pulled = world.run(&["pull", &reference]);
    assert_pulled(&pulled, &world, &reference, &image);

    // Logged out, the registry refuses again, and the store stays as it was.
    let logout = world.run(&["logout", &host]);
    assert_eq!(logout.code, 0, "{logout}");
    let saved = read_json(&authfile);
    assert!(saved["auths"].get(&host).is_none(), "{saved}");
    let before = snapshot(&world.root());
    world
        .run(&["pull", &reference])
        .assert_fails(4, &[&reference, LOGIN_HINT]);
    assert_same_files(&before, &snapshot(&world.root()));
}

// ---------------------------------------------------------------------------------------------
// Credentials from the files docker and podman keep

#[test]
fn credentials_are_read_from_docker_config_json() {
    let (registry, image) = basic_registry();
    let reference = registry.image_ref("team/app:1");
    let world = World::new();
    let docker_config = home(&world).join(".docker/config.json");
    let pull = || {
        run(world
            .imageadm()
            .env_remove("REGISTRY_AUTH_FILE")
            .args(["pull", &reference]))
    };

    pull().assert_fails(4, &[&reference, LOGIN_HINT]);
    assert_no_image(&world.root());
    write_file(
        &docker_config,
        &auth_file_text(&registry.host(), USER, PASSWORD),
    );
    assert_pulled(&pull(), &world, &reference, &image);
}

#[test]
fn credentials_are_read_from_podman_auth_json_first() {
    let (registry, image) = basic_registry();
    let host = registry.host();
    let reference = registry.image_ref("team/app:1");
    let world = World::new();
    let runtime_dir = world.dir.path().join("run");
    let pull = || {
        run(world
            .imageadm()
            .env_remove("REGISTRY_AUTH_FILE")
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .args(["pull", &reference]))
    };
    // Wrong credentials in the files read later: $XDG_RUNTIME_DIR/containers/auth.json comes
    // before ~/.config/containers/auth.json, which comes before docker's config.json.
    write_file(
        &home(&world).join(".docker/config.json"),
        &auth_file_text(&host, USER, "wrong"),
    );
    pull().assert_fails(4, &[&reference, REFUSED_HINT]);
    assert_no_image(&world.root());
    write_file(
        &home(&world).join(".config/containers/auth.json"),
        &auth_file_text(&host, USER, PASSWORD),
    );
    assert_pulled(&pull(), &world, &reference, &image);
    write_file(
        &runtime_dir.join("containers/auth.json"),
        &auth_file_text(&host, USER, "wrong again"),
    );
    let before = snapshot(&world.root());
    pull().assert_fails(4, &[&reference, REFUSED_HINT]);
    assert_same_files(&before, &snapshot(&world.root()));
    write_file(
        &runtime_dir.join("containers/auth.json"),
        &auth_file_text(&host, USER, PASSWORD),
    );
    assert_pulled(&pull(), &world, &reference, &image);
}

#[test]
fn authfile_option_is_read_instead_of_the_other_files() {
    let (registry, image) = basic_registry();
    let host = registry.host();
    let reference = registry.image_ref("team/app:1");
    let world = World::new();
    // $REGISTRY_AUTH_FILE (the world's) and docker's file hold wrong credentials.
    write_file(&world.authfile(), &auth_file_text(&host, USER, "wrong"));
    write_file(
        &home(&world).join(".docker/config.json"),
        &auth_file_text(&host, USER, "wrong"),
    );
    let chosen = world.dir.path().join("chosen.json");
    write_file(&chosen, &auth_file_text(&host, USER, PASSWORD));

    world
        .run(&["pull", &reference])
        .assert_fails(4, &[&reference, REFUSED_HINT]);
    assert_no_image(&world.root());
    let pulled = run(world
        .imageadm()
        .arg("--authfile")
        .arg(&chosen)
        .args(["pull", &reference]));
    assert_pulled(&pulled, &world, &reference, &image);
}

#[test]
fn stored_credentials_the_registry_refuses_are_reported_as_refused() {
    let (registry, _) = basic_registry();
    let host = registry.host();
    let reference = registry.image_ref("team/app:1");
    let world = World::new();
    write_file(&world.authfile(), &auth_file_text(&host, USER, "stale"));

    let refused = world.run(&["pull", &reference]);

    refused.assert_fails(4, &[&reference, REFUSED_HINT, LOGIN_HINT]);
    assert_no_image(&world.root());
}

// ---------------------------------------------------------------------------------------------
// Token auth

#[test]
fn token_auth_pull_asks_for_one_pull_token_with_credentials() {
    let (registry, image) = token_registry(4);
    let reference = registry.image_ref("team/app:1");
    let world = World::new();
    write_file(
        &world.authfile(),
        &auth_file_text(&registry.host(), USER, PASSWORD),
    );
    let earlier = registry.token_requests(); // the push's

    let pulled = world.run(&["pull", &reference]);

    assert_pulled(&pulled, &world, &reference, &image);
    let asked = &registry.token_request_log()[earlier..];
    // Six documents (manifest, config, four layers) in all: a token is reused, not asked
    // for each.
    assert!(
        (1..=2).contains(&asked.len()),
        "token requests for one pull: {asked:#?}"
    );
    for request in asked {
        assert!(request.had_credentials, "{request:?}");
        assert_eq!(request.scopes, ["repository:team/app:pull"], "{request:?}");
        assert_eq!(request.status, 200);
    }
}

#[test]
fn token_auth_refuses_anonymous_pulls() {
    let (registry, _) = token_registry(1);
    let reference = registry.image_ref("team/app:1");
    let world = World::new();
    let earlier = registry.token_requests();

    let refused = world.run(&["pull", &reference]);

    refused.assert_fails(4, &[&reference, LOGIN_HINT]);
    assert_no_image(&world.root());
    let asked = &registry.token_request_log()[earlier..];
    assert!(!asked.is_empty(), "an anonymous token was asked for");
    assert!(asked.iter().all(|r| !r.had_credentials), "{asked:#?}");
}

#[test]
fn token_auth_refuses_wrong_credentials_and_login_checks_them() {
    let (registry, image) = token_registry(1);
    let host = registry.host();
    let reference = registry.image_ref("team/app:1");
    let world = World::new();

    login(&world, &host, USER, "wrong").assert_fails(4, &[&host, REFUSED_HINT]);
    assert!(!world.authfile().exists());
    write_file(&world.authfile(), &auth_file_text(&host, USER, "wrong"));
    world
        .run(&["pull", &reference])
        .assert_fails(4, &[&reference, REFUSED_HINT, LOGIN_HINT]);
    assert_no_image(&world.root());

    let right = login(&world, &host, USER, PASSWORD);
    assert_eq!(right.code, 0, "{right}");
    assert_pulled(
        &world.run(&["pull", &reference]),
        &world,
        &reference,
        &image,
    );
}

/// A token service may claim any lifetime; one near `u64::MAX` seconds is taken as long but
/// bounded (it once overflowed the clock and panicked the pull): the pull works, and the token
/// is reused rather than asked for again.
#[test]
fn token_lifetimes_near_u64_max_are_bounded_not_overflowed() {
    // skopeo (Go, an int) cannot take such a claim: push first, then make it.
    let (registry, image) = token_registry(3);
    let reference = registry.image_ref("team/app:1");
    for expires_in in [u64::MAX, 1 << 63, u64::MAX / 1000] {
        registry.claim_token_lifetime(expires_in);
        let world = World::new();
        write_file(
            &world.authfile(),
            &auth_file_text(&registry.host(), USER, PASSWORD),
        );
        let earlier = registry.token_requests();

        let pulled = world.run(&["pull", &reference]);

        assert_pulled(&pulled, &world, &reference, &image);
        assert!(!pulled.stderr.contains("panicked"), "{pulled}");
        let asked = &registry.token_request_log()[earlier..];
        assert!(
            (1..=2).contains(&asked.len()),
            "expires_in {expires_in}: token requests for one pull: {asked:#?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Credentials stay with their origin

/// The private registry behind proxy A redirects every blob download to proxy B, another
/// origin (another port), in front of an open registry holding the same image: the way a
/// registry hands blobs to its storage or a CDN. B must never see the credentials or token
/// that A's requests carry, and the pull must still succeed (B serves without them).
///
/// B forwards to a second, open registry holding the same image (pushed from the same
/// layout, so the digests are the same), rather than to the private registry with auth
/// turned off: a registry process has one auth configuration, and the testkit starts each
/// with its own storage.
fn credentials_stay_with_their_origin(private: Registry) {
    require_tools(&["docker-registry", "skopeo"]);
    let public = Registry::open();
    let (layout, image) = build_image(2);
    push_layout(layout.path(), &private, "team/app:1");
    push_layout(layout.path(), &public, "team/app:1");
    let front = FaultProxy::in_front_of(&private);
    let storage = FaultProxy::in_front_of(&public);
    let blobs = image.layers.len() + 1;
    front.push_fault(Fault::Redirect {
        path_contains: "/blobs/".into(),
        to: storage.base_url(),
        status: 307,
        times: blobs,
    });
    let world = World::new();
    write_file(
        &world.authfile(),
        &auth_file_text(&front.host(), USER, PASSWORD),
    );
    let reference = format!("{}/team/app:1", front.host());

    let pulled = world.run(&["pull", &reference]);

    assert_pulled(&pulled, &world, &reference, &image);
    assert!(
        front.pending_faults().is_empty(),
        "every blob was redirected"
    );
    let redirected = front.requests_to("/blobs/");
    assert_eq!(redirected.len(), blobs, "{redirected:#?}");
    for request in &redirected {
        assert!(
            request.authorization,
            "A's blob requests carry credentials: {request:?}"
        );
        assert_eq!(request.status, Some(307));
    }
    let followed = storage.requests();
    let paths: BTreeSet<String> = followed.iter().map(|r| r.path.clone()).collect();
    let expected: BTreeSet<String> = image
        .layers
        .iter()
        .map(|l| &l.digest)
        .chain([&image.config_digest])
        .map(|d| format!("/v2/team/app/blobs/{d}"))
        .collect();
    assert_eq!(paths, expected, "B served every blob");
    for request in &followed {
        assert!(
            !request.authorization,
            "credentials must not follow a redirect to another origin: {request:?}"
        );
        assert_eq!(request.status, Some(200));
    }
}

#[test]
fn basic_credentials_are_not_sent_where_blobs_are_redirected() {
    require_tools(&["htpasswd"]);
    credentials_stay_with_their_origin(Registry::basic_auth(USER, PASSWORD));
}

#[test]
fn tokens_are_not_sent_where_blobs_are_redirected() {
    require_tools(&["openssl"]);
    credentials_stay_with_their_origin(Registry::token_auth(USER, PASSWORD));
}

/// The private registry behind proxy A redirects blob downloads to B, a host that answers
/// 401 with a Bearer challenge whose realm is C, a collector that would hand out a token to
/// anyone. Only A's origin may see the registry's credentials: the challenge from B is not
/// answered with them (nor with a token got with them), C never sees a credential, nothing
/// learned from B is used for A, and the pull fails naming B's host.
fn challenge_from_a_redirect_target_is_not_answered(private: Registry) {
    require_tools(&["docker-registry", "skopeo"]);
    let (layout, _) = build_image(1);
    push_layout(layout.path(), &private, "team/app:1");
    let front = FaultProxy::in_front_of(&private);
    // B and C answer everything themselves: their upstream is a port nobody listens on.
    let storage = FaultProxy::start("127.0.0.1:1");
    let collector = FaultProxy::start("127.0.0.1:1");
    collector.push_fault(Fault::ReplaceBody {
        path_contains: "/".into(),
        status: 200,
        content_type: "application/json".into(),
        body: br#"{"token":"collected","expires_in":300}"#.to_vec(),
        times: 100,
    });
    storage.push_fault(Fault::Challenge {
        path_contains: "/blobs/".into(),
        challenge: format!(
            r#"Bearer realm="{}/token",service="storage",scope="repository:team/app:pull""#,
            collector.base_url()
        ),
        times: 100,
    });
    front.push_fault(Fault::Redirect {
        path_contains: "/blobs/".into(),
        to: storage.base_url(),
        status: 307,
        times: 100,
    });
    let world = World::new();
    write_file(
        &world.authfile(),
        &auth_file_text(&front.host(), USER, PASSWORD),
    );
    let reference = format!("{}/team/app:1", front.host());

    let refused = world.run(&["pull", &reference]);

    let asked = storage.requests_to("/blobs/");
    assert!(!asked.is_empty(), "the blob store was asked: {asked:#?}");
    for request in &asked {
        assert!(
            !request.authorization,
            "credentials must not follow a redirect: {request:?}"
        );
        assert_eq!(request.status, Some(401));
    }
    for request in collector.requests() {
        assert!(
            !request.authorization,
            "the collector must never see a credential: {request:?}"
        );
        // The password's first word survives any encoding of it in a query.
        let query = request.query.clone().unwrap_or_default();
        assert!(
            !query.contains("s3cret"),
            "password in a query: {request:?}"
        );
    }
    // Nothing learned from B's challenge was used for A: A refused only the first, anonymous
    // request (its own challenge), never a token from C.
    let refused_by_a = front
        .requests()
        .into_iter()
        .filter(|r| r.status == Some(401))
        .count();
    assert!(refused_by_a <= 1, "A refused {refused_by_a} requests");
    refused.assert_fails(4, &[&storage.host(), "redirected"]);
    assert_no_image(&world.root());
}

#[test]
fn a_bearer_challenge_from_a_redirect_target_gets_no_token_credentials() {
    require_tools(&["openssl"]);
    challenge_from_a_redirect_target_is_not_answered(Registry::token_auth(USER, PASSWORD));
}

#[test]
fn a_bearer_challenge_from_a_redirect_target_gets_no_basic_credentials() {
    require_tools(&["htpasswd"]);
    challenge_from_a_redirect_target_is_not_answered(Registry::basic_auth(USER, PASSWORD));
}
