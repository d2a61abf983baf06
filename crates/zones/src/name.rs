//! Zone names.

use std::fmt;
use std::str::FromStr;

/// Why a string is not a usable zone name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneNameError {
    #[error("zone name {0:?} is invalid: it must match [a-zA-Z0-9][-_.a-zA-Z0-9]{{0,62}}")]
    Invalid(String),
    #[error("zone name {0:?} is reserved (global and SUNW* belong to the system)")]
    Reserved(String),
}

/// A zone name as zonecfg accepts it: `[a-zA-Z0-9][-_.a-zA-Z0-9]{0,62}`, case-sensitive,
/// neither `global` nor starting with `SUNW`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZoneName(String);

impl ZoneName {
    pub fn new(name: impl Into<String>) -> Result<ZoneName, ZoneNameError> {
        let name = name.into();
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !first_ok || !rest_ok || name.len() > 63 {
            return Err(ZoneNameError::Invalid(name));
        }
        if name == "global" || name.starts_with("SUNW") {
            return Err(ZoneNameError::Reserved(name));
        }
        Ok(ZoneName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ZoneName {
    type Err = ZoneNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ZoneName::new(s)
    }
}

impl fmt::Display for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ZoneName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names() {
        for n in ["a", "web-1", "ctr_0.x", "A", &"a".repeat(63)] {
            assert!(ZoneName::new(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn bad_names() {
        for n in [
            "",
            "-a",
            ".a",
            "_a",
            "a b",
            "a/b",
            "a:b",
            &"a".repeat(64),
            "é",
        ] {
            assert!(
                matches!(ZoneName::new(n), Err(ZoneNameError::Invalid(_))),
                "{n}"
            );
        }
        for n in ["global", "SUNWfoo", "SUNW"] {
            assert!(
                matches!(ZoneName::new(n), Err(ZoneNameError::Reserved(_))),
                "{n}"
            );
        }
        // Case-sensitive: these are someone else's names, but not reserved ones.
        assert!(ZoneName::new("Global").is_ok());
        assert!(ZoneName::new("sunwx").is_ok());
    }
}
