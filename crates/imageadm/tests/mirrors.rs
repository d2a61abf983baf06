//! Registry mirrors end to end (`[[registries.mirror]]` in the config file), against real
//! `docker-registry` processes on loopback: an image of `registry.k8s.io` pulled from a
//! mirror keeps its own name and digest and the real host is never contacted; mirrors without
//! the image, or unreachable, fall through to the next source; the registry's credentials
//! never reach a mirror, which gets its own; pushes never use mirrors.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aurora_testkit::{require_tools, FaultProxy, PushOpts, Registry};
use common::{push_image, store_names, Run, World};

/// Stands in for every host that is not on loopback: `HTTP(S)_PROXY` points at it (loopback
/// itself is exempt through `NO_PROXY`), so any attempt to reach a real registry shows up
/// here as the first line of a request (`CONNECT registry.k8s.io:443 …`) and goes no further.
struct Elsewhere {
    address: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Elsewhere {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        // Lives until the test process ends: each test has its own.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut line = String::new();
                let _ = BufReader::new(&stream).read_line(&mut line);
                log.lock().unwrap().push(line.trim_end().to_string());
            }
        });
        Elsewhere { address, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// A world whose imageadm reads `config` and reaches non-loopback hosts only through
/// `elsewhere`.
struct Mirrored {
    world: World,
    config: PathBuf,
    elsewhere: Elsewhere,
}

impl Mirrored {
    fn new(config: &str) -> Self {
        let world = World::new();
        let path = world.dir.path().join("aurora.toml");
        fs::write(&path, config).expect("config file");
        Mirrored {
            world,
            config: path,
            elsewhere: Elsewhere::start(),
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        let proxy = format!("http://{}", self.elsewhere.address);
        let mut command = self.world.imageadm();
        command
            .env("AURORA_CONFIG", &self.config)
            .env("HTTPS_PROXY", &proxy)
            .env("HTTP_PROXY", &proxy)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env_remove("ALL_PROXY")
            .args(args);
        Run::from(command.output().expect("run imageadm"))
    }

    fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, 0, "imageadm {args:?} failed:\n{run}");
        run
    }
}

fn mirror_config(registry: &str, endpoints: &[String]) -> String {
    let quoted: Vec<String> = endpoints.iter().map(|e| format!("{e:?}")).collect();
    format!(
        "[[registries.mirror]]\nregistry = {registry:?}\nendpoints = [{}]\n",
        quoted.join(", ")
    )
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

fn write_auth(path: &Path, entries: &[(String, (String, String))]) {
    let auths: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|(host, (user, password))| {
            (
                host.clone(),
                serde_json::json!({"auth": base64_encode(&format!("{user}:{password}"))}),
            )
        })
        .collect();
    fs::write(path, serde_json::json!({ "auths": auths }).to_string()).expect("auth file");
}

