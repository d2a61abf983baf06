//! Platforms as `os/arch[/variant]`, and choosing one from an index.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid platform {0:?}: expected os/arch or os/arch/variant, such as linux/amd64 or linux/arm/v7")]
pub struct PlatformError(pub String);

/// A platform as image indexes describe them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform this program runs on, spelled as images spell it.
    pub fn host() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", None),
            "arm" => ("arm", Some("v7".to_string())),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            other => (other, None),
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture: architecture.to_string(),
            variant,
        }
    }

    /// Whether an index entry for `(os, architecture, variant)` serves this platform.
    /// A request without a variant takes any; arm64's default variant is v8.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        if self.os != os || self.architecture != architecture {
            return false;
        }
        let Some(wanted) = self.variant.as_deref() else {
            return true;
        };
        let normal = |v: Option<&str>| match (architecture, v) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        normal(Some(wanted)) == normal(variant)
    }
}

impl FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let valid = |p: &&str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(valid) {
            return Err(PlatformError(s.to_string()));
        }
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_round_trip() {
        for s in ["linux/amd64", "linux/arm/v7", "illumos/amd64"] {
            assert_eq!(s.parse::<Platform>().unwrap().to_string(), s);
        }
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/am d64", ""] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
    }

    #[test]
    fn variant_matching_follows_index_conventions() {
        let any_arm: Platform = "linux/arm".parse().unwrap();
        assert!(any_arm.matches("linux", "arm", Some("v6")));
        let v7: Platform = "linux/arm/v7".parse().unwrap();
        assert!(v7.matches("linux", "arm", Some("v7")));
        assert!(!v7.matches("linux", "arm", Some("v6")));
        let v8: Platform = "linux/arm64/v8".parse().unwrap();
        assert!(v8.matches("linux", "arm64", None));
        assert!(!v8.matches("linux", "amd64", None));
        assert!(!v8.matches("windows", "arm64", None));
    }
}
