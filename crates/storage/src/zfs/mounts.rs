//! Where the driver's datasets are mounted: read from this mount namespace's mountinfo
//! before any `zfs` command is run, and the `mountpoint` property checked to be a path.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

use crate::{Result, StorageError};

/// Where datasets are mounted in this mount namespace, by name, from /proc/self/mountinfo:
/// read before asking `zfs` (a command of milliseconds, more under zfs-fuse), which is run
/// only for what is not found here. Whole datasets only (not bind mounts of a part of one);
/// empty where there is no mountinfo (illumos).
pub(super) fn mounted_datasets() -> HashMap<String, PathBuf> {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return HashMap::new();
    };
    datasets_mounted_in(&text)
}

fn datasets_mounted_in(mountinfo: &str) -> HashMap<String, PathBuf> {
    crate::detect::parse_mountinfo(mountinfo)
        .into_iter()
        .filter(|mount| mount.is_zfs() && mount.root == "/")
        .map(|mount| (mount.source, mount.mount_point))
        .collect()
}

pub(super) fn mountpoint_path(dataset: &str, value: Option<&str>) -> Result<PathBuf> {
    match value {
        Some(path) if path.starts_with('/') => Ok(PathBuf::from(path)),
        other => Err(StorageError::Unsupported {
            driver: "zfs",
            reason: format!(
                "dataset {dataset} has mountpoint {}; the driver needs datasets mounted at a \
                 path (set a mountpoint on the parent dataset)",
                other.unwrap_or("(none reported)")
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounted_datasets_come_from_mountinfo() {
        let mountinfo = "\
51 27 0:43 / /mnt/p rw,relatime - fuse.zfs p rw,user_id=0
55 51 0:46 / /mnt/p/aurora/containers rw,relatime - fuse.zfs p/aurora/containers rw
56 51 0:47 / /srv/with\\040space rw - zfs p/aurora/layers rw,xattr
57 27 0:46 /x/root /var/bind rw - fuse.zfs p/aurora/containers rw
58 27 254:0 / /data rw - ext4 p/aurora/pending rw
";
        let mounted = datasets_mounted_in(mountinfo);
        assert_eq!(mounted.len(), 3, "{mounted:?}");
        assert_eq!(
            mounted["p/aurora/containers"],
            PathBuf::from("/mnt/p/aurora/containers")
        );
        assert_eq!(mounted["p/aurora/layers"], PathBuf::from("/srv/with space"));
        assert!(!mounted.contains_key("p/aurora/pending"), "not a ZFS mount");
    }

    #[test]
    fn mountpoints_must_be_paths() {
        assert_eq!(
            mountpoint_path("p/x", Some("/mnt/p/x")).unwrap(),
            PathBuf::from("/mnt/p/x")
        );
        for odd in [Some("legacy"), Some("none"), Some("-"), None] {
            let err = mountpoint_path("p/x", odd).unwrap_err().to_string();
            assert!(err.contains("p/x"), "{err}");
        }
    }
}
