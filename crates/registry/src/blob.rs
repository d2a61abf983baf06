//! Opening blob downloads, from the start or from an offset.

use aurora_spec::{Digest, ImageRef};
use reqwest::header::{HeaderMap, CONTENT_RANGE, RANGE};
use reqwest::{Method, Response, StatusCode};

#[cfg(test)]
use crate::client::DEFAULT_MAX_BLOB_SIZE;
use crate::client::{expect_success, header_value, Access, RegistryClient, Target};
use crate::error::{RegistryError, Result};

/// A blob response whose body starts at `start` (0 when the registry ignored the range).
pub struct BlobResponse {
    pub response: Response,
    pub start: u64,
    pub url: String,
}

impl BlobResponse {
    /// The next piece of the body; `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>> {
        self.response
            .chunk()
            .await
            .map_err(|source| RegistryError::Transport {
                url: self.url.clone(),
                source,
            })
    }
}

impl RegistryClient {
    /// Refuses a blob whose descriptor claims more than the client's `max_blob_size`: called
    /// for every blob of an image before any is downloaded. (The store's writer then holds the
    /// download to the descriptor's size.)
    pub fn check_blob_size(&self, image: &ImageRef, digest: &Digest, size: u64) -> Result<()> {
        let limit = self.config().max_blob_size;
        if size <= limit {
            return Ok(());
        }
        Err(RegistryError::BlobTooLarge {
            reference: image.to_string(),
            digest: digest.to_string(),
            size,
            limit,
        })
    }

    /// Starts downloading a blob, asking for the bytes from `offset` on when it is not 0:
    /// from the registry's mirrors first, if it has any, then from the registry.
    pub async fn open_blob(
        &self,
        image: &ImageRef,
        digest: &Digest,
        offset: u64,
    ) -> Result<BlobResponse> {
        self.try_pull_sources(image, "blob", |target| async move {
            self.open_blob_at(target, digest, offset).await
        })
        .await
    }

    async fn open_blob_at(
        &self,
        target: Target,
        digest: &Digest,
        offset: u64,
    ) -> Result<BlobResponse> {
        let url = target.url(&format!("blobs/{digest}"))?;
        let mut headers = HeaderMap::new();
        if offset > 0 {
            headers.insert(RANGE, header_value(&format!("bytes={offset}-")));
        }
        let response = self
            .send(&target, Access::Pull, Method::GET, url.clone(), headers)
            .await?;
        let start = match response.status() {
            StatusCode::PARTIAL_CONTENT => range_start(&response)
                .filter(|&s| s == offset)
                .ok_or_else(|| RegistryError::Protocol {
                    url: url.to_string(),
                    reason: format!(
                        "answered a range request for bytes {offset}- with another range"
                    ),
                })?,
            StatusCode::NOT_FOUND => {
                return Err(RegistryError::NotFound {
                    what: "blob",
                    registry: target.registry,
                    repository: target.repository,
                    reference: digest.to_string(),
                })
            }
            _ => 0,
        };
        let response = expect_success(response, &url).await?;
        Ok(BlobResponse {
            response,
            start,
            url: url.to_string(),
        })
    }
}

/// The first byte of a `Content-Range: bytes START-END/TOTAL` answer.
fn range_start(response: &Response) -> Option<u64> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    value
        .trim()
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClientConfig, CredentialStore};

    #[test]
    fn blob_sizes_over_the_limit_are_refused_naming_digest_size_limit_and_key() {
        let client = |max_blob_size| {
            RegistryClient::new(ClientConfig {
                credentials: CredentialStore::from_files(Vec::new()),
                max_blob_size,
                ..ClientConfig::default()
            })
            .unwrap()
        };
        let image = ImageRef::parse("127.0.0.1:5000/team/app:1").unwrap();
        let digest: Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        let default = client(DEFAULT_MAX_BLOB_SIZE);
        default
            .check_blob_size(&image, &digest, DEFAULT_MAX_BLOB_SIZE)
            .unwrap();
        let err = default
            .check_blob_size(&image, &digest, 1 << 62)
            .unwrap_err()
            .to_string();
        for word in [
            digest.as_ref(),
            "4611686018427387904",
            "68719476736",
            "max_blob_size",
            "127.0.0.1:5000/team/app:1",
        ] {
            assert!(err.contains(word), "{word} in {err}");
        }
        let small = client(1000);
        small.check_blob_size(&image, &digest, 1000).unwrap();
        assert!(small.check_blob_size(&image, &digest, 1001).is_err());
    }
}
