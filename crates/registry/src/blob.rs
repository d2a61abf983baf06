//! Opening blob downloads, from the start or from an offset.

use aurora_spec::{Digest, ImageRef};
use reqwest::header::{HeaderMap, CONTENT_RANGE, RANGE};
use reqwest::{Method, Response, StatusCode};

use crate::client::{expect_success, header_value, Access, RegistryClient};
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
    /// Starts downloading a blob, asking for the bytes from `offset` on when it is not 0.
    pub async fn open_blob(
        &self,
        image: &ImageRef,
        digest: &Digest,
        offset: u64,
    ) -> Result<BlobResponse> {
        let target = self.target(image)?;
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
