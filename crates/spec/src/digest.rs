//! Incremental hashing for the digest algorithms the image spec registers.

use oci_spec::image::{Digest, DigestAlgorithm};
use sha2::{Digest as _, Sha256, Sha512};

/// Why content and its digest disagree, or why a digest cannot be checked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("digest {0}: unsupported algorithm (sha256 and sha512 are supported)")]
    UnsupportedAlgorithm(String),
    #[error("content should have digest {expected} but has {actual} ({size} bytes)")]
    Mismatch {
        expected: String,
        actual: String,
        size: u64,
    },
}

/// A running hash whose algorithm is taken from the digest it must match.
#[derive(Clone)]
pub enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    /// A hasher for the algorithm of `digest`; other algorithms are refused.
    pub fn for_digest(digest: &Digest) -> Result<Self, DigestError> {
        match digest.algorithm() {
            DigestAlgorithm::Sha256 => Ok(Hasher::Sha256(Sha256::new())),
            DigestAlgorithm::Sha512 => Ok(Hasher::Sha512(Sha512::new())),
            _ => Err(DigestError::UnsupportedAlgorithm(digest.to_string())),
        }
    }

    pub fn sha256() -> Self {
        Hasher::Sha256(Sha256::new())
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest string, `algorithm:hex`.
    pub fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => format!("sha256:{}", hex::encode(h.finalize())),
            Hasher::Sha512(h) => format!("sha512:{}", hex::encode(h.finalize())),
        }
    }
}

/// The sha256 digest of a byte string, as the registry and the layout name it.
pub fn sha256_digest(bytes: &[u8]) -> Digest {
    let mut hasher = Hasher::sha256();
    hasher.update(bytes);
    hasher
        .finish()
        .parse()
        .expect("a freshly computed sha256 digest is well formed")
}

/// Checks that `bytes` hash to `expected`.
pub fn verify_bytes(expected: &Digest, bytes: &[u8]) -> Result<(), DigestError> {
    let mut hasher = Hasher::for_digest(expected)?;
    hasher.update(bytes);
    let actual = hasher.finish();
    if actual != expected.to_string() {
        return Err(DigestError::Mismatch {
            expected: expected.to_string(),
            actual,
            size: bytes.len() as u64,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_string_is_the_well_known_value() {
        assert_eq!(
            sha256_digest(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn verify_rejects_other_content_and_names_both_digests() {
        let digest = sha256_digest(b"hello");
        assert!(verify_bytes(&digest, b"hello").is_ok());
        let err = verify_bytes(&digest, b"hellO").unwrap_err();
        match err {
            DigestError::Mismatch {
                expected,
                actual,
                size,
            } => {
                assert_eq!(expected, digest.to_string());
                assert_ne!(actual, expected);
                assert_eq!(size, 5);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn sha512_is_supported_and_other_algorithms_are_refused() {
        let d: Digest = format!("sha512:{}", "0".repeat(128)).parse().unwrap();
        assert!(Hasher::for_digest(&d).is_ok());
        let d: Digest = "md5:0123456789abcdef0123456789abcdef".parse().unwrap();
        assert!(matches!(
            Hasher::for_digest(&d),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
    }
}
