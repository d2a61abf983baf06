//! An in-process Docker token service (the `auth: token:` protocol of
//! distribution), so token-authenticated pulls can be tested against a real
//! registry without running a separate auth server.
//!
//! Tokens are ES256 JWTs whose header carries the signer's self-signed
//! certificate in `x5c`; the registry trusts it because the same certificate
//! is its `rootcertbundle`.

use std::io::Cursor;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::tools::{require_tools, run_checked};

/// The `service` (JWT audience) the registry is configured with.
pub(crate) const SERVICE: &str = "aurora-testkit-registry";
/// The JWT issuer the registry is configured to trust.
pub(crate) const ISSUER: &str = "aurora-testkit-token-service";
/// How long issued tokens live, in seconds.
const TOKEN_LIFETIME: u64 = 300;

/// One request received by a [`crate::Registry`]'s token service, so tests
/// can assert how a client authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// Whether the request carried Basic credentials (right or wrong).
    pub had_credentials: bool,
    /// The `scope` parameters requested, e.g. `repository:app:pull`.
    pub scopes: Vec<String>,
    /// The status the token service answered with (200, or 401 for wrong
    /// credentials).
    pub status: u16,
}

/// Who may do what: the single user gets everything they ask for; anonymous
/// callers get pull only if `anonymous_pull` (like a public Docker Hub repo).
#[derive(Clone)]
struct Policy {
    user: String,
    password: String,
    anonymous_pull: bool,
    /// The `expires_in` answers claim (the JWT itself lives [`TOKEN_LIFETIME`]); tests
    /// change it to see how clients take odd claims.
    expires_in: Arc<AtomicU64>,
}

/// A running token service; stops on drop.
pub(crate) struct TokenService {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    log: Arc<Mutex<Vec<TokenRequest>>>,
    addr: SocketAddr,
    expires_in: Arc<AtomicU64>,
}

impl TokenService {
    /// Starts the service on a free loopback port.
    pub(crate) fn start(user: &str, password: &str, anonymous_pull: bool) -> Self {
        // Binding port 0 directly means no other test can race us for it.
        let server = tiny_http::Server::http("127.0.0.1:0")
            .unwrap_or_else(|err| panic!("token service: cannot listen on 127.0.0.1: {err}"));
        let server = Arc::new(server);
        let addr = server
            .server_addr()
            .to_ip()
            .expect("token service listens on an IP address");
        let log = Arc::new(Mutex::new(Vec::new()));
        let expires_in = Arc::new(AtomicU64::new(TOKEN_LIFETIME));
        let policy = Policy {
            user: user.to_string(),
            password: password.to_string(),
            anonymous_pull,
            expires_in: expires_in.clone(),
        };
        let thread = {
            let (server, log) = (server.clone(), log.clone());
            std::thread::spawn(move || serve(&server, &policy, &log))
        };
        Self {
            server,
            thread: Some(thread),
            log,
            addr,
            expires_in,
        }
    }

    /// From now on, answers claim their tokens live `seconds` (e.g. `u64::MAX`).
    pub(crate) fn claim_lifetime(&self, seconds: u64) {
        self.expires_in.store(seconds, Ordering::SeqCst);
    }

    /// The `realm` URL the registry sends clients to.
    pub(crate) fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// Every request received so far, oldest first.
    pub(crate) fn requests(&self) -> Vec<TokenRequest> {
        self.log.lock().expect("token log poisoned").clone()
    }

