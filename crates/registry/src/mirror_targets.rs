//! Where a pull goes when its registry has mirrors: the mirror endpoints in order (those found
//! unreachable earlier left out), then the registry; each a [`Target`] of its own origin.

use std::future::Future;

use aurora_spec::ImageRef;
use tracing::{debug, info, warn};
use url::Url;

use crate::client::{RegistryClient, Target};
use crate::error::{RegistryError, Result};
use crate::mirror::{Endpoint, EndpointScheme};

impl RegistryClient {
    /// Where a pull of `image` goes, in order: the registry's mirror endpoints (those not found
    /// unreachable earlier in this client's life), then the registry itself, always last.
    pub(crate) fn pull_targets(&self, image: &ImageRef) -> Result<(Vec<Target>, Target)> {
        let registry = self.target(image)?;
        let mut mirrors = Vec::new();
        for mirror in self
            .config()
            .mirrors
            .iter()
            .filter(|m| m.mirrors(image.registry()))
        {
            for endpoint in &mirror.endpoints {
                let target = self.mirror_target(endpoint, image.repository())?;
                if !self.is_unreachable(&target) {
                    mirrors.push(target);
                }
            }
        }
        Ok((mirrors, registry))
    }

    fn mirror_target(&self, endpoint: &Endpoint, repository: &str) -> Result<Target> {
        let scheme = match endpoint.scheme {
            EndpointScheme::Http => "http",
            EndpointScheme::Https => "https",
            EndpointScheme::Default if self.allows_plain_http(&endpoint.host) => "http",
            EndpointScheme::Default => "https",
        };
        let base_text = format!("{scheme}://{}/v2/", endpoint.host);
        let base = Url::parse(&base_text).map_err(|e| RegistryError::BadUrl {
            url: base_text,
            reason: e.to_string(),
        })?;
        Ok(Target {
            // The endpoint's own host: its credentials, its auth state, its name in errors.
            registry: endpoint.host.clone(),
            repository: endpoint.repository(repository),
            base,
            mirror: true,
        })
    }

