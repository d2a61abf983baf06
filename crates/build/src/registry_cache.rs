//! `--cache-to` and `--cache-from`: the cache in a registry, so that a fresh machine reuses
//! another's builds (Makisu's idea). A cache is an ordinary OCI image — pushed and pulled as
//! any other, by any registry — whose layers are the cached layer blobs and whose config
//! carries the entries (key → time and layer digest) as one label.

use std::collections::BTreeMap;

use aurora_spec::document::Link;
use aurora_spec::Digest;
use aurora_store::{Store, StoredImage};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::cache::{Cache, CachedLayer, Entry};
use crate::error::{BuildError, Result};

/// The config label holding a cache image's entries.
pub const CACHE_LABEL: &str = "org.aurora.build.cache.v1";

/// Entries a label may hold; more is not a cache we wrote.
const MAX_ENTRIES: usize = 100_000;

/// A build's cache entries, for [`cache_image`].
#[derive(Debug, Clone, Default)]
pub struct CacheEntries(pub(crate) Vec<(Digest, Entry)>);

impl CacheEntries {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Serialize, Deserialize)]
struct LabelEntry {
    created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    layer: Option<Digest>,
}

/// A cache image to store and push: its config's bytes and its layers.
pub struct CacheImage {
    pub config: Vec<u8>,
    pub layers: Vec<Link>,
}

/// The cache image of `entries`: each layer once, the entries in the config's label.
pub fn cache_image(entries: &CacheEntries) -> Result<CacheImage> {
    let mut layers: Vec<CachedLayer> = Vec::new();
    let mut label: BTreeMap<String, LabelEntry> = BTreeMap::new();
    for (key, entry) in &entries.0 {
        if let Some(layer) = &entry.layer {
            if !layers.iter().any(|l| l.digest == layer.digest) {
                layers.push(layer.clone());
            }
        }
        label.insert(
            key.to_string(),
            LabelEntry {
                created: entry.created.clone(),
                layer: entry.layer.as_ref().map(|l| l.digest.clone()),
            },
        );
    }
    let label = serde_json::to_string(&label).map_err(|e| BuildError::Invalid(e.to_string()))?;
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
    let mut config = crate::stage::scratch_config();
    config.insert("config".into(), json!({"Labels": {CACHE_LABEL: label}}));
    config.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": diff_ids}),
    );
    let config = serde_json::to_vec(&config).map_err(|e| BuildError::Invalid(e.to_string()))?;
    let layers = layers
        .into_iter()
        .map(|l| Link {
            media_type: l.media_type,
            digest: l.digest,
            size: l.size,
            platform: None,
        })
        .collect();
    Ok(CacheImage { config, layers })
}

/// Adds the entries of cache image `image` (pulled into `store`) to the store's cache;
/// returns how many.
pub fn import_cache_image(store: &Store, image: &StoredImage) -> Result<usize> {
    let bad =
        |why: &str| BuildError::Invalid(format!("{} is not a build cache: {why}", image.name));
    let config: serde_json::Value =
        serde_json::from_slice(&image.config_bytes).map_err(|_| bad("its config is not JSON"))?;
    let text = config["config"]["Labels"][CACHE_LABEL]
        .as_str()
        .ok_or_else(|| bad("its config has no cache label"))?;
    let label: BTreeMap<String, LabelEntry> =
        serde_json::from_str(text).map_err(|e| bad(&format!("its cache label: {e}")))?;
    if label.len() > MAX_ENTRIES {
        return Err(bad("too many entries"));
    }
    let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|ids| ids.iter().filter_map(|d| d.as_str()).collect())
        .unwrap_or_default();
    if diff_ids.len() != image.manifest.layers.len() {
        return Err(bad("its layers and diff IDs do not match"));
    }
    let cache = Cache::open(store, true)?;
    let mut imported = 0;
    for (key, entry) in label {
        let key: Digest = key.parse().map_err(|_| bad("a key is not a digest"))?;
        let layer = match &entry.layer {
            None => None,
            Some(digest) => {
                let index = image
                    .manifest
                    .layers
                    .iter()
                    .position(|l| &l.digest == digest)
                    .ok_or_else(|| bad("an entry names a layer the image lacks"))?;
                let link = &image.manifest.layers[index];
                Some(CachedLayer {
                    digest: link.digest.clone(),
                    size: link.size,
                    diff_id: diff_ids[index]
                        .parse()
                        .map_err(|_| bad("a diff ID is not a digest"))?,
                    media_type: link.media_type.clone(),
                })
            }
        };
        cache.store_entry(
            &key,
            &Entry {
                created: entry.created,
                layer,
            },
        )?;
        imported += 1;
    }
    Ok(imported)
}
