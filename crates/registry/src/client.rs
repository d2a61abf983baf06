//! The HTTP side: one client per process, auth state per registry, retries, redirects.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use aurora_spec::ImageRef;
use base64::Engine as _;
use reqwest::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE,
};
use reqwest::{Method, Response, StatusCode};
use tracing::{debug, warn};
use url::Url;

use crate::auth::challenge::{self, Challenge};
use crate::auth::credentials::{Credential, CredentialStore};
use crate::auth::{fetch_token, Token};
use crate::error::{is_transient_status, RegistryError, Result};
use crate::mirror::{EndpointScheme, Mirror};

/// The default largest blob a pull accepts: far above any real layer (the largest images in
/// use carry layers of a few GiB; machine-learning ones some tens), far below what a lying
/// descriptor (up to 2^63 bytes) would have the store fill its disk with.
pub const DEFAULT_MAX_BLOB_SIZE: u64 = 64 << 30;

const MAX_REDIRECTS: usize = 10;
/// Uploads read their files this much at a time: few trips to the blocking pool.
const UPLOAD_READ_BYTES: usize = 1 << 20;
/// Error bodies are read only this far: enough for the registry's message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// How often and how patiently to retry transient failures.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    pub initial_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Exponential back-off: the wait before try `attempt + 1`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(16));
        self.initial_delay
            .saturating_mul(factor)
            .min(self.max_delay)
    }
}

/// Settings a client is made with.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Registries (`host` or `host:port`) that may be reached over plain HTTP. Loopback
    /// registries always may.
    pub insecure_registries: Vec<String>,
    pub credentials: CredentialStore,
    pub retry: RetryPolicy,
    pub user_agent: String,
    /// The largest blob (layer or config) a manifest may name: larger ones are refused
    /// before any byte is downloaded. See [`crate::DEFAULT_MAX_BLOB_SIZE`].
    pub max_blob_size: u64,
    /// Endpoints pulls from a registry try first (see [`crate::Mirror`]).
    pub mirrors: Vec<Mirror>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            insecure_registries: Vec::new(),
            credentials: CredentialStore::from_environment(),
            retry: RetryPolicy::default(),
            user_agent: concat!("aurora/", env!("CARGO_PKG_VERSION")).to_string(),
            max_blob_size: DEFAULT_MAX_BLOB_SIZE,
            mirrors: Vec::new(),
        }
    }
}

/// What a request needs to be allowed to do in a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pull,
    PullPush,
}

impl Access {
    /// The token scope; none for requests outside any repository (`/v2/`).
    fn scope(self, repository: &str) -> String {
        if repository.is_empty() {
            return String::new();
        }
        match self {
            Access::Pull => format!("repository:{repository}:pull"),
            Access::PullPush => format!("repository:{repository}:pull,push"),
        }
    }
}

/// One repository on one registry, with the base URL resolved.
#[derive(Debug, Clone)]
pub struct Target {
    pub registry: String,
    pub repository: String,
    pub(crate) base: Url,
    /// A mirror endpoint rather than the registry: tried once, its failures fall through.
    pub(crate) mirror: bool,
}

impl Target {
    /// `…/v2/<repository>/<rest>`.
    pub(crate) fn url(&self, rest: &str) -> Result<Url> {
        let joined = format!("{}/{}", self.repository, rest);
        self.base.join(&joined).map_err(|e| RegistryError::BadUrl {
            url: format!("{}{}", self.base, joined),
            reason: e.to_string(),
        })
    }
}

/// A request body that can be made again: for retries and redirects.
pub(crate) enum Payload<'a> {
    Bytes(bytes::Bytes),
    /// A file in the store, streamed.
    File(&'a std::path::Path),
    /// `len` bytes of a file from `offset`, streamed (one chunk of a chunked upload).
    FileRange {
        path: &'a std::path::Path,
        offset: u64,
        len: u64,
    },
}

impl Payload<'_> {
    async fn body(&self, url: &Url) -> Result<reqwest::Body> {
        match self {
            Payload::Bytes(bytes) => Ok(reqwest::Body::from(bytes.clone())),
            Payload::File(path) => {
                let file = open_for_upload(path, 0, url).await?;
                Ok(stream_body(file))
            }
            Payload::FileRange { path, offset, len } => {
                use tokio::io::AsyncReadExt;
                let file = open_for_upload(path, *offset, url).await?;
                Ok(stream_body(file.take(*len)))
            }
        }
    }
}

