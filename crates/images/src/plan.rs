//! Planning: an image's layers, base first, as storage names them (by chain ID, hashed with
//! the id map when owners are mapped) with the blob and diff ID each comes from.

use aurora_spec::chain::chain_ids;
use aurora_spec::media;
use aurora_spec::Digest;
use aurora_storage::LayerId;
use aurora_store::StoredImage;
use oci_spec::image::ImageConfiguration;

use crate::error::{ImageError, Result};

/// One layer of an image, as storage needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedLayer {
    pub id: LayerId,
    pub parent: Option<LayerId>,
    /// The layer blob in the store, as the manifest names it.
    pub blob: Digest,
    pub media_type: String,
    /// The digest of the uncompressed tar, from the config.
    pub diff_id: Digest,
}

/// The image's layers, base first, each with its chain ID and parent.
pub fn plan_layers(image: &StoredImage) -> Result<Vec<PlannedLayer>> {
    plan_layers_mapped(image, None)
}

/// As [`plan_layers`]; layers unpacked through an id map hold other owners than the same
/// layers unmapped, so their IDs are the chain IDs hashed with the map.
pub(crate) fn plan_layers_mapped(
    image: &StoredImage,
    id_map: Option<&aurora_layers::IdMap>,
) -> Result<Vec<PlannedLayer>> {
    let bad = |reason: String| ImageError::BadManifest {
        reference: image.name.clone(),
        digest: image.manifest_digest.to_string(),
        reason,
    };
    let diff_ids = diff_ids(&image.config).map_err(&bad)?;
    let layers = &image.manifest.layers;
    if layers.len() != diff_ids.len() {
        return Err(bad(format!(
            "the manifest has {} layers but the config {} diff_ids",
            layers.len(),
            diff_ids.len()
        )));
    }
    let chain = chain_ids(&diff_ids);
    let mut planned: Vec<PlannedLayer> = Vec::with_capacity(layers.len());
    for ((link, diff_id), chain_id) in layers.iter().zip(diff_ids).zip(&chain) {
        let blob = link.digest.clone();
        if !media::is_layer(&link.media_type) {
            return Err(bad(format!(
                "layer {blob} has media type {:?}, which is not a layer Aurora can unpack",
                link.media_type
            )));
        }
        let id = match id_map {
            None => LayerId::from_chain_id(chain_id),
            Some(map) => LayerId::from_chain_id(&aurora_spec::sha256_digest(
                format!("{chain_id} mapped {map}").as_bytes(),
            )),
        };
        planned.push(PlannedLayer {
            id,
            parent: planned.last().map(|p| p.id.clone()),
            blob,
            media_type: link.media_type.clone(),
            diff_id,
        });
    }
    Ok(planned)
}

fn diff_ids(config: &ImageConfiguration) -> std::result::Result<Vec<Digest>, String> {
    config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|text| {
            text.parse::<Digest>()
                .map_err(|e| format!("diff_id {text:?}: {e}"))
        })
        .collect()
}
