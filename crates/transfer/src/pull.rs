//! Pulling: resolve the reference, choose the platform, fetch the missing blobs in parallel
//! into the store (verified while streaming), then record the manifests and the name.

use std::collections::{BTreeMap, HashMap};

use aurora_registry::{FetchedManifest, RegistryClient};
use aurora_spec::document::{Document, Link};
use aurora_spec::media::{self, Kind};
use aurora_spec::{Digest, ImageRef, Platform};
use aurora_store::{Descriptor, Store, StoreError, VerifiedBlob};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use oci_spec::image::MediaType;
use tracing::{debug, info};

use aurora_images::{entry_for, SOURCE_DIGEST_ANNOTATION};

use crate::docker_to_oci::{to_oci, Renamed};
use crate::error::{Result, TransferError};
use crate::sink::BlobSink;
use aurora_images::Progress;

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The platform to take from an index; the host's when `None`.
    pub platform: Option<Platform>,
    /// Take every platform of an index, and keep the index itself.
    pub all_platforms: bool,
    /// Blobs downloaded at once.
    pub concurrency: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: None,
            all_platforms: false,
            concurrency: 6,
        }
    }
}

/// What a pull did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PullReport {
    /// The name the image has in the store.
    pub name: String,
    /// The digest of what the name points to in the store (a manifest, or an index with
    /// --all-platforms), in OCI form.
    pub digest: String,
    /// The digest the reference resolved to in the registry (differs from `digest` when the
    /// registry served a Docker schema 2 document, or an index of which one entry was taken).
    pub source_digest: String,
    pub media_type: String,
    /// Blobs fetched from the registry, and the bytes they brought.
    pub blobs_fetched: usize,
    pub bytes_fetched: u64,
    /// Blobs that were already in the store.
    pub blobs_present: usize,
}

/// A manifest to store, with the blobs it needs.
struct Resolved {
    manifest: FetchedManifest,
    /// The index entry that led to it, when chosen from an index.
    platform: Option<aurora_spec::document::LinkPlatform>,
}

/// Pulls `image` into `store`. Blobs are verified aside and published only once all have
/// arrived, then the manifests that name them, then the name: a failure leaves the layout as
/// it was (a crash during publishing leaves only verified, unnamed blobs, which the next pull
/// reuses or `gc` removes). Docker schema 2 documents are stored in OCI form.
pub async fn pull(
    store: &Store,
    client: &RegistryClient,
    image: &ImageRef,
    options: &PullOptions,
    progress: &dyn Progress,
) -> Result<PullReport> {
    let _writer = store.writer_lock()?;
    let top = client
        .fetch_manifest(image, &image.manifest_reference())
        .await?;
    progress.resolved(&image.to_string(), &top.digest);
    let source_digest = top.digest.clone();
    info!(reference = %image, digest = %top.digest, media_type = %top.media_type, "resolved");

    let (manifests, named) = match top.kind {
        Kind::Index if options.all_platforms => {
            let children = fetch_all_children(client, image, &top).await?;
            (children, Some(top))
        }
        Kind::Index => {
            let wanted = options.platform.clone().unwrap_or_else(Platform::host);
            (
                vec![fetch_platform_child(client, image, &top, &wanted).await?],
                None,
            )
        }
        _ => (
            vec![Resolved {
                manifest: top,
                platform: None,
            }],
            None,
        ),
    };

    let blobs = blobs_of(client, image, &manifests)?;
    let (verified, present) =
        fetch_blobs(store, client, image, &blobs, options.concurrency, progress).await?;
    // Only now that every blob has arrived does any of them enter the layout: a failed pull
    // leaves blobs/ and index.json as they were, and its downloads in the scratch directory
    // for the next attempt to adopt.
    let fetched = verified.len();
    let mut bytes_fetched = 0;
    for (blob, transferred) in verified {
        blob.publish()?;
        bytes_fetched += transferred;
    }

    let (manifests, named) = in_oci_form(image, manifests, named)?;
    for resolved in &manifests {
        store.put_blob(&resolved.manifest.digest, &resolved.manifest.bytes)?;
    }
    let mut descriptor = match &named {
        Some(index) => {
            store.put_blob(&index.digest, &index.bytes)?;
            descriptor_for(index, None)
        }
        None => descriptor_for(&manifests[0].manifest, manifests[0].platform.as_ref()),
    };
    descriptor.set_annotations(Some(HashMap::from([(
        SOURCE_DIGEST_ANNOTATION.to_string(),
        source_digest.to_string(),
    )])));
    let name = image.store_name();
    store.set_ref(&name, &descriptor)?;
    Ok(PullReport {
        name,
        digest: descriptor.digest().to_string(),
        source_digest: source_digest.to_string(),
        media_type: descriptor.media_type().to_string(),
        blobs_fetched: fetched,
        bytes_fetched,
        blobs_present: present,
    })
}

