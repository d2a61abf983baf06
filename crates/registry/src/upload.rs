//! The way up: blobs checked for (HEAD), mounted from another repository of the same
//! registry, or uploaded (POST for a session, then one PUT with the digest; or, above a size,
//! in chunks: PATCHes of a bounded size, resumed from what the registry says it has, then the
//! PUT), and manifests put by tag or digest. Every upload is verified by the digest the
//! registry reports back.

use std::path::Path;

use aurora_spec::{sha256_digest, Digest, ImageRef};
use reqwest::header::{HeaderMap, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use reqwest::{Method, Response, StatusCode};
use tracing::{debug, warn};
use url::Url;

use crate::client::{error_message, expect_success, header_value, Access, Payload, Target};
use crate::error::{RegistryError, Result};
use crate::RegistryClient;

/// How a blob came to be in the destination repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobUpload {
    /// The registry linked it from another repository.
    Mounted,
    /// Its bytes were sent.
    Uploaded,
}

impl RegistryClient {
    /// Whether the repository of `image` has the blob (HEAD), and its size.
    pub async fn blob_size(&self, image: &ImageRef, digest: &Digest) -> Result<Option<u64>> {
        let target = self.target(image)?;
        let url = target.url(&format!("blobs/{digest}"))?;
        let response = self
            .send(
                &target,
                Access::PullPush,
                Method::HEAD,
                url.clone(),
                HeaderMap::new(),
            )
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(
                response
                    .headers()
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            _ => expect_success(response, &url).await.map(|_| None),
        }
    }

    /// Makes the blob `digest` (`size` bytes, in the file `path`) part of `image`'s
    /// repository (callers check [`blob_size`](Self::blob_size) first): a cross-repository
    /// mount from `mount_from` (a repository of the same registry) when the registry allows
    /// it, else an upload: in one
    /// request, or in chunks of `chunk` bytes (at least the registry's minimum) when the blob
    /// is larger than that (`chunk` 0: always in one request).
    pub async fn push_blob(
        &self,
        image: &ImageRef,
        digest: &Digest,
        size: u64,
        path: &Path,
        mount_from: Option<&str>,
        chunk: u64,
    ) -> Result<BlobUpload> {
        let target = self.target(image)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .try_push_blob(&target, digest, size, path, mount_from, chunk)
                .await;
            match result {
                Err(e) if e.is_transient() && attempt < self.config().retry.attempts => {
                    let delay = self.config().retry.delay(attempt - 1);
                    warn!(%digest, attempt, ?delay, error = %e, "upload failed; starting it again");
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    async fn try_push_blob(
        &self,
        target: &Target,
        digest: &Digest,
        size: u64,
        path: &Path,
        mount_from: Option<&str>,
        chunk: u64,
    ) -> Result<BlobUpload> {
        let mut start = target.url("blobs/uploads/")?;
        if let Some(from) = mount_from.filter(|from| *from != target.repository) {
            start
                .query_pairs_mut()
                .append_pair("mount", digest.as_ref())
                .append_pair("from", from);
        }
        let response = self
            .send(
                target,
                Access::PullPush,
                Method::POST,
                start.clone(),
                HeaderMap::new(),
            )
            .await?;
        if response.status() == StatusCode::CREATED && mount_from.is_some() {
            debug!(%digest, from = ?mount_from, "mounted");
            return Ok(BlobUpload::Mounted);
        }
        if response.status() != StatusCode::ACCEPTED {
            return Err(status_error(response, &start).await);
        }
        let session = upload_location(target, &response, &start)?;
        let minimum = response
            .headers()
            .get("oci-chunk-min-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if chunk > 0 && size > chunk {
            self.upload_chunks(target, session, digest, size, path, chunk.max(minimum))
                .await?;
            return Ok(BlobUpload::Uploaded);
        }
        let mut put = session;
        put.query_pairs_mut().append_pair("digest", digest.as_ref());
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, header_value("application/octet-stream"));
        headers.insert(CONTENT_LENGTH, header_value(&size.to_string()));
        let response = self
            .send_with(
                target,
                Access::PullPush,
                Method::PUT,
                put.clone(),
                headers,
                Some(&Payload::File(path)),
            )
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(status_error(response, &put).await);
        }
        check_reported_digest(&response, digest, &put)?;
        Ok(BlobUpload::Uploaded)
    }

    /// Sends the blob in PATCHes of `chunk` bytes, each streamed from its range of the file; after a failed PATCH the registry is asked how
    /// much it has and the upload goes on from there. Then the closing PUT with the digest.
    async fn upload_chunks(
        &self,
        target: &Target,
        mut location: Url,
        digest: &Digest,
        size: u64,
        path: &Path,
        chunk: u64,
    ) -> Result<()> {
        let mut offset = 0;
        let mut failures = 0;
        while offset < size {
            let len = chunk.min(size - offset);
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, header_value("application/octet-stream"));
            headers.insert(CONTENT_LENGTH, header_value(&len.to_string()));
            headers.insert(
                CONTENT_RANGE,
                header_value(&format!("{}-{}", offset, offset + len - 1)),
            );
            let sent = self
                .send_with(
                    target,
                    Access::PullPush,
                    Method::PATCH,
                    location.clone(),
                    headers,
                    Some(&Payload::FileRange { path, offset, len }),
                )
                .await;
            let response = match sent {
                Ok(r) if r.status() == StatusCode::ACCEPTED => r,
                Ok(r) => {
                    failures += 1;
                    if failures >= self.config().retry.attempts {
                        return Err(status_error(r, &location).await);
                    }
                    offset = self.uploaded_so_far(target, &location).await?;
                    continue;
                }
                Err(e) if e.is_transient() && failures + 1 < self.config().retry.attempts => {
                    failures += 1;
                    warn!(%digest, offset, error = %e, "a chunk failed; asking the registry what it has");
                    offset = self.uploaded_so_far(target, &location).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            offset = range_end(&response).map_or(offset + len, |end| end + 1);
            location = upload_location(target, &response, &location)?;
        }
        location
            .query_pairs_mut()
            .append_pair("digest", digest.as_ref());
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, header_value("0"));
        let response = self
            .send(
                target,
                Access::PullPush,
                Method::PUT,
                location.clone(),
                headers,
            )
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(status_error(response, &location).await);
        }
        check_reported_digest(&response, digest, &location)
    }

