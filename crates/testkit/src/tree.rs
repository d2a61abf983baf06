//! Trees as data: a snapshot of every path under a root (type, mode, owner, contents,
//! link target, device numbers, xattrs, times, hardlink groups), to compare roots made by
//! different tools or drivers, and a readable diff of two snapshots.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::layer::sha256_digest;

/// What a tree looks like, path by path (relative, "" for the root).
pub type Tree = BTreeMap<String, Node>;

/// One path of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `d` directory, `f` file, `l` symlink, `c`/`b` devices, `p` fifo, `s` socket.
    pub kind: char,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Bytes, for files; 0 otherwise.
    pub size: u64,
    /// The text if short UTF-8, else its digest.
    pub content: Option<String>,
    /// A symlink's target.
    pub link: Option<String>,
    /// A device's (major, minor).
    pub rdev: Option<(u32, u32)>,
    /// Every extended attribute readable here.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// (seconds, nanoseconds); `None` where the snapshot leaves mtimes out.
    pub mtime: Option<(i64, i64)>,
    /// The other paths sharing this inode, sorted.
    pub hardlinks: Vec<String>,
}

/// What a snapshot records.
#[derive(Clone, Copy)]
pub struct Snap {
    /// Keep directories' mtimes too (canaries); the golden comparison leaves them out.
    pub dir_mtimes: bool,
    /// Leave `trusted.overlay.*` xattrs out.
    pub hide_overlay_xattrs: bool,
}

/// For comparing trees made by different tools: directories' mtimes left out.
pub const GOLDEN: Snap = Snap {
    dir_mtimes: false,
    hide_overlay_xattrs: false,
};
/// Everything, directories' mtimes included.
pub const EXACT: Snap = Snap {
    dir_mtimes: true,
    hide_overlay_xattrs: false,
};

/// The extended attributes of `path` (not followed), by name.
pub fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut names = vec![0u8; 65536];
    let mut out = BTreeMap::new();
    let n = match rustix::fs::llistxattr(path, &mut names[..]) {
        Ok(n) => n,
        Err(_) => return out,
    };
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let mut value = vec![0u8; 65536];
        if let Ok(len) = rustix::fs::lgetxattr(path, name, &mut value[..]) {
            value.truncate(len);
            out.insert(String::from_utf8_lossy(name).into_owned(), value);
        }
    }
    out
}

/// Every path under `root` (`""` for the root itself), with what `snap` asks for.
pub fn snapshot(root: &Path, snap: Snap) -> Tree {
    let mut tree = Tree::new();
    let mut inodes: BTreeMap<(u64, u64), Vec<String>> = BTreeMap::new();
    walk(root, root, snap, &mut tree, &mut inodes);
    for paths in inodes.values() {
        if paths.len() > 1 {
            for p in paths {
                let others = paths.iter().filter(|o| *o != p).cloned().collect();
                tree.get_mut(p).unwrap().hardlinks = others;
            }
        }
    }
    tree
}

/// What a layer can carry of the tree under `root`, to compare a tree with the same tree
/// packed and applied again: the root itself left out (a layer need not say anything of it),
/// mtimes to whole seconds (tar's), directories' mtimes and overlay xattrs left out.
pub fn layer_tree(root: &Path) -> Tree {
    let mut tree = snapshot(
        root,
        Snap {
            dir_mtimes: false,
            hide_overlay_xattrs: true,
        },
    );
    tree.remove("");
    for node in tree.values_mut() {
        if let Some((seconds, _)) = node.mtime {
            node.mtime = Some((seconds, 0));
        }
    }
    tree
}

fn walk(
    root: &Path,
    path: &Path,
    snap: Snap,
    tree: &mut Tree,
    inodes: &mut BTreeMap<(u64, u64), Vec<String>>,
) {
    let meta = fs::symlink_metadata(path).unwrap();
    let rel = path
        .strip_prefix(root)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let ft = meta.file_type();
    use std::os::unix::fs::FileTypeExt;
    let kind = if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'l'
    } else if ft.is_file() {
        'f'
    } else if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else if ft.is_fifo() {
        'p'
    } else {
        's'
    };
    let mut xattrs = xattrs(path);
    if snap.hide_overlay_xattrs {
        xattrs.retain(|k, _| !k.starts_with("trusted.overlay."));
    }
    let node = Node {
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        size: if kind == 'f' { meta.size() } else { 0 },
        content: (kind == 'f').then(|| {
            let bytes = fs::read(path).unwrap();
            match String::from_utf8(bytes) {
                Ok(text) if text.len() <= 80 => text,
                Ok(text) => sha256_digest(text.as_bytes()),
                Err(e) => sha256_digest(e.as_bytes()),
            }
        }),
        link: (kind == 'l').then(|| fs::read_link(path).unwrap().to_string_lossy().into_owned()),
        rdev: matches!(kind, 'c' | 'b').then(|| {
            let d = meta.rdev();
            (rustix::fs::major(d), rustix::fs::minor(d))
        }),
        xattrs,
        mtime: (kind != 'd' || snap.dir_mtimes).then(|| (meta.mtime(), meta.mtime_nsec())),
        hardlinks: Vec::new(),
    };
    if kind != 'd' {
        inodes
            .entry((meta.dev(), meta.ino()))
            .or_default()
            .push(rel.clone());
    }
    tree.insert(rel, node);
    if kind == 'd' {
        let mut children: Vec<PathBuf> = fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        children.sort();
        for child in children {
            walk(root, &child, snap, tree, inodes);
        }
    }
}

/// Describes the differences between two trees, or returns `None` if they are equal.
pub fn diff(left_name: &str, left: &Tree, right_name: &str, right: &Tree) -> Option<String> {
    let mut out = String::new();
    for (path, node) in left {
        match right.get(path) {
            None => out.push_str(&format!("only in {left_name}: {path:?} {node:?}\n")),
            Some(other) if other != node => out.push_str(&format!(
                "differs: {path:?}\n  {left_name}: {node:?}\n  {right_name}: {other:?}\n"
            )),
            Some(_) => {}
        }
    }
    for (path, node) in right {
        if !left.contains_key(path) {
            out.push_str(&format!("only in {right_name}: {path:?} {node:?}\n"));
        }
    }
    (!out.is_empty()).then_some(out)
}