/// The manifests (and index) as they will be stored: Docker schema 2 documents converted to
/// OCI, an index pointed at its converted children.
fn in_oci_form(
    image: &ImageRef,
    manifests: Vec<Resolved>,
    index: Option<FetchedManifest>,
) -> Result<(Vec<Resolved>, Option<FetchedManifest>)> {
    let bad = |digest: &Digest| {
        let digest = digest.to_string();
        move |reason: String| TransferError::BadManifest {
            reference: image.to_string(),
            digest,
            reason,
        }
    };
    let mut renamed = Renamed::new();
    let mut converted = Vec::with_capacity(manifests.len());
    for resolved in manifests {
        let manifest = match to_oci(&resolved.manifest, &Renamed::new())
            .map_err(bad(&resolved.manifest.digest))?
        {
            Some(oci) => {
                let identity = (
                    oci.digest.clone(),
                    oci.bytes.len() as u64,
                    oci.media_type.clone(),
                );
                renamed.insert(resolved.manifest.digest.to_string(), identity);
                oci
            }
            None => resolved.manifest,
        };
        converted.push(Resolved {
            manifest,
            platform: resolved.platform,
        });
    }
    let index = match index {
        Some(index) => Some(
            to_oci(&index, &renamed)
                .map_err(bad(&index.digest))?
                .unwrap_or(index),
        ),
        None => None,
    };
    Ok((converted, index))
}

fn descriptor_for(
    manifest: &FetchedManifest,
    platform: Option<&aurora_spec::document::LinkPlatform>,
) -> Descriptor {
    let mut descriptor = Descriptor::new(
        MediaType::from(manifest.media_type.as_str()),
        manifest.bytes.len() as u64,
        manifest.digest.clone(),
    );
    if let Some(p) = platform {
        let mut built = oci_spec::image::PlatformBuilder::default()
            .os(oci_spec::image::Os::from(p.os.as_str()))
            .architecture(oci_spec::image::Arch::from(p.architecture.as_str()));
        if let Some(v) = &p.variant {
            built = built.variant(v.clone());
        }
        descriptor.set_platform(built.build().ok());
    }
    descriptor
}

fn parse_document(image: &ImageRef, manifest: &FetchedManifest) -> Result<Document> {
    Document::parse(&manifest.bytes).map_err(|e| TransferError::BadManifest {
        reference: image.to_string(),
        digest: manifest.digest.to_string(),
        reason: e.to_string(),
    })
}

/// Fetches a child manifest named by an index, checking the index's size and digest.
async fn fetch_child(
    client: &RegistryClient,
    image: &ImageRef,
    index: &FetchedManifest,
    link: &Link,
) -> Result<Resolved> {
    let digest = link.digest.clone();
    if link.size > media::MAX_MANIFEST_BYTES {
        return Err(aurora_registry::RegistryError::ManifestTooLarge {
            reference: format!("{}@{}", image.name(), digest),
            limit: media::MAX_MANIFEST_BYTES,
        }
        .into());
    }
    let manifest = client.fetch_manifest(image, digest.as_ref()).await?;
    if manifest.bytes.len() as u64 != link.size || manifest.kind != Kind::Manifest {
        return Err(TransferError::BadManifest {
            reference: image.to_string(),
            digest: index.digest.to_string(),
            reason: format!(
                "entry {digest} should be an image manifest of {} bytes, the registry has a {} of {} bytes",
                link.size,
                manifest.media_type,
                manifest.bytes.len()
            ),
        });
    }
    Ok(Resolved {
        manifest,
        platform: link.platform.clone(),
    })
}

async fn fetch_platform_child(
    client: &RegistryClient,
    image: &ImageRef,
    index: &FetchedManifest,
    wanted: &Platform,
) -> Result<Resolved> {
    let document = parse_document(image, index)?;
    let link = entry_for(&document, wanted, &image.to_string())?;
    debug!(digest = %link.digest, platform = %wanted, "chose platform");
    fetch_child(client, image, index, link).await
}

async fn fetch_all_children(
    client: &RegistryClient,
    image: &ImageRef,
    index: &FetchedManifest,
) -> Result<Vec<Resolved>> {
    let document = parse_document(image, index)?;
    let mut children = Vec::new();
    for link in &document.manifests {
        if media::kind(&link.media_type) == Kind::Index {
            return Err(TransferError::BadManifest {
                reference: image.to_string(),
                digest: index.digest.to_string(),
                reason: "nested indexes are not supported".into(),
            });
        }
        children.push(fetch_child(client, image, index, link).await?);
    }
    Ok(children)
}

/// The distinct blobs (config and layers) the manifests need, by digest, each within the
/// client's size limit: a descriptor claiming more fails the pull before any byte moves.
fn blobs_of(
    client: &RegistryClient,
    image: &ImageRef,
    manifests: &[Resolved],
) -> Result<BTreeMap<String, (Digest, u64)>> {
    let mut blobs = BTreeMap::new();
    for resolved in manifests {
        let document = parse_document(image, &resolved.manifest)?;
        let owner = &resolved.manifest.digest;
        let config = document
            .config
            .as_ref()
            .ok_or_else(|| TransferError::BadManifest {
                reference: image.to_string(),
                digest: owner.to_string(),
                reason: "no config".into(),
            })?;
        if config.size > media::MAX_CONFIG_BYTES {
            return Err(TransferError::BadManifest {
                reference: image.to_string(),
                digest: owner.to_string(),
                reason: format!("config of {} bytes is larger than allowed", config.size),
            });
        }
        for link in std::iter::once(config).chain(&document.layers) {
            let digest = link.digest.clone();
            client.check_blob_size(image, &digest, link.size)?;
            blobs.insert(digest.to_string(), (digest, link.size));
        }
    }
    Ok(blobs)
}

