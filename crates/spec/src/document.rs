//! The parts of manifests and indexes that say what they reference, read the same way
//! whatever their family (OCI or Docker schema 2).

use std::collections::BTreeMap;

use oci_spec::image::Digest;
use serde::{Deserialize, Serialize};

/// A reference from one document to a blob or another document.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Link {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: Digest,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub platform: Option<LinkPlatform>,
}

/// The platform an index entry is for.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct LinkPlatform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Link {
    /// The link an index entry or any other descriptor makes.
    pub fn from_descriptor(descriptor: &oci_spec::image::Descriptor) -> Self {
        Link {
            media_type: descriptor.media_type().to_string(),
            digest: descriptor.digest().clone(),
            size: descriptor.size(),
            platform: descriptor.platform().as_ref().map(|p| LinkPlatform {
                os: p.os().to_string(),
                architecture: p.architecture().to_string(),
                variant: p.variant().clone(),
            }),
        }
    }
}

impl LinkPlatform {
    pub fn display(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{}", self.os, self.architecture, v),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// Everything a manifest (config, layers) or an index (manifests) links to.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct Document {
    #[serde(default)]
    pub manifests: Vec<Link>,
    #[serde(default)]
    pub config: Option<Link>,
    #[serde(default)]
    pub layers: Vec<Link>,
    #[serde(default)]
    pub subject: Option<Link>,
}

impl Document {
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The first index entry for `wanted`, as docker picks one.
    pub fn entry_for(&self, wanted: &crate::Platform) -> Option<&Link> {
        self.manifests.iter().find(|link| {
            link.platform
                .as_ref()
                .is_some_and(|p| wanted.matches(&p.os, &p.architecture, p.variant.as_deref()))
        })
    }

    /// The platforms the index entries name, for messages.
    pub fn platforms(&self) -> Vec<String> {
        self.manifests
            .iter()
            .filter_map(|l| l.platform.as_ref().map(LinkPlatform::display))
            .collect()
    }

    /// Every link, in document order.
    pub fn links(&self) -> impl Iterator<Item = &Link> {
        self.manifests
            .iter()
            .chain(self.config.as_ref())
            .chain(self.layers.iter())
            .chain(self.subject.as_ref())
    }
}

/// A manifest Aurora writes (commit, SmartOS import): serialised through this type, with its
/// fields in the order (alphabetical) and the shape the images it has always written have, so
/// their digests stay the same.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NewManifest {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    pub config: NewLink,
    pub layers: Vec<NewLink>,
    #[serde(rename = "mediaType")]
    pub media_type: &'static str,
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
}

/// A descriptor as [`NewManifest`] writes it: digest, media type and size, nothing else.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NewLink {
    pub digest: Digest,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub size: u64,
}

impl NewManifest {
    /// An OCI image manifest of `config` (an OCI config) and `layers`.
    pub fn oci(
        config: NewLink,
        layers: Vec<NewLink>,
        annotations: BTreeMap<String, String>,
    ) -> Self {
        NewManifest {
            annotations,
            config,
            layers,
            media_type: crate::media::OCI_MANIFEST,
            schema_version: 2,
        }
    }

    /// The bytes to store; their sha256 is the manifest's digest.
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_lists_and_oci_manifests_alike() {
        let list = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":7,
            "platform":{"architecture":"arm","os":"linux","variant":"v7","features":["x"]}}]}"#;
        let doc = Document::parse(list).unwrap();
        assert_eq!(
            doc.manifests[0].platform.as_ref().unwrap().display(),
            "linux/arm/v7"
        );
        let digest = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"c","digest":"{}","size":1}},
            "layers":[{{"mediaType":"l","digest":"{}","size":2}},{{"mediaType":"l","digest":"{}","size":3}}]}}"#,
            digest('c'),
            digest('1'),
            digest('2')
        );
        let doc = Document::parse(manifest.as_bytes()).unwrap();
        let digests: Vec<String> = doc.links().map(|l| l.digest.to_string()).collect();
        assert_eq!(digests, [digest('c'), digest('1'), digest('2')]);
    }

    #[test]
    fn a_new_manifest_is_written_as_the_json_it_replaces_byte_for_byte() {
        let digest = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let link = |c: char, media_type: &str, size: u64| NewLink {
            digest: digest(c).parse().unwrap(),
            media_type: media_type.to_string(),
            size,
        };
        let layers = vec![link('1', crate::media::OCI_LAYER_GZIP, 10)];
        let config = link('c', crate::media::OCI_CONFIG, 5);
        let annotations = BTreeMap::from([
            ("z".to_string(), "last".to_string()),
            ("a".to_string(), "first".to_string()),
        ]);
        // What commit wrote with `json!` before (serde_json sorts the keys of its maps).
        let mut old = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": crate::media::OCI_MANIFEST,
            "config": {"mediaType": crate::media::OCI_CONFIG, "digest": digest('c'), "size": 5},
            "layers": [{"mediaType": crate::media::OCI_LAYER_GZIP, "digest": digest('1'), "size": 10}],
        });
        let without = NewManifest::oci(config.clone(), layers.clone(), BTreeMap::new());
        assert_eq!(
            without.to_bytes().unwrap(),
            serde_json::to_vec(&old).unwrap()
        );
        old["annotations"] = serde_json::json!(annotations);
        let with = NewManifest::oci(config, layers, annotations);
        assert_eq!(with.to_bytes().unwrap(), serde_json::to_vec(&old).unwrap());
    }

    #[test]
    fn rejects_negative_sizes_and_missing_digests() {
        let negative = format!(
            r#"{{"layers":[{{"digest":"sha256:{}","size":-1}}]}}"#,
            "a".repeat(64)
        );
        assert!(Document::parse(negative.as_bytes()).is_err());
        assert!(Document::parse(br#"{"layers":[{"size":1}]}"#).is_err());
    }

    #[test]
    fn digests_are_parsed_once_and_malformed_ones_refuse_the_document() {
        let good = format!("sha256:{}", "a".repeat(64));
        let doc =
            Document::parse(format!(r#"{{"layers":[{{"digest":"{good}","size":1}}]}}"#).as_bytes())
                .unwrap();
        assert_eq!(doc.layers[0].digest.digest(), "a".repeat(64));
        for bad in [
            "sha256:aa",
            "sha256",
            "",
            "sha256:../../etc/passwd",
            "SHA256:AA",
        ] {
            let json = format!(r#"{{"layers":[{{"digest":"{bad}","size":1}}]}}"#);
            assert!(
                Document::parse(json.as_bytes()).is_err(),
                "{bad:?} was accepted"
            );
        }
    }
}
