//! Entry names as plain components below the root, and what the image spec makes of them.
//!
//! This is normalisation only (see the crate's safety model): the result is later resolved by
//! the kernel inside the root.

use std::collections::HashSet;

pub(crate) const WHITEOUT_PREFIX: &[u8] = b".wh.";
pub(crate) const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";

/// A normalised path below the root: components joined by `/`, no empty, `.` or `..`
/// component, no leading or trailing `/`. Empty means the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub(crate) struct RelPath(Vec<u8>);

impl RelPath {
    /// Normalises a tar name: drops a leading `/`, empty and `.` components, and lets `..`
    /// remove the previous component. `None` if `..` would climb above the root.
    pub(crate) fn normalize(raw: &[u8]) -> Option<RelPath> {
        let mut parts: Vec<&[u8]> = Vec::new();
        for part in raw.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => {
                    parts.pop()?;
                }
                other => parts.push(other),
            }
        }
        Some(RelPath(parts.join(&b'/')))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The parent directory and the last component (`("", "")` for the root).
    pub(crate) fn split(&self) -> (RelPath, &[u8]) {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => (RelPath(self.0[..i].to_vec()), &self.0[i + 1..]),
            None => (RelPath::default(), &self.0[..]),
        }
    }

    pub(crate) fn join(&self, name: &[u8]) -> RelPath {
        if self.0.is_empty() {
            RelPath(name.to_vec())
        } else {
            let mut v = Vec::with_capacity(self.0.len() + 1 + name.len());
            v.extend_from_slice(&self.0);
            v.push(b'/');
            v.extend_from_slice(name);
            RelPath(v)
        }
    }
}

/// What an entry's name makes it, before its tar type is looked at.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// An ordinary entry.
    Plain,
    /// `DIR/.wh.NAME`: hide `DIR/NAME` of lower layers.
    Whiteout(RelPath),
    /// `DIR/.wh..wh..opq`: hide everything lower layers have in `DIR`.
    Opaque(RelPath),
    /// `.wh..wh.*` other than the opaque marker: aufs bookkeeping (`.wh..wh.plnk`, …), skipped.
    AufsMeta,
}

/// Classifies a normalised path. `Err` for a whiteout of `.` or `..` (or of nothing).
pub(crate) fn role(path: &RelPath) -> Result<Role, String> {
    let (parent, name) = path.split();
    if name == OPAQUE_MARKER {
        return Ok(Role::Opaque(parent));
    }
    if name.starts_with(AUFS_META_PREFIX) {
        return Ok(Role::AufsMeta);
    }
    if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(format!(
                "a whiteout must name an entry, not {:?}",
                String::from_utf8_lossy(hidden)
            ));
        }
        return Ok(Role::Whiteout(parent.join(hidden)));
    }
    Ok(Role::Plain)
}

/// The paths this layer has put in place, with all their parents: whiteouts and opaque markers
/// hide lower layers' content only, never this layer's.
#[derive(Debug, Default)]
pub(crate) struct LayerPaths(HashSet<Vec<u8>>);

impl LayerPaths {
    pub(crate) fn insert(&mut self, path: &RelPath) {
        let bytes = path.bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'/' && !self.0.contains(&bytes[..i]) {
                self.0.insert(bytes[..i].to_vec());
            }
        }
        if !self.0.contains(bytes) {
            self.0.insert(bytes.to_vec());
        }
    }

    pub(crate) fn contains(&self, path: &RelPath) -> bool {
        self.0.contains(path.bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Option<String> {
        RelPath::normalize(s.as_bytes()).map(|p| String::from_utf8(p.0).unwrap())
    }

    #[test]
    fn normalisation_keeps_names_below_the_root() {
        assert_eq!(norm("./etc/passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(norm("/etc//passwd/").as_deref(), Some("etc/passwd"));
        assert_eq!(norm("a/./b/../c").as_deref(), Some("a/c"));
        assert_eq!(norm("./").as_deref(), Some(""));
        assert_eq!(norm("a/..").as_deref(), Some(""));
        assert_eq!(norm("../x"), None);
        assert_eq!(norm("a/../../x"), None);
        assert_eq!(norm("/../etc"), None);
    }

    #[test]
    fn split_and_join() {
        let p = RelPath::normalize(b"a/b/c").unwrap();
        let (parent, name) = p.split();
        assert_eq!(parent.bytes(), b"a/b");
        assert_eq!(name, b"c");
        assert_eq!(parent.join(b"d").bytes(), b"a/b/d");
        let top = RelPath::normalize(b"x").unwrap();
        assert_eq!(top.split().0, RelPath::default());
        assert_eq!(RelPath::default().join(b"x"), top);
    }

    #[test]
    fn roles_follow_the_image_spec() {
        let r = |s: &str| role(&RelPath::normalize(s.as_bytes()).unwrap());
        assert_eq!(r("etc/passwd"), Ok(Role::Plain));
        assert_eq!(
            r("etc/.wh.passwd"),
            Ok(Role::Whiteout(RelPath::normalize(b"etc/passwd").unwrap()))
        );
        assert_eq!(
            r(".wh.etc"),
            Ok(Role::Whiteout(RelPath::normalize(b"etc").unwrap()))
        );
        assert_eq!(
            r("usr/.wh..wh..opq"),
            Ok(Role::Opaque(RelPath::normalize(b"usr").unwrap()))
        );
        assert_eq!(r(".wh..wh..opq"), Ok(Role::Opaque(RelPath::default())));
        assert_eq!(r(".wh..wh.plnk"), Ok(Role::AufsMeta));
        assert!(r("a/.wh.").is_err());
        assert!(r("a/.wh..").is_err());
        assert!(r("a/.wh...").is_err());
    }

    #[test]
    fn layer_paths_include_parents() {
        let mut paths = LayerPaths::default();
        paths.insert(&RelPath::normalize(b"a/b/c").unwrap());
        for p in ["a", "a/b", "a/b/c"] {
            assert!(
                paths.contains(&RelPath::normalize(p.as_bytes()).unwrap()),
                "{p}"
            );
        }
        assert!(!paths.contains(&RelPath::normalize(b"a/x").unwrap()));
    }
}