    /// Runs `fetch` against each mirror of the image's registry in turn, then the registry:
    /// the first success wins. A mirror's failure of any kind (not found, refused, down, bad
    /// content) falls through to the next source; the registry's failure is the pull's.
    pub(crate) async fn try_pull_sources<T, F, Fut>(
        &self,
        image: &ImageRef,
        what: &str,
        mut fetch: F,
    ) -> Result<T>
    where
        F: FnMut(Target) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let (mirrors, registry) = self.pull_targets(image)?;
        for mirror in mirrors {
            let origin = mirror.base.clone();
            match fetch(mirror).await {
                Ok(found) => {
                    info!(%image, mirror = %origin, what, "from a mirror");
                    return Ok(found);
                }
                Err(error) => self.mirror_failed(&origin, what, &error),
            }
        }
        fetch(registry).await
    }

    /// Notes a mirror's failure: a mirror that cannot be reached is left out of this
    /// client's later requests, so that a pull of many blobs waits for it once, not per blob.
    fn mirror_failed(&self, origin: &Url, what: &str, error: &RegistryError) {
        match error {
            RegistryError::NotFound { .. } => {
                debug!(mirror = %origin, what, "not in the mirror; trying the next source");
            }
            RegistryError::Transport { source, .. }
                if source.is_connect() || source.is_timeout() =>
            {
                warn!(mirror = %origin, %error, "mirror unreachable; not trying it again in this pull");
                let mut dead = self.unreachable.lock().unwrap_or_else(|p| p.into_inner());
                dead.insert(origin.origin().ascii_serialization());
            }
            _ => warn!(mirror = %origin, what, %error, "mirror failed; trying the next source"),
        }
    }

    fn is_unreachable(&self, target: &Target) -> bool {
        let dead = self.unreachable.lock().unwrap_or_else(|p| p.into_inner());
        dead.contains(&target.base.origin().ascii_serialization())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mirror::Mirror;

    fn client(mirrors: &[(&str, &[&str])]) -> RegistryClient {
        let mirrors = mirrors
            .iter()
            .map(|(registry, endpoints)| {
                let endpoints: Vec<String> = endpoints.iter().map(|e| e.to_string()).collect();
                Mirror::new(registry, &endpoints).unwrap()
            })
            .collect();
        RegistryClient::new(crate::ClientConfig {
            credentials: crate::CredentialStore::from_files(Vec::new()),
            mirrors,
            ..crate::ClientConfig::default()
        })
        .unwrap()
    }

    fn urls(client: &RegistryClient, reference: &str) -> Vec<String> {
        let (mirrors, registry) = client
            .pull_targets(&ImageRef::parse(reference).unwrap())
            .unwrap();
        mirrors
            .iter()
            .chain(std::iter::once(&registry))
            .map(|t| {
                assert_eq!(t.mirror, !std::ptr::eq(t, &registry));
                t.url("manifests/1").unwrap().to_string()
            })
            .collect()
    }

    #[test]
    fn pulls_try_the_mirrors_in_order_then_the_registry() {
        let c = client(&[
            ("registry.k8s.io", &["http://127.0.0.1:5077", "m.lan/k8s"]),
            ("docker.io", &["https://hub.lan"]),
            ("registry.k8s.io", &["http://10.0.0.9:5000"]),
        ]);
        assert_eq!(
            urls(&c, "registry.k8s.io/e2e/busybox:1"),
            [
                "http://127.0.0.1:5077/v2/e2e/busybox/manifests/1",
                "https://m.lan/v2/k8s/e2e/busybox/manifests/1",
                "http://10.0.0.9:5000/v2/e2e/busybox/manifests/1",
                "https://registry.k8s.io/v2/e2e/busybox/manifests/1",
            ]
        );
        assert_eq!(
            urls(&c, "alpine"),
            [
                "https://hub.lan/v2/library/alpine/manifests/1",
                "https://registry-1.docker.io/v2/library/alpine/manifests/1",
            ]
        );
        assert_eq!(
            urls(&c, "gcr.io/a/b"),
            ["https://gcr.io/v2/a/b/manifests/1"]
        );
    }

    #[test]
    fn an_http_endpoint_allows_plain_http_to_that_host_alone() {
        let c = client(&[("gcr.io", &["http://10.0.0.9:5000", "https://10.0.0.8:5000"])]);
        assert!(c.allows_plain_http("10.0.0.9:5000"));
        assert!(!c.allows_plain_http("10.0.0.9:5001"));
        assert!(!c.allows_plain_http("10.0.0.8:5000"));
        assert!(!c.allows_plain_http("gcr.io"));
    }

    #[test]
    fn a_mirror_target_is_its_own_origin_for_credentials() {
        let c = client(&[("registry.k8s.io", &["http://127.0.0.1:5077/pre"])]);
        let (mirrors, registry) = c
            .pull_targets(&ImageRef::parse("registry.k8s.io/x/y:1").unwrap())
            .unwrap();
        // Credentials are looked up by `registry`: the endpoint's host, never the mirrored one.
        assert_eq!(mirrors[0].registry, "127.0.0.1:5077");
        assert_eq!(mirrors[0].repository, "pre/x/y");
        assert_eq!(registry.registry, "registry.k8s.io");
        assert_ne!(mirrors[0].base.origin(), registry.base.origin());
    }

    #[test]
    fn unreachable_mirrors_are_left_out_afterwards() {
        let c = client(&[(
            "registry.k8s.io",
            &["http://127.0.0.1:5077", "http://127.0.0.1:5078"],
        )]);
        let image = ImageRef::parse("registry.k8s.io/x/y:1").unwrap();
        let (mirrors, _) = c.pull_targets(&image).unwrap();
        c.unreachable
            .lock()
            .unwrap()
            .insert(mirrors[0].base.origin().ascii_serialization());
        let (mirrors, _) = c.pull_targets(&image).unwrap();
        assert_eq!(mirrors.len(), 1);
        assert_eq!(mirrors[0].registry, "127.0.0.1:5078");
    }
}
