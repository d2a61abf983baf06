use std::path::PathBuf;

/// What can go wrong talking to a registry. Each variant names the registry, repository,
/// reference or digest concerned, and says what a user can do where there is something.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url}: the registry answered {status}{}", message_suffix(.message))]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{what} {reference} not found in {registry}/{repository}")]
    NotFound {
        what: &'static str,
        registry: String,
        repository: String,
        reference: String,
    },
    #[error("access to {registry}{}{repository} denied{}; {hint}", if .repository.is_empty() { "" } else { "/" }, message_suffix(.message))]
    Unauthorized {
        registry: String,
        repository: String,
        message: String,
        hint: &'static str,
    },
    #[error("{registry}/{repository}: {host}, where the registry redirected the request ({url}), asks for credentials; the registry's credentials are sent to the registry alone, so the request fails")]
    ForeignChallenge {
        registry: String,
        repository: String,
        /// `host[:port]` of the origin that answered 401.
        host: String,
        url: String,
    },
    #[error("{registry}: the registry asked for authentication in a way Aurora does not understand: {challenge:?}")]
    BadChallenge { registry: String, challenge: String },
    #[error("token service {realm}: {reason}")]
    Token {
        realm: String,
        reason: String,
        /// The service refused the credentials (rather than failing).
        denied: bool,
    },
    #[error("manifest {reference}: larger than the {limit} bytes allowed")]
    ManifestTooLarge { reference: String, limit: u64 },
    #[error("{reference}: blob {digest} is said to be {size} bytes, more than the {limit} bytes allowed for a blob; nothing was downloaded (raise `max_blob_size` under [limits] in the config file if the image is genuine)")]
    BlobTooLarge {
        reference: String,
        digest: String,
        size: u64,
        limit: u64,
    },
    #[error("manifest {reference}: Docker schema 1 manifests are not supported; push the image again with a current client (schema 2 or OCI)")]
    Schema1 { reference: String },
    #[error("manifest {reference}: unsupported media type {media_type:?}")]
    UnknownMediaType {
        reference: String,
        media_type: String,
    },
    #[error(
        "manifest {reference}: the registry sent content with digest {actual}, expected {expected}"
    )]
    DigestMismatch {
        reference: String,
        expected: String,
        actual: String,
    },
    #[error("{url}: more than {limit} redirects")]
    TooManyRedirects { url: String, limit: usize },
    #[error("{url}: refusing to follow a redirect from HTTPS to plain HTTP")]
    InsecureRedirect { url: String },
    #[error("{url}: invalid URL: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{url}: unexpected response: {reason}")]
    Protocol { url: String, reason: String },
    #[error("registry mirror {endpoint:?}: {reason}")]
    BadMirror { endpoint: String, reason: String },
    #[error("auth file {path}: {reason}")]
    AuthFile { path: PathBuf, reason: String },
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl RegistryError {
    /// Whether trying again later could succeed: dropped connections, time-outs,
    /// rate limits and server-side failures.
    pub fn is_transient(&self) -> bool {
        match self {
            // reqwest reports a body cut short while streaming as a decode error; with no
            // content decoding configured, that is always a transport failure.
            RegistryError::Transport { source, .. } => {
                source.is_timeout()
                    || source.is_connect()
                    || source.is_body()
                    || source.is_request()
                    || source.is_decode()
            }
            RegistryError::Status { status, .. } => is_transient_status(*status),
            _ => false,
        }
    }
}

pub(crate) fn is_transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
