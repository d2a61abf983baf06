//! Registry mirrors: other endpoints a registry's pulls try first, as containers-registries.conf's
//! `[[registry.mirror]]` and containerd's `hosts.toml` allow.
//!
//! A mirror is only ever a source of bytes that are verified against the digests the pull asks
//! for (manifests by digest, every blob); the image keeps the name it was asked for. Each
//! endpoint is its own origin: its credentials are looked up under its own host, and the
//! registry's are never sent to it. Pushes and pings never use mirrors.

use serde::Deserialize;
use url::Url;

use crate::error::{RegistryError, Result};

/// How to reach a mirror endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointScheme {
    /// `http://HOST`: plain HTTP, allowed for this host because the configuration says so.
    Http,
    /// `https://HOST`.
    Https,
    /// A bare `HOST`: HTTPS unless plain HTTP is allowed for the host anyway (loopback,
    /// insecure registries), as for a registry named in an image reference.
    Default,
}

/// One endpoint of a mirror: `[http://|https://]HOST[:PORT][/PREFIX]`. A prefix is put before
/// the repository path (`mirror.lan/k8s` serves `registry.k8s.io/pause` as `k8s/pause`), as a
/// registries.conf `location` with a path does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: EndpointScheme,
    /// `host` or `host:port`, as credentials are keyed.
    pub host: String,
    /// Repository path prefix without leading or trailing `/`; empty for none.
    pub prefix: String,
}

impl Endpoint {
    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        let bad = |reason: &str| RegistryError::BadMirror {
            endpoint: text.to_string(),
            reason: reason.to_string(),
        };
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("http://") {
            (EndpointScheme::Http, rest)
        } else if let Some(rest) = text.strip_prefix("https://") {
            (EndpointScheme::Https, rest)
        } else if text.contains("://") {
            return Err(bad("only http:// and https:// endpoints are supported"));
        } else {
            (EndpointScheme::Default, text)
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        if authority.contains('@') {
            return Err(bad(
                "credentials do not belong in an endpoint; store them for its host in an auth file",
            ));
        }
        if path.contains(['?', '#']) || authority.contains(['?', '#']) {
            return Err(bad("a query or fragment means nothing here"));
        }
        // Parsed as a URL only to validate the host and port; a scheme with no default port
        // keeps an explicit :443 or :80 as written, which is how credentials are keyed.
        let url =
            Url::parse(&format!("aurora-mirror://{authority}")).map_err(|e| bad(&e.to_string()))?;
        let host = match (url.host_str(), url.port()) {
            (Some(""), _) | (None, _) => return Err(bad("no host")),
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
        };
        let prefix = path.trim_matches('/').to_string();
        let component_ok = |c: &str| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.chars().all(|ch| {
                    ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-')
                })
        };
        if !prefix.is_empty() && !prefix.split('/').all(component_ok) {
            return Err(bad(
                "the path prefix must be lower-case repository components",
            ));
        }
        Ok(Endpoint {
            scheme,
            host,
            prefix,
        })
    }

    /// The repository at this endpoint that mirrors `repository`.
    pub fn repository(&self, repository: &str) -> String {
        if self.prefix.is_empty() {
            repository.to_string()
        } else {
            format!("{}/{repository}", self.prefix)
        }
    }
}

/// A registry's mirrors, tried in order before the registry itself for pulls.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "MirrorText")]
pub struct Mirror {
    /// The registry as image references name it (`registry.k8s.io`, `docker.io`).
    pub registry: String,
    pub endpoints: Vec<Endpoint>,
}

/// A mirror as a config file writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MirrorText {
    registry: String,
    endpoints: Vec<String>,
}

impl TryFrom<MirrorText> for Mirror {
    type Error = RegistryError;

    fn try_from(text: MirrorText) -> Result<Self, Self::Error> {
        Mirror::new(&text.registry, &text.endpoints)
    }
}

impl Mirror {
    pub fn new(registry: &str, endpoints: &[String]) -> Result<Self, RegistryError> {
        let registry = registry.trim().to_ascii_lowercase();
        if registry.is_empty() || registry.contains('/') || registry.contains("://") {
            return Err(RegistryError::BadMirror {
                endpoint: registry,
                reason: "`registry` is a registry host as image names write it (`registry.k8s.io`, `docker.io`, `host:port`)".into(),
            });
        }
        Ok(Mirror {
            registry: canonical_registry(&registry).to_string(),
            endpoints: endpoints
                .iter()
                .map(|e| Endpoint::parse(e))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Whether this mirrors the registry an image reference names.
    pub fn mirrors(&self, registry: &str) -> bool {
        self.registry == canonical_registry(registry)
    }
}

/// Docker Hub's other names are Docker Hub: image references always say `docker.io`.
fn canonical_registry(registry: &str) -> &str {
    match registry {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_scheme_host_port_and_prefix() {
        let e = Endpoint::parse("http://127.0.0.1:5000").unwrap();
        assert_eq!(
            (e.scheme, e.host.as_str(), e.prefix.as_str()),
            (EndpointScheme::Http, "127.0.0.1:5000", "")
        );
        let e = Endpoint::parse("https://mirror.lan:443/k8s/").unwrap();
        assert_eq!(
            (e.scheme, e.host.as_str(), e.prefix.as_str()),
            (EndpointScheme::Https, "mirror.lan:443", "k8s")
        );
        assert_eq!(e.repository("pause"), "k8s/pause");
        let e = Endpoint::parse("mirror.lan").unwrap();
        assert_eq!(e.scheme, EndpointScheme::Default);
        assert_eq!(e.repository("a/b"), "a/b");
        let e = Endpoint::parse("[::1]:5000").unwrap();
        assert_eq!(e.host, "[::1]:5000");
    }

    #[test]
    fn odd_endpoints_are_refused_naming_them() {
        for bad in [
            "",
            "ftp://mirror.lan",
            "http://",
            "https:///path",
            "http://user:pw@mirror.lan",
            "mirror.lan/a?x=1",
            "mirror.lan/a/../b",
            "mirror.lan/Upper",
        ] {
            let err = Endpoint::parse(bad).expect_err(bad);
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn mirrors_match_registries_with_docker_hub_aliases() {
        let m = Mirror::new("Registry-1.Docker.io", &["http://127.0.0.1:5000".into()]).unwrap();
        assert!(m.mirrors("docker.io"));
        assert!(!m.mirrors("registry.k8s.io"));
        let m = Mirror::new("registry.k8s.io", &[]).unwrap();
        assert!(m.mirrors("registry.k8s.io"));
        assert!(Mirror::new("registry.k8s.io/pause", &[]).is_err());
        assert!(Mirror::new("registry.k8s.io", &["ftp://x".into()]).is_err());
    }

    #[test]
    fn mirrors_deserialize_from_config_text() {
        #[derive(Deserialize)]
        struct File {
            mirror: Vec<Mirror>,
        }
        let file: File = serde_json::from_str(
            r#"{"mirror":[{"registry":"gcr.io","endpoints":["http://127.0.0.1:5077","m.lan/gcr"]}]}"#,
        )
        .unwrap();
        assert_eq!(file.mirror[0].endpoints.len(), 2);
        assert_eq!(file.mirror[0].endpoints[1].prefix, "gcr");
        let err = serde_json::from_str::<File>(
            r#"{"mirror":[{"registry":"gcr.io","endpoints":["ftp://x"]}]}"#,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("ftp://x"), "{err}");
    }
}