/// Downloads what the store lacks, `concurrency` at a time. Returns the verified blobs with
/// the bytes each one brought over the network, and how many were already present.
async fn fetch_blobs(
    store: &Store,
    client: &RegistryClient,
    image: &ImageRef,
    blobs: &BTreeMap<String, (Digest, u64)>,
    concurrency: usize,
    progress: &dyn Progress,
) -> Result<(Vec<(VerifiedBlob, u64)>, usize)> {
    let mut missing = Vec::new();
    let mut present = 0;
    for (digest, size) in blobs.values() {
        if store.blob_size(digest)? == Some(*size) {
            progress.blob_present(digest, *size);
            present += 1;
        } else {
            missing.push((digest.clone(), *size));
        }
    }
    // Largest first, so the long downloads overlap with the short ones.
    missing.sort_by_key(|(_, size)| std::cmp::Reverse(*size));
    let verified = stream::iter(missing)
        .map(|(digest, size)| fetch_blob(store, client, image, digest, size, progress))
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok((verified, present))
}

/// Downloads one blob into the store's scratch directory, verified, resuming after dropped
/// connections. Returns it with the bytes that crossed the network. A partial download left
/// by an earlier attempt that turns out wrong is thrown away and the blob fetched once more.
async fn fetch_blob(
    store: &Store,
    client: &RegistryClient,
    image: &ImageRef,
    digest: Digest,
    size: u64,
    progress: &dyn Progress,
) -> Result<(VerifiedBlob, u64)> {
    let mut sink = BlobSink::open(store, &digest, size).await?;
    let adopted = sink.offset();
    progress.blob_started(&digest, size, adopted);
    let mut transferred = download(client, image, &digest, &mut sink, size, progress).await?;
    let verified = match sink.finish().await {
        Err(TransferError::Image(aurora_images::ImageError::Store(StoreError::Digest {
            ..
        }))) if adopted > 0 => {
            // The bad partial was deleted when it failed; start from nothing.
            progress.blob_restarted(&digest);
            let mut sink = BlobSink::open(store, &digest, size).await?;
            transferred += download(client, image, &digest, &mut sink, size, progress).await?;
            sink.finish().await?
        }
        other => other?,
    };
    progress.blob_done(&digest);
    Ok((verified, transferred))
}

/// Streams the blob into the sink from its offset to the end. A body that breaks off is
/// resumed from where it stopped, with back-off; failures to get a response at all were
/// already retried by the client and are final here.
async fn download(
    client: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    sink: &mut BlobSink,
    size: u64,
    progress: &dyn Progress,
) -> Result<u64> {
    let retry = client.config().retry;
    let mut transferred = 0;
    let mut attempt = 0;
    loop {
        match transfer(
            client,
            image,
            digest,
            sink,
            size,
            &mut transferred,
            progress,
        )
        .await
        {
            Ok(()) => return Ok(transferred),
            Err(Broken::Resumable(e)) if e.is_transient() && attempt + 1 < retry.attempts => {
                progress.blob_retrying(digest, &e.to_string());
                tokio::time::sleep(retry.delay(attempt)).await;
                attempt += 1;
            }
            Err(Broken::Resumable(e) | Broken::Final(e)) => return Err(e),
        }
    }
}

/// How an attempt broke: before the body arrived or in the store (final), or while the body
/// streamed (resumable from the bytes already written).
enum Broken {
    Final(TransferError),
    Resumable(TransferError),
}

/// One attempt: from the sink's offset to the end of the blob.
async fn transfer(
    client: &RegistryClient,
    image: &ImageRef,
    digest: &Digest,
    sink: &mut BlobSink,
    size: u64,
    transferred: &mut u64,
    progress: &dyn Progress,
) -> std::result::Result<(), Broken> {
    let offset = sink.offset();
    if offset == size {
        return Ok(());
    }
    let request = |e: aurora_registry::RegistryError| Broken::Final(e.into());
    let mut body = client
        .open_blob(image, digest, offset)
        .await
        .map_err(request)?;
    if body.start == 0 && offset > 0 {
        sink.restart().await.map_err(Broken::Final)?;
        progress.blob_restarted(digest);
    }
    while let Some(chunk) = body
        .chunk()
        .await
        .map_err(|e| Broken::Resumable(e.into()))?
    {
        let len = chunk.len() as u64;
        sink.write(chunk).await.map_err(Broken::Final)?;
        *transferred += len;
        progress.blob_advanced(digest, len);
    }
    if sink.offset() < size {
        return Err(Broken::Resumable(TransferError::Truncated {
            digest: digest.to_string(),
            received: sink.offset(),
            expected: size,
        }));
    }
    Ok(())
}