    /// PEM of the certificate the registry must trust (its rootcertbundle).
    pub(crate) fn root_cert_pem() -> &'static str {
        &signing_material().cert_pem
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(server: &tiny_http::Server, policy: &Policy, log: &Mutex<Vec<TokenRequest>>) {
    for request in server.incoming_requests() {
        let (status, body) = answer(&request, policy, log);
        let content_type = tiny_http::Header::from_bytes("Content-Type", "application/json")
            .expect("static header is valid");
        let mut response = tiny_http::Response::new(
            status.into(),
            vec![content_type],
            Cursor::new(body.to_string().into_bytes()),
            None,
            None,
        );
        if status == 401 {
            let challenge =
                tiny_http::Header::from_bytes("WWW-Authenticate", "Basic realm=\"aurora-testkit\"")
                    .expect("static header is valid");
            response.add_header(challenge);
        }
        // A client that hung up is its own problem; keep serving others.
        let _ = request.respond(response);
    }
}

/// Decides the answer to one token request and records it.
fn answer(
    request: &tiny_http::Request,
    policy: &Policy,
    log: &Mutex<Vec<TokenRequest>>,
) -> (u16, Value) {
    let scopes = requested_scopes(request.url());
    let credentials = basic_credentials(request.headers());
    let authenticated = credentials
        .as_ref()
        .map(|(user, password)| *user == policy.user && *password == policy.password);
    let (status, body) = match authenticated {
        Some(false) => (
            401,
            json!({"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}),
        ),
        Some(true) => (
            200,
            token_response(policy, &policy.user, &grant(&scopes, None)),
        ),
        None if policy.anonymous_pull => (
            200,
            token_response(policy, "", &grant(&scopes, Some("pull"))),
        ),
        None => (200, token_response(policy, "", &[])),
    };
    log.lock().expect("token log poisoned").push(TokenRequest {
        had_credentials: credentials.is_some(),
        scopes,
        status,
    });
    (status, body)
}

/// All `scope` query parameters (each may hold several, space separated).
fn requested_scopes(url: &str) -> Vec<String> {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(key, _)| key == "scope")
        .flat_map(|(_, value)| {
            value
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The (user, password) of a Basic `Authorization` header, if any.
fn basic_credentials(headers: &[tiny_http::Header]) -> Option<(String, String)> {
    let value = headers
        .iter()
        .find(|h| h.field.equiv("Authorization"))?
        .value
        .as_str();
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Turns scopes (`type:name:a,b`) into the JWT `access` claim, keeping only
/// `only_action` when given.
fn grant(scopes: &[String], only_action: Option<&str>) -> Vec<Value> {
    scopes
        .iter()
        .filter_map(|scope| {
            let (kind, rest) = scope.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            let actions: Vec<&str> = actions
                .split(',')
                .filter(|action| only_action.is_none_or(|only| *action == only))
                .collect();
            Some(json!({"type": kind, "name": name, "actions": actions}))
        })
        .collect()
}

/// The token endpoint's JSON answer carrying a freshly signed JWT.
fn token_response(policy: &Policy, subject: &str, access: &[Value]) -> Value {
    let now = SystemTime::now();
    let token = sign_token(subject, access, now);
    json!({
        "token": token,
        "access_token": token,
        "expires_in": policy.expires_in.load(Ordering::SeqCst),
        "issued_at": humantime::format_rfc3339_seconds(now).to_string(),
    })
}

fn sign_token(subject: &str, access: &[Value], now: SystemTime) -> String {
    let material = signing_material();
    let now = now
        .duration_since(UNIX_EPOCH)
        .expect("clock is after 1970")
        .as_secs();
    let claims = json!({
        "iss": ISSUER,
        "sub": subject,
        "aud": SERVICE,
        "iat": now,
        // Allow for a little clock skew between us and the registry.
        "nbf": now - 10,
        "exp": now + TOKEN_LIFETIME,
        "jti": format!("aurora-testkit-{now}-{}", next_token_id()),
        "access": access,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.x5c = Some(vec![material.cert_der_base64.clone()]);
    jsonwebtoken::encode(&header, &claims, &material.key).expect("signing a token")
}

fn next_token_id() -> usize {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The token signing key and its self-signed certificate, made once per
/// test process (key generation is the slow part).
struct SigningMaterial {
    key: jsonwebtoken::EncodingKey,
    cert_pem: String,
    /// The certificate as base64 DER: exactly the PEM body without newlines.
    cert_der_base64: String,
}

fn signing_material() -> &'static SigningMaterial {
    static MATERIAL: OnceLock<SigningMaterial> = OnceLock::new();
    MATERIAL.get_or_init(generate_signing_material)
}

fn generate_signing_material() -> SigningMaterial {
    require_tools(&["openssl"]);
    let dir = tempfile::tempdir().expect("creating a temp dir for the token key");
    let (key_path, cert_path) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    run_checked(
        Command::new("openssl")
            .args(["req", "-x509", "-nodes", "-newkey", "ec"])
            .args(["-pkeyopt", "ec_paramgen_curve:prime256v1"])
            .args(["-days", "3", "-subj", "/CN=aurora-testkit-token-signer"])
            .arg("-keyout")
            .arg(&key_path)
            .arg("-out")
            .arg(&cert_path),
        "generating the token signing key",
    );
    let key_pem = std::fs::read(&key_path).expect("reading the token signing key");
    let cert_pem = std::fs::read_to_string(&cert_path).expect("reading the token certificate");
    let key = jsonwebtoken::EncodingKey::from_ec_pem(&key_pem).expect("parsing the EC signing key");
    let cert_der_base64 = cert_pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    SigningMaterial {
        key,
        cert_pem,
        cert_der_base64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repeated_and_space_separated_scopes() {
        let scopes = requested_scopes(
            "/token?service=s&scope=repository%3Aa%3Apull&scope=repository:b/c:pull,push%20registry:catalog:*",
        );
        assert_eq!(
            scopes,
            [
                "repository:a:pull",
                "repository:b/c:pull,push",
                "registry:catalog:*"
            ]
        );
    }

    #[test]
    fn grants_requested_actions_or_only_pull() {
        let scopes = vec!["repository:a/b:pull,push".to_string()];
        assert_eq!(
            grant(&scopes, None),
            [json!({"type": "repository", "name": "a/b", "actions": ["pull", "push"]})]
        );
        assert_eq!(
            grant(&scopes, Some("pull")),
            [json!({"type": "repository", "name": "a/b", "actions": ["pull"]})]
        );
    }

    #[test]
    fn signs_a_jwt_with_x5c() {
        let token = sign_token("alice", &[], SystemTime::now());
        let header = jsonwebtoken::decode_header(&token).expect("a JWT header");
        assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
        assert_eq!(header.x5c.map(|chain| chain.len()), Some(1));
    }
}