fn base64_encode(text: &str) -> String {
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

#[test]
fn an_image_pulled_from_a_mirror_keeps_its_name_and_digest_and_the_registry_is_never_asked() {
    require_tools(&["docker-registry", "skopeo"]);
    let mirror = Registry::open();
    let built = push_image(&mirror, "x/y:1", 1, &PushOpts::default());
    let world = Mirrored::new(&mirror_config(
        "registry.k8s.io",
        &[format!("http://{}", mirror.host())],
    ));

    let pulled = world
        .ok(&["--format", "json", "pull", "registry.k8s.io/x/y:1"])
        .json();
    assert_eq!(pulled["name"], "registry.k8s.io/x/y:1");
    assert_eq!(pulled["digest"], built.manifest_digest);
    let names = store_names(&world.world.root());
    assert_eq!(names, ["registry.k8s.io/x/y:1"]);

    // By digest: the mirror's manifest is checked against the digest asked for.
    let pinned = format!("registry.k8s.io/x/y@{}", built.manifest_digest);
    let pulled = world.ok(&["--format", "json", "pull", &pinned]).json();
    assert_eq!(pulled["name"], pinned);
    assert_eq!(pulled["digest"], built.manifest_digest);
    assert_eq!(world.elsewhere.seen(), Vec::<String>::new());

    // The check above can see an attempt: an image the mirror lacks goes to the registry.
    let run = world.run(&["pull", "registry.k8s.io/x/absent:1"]);
    assert_ne!(run.code, 0, "{run}");
    assert!(
        world
            .elsewhere
            .seen()
            .iter()
            .any(|line| line.starts_with("CONNECT registry.k8s.io:443")),
        "{:?}",
        world.elsewhere.seen()
    );
}

#[test]
fn mirrors_without_the_image_or_unreachable_fall_through_to_the_next() {
    require_tools(&["docker-registry", "skopeo"]);
    let empty = Registry::open();
    let empty_proxy = FaultProxy::in_front_of(&empty);
    let full = Registry::open();
    let full_proxy = FaultProxy::in_front_of(&full);
    let built = push_image(
        &full,
        "e2e-test-images/busybox:1.29-2",
        1,
        &PushOpts::default(),
    );
    let world = Mirrored::new(&mirror_config(
        "registry.k8s.io",
        &[
            format!("http://127.0.0.1:{}", closed_port()),
            format!("http://{}", empty_proxy.host()),
            format!("http://{}", full_proxy.host()),
        ],
    ));

    let reference = "registry.k8s.io/e2e-test-images/busybox:1.29-2";
    let pulled = world.ok(&["--format", "json", "pull", reference]).json();
    assert_eq!(pulled["name"], reference);
    assert_eq!(pulled["digest"], built.manifest_digest);

    let asked = empty_proxy.requests_to("/manifests/1.29-2");
    assert!(
        !asked.is_empty() && asked.iter().all(|r| r.status == Some(404)),
        "{asked:?}"
    );
    assert!(full_proxy
        .requests_to("/blobs/")
        .iter()
        .all(|r| r.status == Some(200)));
    assert_eq!(
        full_proxy.requests_to("/blobs/").len(),
        built.layers.len() + 1
    );
    assert_eq!(world.elsewhere.seen(), Vec::<String>::new());
}

#[test]
fn the_registrys_credentials_never_reach_a_mirror_which_gets_its_own() {
    require_tools(&["docker-registry", "skopeo", "htpasswd"]);
    let registry = Registry::basic_auth("alice", "registry-secret");
    let registry_proxy = FaultProxy::in_front_of(&registry);
    let mirror = Registry::basic_auth("bob", "mirror-secret");
    let mirror_proxy = FaultProxy::in_front_of(&mirror);
    let built = push_image(&registry, "team/app:1", 1, &PushOpts::default());
    push_image(&mirror, "team/app:1", 1, &PushOpts::default());
    let registry_host = registry_proxy.host();
    let reference = format!("{registry_host}/team/app:1");
    let config = mirror_config(&registry_host, &[format!("http://{}", mirror_proxy.host())]);

    // Only the registry's credentials: the mirror asks for its own, gets none, and the pull
    // falls through to the registry.
    let world = Mirrored::new(&config);
    let alice = ("alice".to_string(), "registry-secret".to_string());
    write_auth(
        &world.world.authfile(),
        &[(registry_host.clone(), alice.clone())],
    );
    let pulled = world.ok(&["--format", "json", "pull", &reference]).json();
    assert_eq!(pulled["digest"], built.manifest_digest);
    let to_mirror = mirror_proxy.requests();
    assert!(!to_mirror.is_empty());
    assert!(
        to_mirror.iter().all(|r| !r.authorization),
        "credentials went to the mirror: {to_mirror:?}"
    );
    assert!(registry_proxy
        .requests_to("/blobs/")
        .iter()
        .all(|r| r.authorization && r.status == Some(200)));

    // With the mirror's own credentials stored under its host, the mirror serves the pull
    // and the registry is not asked at all.
    mirror_proxy.clear_requests();
    registry_proxy.clear_requests();
    let world = Mirrored::new(&config);
    let bob = ("bob".to_string(), "mirror-secret".to_string());
    write_auth(
        &world.world.authfile(),
        &[(registry_host, alice), (mirror_proxy.host(), bob)],
    );
    let pulled = world.ok(&["--format", "json", "pull", &reference]).json();
    assert_eq!(pulled["name"], reference);
    assert!(mirror_proxy
        .requests_to("/blobs/")
        .iter()
        .all(|r| r.authorization && r.status == Some(200)));
    assert_eq!(registry_proxy.requests(), Vec::new());
}

#[test]
fn pushes_never_use_mirrors() {
    require_tools(&["docker-registry", "skopeo"]);
    let registry = Registry::open();
    let registry_proxy = FaultProxy::in_front_of(&registry);
    let mirror = Registry::open();
    let mirror_proxy = FaultProxy::in_front_of(&mirror);
    push_image(&mirror, "team/app:1", 1, &PushOpts::default());
    let registry_host = registry_proxy.host();
    let world = Mirrored::new(&mirror_config(
        &registry_host,
        &[format!("http://{}", mirror_proxy.host())],
    ));

    let reference = format!("{registry_host}/team/app:1");
    world.ok(&["pull", &reference]);
    assert_eq!(registry_proxy.requests(), Vec::new());
    mirror_proxy.clear_requests();
    world.ok(&["push", &reference]);
    assert_eq!(mirror_proxy.requests(), Vec::new());
    assert!(registry_proxy
        .requests()
        .iter()
        .any(|r| r.method == "PUT" && r.path == "/v2/team/app/manifests/1"));
}
