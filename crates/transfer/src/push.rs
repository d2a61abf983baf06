//! `imageadm push`: an image of the store to a registry. Blobs first (several at a time, each
//! checked for, mounted from the repository it was pulled from when that is on the same
//! registry, or uploaded from the store's file), then manifests bottom up (an index's
//! children by digest, then the top one by tag or digest). The store is only read.

use aurora_registry::{BlobUpload, RegistryClient};
use aurora_spec::document::Link;
use aurora_spec::{Digest, ImageRef};
use aurora_store::{Descriptor, Store};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use tracing::info;

use crate::error::{Result, TransferError};
use aurora_images::find_image;
use aurora_images::Progress;

/// What a push sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PushReport {
    pub destination: String,
    /// The digest of the manifest (or index) pushed.
    pub digest: String,
    pub uploaded: usize,
    pub uploaded_bytes: u64,
    pub mounted: usize,
    pub present: usize,
    pub manifests: usize,
}

/// One blob to send.
struct Blob {
    digest: Digest,
    size: u64,
}

/// A manifest (or index) to put, in order, with its media type.
struct Manifest {
    digest: Digest,
    media_type: String,
    bytes: Vec<u8>,
}

/// How to push.
#[derive(Debug, Clone, Copy)]
pub struct PushOptions {
    /// Blobs uploaded at once.
    pub jobs: usize,
    /// Blobs larger than this go in chunks of this size (0: always in one request).
    pub chunk: u64,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            jobs: 4,
            chunk: 64 << 20,
        }
    }
}

/// Pushes the store's image `source` (a name or digest, as `imageadm images` shows them) to
/// `destination`.
pub async fn push(
    store: &Store,
    client: &RegistryClient,
    source: &str,
    destination: &ImageRef,
    options: &PushOptions,
    progress: &dyn Progress,
) -> Result<PushReport> {
    let (name, descriptor) = find_image(store, source)?;
    let (manifests, blobs) = collect(store, &name, &descriptor)?;
    let mount_from = ImageRef::parse(&name)
        .ok()
        .filter(|pulled| pulled.registry() == destination.registry())
        .map(|pulled| pulled.repository().to_string());
    let mut report = PushReport {
        destination: destination.to_string(),
        ..PushReport::default()
    };
    let outcomes: Vec<(Option<BlobUpload>, u64)> = stream::iter(blobs.iter().map(|blob| {
        let mount_from = mount_from.as_deref();
        async move {
            if client.blob_size(destination, &blob.digest).await?.is_some() {
                progress.upload_skipped(&blob.digest, blob.size, "already in the repository");
                return Ok::<_, TransferError>((None, blob.size));
            }
            progress.upload_started(&blob.digest, blob.size);
            let path = store.blob_path(&blob.digest);
            let outcome = client
                .push_blob(
                    destination,
                    &blob.digest,
                    blob.size,
                    &path,
                    mount_from,
                    options.chunk,
                )
                .await?;
            match outcome {
                BlobUpload::Uploaded => progress.blob_advanced(&blob.digest, blob.size),
                BlobUpload::Mounted => progress.upload_skipped(
                    &blob.digest,
                    blob.size,
                    &format!("mounted from {}", mount_from.unwrap_or_default()),
                ),
            }
            progress.blob_done(&blob.digest);
            Ok((Some(outcome), blob.size))
        }
    }))
    .buffer_unordered(options.jobs.max(1))
    .try_collect()
    .await?;
    for (outcome, size) in outcomes {
        match outcome {
            None => report.present += 1,
            Some(BlobUpload::Mounted) => report.mounted += 1,
            Some(BlobUpload::Uploaded) => {
                report.uploaded += 1;
                report.uploaded_bytes += size;
            }
        }
    }
    let (top, children) = manifests
        .split_last()
        .expect("collect returns the top manifest");
    for child in children {
        client
            .put_manifest(
                destination,
                child.digest.as_ref(),
                &child.media_type,
                &child.bytes,
            )
            .await?;
        report.manifests += 1;
    }
    let reference = destination.manifest_reference();
    let digest = client
        .put_manifest(destination, &reference, &top.media_type, &top.bytes)
        .await?;
    report.manifests += 1;
    report.digest = digest.to_string();
    info!(destination = %destination, digest = %digest, uploaded = report.uploaded, "pushed");
    Ok(report)
}

/// The manifests to put (children first, the top one last) and every blob they link to,
/// each once, largest first (so the long uploads start early).
fn collect(store: &Store, name: &str, top: &Descriptor) -> Result<(Vec<Manifest>, Vec<Blob>)> {
    let walked = aurora_store::walk(store, [Link::from_descriptor(top)], |_, _| true)?;
    let mut manifests = Vec::new();
    let mut blobs: Vec<Blob> = Vec::new();
    for blob in walked {
        match blob.document {
            Some((bytes, _)) => manifests.push((
                blob.depth,
                Manifest {
                    digest: blob.link.digest,
                    media_type: blob.link.media_type,
                    bytes,
                },
            )),
            None => {
                let digest = blob.link.digest;
                if store.blob_size(&digest)?.is_none() {
                    return Err(TransferError::BadManifest {
                        reference: name.to_string(),
                        digest: blob.parent.map(|d| d.to_string()).unwrap_or_default(),
                        reason: format!("blob {digest} is not in the store (pull the image again)"),
                    });
                }
                blobs.push(Blob {
                    digest,
                    size: blob.link.size,
                });
            }
        }
    }
    // A registry accepts a manifest once what it names is there: the deepest first.
    manifests.sort_by_key(|(depth, _)| std::cmp::Reverse(*depth));
    blobs.sort_by_key(|b| std::cmp::Reverse(b.size));
    Ok((manifests.into_iter().map(|(_, m)| m).collect(), blobs))
}
