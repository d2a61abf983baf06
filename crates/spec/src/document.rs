//! The parts of manifests and indexes that say what they reference, read the same way
//! whatever their family (OCI or Docker schema 2).

use serde::Deserialize;

/// A reference from one document to a blob or another document.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Link {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
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

impl LinkPlatform {
    pub fn display(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{}", self.os, self.architecture, v),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// Everything a manifest (config, layers) or an index (manifests) links to.
#[derive(Debug, Clone, Default, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_lists_and_oci_manifests_alike() {
        let list = br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:aa","size":7,
            "platform":{"architecture":"arm","os":"linux","variant":"v7","features":["x"]}}]}"#;
        let doc = Document::parse(list).unwrap();
        assert_eq!(
            doc.manifests[0].platform.as_ref().unwrap().display(),
            "linux/arm/v7"
        );
        let manifest = br#"{"schemaVersion":2,"config":{"mediaType":"c","digest":"sha256:cc","size":1},
            "layers":[{"mediaType":"l","digest":"sha256:11","size":2},{"mediaType":"l","digest":"sha256:22","size":3}]}"#;
        let doc = Document::parse(manifest).unwrap();
        let digests: Vec<&str> = doc.links().map(|l| l.digest.as_str()).collect();
        assert_eq!(digests, ["sha256:cc", "sha256:11", "sha256:22"]);
    }

    #[test]
    fn rejects_negative_sizes_and_missing_digests() {
        assert!(Document::parse(br#"{"layers":[{"digest":"sha256:aa","size":-1}]}"#).is_err());
        assert!(Document::parse(br#"{"layers":[{"size":1}]}"#).is_err());
    }
}
