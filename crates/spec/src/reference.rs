//! Image references as docker and skopeo write them, normalised the way docker does.

use std::fmt;
use std::str::FromStr;

use oci_spec::distribution::Reference;
use oci_spec::image::Digest;

/// Longer input is refused before parsing: no real reference comes near it.
const MAX_REFERENCE_LEN: usize = 4096;

/// Why a string is not an image reference. The message quotes the input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ReferenceError {
    pub input: String,
    pub reason: String,
}

/// A parsed, normalised reference: `alpine` is `docker.io/library/alpine:latest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageRef {
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let fail = |reason: String| ReferenceError {
            input: input.chars().take(200).collect(),
            reason,
        };
        if input.len() > MAX_REFERENCE_LEN {
            return Err(fail(format!("longer than {MAX_REFERENCE_LEN} characters")));
        }
        if input.trim() != input {
            return Err(fail("leading or trailing white space".into()));
        }
        let parsed = Reference::from_str(input).map_err(|e| fail(e.to_string()))?;
        // The grammar lets an upper-case first component through as a registry host;
        // when it turns out to be part of the repository path, docker refuses it.
        if parsed.repository().chars().any(|c| c.is_ascii_uppercase()) {
            return Err(fail("repository name must be lowercase".into()));
        }
        let digest = parsed
            .digest()
            .map(Digest::from_str)
            .transpose()
            .map_err(|e| fail(format!("bad digest: {e}")))?;
        Ok(ImageRef {
            registry: parsed.registry().to_string(),
            repository: parsed.repository().to_string(),
            tag: parsed.tag().map(str::to_string),
            digest,
        })
    }

    /// The registry as users name it (`docker.io`, `127.0.0.1:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host and port to talk to: Docker Hub's API lives on another name than its brand.
    pub fn api_host(&self) -> &str {
        match self.registry.as_str() {
            "docker.io" => "registry-1.docker.io",
            other => other,
        }
    }

    /// The repository path inside the registry (`library/alpine`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to ask the registry for: the digest when pinned, else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// `registry/repository`, without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository with another digest and no tag.
    pub fn with_digest(&self, digest: Digest) -> Self {
        ImageRef {
            digest: Some(digest),
            tag: None,
            ..self.clone()
        }
    }

    /// The name under which a pulled image is recorded in the local store: the tag when
    /// there is one (`name:tag`, as users will ask for it again), else the digest.
    pub fn store_name(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(t), _) => format!("{}:{}", self.name(), t),
            (None, Some(d)) => format!("{}@{}", self.name(), d),
            (None, None) => format!("{}:latest", self.name()),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn norm(s: &str) -> String {
        ImageRef::parse(s).unwrap().to_string()
    }

    #[test]
    fn short_names_default_to_docker_hub_library_and_latest() {
        assert_eq!(norm("alpine"), "docker.io/library/alpine:latest");
        assert_eq!(norm("alpine:3.19"), "docker.io/library/alpine:3.19");
        assert_eq!(norm("team/app"), "docker.io/team/app:latest");
        assert_eq!(
            norm("index.docker.io/alpine"),
            "docker.io/library/alpine:latest"
        );
        assert_eq!(
            norm("docker.io/library/alpine:3.19"),
            "docker.io/library/alpine:3.19"
        );
    }

    #[test]
    fn registries_with_ports_and_localhost_are_kept() {
        let r = ImageRef::parse("127.0.0.1:5000/team/app:1.0").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.api_host(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "team/app");
        assert_eq!(r.tag(), Some("1.0"));
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(
            ImageRef::parse("alpine").unwrap().api_host(),
            "registry-1.docker.io"
        );
    }

    #[test]
    fn digests_pin_and_win_over_tags() {
        let r = ImageRef::parse(&format!("127.0.0.1:5000/team/app@{D}")).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.manifest_reference(), D);
        assert_eq!(r.store_name(), format!("127.0.0.1:5000/team/app@{D}"));
        let r = ImageRef::parse(&format!("app:1.0@{D}")).unwrap();
        assert_eq!(r.tag(), Some("1.0"));
        assert_eq!(r.manifest_reference(), D);
        assert_eq!(r.store_name(), "docker.io/library/app:1.0");
    }

    #[test]
    fn malformed_references_are_refused_and_quoted() {
        for bad in [
            "",
            "UPPER/case",
            "a//b",
            "app:",
            "app@sha256:short",
            "app@md5:0123456789abcdef0123456789abcdef",
            "-leading",
            " alpine",
            "alpine\n",
            "app:tag:more",
            "../../etc/passwd",
        ] {
            let err = ImageRef::parse(bad).expect_err(bad);
            assert_eq!(err.input, bad);
            assert!(err.to_string().contains("invalid image reference"), "{err}");
        }
        let long = "a".repeat(5000);
        assert!(ImageRef::parse(&long)
            .unwrap_err()
            .reason
            .contains("longer"));
    }
}
