//! A real `docker-registry` (distribution 2.8) process per test, so pulls are
//! tested against the same server behaviour users meet, not a mock.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::http::{get_head, header_str, put};
use crate::token::{TokenRequest, TokenService, ISSUER, SERVICE};
use crate::tools::{require_tools, run_checked};

/// Header the registry adds to every response (via its `http.headers`
/// config) so the start-up probe knows it reached *this* registry and not
/// another test's process that grabbed the same port.
const INSTANCE_HEADER: &str = "X-Aurora-Testkit-Instance";
/// How many ports to try before giving up on starting a registry.
const START_ATTEMPTS: usize = 5;
/// How long a registry may take to answer `/v2/` after being spawned (it
/// usually takes well under a second).
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `docker-registry` on `127.0.0.1:<free port>` with its storage
/// in a temporary directory. Killed, waited for and deleted on drop.
pub struct Registry {
    child: Child,
    host: String,
    storage: PathBuf,
    dir: TempDir,
    credentials: Option<(String, String)>,
    token_service: Option<TokenService>,
}

/// Why one start attempt failed.
enum StartError {
    /// Another process took the port between our probe and the registry's
    /// bind; worth retrying on another port.
    PortTaken,
    /// The registry runs but nothing that is ours answered on its port in time:
    /// the port may be claimed by something that is not a listener (a leftover
    /// DNAT rule, say). Worth retrying on another port; the text says what was seen.
    NoAnswer(String),
    /// Anything else: report it.
    Failed(String),
}

impl Registry {
    /// A registry that allows anonymous pull and push.
    pub fn open() -> Self {
        Self::start(new_dir(), Value::Null, None, None)
    }

    /// A registry requiring HTTP Basic auth (htpasswd, bcrypt) for `user`.
    pub fn basic_auth(user: &str, password: &str) -> Self {
        require_tools(&["htpasswd"]);
        let dir = new_dir();
        let htpasswd = dir.path().join("htpasswd");
        let output = run_checked(
            Command::new("htpasswd").args(["-Bbn", user, password]),
            "creating the htpasswd file",
        );
        std::fs::write(&htpasswd, output.stdout).expect("writing the htpasswd file");
        let auth = json!({"htpasswd": {"realm": "aurora-testkit", "path": htpasswd}});
        Self::start(dir, auth, Some((user, password)), None)
    }

    /// A registry using Docker token auth, backed by an in-process token
    /// service: `user` gets whatever they ask for, wrong credentials get 401,
    /// anonymous callers get a token granting nothing.
    pub fn token_auth(user: &str, password: &str) -> Self {
        Self::with_token_service(TokenService::start(user, password, false), user, password)
    }

    /// Like [`Registry::token_auth`], but anonymous callers are granted
    /// `pull` (a public repository, as on Docker Hub); push still needs
    /// credentials.
    pub fn token_auth_anonymous_pull(user: &str, password: &str) -> Self {
        Self::with_token_service(TokenService::start(user, password, true), user, password)
    }

    /// An open registry on `127.0.0.1:port` that keeps its blobs in `data` (created if
    /// missing, left in place when the registry stops, so that a benchmark's pushed images
    /// are there the next time). Its config and log live in a temporary directory beside
    /// `data`. For `aurora-testenv registry up`; errs when the port is taken.
    pub fn open_on(port: u16, data: &Path) -> Result<Self, String> {
        require_tools(&["docker-registry"]);
        std::fs::create_dir_all(data)
            .map_err(|e| format!("cannot create {}: {e}", data.display()))?;
        let parent = data.parent().unwrap_or(Path::new("/"));
        let dir = tempfile::Builder::new()
            .prefix("aurora-registry-")
            .tempdir_in(parent)
            .map_err(|e| format!("cannot create a directory in {}: {e}", parent.display()))?;
        match launch_with_storage(dir.path(), data, port, &Value::Null, START_TIMEOUT) {
            Ok(child) => Ok(Self {
                child,
                host: format!("127.0.0.1:{port}"),
                storage: data.to_path_buf(),
                dir,
                credentials: None,
                token_service: None,
            }),
            Err(StartError::PortTaken) => Err(format!("127.0.0.1:{port} is taken")),
            Err(StartError::NoAnswer(message) | StartError::Failed(message)) => {
                Err(format!("docker-registry failed: {message}"))
            }
        }
    }

