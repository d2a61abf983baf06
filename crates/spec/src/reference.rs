//! Image references as docker and skopeo write them, normalised the way docker does.
//!
//! The grammar is distribution's (`reference/regexp.go`), checked by hand rather than with a
//! regular expression: compiling the equivalent Unicode-aware regex costs about 30 ms of
//! every command's start.

use std::fmt;
use std::str::FromStr;

use oci_spec::image::Digest;

/// Longer input is refused before parsing: no real reference comes near it.
const MAX_REFERENCE_LEN: usize = 4096;

/// distribution's limit on a repository name.
const MAX_REPOSITORY_LEN: usize = 255;

/// A tag is a word character then up to 127 word characters, dots and dashes.
const MAX_TAG_LEN: usize = 128;

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
        if input.is_empty() {
            return Err(fail(
                "repository name must have at least one component".into(),
            ));
        }
        let (name_and_tag, digest) = match input.split_once('@') {
            Some((rest, digest)) => (rest, Some(parse_digest(digest).map_err(fail)?)),
            None => (input, None),
        };
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => {
                let (name, tag) = name_and_tag.split_at(last_slash + i);
                (name, Some(&tag[1..]))
            }
            None => (name_and_tag, None),
        };
        if let Some(tag) = tag {
            if !is_tag(tag) {
                return Err(fail("invalid tag format".into()));
            }
        }
        if !is_name(name) {
            return Err(fail("invalid reference format".into()));
        }
        let (registry, repository) = split_domain(name);
        // The grammar lets an upper-case first component through as a registry host;
        // when it turns out to be part of the repository path, docker refuses it.
        if repository.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(fail("repository name must be lowercase".into()));
        }
        if repository.len() > MAX_REPOSITORY_LEN {
            return Err(fail(format!(
                "repository name must not be more than {MAX_REPOSITORY_LEN} characters"
            )));
        }
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_string()),
            (tag, _) => tag.map(str::to_string),
        };
        Ok(ImageRef {
            registry,
            repository,
            tag,
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

/// `[\w][\w.-]{0,127}`, with `\w` the ASCII word characters.
fn is_tag(tag: &str) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_TAG_LEN
        && word(bytes[0])
        && bytes[1..]
            .iter()
            .all(|&c| word(c) || c == b'.' || c == b'-')
}

/// `(domain/)?component(/component)*`: the name either is all path components, or starts
/// with a domain followed by at least one of them.
fn is_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    parts.iter().all(|p| is_path_component(p))
        || (parts.len() > 1
            && is_domain(parts[0])
            && parts[1..].iter().all(|p| is_path_component(p)))
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`: lower-case runs joined by `.`, `_`, `__` or
/// any number of `-`.
fn is_path_component(part: &str) -> bool {
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let bytes = part.as_bytes();
    let mut i = 0;
    loop {
        let run = bytes[i..].iter().take_while(|c| alnum(c)).count();
        if run == 0 {
            return false;
        }
        i += run;
        if i == bytes.len() {
            return true;
        }
        let separator = bytes[i..].iter().take_while(|c| !alnum(c)).count();
        let ok = match &bytes[i..i + separator] {
            b"." | b"_" | b"__" => true,
            dashes => dashes.iter().all(|&c| c == b'-'),
        };
        if !ok {
            return false;
        }
        i += separator;
    }
}

/// `host(.host)*(:port)?`, each host component letters, digits and inner dashes.
fn is_domain(domain: &str) -> bool {
    let (host, port) = match domain.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    let component = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
    };
    host.split('.').all(component)
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
}

/// `algorithm:hex`, for the algorithms the image spec registers, with their lengths.
fn parse_digest(text: &str) -> Result<Digest, String> {
    let (algorithm, hex) = text
        .split_once(':')
        .ok_or_else(|| "invalid checksum digest format".to_string())?;
    let length = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err("unsupported digest algorithm".into()),
    };
    if hex.len() != length || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err("invalid checksum digest length".into());
    }
    Digest::from_str(text).map_err(|e| format!("bad digest: {e}"))
}

/// docker's normalisation: a first component with a dot or a colon, or `localhost`, names a
/// registry; anything else is on Docker Hub, where one-component names are in `library/`.
/// (docker also takes an upper-case first component for a host; here it stays in the
/// repository, which is then refused: `UPPER/app` is far likelier a typing error.)
fn split_domain(name: &str) -> (String, String) {
    let (mut domain, mut rest) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (first.to_string(), rest.to_string())
        }
        _ => ("docker.io".to_string(), name.to_string()),
    };
    if domain == "index.docker.io" {
        domain = "docker.io".to_string();
    }
    if domain == "docker.io" && !rest.contains('/') {
        rest = format!("library/{rest}");
    }
    (domain, rest)
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
    fn the_grammar_allows_what_distribution_allows() {
        for good in [
            "a",
            "a.b_c__d---e/f-g",
            "my-registry.example.com:5000/team/app:v1.2_rc-3",
            "localhost:5000/app",
            "Registry.Example.com/app",
            "app:_under",
            "app:UPPER",
        ] {
            ImageRef::parse(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        let tag = format!("app:{}", "t".repeat(128));
        assert!(ImageRef::parse(&tag).is_ok());
        assert!(ImageRef::parse(&format!("{tag}x")).is_err());
        let long = format!("r.io/{}", "a".repeat(256));
        assert!(ImageRef::parse(&long).unwrap_err().reason.contains("255"));
        let r = ImageRef::parse(&format!("app@{D}")).unwrap();
        assert_eq!(
            (r.tag(), r.digest().map(|d| d.to_string())),
            (None, Some(D.into()))
        );
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
            "app:t\u{e9}",
            "a..b",
            "a_.b",
            "a___b",
            "a-",
            "host:port/app",
            "127.0.0.1:/app",
            "-host.io/app",
            "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
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