async fn open_for_upload(
    path: &std::path::Path,
    offset: u64,
    url: &Url,
) -> Result<tokio::fs::File> {
    use tokio::io::AsyncSeekExt;
    let fail = |e: std::io::Error| RegistryError::Protocol {
        url: url.to_string(),
        reason: format!("cannot read {} to upload it: {e}", path.display()),
    };
    let mut file = tokio::fs::File::open(path).await.map_err(fail)?;
    if offset > 0 {
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(fail)?;
    }
    Ok(file)
}

fn stream_body(reader: impl tokio::io::AsyncRead + Send + Sync + 'static) -> reqwest::Body {
    reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
        reader,
        UPLOAD_READ_BYTES,
    ))
}

/// What we know about a registry's authentication, learned from its challenges. Kept per
/// origin (scheme, host, port): a realm or token learned from one origin is never used for
/// another.
#[derive(Default)]
struct HostAuth {
    basic: bool,
    bearer: Option<(String, Option<String>)>,
    tokens: HashMap<String, Token>,
}

/// A client for OCI distribution registries, shared by every request of a process so that
/// connections and tokens are reused.
pub struct RegistryClient {
    http: reqwest::Client,
    config: ClientConfig,
    auth: Mutex<HashMap<String, HostAuth>>,
    /// Origins of mirror endpoints that could not be reached: skipped from then on.
    pub(crate) unreachable: Mutex<HashSet<String>>,
}

/// The key of a target's auth state: the origin its credentials belong to.
fn origin_key(target: &Target) -> String {
    target.base.origin().ascii_serialization()
}

