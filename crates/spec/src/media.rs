//! The media types Aurora understands, OCI's and Docker's, and what each kind references.

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const OCI_NONDISTRIBUTABLE_LAYER_TAR: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
pub const OCI_NONDISTRIBUTABLE_LAYER_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
pub const OCI_NONDISTRIBUTABLE_LAYER_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Manifests and indexes larger than this are refused: the distribution spec lets registries
/// cap them at 4 MiB, and a bigger one is a sign of a hostile or broken server.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// Image configs are bounded too, though more loosely: they carry history and labels.
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;
/// A layout's `index.json` is an image index, and bounded as one from a registry: a store
/// refuses to grow its own past this (so it can always read it back), and a layout or archive
/// read as a source is refused when its `index.json` is larger.
pub const MAX_LAYOUT_INDEX_BYTES: u64 = MAX_MANIFEST_BYTES;
/// The small files of archives and layouts (`oci-layout`, docker's `manifest.json`,
/// `repositories`, `HEX/json`, `HEX/VERSION`) are manifests in all but name.
pub const MAX_ARCHIVE_METADATA_BYTES: u64 = MAX_MANIFEST_BYTES;

/// What a document of a given media type is, as far as pulling and collecting garbage go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A list of manifests, one per platform (OCI index, Docker manifest list).
    Index,
    /// One image: a config and layers (OCI manifest, Docker schema 2).
    Manifest,
    /// Docker's legacy schema 1, which Aurora does not support.
    Schema1,
    /// Anything else: a leaf blob, or a document we do not understand.
    Other,
}

/// Classifies a media type (parameters such as `; charset=utf-8` are ignored).
pub fn kind(media_type: &str) -> Kind {
    match essence(media_type) {
        OCI_INDEX | DOCKER_MANIFEST_LIST => Kind::Index,
        OCI_MANIFEST | DOCKER_MANIFEST => Kind::Manifest,
        DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED => Kind::Schema1,
        _ => Kind::Other,
    }
}

/// How a layer blob's tar stream is compressed, as its media type says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerCompression {
    /// A plain tar stream (`…tar`).
    None,
    /// gzip (`…tar+gzip`, Docker's `…diff.tar.gzip`).
    Gzip,
    /// zstd (`…tar+zstd`).
    Zstd,
}

/// What a layer media type says about its blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LayerMedia {
    pub compression: LayerCompression,
    /// `false` for OCI's non-distributable and Docker's foreign layers. They are layers all
    /// the same and unpack as any other; the image spec only says a registry may refuse to
    /// hold them, so a pull still fetches them from the registry (or finds them locally).
    pub distributable: bool,
}

/// The one list of layer media types Aurora accepts (OCI's and Docker schema 2's; tar, gzip and
/// zstd; distributable or not), for every flow that unpacks, packs or copies layers. `None` for
/// anything else, which is refused rather than guessed.
pub fn layer(media_type: &str) -> Option<LayerMedia> {
    use LayerCompression::{Gzip, None as Tar, Zstd};
    let (compression, distributable) = match essence(media_type) {
        OCI_LAYER_TAR | DOCKER_LAYER_TAR => (Tar, true),
        OCI_LAYER_GZIP | DOCKER_LAYER_GZIP => (Gzip, true),
        OCI_LAYER_ZSTD => (Zstd, true),
        OCI_NONDISTRIBUTABLE_LAYER_TAR => (Tar, false),
        OCI_NONDISTRIBUTABLE_LAYER_GZIP | DOCKER_FOREIGN_LAYER_GZIP => (Gzip, false),
        OCI_NONDISTRIBUTABLE_LAYER_ZSTD => (Zstd, false),
        _ => return None,
    };
    Some(LayerMedia {
        compression,
        distributable,
    })
}

/// Whether `media_type` is one of the layer media types of [`layer`].
pub fn is_layer(media_type: &str) -> bool {
    layer(media_type).is_some()
}

