//! What the fuzz checks of the image crates (`aurora_transfer::fuzzing`,
//! `aurora_smartos::fuzzing`) share. Not a stable API.

use std::path::PathBuf;

/// An empty directory standing for an image's root file system (no /etc/passwd); one for all
/// runs, so that none leaves a directory behind.
pub fn empty_rootfs() -> PathBuf {
    let dir = std::env::temp_dir().join("aurora-fuzz-rootfs");
    std::fs::create_dir_all(&dir).expect("making an empty rootfs");
    dir
}
