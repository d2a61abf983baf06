//! ZFS dataset names: what zfs accepts, and the room the driver needs below its parent.

use crate::StorageError;

/// ZFS refuses names of 256 characters or more.
const MAX_NAME_LEN: usize = 255;

/// The longest name the driver builds below its parent dataset: a pending layer's snapshot,
/// `/pending/ID-PID-ATTEMPT@final` (64 hex digits, a u32 and a u64).
const LONGEST_SUFFIX: usize = "/pending/".len() + 64 + 1 + 10 + 1 + 20 + "@final".len();

pub(super) fn bad_name(name: &str, reason: &str) -> StorageError {
    StorageError::Unsupported {
        driver: "zfs",
        reason: format!("invalid dataset name {name:?}: {reason}"),
    }
}

/// Checks a filesystem name: `/`-separated components of `[A-Za-z0-9-_.:]`, the first (the
/// pool) starting with a letter, no `.` or `..` component, shorter than 256 characters.
pub fn check_dataset_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "it has {} characters; ZFS allows at most {MAX_NAME_LEN}",
            name.len()
        ));
    }
    for component in name.split('/') {
        if component.is_empty() {
            return Err("it has an empty component (a leading, trailing or double '/')".into());
        }
        if component == "." || component == ".." {
            return Err(format!("it has a {component:?} component"));
        }
        if let Some(c) = component
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
        {
            return Err(format!(
                "{c:?} is not allowed: use letters, digits, '-', '_', '.' and ':'"
            ));
        }
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("a pool name must start with a letter".into());
    }
    Ok(())
}

/// A parent dataset must leave room for the longest name the driver builds below it.
pub(super) fn check_parent_name(name: &str) -> std::result::Result<(), String> {
    check_dataset_name(name)?;
    let room = MAX_NAME_LEN - LONGEST_SUFFIX;
    if name.len() > room {
        return Err(format!(
            "it has {} characters; the names built below it need it to have at most {room}",
            name.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LayerId;

    #[test]
    fn dataset_names_follow_zfs_rules() {
        for good in ["pool", "pool/aurora", "tank/a-b_c.d:e/F9", "zones/aurora"] {
            assert_eq!(check_dataset_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "/pool",
            "pool/",
            "pool//x",
            "pool/./x",
            "pool/../x",
            "pool/with space",
            "pool/snap@x",
            "pool/a%b",
            "9pool/x",
            "-pool",
            "pool/ünï",
        ] {
            assert!(check_dataset_name(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("pool/{}", "a".repeat(251));
        assert!(check_dataset_name(&long).unwrap_err().contains("255"));
        assert_eq!(check_dataset_name(&long[..255]), Ok(()));
    }

    #[test]
    fn the_parent_leaves_room_for_pending_snapshots() {
        let room = MAX_NAME_LEN - LONGEST_SUFFIX;
        let fits = format!("p/{}", "a".repeat(room - 2));
        assert_eq!(check_parent_name(&fits), Ok(()));
        let id = LayerId::parse(&"f".repeat(64)).unwrap();
        let longest = format!("{fits}/pending/{id}-{}-{}@final", u32::MAX, u64::MAX);
        assert_eq!(longest.len(), MAX_NAME_LEN);
        assert!(check_parent_name(&format!("{fits}a")).is_err());
    }
}
