//! The check the fuzz target `layer` (`fuzz/`) runs on arbitrary blobs and this crate's tests
//! run over the committed corpus and regression inputs: a blob is applied onto a root that
//! holds symlinks aimed outside it, beside a canary; whatever the blob holds, nothing outside
//! the root may be created, changed or removed, and nothing may panic. A refused blob is not
//! a failure. Not a stable API.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};

use crate::{apply_layer, ApplyOptions, Compression, WhiteoutMode};

/// Where the check works: `JAIL/root` is the root the layer is applied to, everything else
/// in `JAIL` is the canary. The fuzz target chroots into `JAIL` (on a tmpfs of its own), so
/// that absolute symlinks planted in the root also point into the canary.
pub struct Jail {
    dir: PathBuf,
    privileged: bool,
}

impl Jail {
    /// Lays out the canary in `dir` (which must exist): `outside/secret`, `outside/dir/file`,
    /// `outside/link -> secret`. `privileged` applies as root does (owners kept, devices
    /// made); otherwise as an unprivileged user.
    pub fn new(dir: &Path, privileged: bool) -> io::Result<Jail> {
        let outside = dir.join("outside");
        if !outside.exists() {
            fs::create_dir_all(outside.join("dir"))?;
            fs::write(outside.join("secret"), b"canary\n")?;
            fs::write(outside.join("dir/file"), b"canary file\n")?;
            symlink("secret", outside.join("link"))?;
        }
        Ok(Jail {
            dir: dir.to_path_buf(),
            privileged,
        })
    }

    /// Applies `blob` onto a fresh full-tree root (whiteouts delete) and onto a fresh overlay
    /// upper directory, and checks the canary after each.
    pub fn check(&self, blob: &[u8]) {
        let before = snapshot(&self.dir).expect("reading the canary");
        for mode in [WhiteoutMode::Delete, WhiteoutMode::Overlay] {
            let root = self.fresh_root(mode).expect("making a fresh root");
            let mut options = if self.privileged {
                ApplyOptions::new("fuzz")
            } else {
                ApplyOptions::unprivileged("fuzz")
            };
            options.whiteouts = mode;
            // The outcome does not matter, only what it did outside the root.
            let _ = apply_layer(&root, blob, Compression::Detect, &options);
            let after = snapshot(&self.dir).expect("reading the canary");
            if after != before {
                panic!(
                    "{mode:?}: outside the root changed:\n{}",
                    describe_change(&before, &after)
                );
            }
        }
    }

    /// `JAIL/root`, emptied and seeded with what earlier layers could have left: a directory,
    /// files to whiteout, and symlinks leading out (absolute, relative, chained, to a file).
    fn fresh_root(&self, mode: WhiteoutMode) -> io::Result<PathBuf> {
        let root = self.dir.join("root");
        if fs::symlink_metadata(&root).is_ok() {
            // Make everything removable first: a layer may leave read-only directories.
            make_writable(&root)?;
            fs::remove_dir_all(&root)?;
        }
        fs::create_dir(&root)?;
        if mode == WhiteoutMode::Overlay {
            // An overlay upper directory starts empty.
            return Ok(root);
        }
        fs::create_dir_all(root.join("etc/sub"))?;
        fs::write(root.join("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n")?;
        fs::write(root.join("etc/sub/file"), b"lower\n")?;
        symlink("/outside", root.join("abs"))?;
        symlink("../outside", root.join("rel"))?;
        symlink("../../../../outside/secret", root.join("deep"))?;
        symlink("abs/dir", root.join("chain"))?;
        symlink("/", root.join("slash"))?;
        Ok(root)
    }
}

fn make_writable(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
        for entry in fs::read_dir(path)? {
            make_writable(&entry?.path())?;
        }
    }
    Ok(())
}

/// What one path outside the root is: kind, mode, owner, links, size, times, contents.
#[derive(Debug, PartialEq, Eq)]
struct Node {
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    size: u64,
    mtime: (i64, i64),
    content: Vec<u8>,
}

/// Everything in the jail except the root and other file systems (the target's /proc).
fn snapshot(jail: &Path) -> io::Result<BTreeMap<PathBuf, Node>> {
    let dev = fs::symlink_metadata(jail)?.dev();
    let mut out = BTreeMap::new();
    walk(jail, jail, dev, &mut out)?;
    Ok(out)
}

fn walk(jail: &Path, dir: &Path, dev: u64, out: &mut BTreeMap<PathBuf, Node>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if dir == jail && path.file_name().is_some_and(|n| n == "root") {
            continue;
        }
        let meta = fs::symlink_metadata(&path)?;
        if meta.dev() != dev {
            continue;
        }
        let content = if meta.file_type().is_symlink() {
            fs::read_link(&path)?.into_os_string().into_encoded_bytes()
        } else if meta.is_file() {
            fs::read(&path)?
        } else {
            Vec::new()
        };
        let rel = path.strip_prefix(jail).unwrap_or(&path).to_path_buf();
        out.insert(
            rel,
            Node {
                mode: meta.mode(),
                uid: meta.uid(),
                gid: meta.gid(),
                nlink: meta.nlink(),
                size: if meta.is_dir() { 0 } else { meta.size() },
                mtime: (meta.mtime(), meta.mtime_nsec()),
                content,
            },
        );
        if meta.is_dir() {
            walk(jail, &path, dev, out)?;
        }
    }
    Ok(())
}

fn describe_change(before: &BTreeMap<PathBuf, Node>, after: &BTreeMap<PathBuf, Node>) -> String {
    let mut lines = Vec::new();
    for (path, node) in after {
        match before.get(path) {
            None => lines.push(format!("created {}: {node:?}", path.display())),
            Some(old) if old != node => {
                lines.push(format!("changed {}: {old:?} -> {node:?}", path.display()))
            }
            Some(_) => {}
        }
    }
    for path in before.keys().filter(|p| !after.contains_key(*p)) {
        lines.push(format!("removed {}", path.display()));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check is only as good as its view of the canary: a write, a new file or a new
    /// hardlink outside the root must all show.
    #[test]
    fn changes_outside_the_root_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        Jail::new(dir.path(), false).unwrap();
        let before = snapshot(dir.path()).unwrap();
        fs::create_dir(dir.path().join("root")).unwrap();
        fs::write(dir.path().join("root/inside"), b"x").unwrap();
        assert!(
            snapshot(dir.path()).unwrap() == before,
            "the root is not the canary"
        );
        fs::hard_link(dir.path().join("outside/secret"), dir.path().join("root/h")).unwrap();
        let linked = snapshot(dir.path()).unwrap();
        assert!(describe_change(&before, &linked).contains("changed outside/secret"));
        fs::write(dir.path().join("escape"), b"x").unwrap();
        fs::write(dir.path().join("outside/dir/file"), b"evil").unwrap();
        let text = describe_change(&before, &snapshot(dir.path()).unwrap());
        assert!(text.contains("created escape"), "{text}");
        assert!(text.contains("changed outside/dir/file"), "{text}");
    }
}
