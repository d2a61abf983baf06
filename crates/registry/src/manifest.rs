//! Fetching manifests and indexes: capped in size, typed, and verified against their digest.

use aurora_spec::media::{self, Kind};
use aurora_spec::{Digest, Hasher, ImageRef};
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use crate::client::{expect_success, header_value, Access, RegistryClient, Target};
use crate::error::{RegistryError, Result};

/// A manifest or index exactly as the registry sent it.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    /// The media type, from the document or the `Content-Type` header.
    pub media_type: String,
    pub kind: Kind,
    /// The digest of `bytes` (verified against the request when fetched by digest).
    pub digest: Digest,
}

#[derive(Deserialize)]
struct Shape {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    #[serde(rename = "schemaVersion")]
    schema_version: Option<u32>,
    manifests: Option<serde_json::Value>,
    layers: Option<serde_json::Value>,
}

impl RegistryClient {
    /// Fetches `reference` (a tag or a digest) of the image's repository: from the
    /// registry's mirrors first, if it has any, then from the registry.
    pub async fn fetch_manifest(
        &self,
        image: &ImageRef,
        reference: &str,
    ) -> Result<FetchedManifest> {
        let separator = if reference.contains(':') { '@' } else { ':' };
        let shown = format!("{}{separator}{}", image.name(), reference);
        let shown = shown.as_str();
        self.try_pull_sources(image, "manifest", |target| async move {
            self.fetch_manifest_at(&target, reference, shown).await
        })
        .await
    }

    /// Fetches `reference` from one source; `shown` names the manifest in errors.
    async fn fetch_manifest_at(
        &self,
        target: &Target,
        reference: &str,
        shown: &str,
    ) -> Result<FetchedManifest> {
        let url = target.url(&format!("manifests/{reference}"))?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, header_value(&media::manifest_accept()));
        let response = self
            .send(target, Access::Pull, Method::GET, url.clone(), headers)
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound {
                what: "manifest",
                registry: target.registry.clone(),
                repository: target.repository.clone(),
                reference: reference.to_string(),
            });
        }
        let mut response = expect_success(response, &url).await?;
        let limit = media::MAX_MANIFEST_BYTES;
        let too_large = || RegistryError::ManifestTooLarge {
            reference: shown.to_string(),
            limit,
        };
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| media::essence(v).to_string())
            .unwrap_or_default();
        let header_digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        let mut bytes = Vec::new();
        while let Some(chunk) =
            response
                .chunk()
                .await
                .map_err(|source| RegistryError::Transport {
                    url: url.to_string(),
                    source,
                })?
        {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        let digest = verified_digest(&bytes, reference, header_digest, shown)?;
        let media_type = classify(&bytes, &content_type, shown)?;
        Ok(FetchedManifest {
            kind: media::kind(&media_type),
            bytes,
            media_type,
            digest,
        })
    }
}

/// The digest of the bytes, checked against the digest asked for, or else against the one
/// the registry announced.
fn verified_digest(
    bytes: &[u8],
    reference: &str,
    announced: Option<Digest>,
    shown: &str,
) -> Result<Digest> {
    let requested = reference.parse::<Digest>().ok();
    let expected = requested.or(announced);
    let algorithm_of = |d: &Option<Digest>| d.as_ref().and_then(|d| Hasher::for_digest(d).ok());
    let hasher = algorithm_of(&expected).unwrap_or_else(Hasher::sha256);
    let mut hasher = hasher;
    hasher.update(bytes);
    let actual = hasher.finish();
    if let Some(expected) = expected {
        if expected.to_string() != actual {
            return Err(RegistryError::DigestMismatch {
                reference: shown.to_string(),
                expected: expected.to_string(),
                actual,
            });
        }
        return Ok(expected);
    }
    Ok(aurora_spec::sha256_digest(bytes))
}

/// The document's media type: its own `mediaType` field, else a specific `Content-Type`,
/// else its shape. Schema 1 and unknown types are refused here, by name. `shown` names the
/// manifest in errors.
pub fn classify(bytes: &[u8], content_type: &str, shown: &str) -> Result<String> {
    let shape: Shape =
        serde_json::from_slice(bytes).map_err(|e| RegistryError::UnknownMediaType {
            reference: shown.to_string(),
            media_type: format!("{content_type} (not valid JSON: {e})"),
        })?;
    let media_type = shape
        .media_type
        .clone()
        .filter(|m| !m.is_empty())
        .or_else(|| (media::kind(content_type) != Kind::Other).then(|| content_type.to_string()))
        .or_else(|| guess_from_shape(&shape))
        .unwrap_or_else(|| content_type.to_string());
    match media::kind(&media_type) {
        Kind::Schema1 => Err(RegistryError::Schema1 {
            reference: shown.to_string(),
        }),
        Kind::Other => Err(RegistryError::UnknownMediaType {
            reference: shown.to_string(),
            media_type,
        }),
        Kind::Index | Kind::Manifest => Ok(media_type),
    }
}

fn guess_from_shape(shape: &Shape) -> Option<String> {
    match (shape.schema_version, &shape.manifests, &shape.layers) {
        (Some(1), _, _) => Some(media::DOCKER_SCHEMA1.to_string()),
        (Some(2), Some(_), None) => Some(media::OCI_INDEX.to_string()),
        (Some(2), None, Some(_)) => Some(media::OCI_MANIFEST.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_comes_from_the_document_first() {
        let doc = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","layers":[]}"#;
        assert_eq!(
            classify(doc, "application/json", "r").unwrap(),
            media::DOCKER_MANIFEST
        );
        let bare = br#"{"schemaVersion":2,"layers":[]}"#;
        assert_eq!(
            classify(bare, media::OCI_MANIFEST, "r").unwrap(),
            media::OCI_MANIFEST
        );
        assert_eq!(
            classify(bare, "application/json", "r").unwrap(),
            media::OCI_MANIFEST
        );
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(classify(index, "", "r").unwrap(), media::OCI_INDEX);
    }

    #[test]
    fn schema1_unknown_and_non_json_are_refused_by_name() {
        let s1 = br#"{"schemaVersion":1,"fsLayers":[]}"#;
        assert!(
            matches!(classify(s1, "application/json", "img:1"), Err(RegistryError::Schema1 { reference }) if reference == "img:1")
        );
        let odd = br#"{"schemaVersion":2,"mediaType":"application/x-odd","layers":[]}"#;
        let err = classify(odd, "", "img:1").unwrap_err();
        assert!(
            err.to_string().contains("application/x-odd") && err.to_string().contains("img:1"),
            "{err}"
        );
        assert!(classify(b"<html>", "text/html", "img:1").is_err());
    }

    #[test]
    fn digests_are_checked_against_the_request_then_the_header() {
        let bytes = b"{}";
        let right = aurora_spec::sha256_digest(bytes);
        let wrong = aurora_spec::sha256_digest(b"other");
        assert_eq!(
            verified_digest(bytes, right.as_ref(), None, "r").unwrap(),
            right
        );
        assert!(verified_digest(bytes, wrong.as_ref(), None, "r").is_err());
        assert!(verified_digest(bytes, "latest", Some(wrong), "r").is_err());
        assert_eq!(verified_digest(bytes, "latest", None, "r").unwrap(), right);
    }
}