impl RegistryClient {
    pub fn new(config: ClientConfig) -> Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            // Redirects are followed by hand, to decide per hop whether credentials go along.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .tcp_nodelay(true)
            .build()
            .map_err(|source| RegistryError::Transport {
                url: String::new(),
                source,
            })?;
        Ok(RegistryClient {
            http,
            config,
            auth: Mutex::new(HashMap::new()),
            unreachable: Mutex::new(HashSet::new()),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Whether `host[:port]` may be spoken to over plain HTTP: loopback, listed as insecure,
    /// or a mirror endpoint written with `http://`.
    pub fn allows_plain_http(&self, host_port: &str) -> bool {
        let host = host_without_port(host_port);
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        loopback
            || self
                .config
                .insecure_registries
                .iter()
                .chain(self.config.mirrors.iter().flat_map(|m| {
                    m.endpoints
                        .iter()
                        .filter(|e| e.scheme == EndpointScheme::Http)
                        .map(|e| &e.host)
                }))
                .any(|r| r == host_port || r == host)
    }

    /// Where the image's repository lives.
    pub fn target(&self, image: &ImageRef) -> Result<Target> {
        let host = image.api_host();
        let scheme = if self.allows_plain_http(host) {
            "http"
        } else {
            "https"
        };
        let base_text = format!("{scheme}://{host}/v2/");
        let base = Url::parse(&base_text).map_err(|e| RegistryError::BadUrl {
            url: base_text,
            reason: e.to_string(),
        })?;
        Ok(Target {
            registry: image.registry().to_string(),
            repository: image.repository().to_string(),
            base,
            mirror: false,
        })
    }

    fn credential(&self, target: &Target) -> Result<Option<Credential>> {
        self.config
            .credentials
            .lookup(&target.registry, &target.repository)
    }

    /// Sends a request with the registry's auth, answering one challenge, retrying transient
    /// failures with back-off, and following redirects.
    pub(crate) async fn send(
        &self,
        target: &Target,
        access: Access,
        method: Method,
        url: Url,
        headers: HeaderMap,
    ) -> Result<Response> {
        self.send_with(target, access, method, url, headers, None)
            .await
    }

    /// [`send`](Self::send) with a body, made anew for every attempt and redirect.
    pub(crate) async fn send_with(
        &self,
        target: &Target,
        access: Access,
        method: Method,
        url: Url,
        headers: HeaderMap,
        payload: Option<&Payload<'_>>,
    ) -> Result<Response> {
        let scope = access.scope(&target.repository);
        let mut answered_challenge = false;
        let mut attempt = 0;
        // A mirror gets one try: the next source is a better use of the time than back-off.
        let attempts = if target.mirror {
            1
        } else {
            self.config.retry.attempts
        };
        loop {
            let authorization = self.authorization(target, &scope).await?;
            let result = self
                .send_following_redirects(
                    &method,
                    &url,
                    &headers,
                    authorization.as_deref().map(|a| (a, &target.base)),
                    payload,
                )
                .await;
            let retry_in = match &result {
                // A challenge from another origin (a host the registry redirected to) is not
                // the registry's: answering it would send the registry's credentials, or a
                // token got with them, to whoever that host names as its realm.
                Ok(r)
                    if r.status() == StatusCode::UNAUTHORIZED
                        && r.url().origin() != target.base.origin() =>
                {
                    return Err(foreign_challenge(target, r));
                }
                Ok(r) if r.status() == StatusCode::UNAUTHORIZED && !answered_challenge => {
                    let header = r
                        .headers()
                        .get(WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    self.answer_challenge(target, &scope, &header).await?;
                    answered_challenge = true;
                    continue;
                }
                Ok(r) if matches!(r.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                    let response = result.expect("matched Ok");
                    return Err(self.unauthorized(target, response).await);
                }
                Ok(r) if is_transient_status(r.status().as_u16()) => retry_after(r),
                Err(e) if e.is_transient() => None,
                _ => return result,
            };
            attempt += 1;
            if attempt >= attempts {
                return result;
            }
            let delay = retry_in
                .unwrap_or_else(|| self.config.retry.delay(attempt - 1))
                .min(self.config.retry.max_delay);
            // One line for the user, not one per attempt: a refused connection would
            // otherwise print a warning for every back-off before the error that matters.
            // Every attempt is still logged at debug level (RUST_LOG=aurora_registry=debug).
            if attempt == 1 {
                let left = attempts - attempt;
                warn!(%url, outcome = %describe(&result), "retrying up to {left} more times");
            } else {
                debug!(%url, attempt, ?delay, outcome = %describe(&result), "retrying");
            }
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_following_redirects(
        &self,
        method: &Method,
        url: &Url,
        headers: &HeaderMap,
        authorization: Option<(&str, &Url)>,
        payload: Option<&Payload<'_>>,
    ) -> Result<Response> {
        let mut current = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self
                .http
                .request(method.clone(), current.clone())
                .headers(headers.clone());
            if let Some(payload) = payload {
                request = request.body(payload.body(&current).await?);
            }
            // Credentials and tokens are for the origin they were chosen for (the
            // registry's) alone, never for a host it redirects to (blob storage, a CDN).
            if let Some((value, _)) =
                authorization.filter(|(_, owner)| current.origin() == owner.origin())
            {
                request = request.header(AUTHORIZATION, value);
            }
            let response = request
                .send()
                .await
                .map_err(|source| RegistryError::Transport {
                    url: current.to_string(),
                    source,
                })?;
            if !response.status().is_redirection() || response.status() == StatusCode::NOT_MODIFIED
            {
                return Ok(response);
            }
            let Some(location) = response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
            else {
                return Ok(response);
            };
            let next = current.join(location).map_err(|e| RegistryError::BadUrl {
                url: location.to_string(),
                reason: e.to_string(),
            })?;
            if current.scheme() == "https"
                && next.scheme() != "https"
                && !self.allows_plain_http(next.host_str().unwrap_or_default())
            {
                return Err(RegistryError::InsecureRedirect {
                    url: next.to_string(),
                });
            }
            debug!(from = %current, to = %next, "following redirect");
            current = next;
        }
        Err(RegistryError::TooManyRedirects {
            url: url.to_string(),
            limit: MAX_REDIRECTS,
        })
    }

    /// The `Authorization` value to send, from what earlier challenges taught us.
    async fn authorization(&self, target: &Target, scope: &str) -> Result<Option<String>> {
        let host = origin_key(target);
        let (basic, bearer) = {
            let auth = self.auth.lock().unwrap_or_else(|p| p.into_inner());
            match auth.get(&host) {
                None => return Ok(None),
                Some(h) => {
                    if let Some(token) = h.tokens.get(scope).filter(|t| t.is_fresh()) {
                        return Ok(Some(format!("Bearer {}", token.value)));
                    }
                    (h.basic, h.bearer.clone())
                }
            }
        };
        if let Some((realm, service)) = bearer {
            let token = self
                .new_token(target, &realm, service.as_deref(), scope)
                .await?;
            return Ok(Some(format!("Bearer {}", token.value)));
        }
        if basic {
            return Ok(self.credential(target)?.map(|c| basic_header(&c)));
        }
        Ok(None)
    }

    async fn answer_challenge(&self, target: &Target, scope: &str, header: &str) -> Result<()> {
        let host = origin_key(target);
        match challenge::parse(header) {
            Some(Challenge::Basic) => {
                if self.credential(target)?.is_none() {
                    return Err(RegistryError::Unauthorized {
                        registry: target.registry.clone(),
                        repository: target.repository.clone(),
                        message: String::new(),
                        hint: NO_CREDENTIALS_HINT,
                    });
                }
                let mut auth = self.auth.lock().unwrap_or_else(|p| p.into_inner());
                auth.entry(host).or_default().basic = true;
                Ok(())
            }
            Some(Challenge::Bearer { realm, service, .. }) => {
                {
                    let mut auth = self.auth.lock().unwrap_or_else(|p| p.into_inner());
                    auth.entry(host).or_default().bearer = Some((realm.clone(), service.clone()));
                }
                self.new_token(target, &realm, service.as_deref(), scope)
                    .await
                    .map(drop)
            }
            None => Err(RegistryError::BadChallenge {
                registry: target.registry.clone(),
                challenge: header.chars().take(200).collect(),
            }),
        }
    }

    async fn new_token(
        &self,
        target: &Target,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<Token> {
        let basic = match self.credential(target)? {
            Some(c) if self.realm_may_see_credentials(realm) => Some(basic_header(&c)),
            Some(_) => {
                warn!(
                    realm,
                    "not sending credentials to a token service over plain HTTP"
                );
                None
            }
            None => None,
        };
        let scope_param = Some(scope).filter(|s| !s.is_empty());
        let token = fetch_token(&self.http, realm, service, scope_param, basic.as_deref()).await?;
        let mut auth = self.auth.lock().unwrap_or_else(|p| p.into_inner());
        auth.entry(origin_key(target))
            .or_default()
            .tokens
            .insert(scope.to_string(), token.clone());
        Ok(token)
    }

    /// Credentials go to a token service over HTTPS, or over plain HTTP only where plain
    /// HTTP is allowed anyway (loopback, registries listed as insecure).
    fn realm_may_see_credentials(&self, realm: &str) -> bool {
        match Url::parse(realm) {
            Ok(url) if url.scheme() == "https" => true,
            Ok(url) if url.scheme() == "http" => {
                self.allows_plain_http(url.host_str().unwrap_or_default())
            }
            _ => false,
        }
    }

    async fn unauthorized(&self, target: &Target, response: Response) -> RegistryError {
        let message = error_message(response).await;
        let has_credentials = self.credential(target).ok().flatten().is_some();
        let hint = match (has_credentials, target.repository.is_empty()) {
            (true, true) => WRONG_LOGIN_HINT,
            (true, false) => REFUSED_CREDENTIALS_HINT,
            (false, _) => NO_CREDENTIALS_HINT,
        };
        RegistryError::Unauthorized {
            registry: target.registry.clone(),
            repository: target.repository.clone(),
            message,
            hint,
        }
    }

    /// Checks that the registry answers and accepts our credentials: `GET /v2/`.
    pub async fn ping(&self, registry: &str) -> Result<()> {
        let probe =
            ImageRef::parse(&format!("{registry}/probe")).map_err(|e| RegistryError::BadUrl {
                url: registry.to_string(),
                reason: e.to_string(),
            })?;
        let target = self.target(&probe)?;
        let url = target.base.clone();
        let target = Target {
            repository: String::new(),
            ..target
        };
        let response = self
            .send(
                &target,
                Access::Pull,
                Method::GET,
                url.clone(),
                HeaderMap::new(),
            )
            .await?;
        expect_success(response, &url).await.map(drop)
    }
}

const NO_CREDENTIALS_HINT: &str =
    "the repository may not exist, or it needs credentials: run `imageadm login REGISTRY`";
const WRONG_LOGIN_HINT: &str = "the registry refused the user name or password";
const REFUSED_CREDENTIALS_HINT: &str =
    "the stored credentials were refused or lack access: run `imageadm login REGISTRY` again";

/// The error for a 401 that came from another origin than the registry's.
fn foreign_challenge(target: &Target, response: &Response) -> RegistryError {
    let url = response.url();
    let host = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => url.to_string(),
    };
    RegistryError::ForeignChallenge {
        registry: target.registry.clone(),
        repository: target.repository.clone(),
        host,
        url: url.to_string(),
    }
}

fn basic_header(c: &Credential) -> String {
    let raw = format!("{}:{}", c.username, c.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn host_without_port(host_port: &str) -> &str {
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => host_port,
    }
}

/// A `Retry-After` in seconds, as 429 and 503 answers may carry.
fn retry_after(response: &Response) -> Option<Duration> {
    response
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn describe(result: &Result<Response>) -> String {
    match result {
        Ok(r) => r.status().to_string(),
        Err(e) => e.to_string(),
    }
}

/// The registry's own words from an OCI error body (`{"errors":[{"message":…}]}`).
pub(crate) async fn error_message(mut response: Response) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ERROR_BODY {
            break;
        }
    }
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorInfo>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorInfo {
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<Errors>(&body) {
        Ok(parsed) => parsed
            .errors
            .into_iter()
            .filter_map(|e| e.message.or(e.code))
            .collect::<Vec<_>>()
            .join("; "),
        Err(_) => String::new(),
    }
}

/// Turns an unexpected status into an error carrying the registry's message.
pub(crate) async fn expect_success(response: Response, url: &Url) -> Result<Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status().as_u16();
    Err(RegistryError::Status {
        url: url.to_string(),
        status,
        message: error_message(response).await,
    })
}

pub(crate) fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(insecure: &[&str]) -> RegistryClient {
        RegistryClient::new(ClientConfig {
            insecure_registries: insecure.iter().map(|s| s.to_string()).collect(),
            credentials: CredentialStore::from_files(Vec::new()),
            ..ClientConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn plain_http_only_for_loopback_and_listed_registries() {
        let c = client(&["registry.lan:5000", "other.lan"]);
        for ok in [
            "127.0.0.1:5000",
            "127.1.2.3",
            "localhost:5000",
            "[::1]:5000",
            "registry.lan:5000",
            "other.lan:443",
        ] {
            assert!(c.allows_plain_http(ok), "{ok}");
        }
        for no in [
            "registry.lan:5001",
            "docker.io",
            "10.0.0.1:5000",
            "127.0.0.1.evil.com",
            "[::2]:5000",
        ] {
            assert!(!c.allows_plain_http(no), "{no}");
        }
    }

    #[test]
    fn targets_pick_the_scheme_and_docker_hub_api_host() {
        let c = client(&[]);
        let t = c
            .target(&ImageRef::parse("127.0.0.1:5000/a/b").unwrap())
            .unwrap();
        assert_eq!(
            t.url("manifests/latest").unwrap().as_str(),
            "http://127.0.0.1:5000/v2/a/b/manifests/latest"
        );
        let t = c.target(&ImageRef::parse("alpine").unwrap()).unwrap();
        assert_eq!(
            t.url("blobs/x").unwrap().as_str(),
            "https://registry-1.docker.io/v2/library/alpine/blobs/x"
        );
    }

    #[test]
    fn auth_state_is_kept_per_origin_scheme_host_and_port() {
        let c = client(&["registry.lan:5000"]);
        let key =
            |reference: &str| origin_key(&c.target(&ImageRef::parse(reference).unwrap()).unwrap());
        assert_eq!(key("127.0.0.1:5000/a"), key("127.0.0.1:5000/b/c"));
        assert_eq!(key("127.0.0.1:5000/a"), "http://127.0.0.1:5000");
        assert_ne!(key("127.0.0.1:5000/a"), key("127.0.0.1:5001/a"));
        assert_ne!(key("127.0.0.1:5000/a"), key("127.0.0.2:5000/a"));
        // The same host and port over HTTPS is another origin.
        assert_eq!(key("registry.lan:5000/a"), "http://registry.lan:5000");
        assert_eq!(key("registry.lan:5001/a"), "https://registry.lan:5001");
    }

    #[test]
    fn credentials_reach_token_services_only_over_https_or_allowed_http() {
        let c = client(&[]);
        assert!(c.realm_may_see_credentials("https://auth.example/token"));
        assert!(c.realm_may_see_credentials("http://127.0.0.1:9000/token"));
        assert!(!c.realm_may_see_credentials("http://auth.example/token"));
        assert!(!c.realm_may_see_credentials("ftp://auth.example/token"));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            attempts: 5,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        assert_eq!(p.delay(0), Duration::from_millis(100));
        assert_eq!(p.delay(1), Duration::from_millis(200));
        assert_eq!(p.delay(2), Duration::from_millis(350));
        assert_eq!(p.delay(40), Duration::from_millis(350));
    }
}