/// The OCI media type for a Docker schema 2 one: the same bytes under OCI's name, as the
/// image spec's compatibility notes (and skopeo's conversion) have it.
pub fn oci_equivalent(media_type: &str) -> Option<&'static str> {
    match essence(media_type) {
        DOCKER_MANIFEST => Some(OCI_MANIFEST),
        DOCKER_MANIFEST_LIST => Some(OCI_INDEX),
        DOCKER_CONFIG => Some(OCI_CONFIG),
        DOCKER_LAYER_GZIP => Some(OCI_LAYER_GZIP),
        DOCKER_FOREIGN_LAYER_GZIP => Some(OCI_NONDISTRIBUTABLE_LAYER_GZIP),
        DOCKER_LAYER_TAR => Some(OCI_LAYER_TAR),
        _ => None,
    }
}

/// The media type without parameters or surrounding white space.
pub fn essence(media_type: &str) -> &str {
    media_type.split(';').next().unwrap_or_default().trim()
}

/// The `Accept` header for manifests: every kind we can read, plus schema 1 so that a
/// registry that only has schema 1 says so and we can name the problem.
pub fn manifest_accept() -> String {
    [
        OCI_INDEX,
        OCI_MANIFEST,
        DOCKER_MANIFEST_LIST,
        DOCKER_MANIFEST,
        DOCKER_SCHEMA1_SIGNED,
    ]
    .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_ignore_parameters_and_know_both_families() {
        assert_eq!(
            kind("application/vnd.oci.image.index.v1+json; charset=utf-8"),
            Kind::Index
        );
        assert_eq!(kind(DOCKER_MANIFEST_LIST), Kind::Index);
        assert_eq!(kind(DOCKER_MANIFEST), Kind::Manifest);
        assert_eq!(kind(OCI_MANIFEST), Kind::Manifest);
        assert_eq!(kind(DOCKER_SCHEMA1_SIGNED), Kind::Schema1);
        assert_eq!(kind("application/json"), Kind::Other);
        assert_eq!(kind(""), Kind::Other);
    }

    #[test]
    fn every_layer_media_type_of_both_families_is_classified_once() {
        let cases = [
            (OCI_LAYER_TAR, LayerCompression::None, true),
            (DOCKER_LAYER_TAR, LayerCompression::None, true),
            (OCI_LAYER_GZIP, LayerCompression::Gzip, true),
            (DOCKER_LAYER_GZIP, LayerCompression::Gzip, true),
            (OCI_LAYER_ZSTD, LayerCompression::Zstd, true),
            (
                OCI_NONDISTRIBUTABLE_LAYER_TAR,
                LayerCompression::None,
                false,
            ),
            (
                OCI_NONDISTRIBUTABLE_LAYER_GZIP,
                LayerCompression::Gzip,
                false,
            ),
            (DOCKER_FOREIGN_LAYER_GZIP, LayerCompression::Gzip, false),
            (
                OCI_NONDISTRIBUTABLE_LAYER_ZSTD,
                LayerCompression::Zstd,
                false,
            ),
        ];
        for (media_type, compression, distributable) in cases {
            assert_eq!(
                layer(media_type),
                Some(LayerMedia {
                    compression,
                    distributable
                }),
                "{media_type}"
            );
            assert!(is_layer(&format!("{media_type}; foo=bar")), "{media_type}");
            assert_eq!(kind(media_type), Kind::Other, "a layer is a leaf");
        }
    }

    #[test]
    fn documents_configs_and_unknown_compressions_are_not_layers() {
        for media_type in [
            OCI_MANIFEST,
            OCI_INDEX,
            OCI_CONFIG,
            DOCKER_CONFIG,
            DOCKER_MANIFEST,
            "application/vnd.oci.image.layer.v1.tar+bzip2",
            "application/octet-stream",
            "",
        ] {
            assert_eq!(layer(media_type), None, "{media_type:?}");
        }
    }
}