    /// The HTTP status of `GET /v2/` on `host`, or `None` when nothing answers there.
    pub fn probe(host: &str) -> Option<u16> {
        get_head(host, "/v2/", Duration::from_secs(2))
            .ok()
            .map(|head| head.status)
    }

    /// The `docker-registry` process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn with_token_service(service: TokenService, user: &str, password: &str) -> Self {
        let dir = new_dir();
        let bundle = dir.path().join("token-root.pem");
        std::fs::write(&bundle, TokenService::root_cert_pem()).expect("writing rootcertbundle");
        let auth = json!({"token": {
            "realm": service.realm(),
            "service": SERVICE,
            "issuer": ISSUER,
            "rootcertbundle": bundle,
        }});
        Self::start(dir, auth, Some((user, password)), Some(service))
    }

    fn start(
        dir: TempDir,
        auth: Value,
        credentials: Option<(&str, &str)>,
        token_service: Option<TokenService>,
    ) -> Self {
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            match launch(dir.path(), port, &auth) {
                Ok(child) => {
                    return Self {
                        child,
                        host: format!("127.0.0.1:{port}"),
                        storage: dir.path().join("storage"),
                        dir,
                        credentials: credentials.map(|(u, p)| (u.to_string(), p.to_string())),
                        token_service,
                    }
                }
                Err(StartError::PortTaken) => failures.push(format!("port {port} was taken")),
                Err(StartError::NoAnswer(seen)) => {
                    eprintln!("docker-registry on port {port} did not answer, trying another port: {seen}");
                    failures.push(format!("port {port}: {seen}"))
                }
                Err(StartError::Failed(message)) => panic!("docker-registry failed: {message}"),
            }
        }
        panic!("docker-registry could not start: {}", failures.join("; "));
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn host(&self) -> String {
        self.host.clone()
    }

    /// `HOST/name`, e.g. `image_ref("app:1")` → `127.0.0.1:PORT/app:1`.
    pub fn image_ref(&self, name: &str) -> String {
        format!("{}/{name}", self.host)
    }

    /// The registry's storage root (`storage.filesystem.rootdirectory`).
    pub fn storage_dir(&self) -> &Path {
        &self.storage
    }

    /// Where distribution keeps a blob's bytes on disk, so tests can corrupt
    /// it. Accepts `sha256:<hex>` or bare hex.
    pub fn blob_data_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        assert!(hex.len() == 64, "not a sha256 digest: {digest}");
        self.storage_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Stores `manifest` (of `media_type`) as `repository:reference` with a plain HTTP PUT,
    /// whatever it says, and returns the registry's status (201 when stored). For manifests
    /// no client would push, e.g. one whose layer descriptor claims 2^62 bytes. Needs a
    /// registry without auth ([`Registry::open`]).
    pub fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        manifest: &[u8],
    ) -> u16 {
        let path = format!("/v2/{repository}/manifests/{reference}");
        put(
            &self.host,
            &path,
            media_type,
            manifest,
            Duration::from_secs(30),
        )
        .unwrap_or_else(|err| panic!("PUT {path} to {}: {err}", self.host))
        .status
    }

    /// The user and password this registry accepts, if it requires any.
    pub fn credentials(&self) -> Option<(String, String)> {
        self.credentials.clone()
    }

    /// How many requests the token service has received (0 without one).
    pub fn token_requests(&self) -> usize {
        self.token_request_log().len()
    }

    /// Every token request so far, with whether it carried credentials.
    pub fn token_request_log(&self) -> Vec<TokenRequest> {
        self.token_service
            .as_ref()
            .map(TokenService::requests)
            .unwrap_or_default()
    }

    /// Makes the token service claim, from now on, that its tokens live `seconds` (e.g.
    /// `u64::MAX`; the tokens themselves still live five minutes). Panics without one.
    pub fn claim_token_lifetime(&self, seconds: u64) {
        self.token_service
            .as_ref()
            .expect("a registry with token auth")
            .claim_lifetime(seconds);
    }

    /// The registry's own log (warnings and errors) so far, for debugging.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Kill then wait, so no zombie or stray registry outlives the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn new_dir() -> TempDir {
    require_tools(&["docker-registry"]);
    let dir = tempfile::Builder::new()
        .prefix("aurora-registry-")
        .tempdir()
        .expect("creating the registry's temp dir");
    std::fs::create_dir(dir.path().join("storage")).expect("creating registry storage");
    dir
}

