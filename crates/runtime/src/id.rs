//! Container IDs: the characters runc accepts, so an ID is always a safe single path
//! component of the state directory.

use crate::error::{Error, Result};

/// runc's rule: `^[\w+-\.]+$`, not `.` or `..`, at most 1024 bytes (runz's own limit, so a
/// state path stays well inside PATH_MAX).
pub fn validate(id: &str) -> Result<()> {
    let invalid = |why| {
        Err(Error::InvalidId {
            id: id.to_string(),
            why,
        })
    };
    if id.is_empty() {
        return invalid("it is empty");
    }
    if id.len() > 1024 {
        return invalid("it is longer than 1024 bytes");
    }
    if id == "." || id == ".." {
        return invalid("it names a directory");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.');
    if !id.chars().all(allowed) {
        return invalid("only letters, digits and _ + - . are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_ids_are_accepted() {
        for id in ["a", "busybox-1", "a.b_c+d", "0123456789abcdef"] {
            validate(id).unwrap();
        }
    }

    #[test]
    fn unsafe_ids_are_refused() {
        for id in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a b",
            "a\0b",
            "é",
            &"x".repeat(1025),
        ] {
            let err = validate(id).unwrap_err();
            assert!(matches!(err, Error::InvalidId { .. }), "{id:?}: {err}");
        }
    }
}
