//! Entry names made into paths relative to the destination: checked, stripped, split.
//!
//! This step refuses what no plain archive should hold (absolute names, `..`, NUL bytes,
//! zip names with backslashes) so that such an archive fails with a clear error; the safety
//! of what is written does not rest on it (see [`super::dest`]).

use super::ErrorKind;

/// A normalised path below the destination: plain components, none empty, `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RelPath {
    parts: Vec<Vec<u8>>,
}

impl RelPath {
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The components joined with `/`.
    pub fn bytes(&self) -> Vec<u8> {
        self.parts.join(&b'/')
    }

    /// The parent directory and the last component (`(empty, b"")` for the empty path).
    pub fn split(&self) -> (RelPath, &[u8]) {
        match self.parts.split_last() {
            Some((last, parents)) => (
                RelPath {
                    parts: parents.to_vec(),
                },
                last,
            ),
            None => (RelPath { parts: Vec::new() }, b""),
        }
    }

    /// The proper prefixes, shortest first, joined with `/` (`a`, `a/b` for `a/b/c`).
    pub fn ancestors(&self) -> impl Iterator<Item = Vec<u8>> + '_ {
        (1..self.parts.len()).map(|n| self.parts[..n].join(&b'/'))
    }
}

/// How a name is written for people: lossy UTF-8, as the archive spelled it.
pub fn shown(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// Checks an entry name (or a hardlink's target) and removes its first `strip` components,
/// counted as GNU tar counts them (`.` is a component, repeated slashes are not). `None`:
/// nothing is left (the entry is skipped, as tar skips it), or only the destination itself
/// (`./`), which an archive does not get to change.
pub fn normalize(raw: &[u8], strip: usize, zip: bool) -> Result<Option<RelPath>, ErrorKind> {
    if raw.is_empty() {
        return Err(ErrorKind::EmptyName);
    }
    if raw.contains(&0) {
        return Err(ErrorKind::NulInName);
    }
    if raw.starts_with(b"/") {
        return Err(ErrorKind::Absolute);
    }
    if zip && raw.contains(&b'\\') {
        return Err(ErrorKind::Backslash);
    }
    let parts: Vec<&[u8]> = raw
        .split(|&b| b == b'/')
        .filter(|p| !p.is_empty())
        .collect();
    if parts.iter().any(|p| *p == b"..") {
        return Err(ErrorKind::DotDot);
    }
    let kept: Vec<Vec<u8>> = parts
        .iter()
        .skip(strip)
        .filter(|p| **p != b".")
        .map(|p| p.to_vec())
        .collect();
    if kept.is_empty() {
        return Ok(None);
    }
    Ok(Some(RelPath { parts: kept }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str, strip: usize) -> Option<String> {
        normalize(raw.as_bytes(), strip, false)
            .unwrap()
            .map(|p| shown(&p.bytes()))
    }

    #[test]
    fn plain_names() {
        assert_eq!(ok("a/b/c", 0).as_deref(), Some("a/b/c"));
        assert_eq!(ok("./a//b/./c/", 0).as_deref(), Some("a/b/c"));
        assert_eq!(ok("./", 0), None);
        assert_eq!(ok(".", 0), None);
    }

    #[test]
    fn strip_counts_dot_as_gnu_tar_does() {
        assert_eq!(ok("pkg-1.0/bin/x", 1).as_deref(), Some("bin/x"));
        assert_eq!(ok("./pkg-1.0/bin/x", 1).as_deref(), Some("pkg-1.0/bin/x"));
        assert_eq!(ok("./pkg-1.0/bin/x", 2).as_deref(), Some("bin/x"));
        assert_eq!(ok("pkg-1.0/", 1), None);
        assert_eq!(ok("a/b", 5), None);
    }

    #[test]
    fn refusals() {
        let err = |raw: &[u8], zip| normalize(raw, 0, zip).unwrap_err();
        assert!(matches!(err(b"/etc/passwd", false), ErrorKind::Absolute));
        assert!(matches!(err(b"../x", false), ErrorKind::DotDot));
        assert!(matches!(err(b"a/../../x", false), ErrorKind::DotDot));
        // Even a `..` that stays inside: no well-made archive has one.
        assert!(matches!(err(b"a/../b", false), ErrorKind::DotDot));
        assert!(matches!(err(b"", false), ErrorKind::EmptyName));
        assert!(matches!(err(b"a\0b", false), ErrorKind::NulInName));
        assert!(matches!(err(b"a\\b", true), ErrorKind::Backslash));
        assert!(normalize(b"a\\b", 0, false).is_ok());
        // `..` is refused even in the part --strip-components removes.
        assert!(matches!(
            normalize(b"../a/b", 1, false).unwrap_err(),
            ErrorKind::DotDot
        ));
    }

    #[test]
    fn split_and_ancestors() {
        let p = normalize(b"a/b/c", 0, false).unwrap().unwrap();
        let (parent, name) = p.split();
        assert_eq!(parent.bytes(), b"a/b");
        assert_eq!(name, b"c");
        let ancestors: Vec<Vec<u8>> = p.ancestors().collect();
        assert_eq!(ancestors, [b"a".to_vec(), b"a/b".to_vec()]);
    }
}