/// A port that was free a moment ago. Another process can take it before
/// the registry binds it; [`Registry::start`] retries when that happens.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("binding 127.0.0.1:0 to find a free port")
        .port()
}

/// Writes the config, spawns the registry and waits until it serves `/v2/`.
fn launch(dir: &Path, port: u16, auth: &Value) -> Result<Child, StartError> {
    launch_with_storage(dir, &dir.join("storage"), port, auth, START_TIMEOUT)
}

/// [`launch`] with the blobs in `storage` rather than `DIR/storage`.
fn launch_with_storage(
    dir: &Path,
    storage: &Path,
    port: u16,
    auth: &Value,
    timeout: Duration,
) -> Result<Child, StartError> {
    let instance = instance_id(port);
    let config_path = dir.join("config.yml");
    // YAML is a superset of JSON, so a JSON document is a valid config.
    let config = registry_config(storage, port, &instance, auth);
    std::fs::write(&config_path, config.to_string()).expect("writing registry config");
    let log_path = dir.join("registry.log");
    let log = File::create(&log_path).expect("creating registry log");
    let mut command = Command::new("docker-registry");
    command
        .arg("serve")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("cloning log handle"))
        .stderr(log);
    // Distribution lets REGISTRY_* variables override the config file.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("REGISTRY_") {
            command.env_remove(name);
        }
    }
    let child = command
        .spawn()
        .unwrap_or_else(|err| panic!("spawning docker-registry: {err}"));
    wait_ready(
        child,
        &format!("127.0.0.1:{port}"),
        &instance,
        &log_path,
        timeout,
    )
}

fn instance_id(port: u16) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}-{port}", std::process::id())
}

fn registry_config(storage: &Path, port: u16, instance: &str, auth: &Value) -> Value {
    let mut config = json!({
        "version": "0.1",
        "log": {"level": "warn", "accesslog": {"disabled": true}},
        "storage": {
            "filesystem": {"rootdirectory": storage},
            "delete": {"enabled": true},
            // Serve blobs directly, never via redirects to a storage URL.
            "redirect": {"disable": true},
            // Upload purging runs in the background and only adds noise.
            "maintenance": {"uploadpurging": {"enabled": false}},
        },
        "http": {
            "addr": format!("127.0.0.1:{port}"),
            // A fixed secret avoids a "generated random secret" warning.
            "secret": "aurora-testkit",
            "headers": {INSTANCE_HEADER: [instance]},
        },
    });
    if !auth.is_null() {
        config["auth"] = auth.clone();
    }
    config
}

