//! The way up: blobs checked for (HEAD), mounted from another repository of the same
//! registry, or uploaded (POST for a session, then one PUT with the digest), and manifests put
//! by tag or digest. Every upload is verified by the digest the registry reports back.

use std::path::Path;

use aurora_spec::{sha256_digest, Digest, ImageRef};
use reqwest::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use reqwest::{Method, Response, StatusCode};
use tracing::{debug, warn};
use url::Url;

use crate::client::{error_message, expect_success, header_value, Access, Payload, Target};
use crate::error::{RegistryError, Result};
use crate::RegistryClient;

/// How a blob came to be in the destination repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobUpload {
    /// It was there already.
    Present,
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
    /// repository: nothing when it is there, a cross-repository mount from `mount_from` (a
    /// repository of the same registry) when the registry allows it, else an upload.
    pub async fn push_blob(
        &self,
        image: &ImageRef,
        digest: &Digest,
        size: u64,
        path: &Path,
        mount_from: Option<&str>,
    ) -> Result<BlobUpload> {
        if self.blob_size(image, digest).await?.is_some() {
            return Ok(BlobUpload::Present);
        }
        let target = self.target(image)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .try_push_blob(&target, digest, size, path, mount_from)
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
        let mut put = upload_location(target, &response, &start)?;
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
