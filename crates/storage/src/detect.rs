//! Choosing a driver from the filesystem under the store: zfs on a ZFS dataset, btrfs on
//! btrfs, overlay elsewhere on Linux when privileged, dir otherwise.

use std::path::{Path, PathBuf};

use crate::DriverKind;

/// One line of `/proc/self/mountinfo`, the fields that matter here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The directory of the filesystem mounted here (`/` unless a bind mount of a part).
    pub root: String,
    pub mount_point: PathBuf,
    pub fs_type: String,
    /// The mounted source: a device, or for ZFS the dataset name.
    pub source: String,
}

impl Mount {
    /// A ZFS dataset: in-kernel ZFS, or zfs-fuse (whose type names vary by version).
    pub fn is_zfs(&self) -> bool {
        matches!(self.fs_type.as_str(), "zfs" | "fuse.zfs" | "fuse.zfs-fuse")
    }
}

/// Parses `/proc/self/mountinfo` text, skipping lines it does not understand.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mount> {
    // ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPER_OPTIONS
    let (before, after) = line.split_once(" - ")?;
    let mut fields = before.split(' ').skip(3);
    let (root, mount_point) = (fields.next()?, fields.next()?);
    let mut after = after.split(' ');
    Some(Mount {
        root: unescape(root),
        mount_point: PathBuf::from(unescape(mount_point)),
        fs_type: after.next()?.to_string(),
        source: unescape(after.next()?),
    })
}

/// mountinfo writes space, tab, newline and backslash as octal escapes (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount that holds `path` (an absolute, canonical path): the deepest mount point above it.
pub fn mount_of<'m>(mounts: &'m [Mount], path: &Path) -> Option<&'m Mount> {
    mounts
        .iter()
        .filter(|m| path.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.components().count())
}

/// What the filesystem under the store suggests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suggestion {
    /// A ZFS dataset (its name); layers go below it.
    Zfs(String),
    Other(DriverKind),
}

/// The driver for a store whose storage lives on `mount`; `privileged` says whether
/// overlay mounts are possible.
pub fn suggest(mount: Option<&Mount>, privileged: bool) -> Suggestion {
    match mount.map(|m| (m.fs_type.as_str(), m)) {
        Some((_, m)) if m.is_zfs() => Suggestion::Zfs(m.source.clone()),
        Some(("btrfs", _)) => Suggestion::Other(DriverKind::Btrfs),
        _ if privileged && cfg!(target_os = "linux") => Suggestion::Other(DriverKind::Overlay),
        _ => Suggestion::Other(DriverKind::Dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
90 27 0:50 / /var/lib/aurora rw,relatime shared:40 - btrfs /dev/loop3 rw,space_cache=v2
91 27 0:51 / /tank/aurora rw,relatime - fuse tank/aurora rw,user_id=0
92 27 0:52 / /pool/with\\040space rw - zfs pool/with\\040space rw,xattr
garbage line without separator
";

    #[test]
    fn parses_fields_and_escapes() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts.len(), 5);
        assert_eq!(mounts[2].fs_type, "btrfs");
        assert_eq!(mounts[2].root, "/");
        assert_eq!(mounts[4].mount_point, PathBuf::from("/pool/with space"));
        assert_eq!(mounts[4].source, "pool/with space");
    }

    #[test]
    fn the_deepest_mount_holds_a_path() {
        let mounts = parse_mountinfo(MOUNTINFO);
        let m = mount_of(&mounts, Path::new("/var/lib/aurora/storage")).unwrap();
        assert_eq!(m.fs_type, "btrfs");
        assert_eq!(
            mount_of(&mounts, Path::new("/srv")).unwrap().fs_type,
            "ext4"
        );
        assert_eq!(
            mount_of(&mounts, Path::new("/var/lib/auroras"))
                .unwrap()
                .fs_type,
            "ext4"
        );
    }

    #[test]
    fn suggestions_follow_the_filesystem() {
        let mounts = parse_mountinfo(MOUNTINFO);
        let at = |p: &str| mount_of(&mounts, Path::new(p));
        assert_eq!(
            suggest(at("/pool/with space/x"), true),
            Suggestion::Zfs("pool/with space".into())
        );
        assert_eq!(
            suggest(at("/var/lib/aurora"), false),
            Suggestion::Other(DriverKind::Btrfs)
        );
        assert_eq!(
            suggest(at("/srv"), true),
            Suggestion::Other(DriverKind::Overlay)
        );
        assert_eq!(
            suggest(at("/srv"), false),
            Suggestion::Other(DriverKind::Dir)
        );
    }
}