fn wait_ready(
    mut child: Child,
    host: &str,
    instance: &str,
    log_path: &Path,
    timeout: Duration,
) -> Result<Child, StartError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("polling docker-registry") {
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            if log.contains("address already in use") {
                return Err(StartError::PortTaken);
            }
            return Err(StartError::Failed(format!(
                "exited with {status}; log:\n{log}"
            )));
        }
        let probe = probe_instance(host, instance);
        let Err(last_probe) = probe else {
            return Ok(child);
        };
        if Instant::now() > deadline {
            let state = process_state(child.id());
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            return Err(StartError::NoAnswer(format!(
                "no answer from it on http://{host}/v2/ within {timeout:?}; \
                 last probe: {last_probe}; registry process: {state}; log:\n{log}"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Ok when `GET /v2/` answers 200 or 401 from the registry we started, else what
/// the probe saw. The short timeout matters when something else holds the port and
/// never answers: the registry's own exit is then noticed sooner; a slow answer from
/// our registry is simply probed again.
fn probe_instance(host: &str, instance: &str) -> Result<(), String> {
    let head = get_head(host, "/v2/", Duration::from_millis(300)).map_err(|e| e.to_string())?;
    let from = header_str(&head.headers, INSTANCE_HEADER);
    if matches!(head.status, 200 | 401) && from.as_deref() == Some(instance) {
        Ok(())
    } else {
        Err(format!(
            "status {} from instance {}",
            head.status,
            from.as_deref().unwrap_or("(none)")
        ))
    }
}

/// The process's state line from /proc (running, sleeping, stopped, …), for the
/// message when a registry never answers.
fn process_state(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("State:"))
                .map(|line| line.trim_start_matches("State:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_reported_for_retry() {
        require_tools(&["docker-registry"]);
        let taken = TcpListener::bind("127.0.0.1:0").expect("binding a port");
        let port = taken.local_addr().expect("local address").port();
        let dir = new_dir();

        let result = launch(dir.path(), port, &Value::Null);

        assert!(matches!(result, Err(StartError::PortTaken)));
    }

    /// What CI once met: a port whose connections go nowhere (here a DROP rule; there,
    /// most likely a leftover DNAT rule). The probe must give up in time and the start
    /// must be reported as worth another port, not as a failed registry.
    #[test]
    fn a_port_whose_connections_go_nowhere_is_given_up_for_another() {
        let test = "a_port_whose_connections_go_nowhere_is_given_up_for_another";
        if !crate::skip::root_or_skip(test) || !crate::skip::tools_or_skip(test, &["iptables"]) {
            return;
        }
        require_tools(&["docker-registry"]);
        let port = free_port();
        let rule = DropRule::insert(port);
        let dir = new_dir();

        let result = launch_with_storage(
            dir.path(),
            &dir.path().join("storage"),
            port,
            &Value::Null,
            Duration::from_secs(2),
        );

        drop(rule);
        match result {
            Err(StartError::NoAnswer(seen)) => assert!(seen.contains("last probe"), "{seen}"),
            Err(StartError::PortTaken) => panic!("reported as taken"),
            Err(StartError::Failed(message)) => panic!("reported as failed: {message}"),
            Ok(_) => panic!("a registry behind a DROP rule answered"),
        }
    }

    /// An iptables rule dropping TCP to a loopback port, removed on drop.
    struct DropRule(String);

    impl DropRule {
        fn insert(port: u16) -> Self {
            let port = port.to_string();
            iptables("-I", &port);
            Self(port)
        }
    }

    impl Drop for DropRule {
        fn drop(&mut self) {
            iptables("-D", &self.0);
        }
    }

    fn iptables(action: &str, port: &str) {
        let rule = [
            action, "INPUT", "-i", "lo", "-p", "tcp", "--dport", port, "-j", "DROP",
        ];
        run_checked(Command::new("iptables").args(rule), "changing a DROP rule");
    }

    #[test]
    fn blob_data_path_follows_distribution_layout() {
        let registry = Registry::open();
        let digest = format!("sha256:ab{}", "0".repeat(62));
        let path = registry.blob_data_path(&digest);
        assert!(path.starts_with(registry.storage_dir()));
        assert!(path.ends_with(format!(
            "docker/registry/v2/blobs/sha256/ab/ab{}/data",
            "0".repeat(62)
        )));
    }
}