    /// How many bytes of an upload session the registry has (GET: `Range: 0-N`).
    async fn uploaded_so_far(&self, target: &Target, location: &Url) -> Result<u64> {
        let response = self
            .send(
                target,
                Access::PullPush,
                Method::GET,
                location.clone(),
                HeaderMap::new(),
            )
            .await?;
        if response.status() != StatusCode::NO_CONTENT {
            return Err(status_error(response, location).await);
        }
        Ok(range_end(&response).map_or(0, |end| end + 1))
    }

    /// Puts a manifest (or index) as `reference` (a tag or its digest) of `image`'s
    /// repository; returns the digest the registry reports, which must be the bytes' own.
    pub async fn put_manifest(
        &self,
        image: &ImageRef,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest> {
        let target = self.target(image)?;
        let url = target.url(&format!("manifests/{reference}"))?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, header_value(media_type));
        let payload = Payload::Bytes(bytes::Bytes::copy_from_slice(bytes));
        let response = self
            .send_with(
                &target,
                Access::PullPush,
                Method::PUT,
                url.clone(),
                headers,
                Some(&payload),
            )
            .await?;
        if response.status() != StatusCode::CREATED {
            return Err(status_error(response, &url).await);
        }
        let digest = sha256_digest(bytes);
        check_reported_digest(&response, &digest, &url)?;
        Ok(digest)
    }
}

/// The upload session's URL: relative ones are the registry's; an absolute one on another
/// host is refused, since the credentials for this registry must not go there.
fn upload_location(target: &Target, response: &Response, request: &Url) -> Result<Url> {
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| RegistryError::Protocol {
            url: request.to_string(),
            reason: "an upload was started without a Location to send it to".into(),
        })?;
    let url = request.join(location).map_err(|e| RegistryError::BadUrl {
        url: location.to_string(),
        reason: e.to_string(),
    })?;
    if url.origin() != target.base.origin() {
        return Err(RegistryError::Protocol {
            url: request.to_string(),
            reason: format!("the upload is to go to another host ({url}); Aurora sends this registry's credentials nowhere else"),
        });
    }
    Ok(url)
}

/// The last byte the registry has, from `Range: 0-N` (`0-0` with nothing is ambiguous in the
/// spec; registries answer it only after the first byte).
fn range_end(response: &Response) -> Option<u64> {
    let value = response.headers().get(RANGE)?.to_str().ok()?;
    value.trim().rsplit('-').next()?.trim().parse().ok()
}

fn check_reported_digest(response: &Response, expected: &Digest, url: &Url) -> Result<()> {
    let reported = response
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok());
    match reported {
        Some(reported) if reported != expected.to_string() => Err(RegistryError::DigestMismatch {
            reference: url.to_string(),
            expected: expected.to_string(),
            actual: reported.to_string(),
        }),
        _ => Ok(()),
    }
}

async fn status_error(response: Response, url: &Url) -> RegistryError {
    let status = response.status().as_u16();
    RegistryError::Status {
        url: url.to_string(),
        status,
        message: error_message(response).await,
    }
}
