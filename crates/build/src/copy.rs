//! COPY and ADD: sources matched in the context (or another stage's root), hashed for the
//! cache key, then written as one tar stream into the working container, where the applier
//! resolves every path inside the destination directory, itself resolved inside the root by
//! the kernel: a symlink in the image (`/etc -> /`) cannot lead a copy out of it.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use aurora_containerfile::Copy;
use aurora_layers::{apply_layer, ApplyOptions, Compression};

use crate::error::{step, BuildError, Result};
use crate::source::{Archive, Attributes, Matched, SourceRoot};

/// Most a single COPY may write.
const MAX_COPY_BYTES: u64 = 64 << 30;

/// Fetches an ADD's URL source into an [`Item`].
pub(crate) type Download<'a> = &'a dyn Fn(&str) -> Result<Item>;

/// One thing a COPY copies.
#[derive(Clone)]
pub(crate) enum Item {
    Path(Matched),
    /// A heredoc: its name and its text.
    Text(String, String),
    /// An ADD from a URL: the name it takes and the file it was downloaded to (ours).
    Download(String, PathBuf),
}

impl Item {
    fn is_dir(&self) -> bool {
        matches!(self, Item::Path(m) if m.is_dir)
    }

    fn base_name(&self) -> String {
        match self {
            Item::Path(m) => m.path.rsplit('/').next().unwrap_or_default().to_string(),
            Item::Text(name, _) | Item::Download(name, _) => name.clone(),
        }
    }
}

/// The sources of a COPY, expanded and matched, in order.
pub(crate) fn items(
    copy: &Copy,
    root: &SourceRoot,
    expand: &dyn Fn(&str) -> Result<String>,
    download: Option<Download<'_>>,
    line: usize,
) -> Result<Vec<Item>> {
    refuse_unsupported(copy, line)?;
    let mut items = Vec::new();
    for source in &copy.sources {
        if let Some(doc) = copy.heredoc_for(source) {
            let text = if doc.expand {
                expand(&doc.content)?
            } else {
                doc.content.clone()
            };
            items.push(Item::Text(doc.name.clone(), text));
            continue;
        }
        let word = expand(source)?;
        if word.contains("://") {
            let Some(download) = download else {
                return Err(step(line, format!("{word}: COPY takes no URLs (ADD does)")));
            };
            items.push(download(&word)?);
            continue;
        }
        let found = root.matches(&word).map_err(|e| step(line, e.to_string()))?;
        items.extend(found.into_iter().map(Item::Path));
    }
    Ok(items)
}

/// BuildKit's newer COPY flags are parsed but not built yet: refused rather than ignored,
/// which would make another image than the one asked for.
fn refuse_unsupported(copy: &Copy, line: usize) -> Result<()> {
    let flags = [
        ("--parents", copy.parents),
        ("--exclude", !copy.exclude.is_empty()),
        ("--checksum", copy.checksum.is_some()),
        ("--keep-git-dir", copy.keep_git_dir.is_some()),
        ("--unpack", copy.unpack.is_some()),
    ];
    match flags.iter().find(|(_, given)| *given) {
        Some((flag, _)) => Err(step(line, format!("{flag} is not supported yet"))),
        None => Ok(()),
    }
}

/// The hash of what `items` hold (names, kinds, modes, content; not times).
pub(crate) fn content_hash(
    root: &SourceRoot,
    items: &[Item],
    attributes: Attributes,
) -> Result<String> {
    let mut archive = Archive::new(std::io::sink(), attributes, MAX_COPY_BYTES);
    for item in items {
        write_item(root, item, &item.base_name(), &mut archive)?;
    }
    Ok(archive.finish()?.1)
}

fn write_item<W: std::io::Write>(
    root: &SourceRoot,
    item: &Item,
    name: &str,
    archive: &mut Archive<W>,
) -> Result<()> {
    match item {
        // A directory's content lands in the target directory itself.
        Item::Path(m) if m.is_dir => root.archive(m, "", archive),
        Item::Path(m) => root.archive(m, name, archive),
        Item::Text(_, text) => archive.add_text(name, text),
        Item::Download(_, file) => archive.add_download(name, file),
    }
}

/// Where the copy lands: the directory resolved in the root, and the name a single file
/// takes in it (`None`: items keep their own names).
pub(crate) struct Placement {
    pub dir: String,
    pub file_name: Option<String>,
}

/// Docker's rules: several sources, a directory source or a destination ending in `/` make
/// the destination a directory; else a single file is copied to the destination path,
/// unless that is an existing directory of the image.
pub(crate) fn placement(
    items: &[Item],
    dest: &str,
    dest_is_dir: impl Fn(&str) -> bool,
    line: usize,
) -> Result<Placement> {
    let trailing = dest.ends_with('/') || dest.ends_with("/.");
    let dest = dest.trim_end_matches("/.");
    let clean = normalize(dest);
    if items.len() > 1 && !trailing && !dest_is_dir(&clean) {
        return Err(step(
            line,
            "with more than one source, the destination must be a directory ending in /",
        ));
    }
    let into_dir =
        trailing || items.len() > 1 || items.iter().any(Item::is_dir) || dest_is_dir(&clean);
    if into_dir {
        return Ok(Placement {
            dir: clean,
            file_name: None,
        });
    }
    let (parent, name) = match clean.rsplit_once('/') {
        Some((parent, name)) if !name.is_empty() => {
            (if parent.is_empty() { "/" } else { parent }, name)
        }
        _ => return Err(step(line, format!("{dest:?} is not a file destination"))),
    };
    Ok(Placement {
        dir: parent.to_string(),
        file_name: Some(name.to_string()),
    })
}

/// `/a//b/./c/` → `/a/b/c` (`..` kept for the kernel to resolve inside the root).
fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// Writes `items` into the working container's root.
pub(crate) fn copy_into_root(
    source: &SourceRoot,
    items: &[Item],
    rootfs: &Path,
    placement: &Placement,
    attributes: Attributes,
    line: usize,
) -> Result<u64> {
    let root =
        pathrs::Root::open(rootfs).map_err(|e| step(line, format!("the build root: {e}")))?;
    let perm = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    let dir: OwnedFd = root
        .mkdir_all(&placement.dir, &perm)
        .map_err(|e| step(line, format!("{}: {e}", placement.dir)))?
        .into();
    let target = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(".");
    let (reader, writer) = std::io::pipe().map_err(|e| step(line, format!("a pipe: {e}")))?;
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || -> Result<u64> {
            let mut archive =
                Archive::new(std::io::BufWriter::new(writer), attributes, MAX_COPY_BYTES);
            for item in items {
                let name = placement
                    .file_name
                    .clone()
                    .unwrap_or_else(|| item.base_name());
                write_item(source, item, &name, &mut archive)?;
            }
            let entries = archive.entries;
            archive.finish()?;
            Ok(entries)
        });
        let mut options = ApplyOptions::new(format!("COPY at line {line}"));
        options.create_devices = false;
        let applied = apply_layer(&target, reader, Compression::None, &options);
        let produced = producer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        let entries = produced?;
        applied.map_err(|e| step(line, format!("copying into {}: {e}", placement.dir)))?;
        Ok(entries)
    })
}

/// ADD of a local archive: extracted into the destination directory (tar, plain or gzip,
/// zstd, bzip2, xz), through the same applier.
pub(crate) fn is_archive(source: &SourceRoot, item: &Item) -> bool {
    match item {
        Item::Path(m) if !m.is_dir => source
            .head(&m.path, 264)
            .is_some_and(|head| archive_compression(&head).is_some()),
        _ => false,
    }
}

/// The compression of an archive by its first bytes; `None` for anything else.
pub(crate) fn archive_compression(head: &[u8]) -> Option<Compression> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Compression::Zstd)
    } else if head.starts_with(b"BZh") {
        Some(Compression::Bzip2)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Compression::Xz)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some(Compression::None)
    } else {
        None
    }
}

/// Extracts the archive `item` into the placement's directory.
pub(crate) fn extract_into_root(
    source: &SourceRoot,
    item: &Matched,
    rootfs: &Path,
    dir: &str,
    line: usize,
) -> Result<()> {
    let head = source.head(&item.path, 264).unwrap_or_default();
    let compression = archive_compression(&head)
        .ok_or_else(|| step(line, format!("{} is not an archive", item.path)))?;
    let file = source
        .open_file(&item.path)
        .map_err(|e| step(line, e.to_string()))?;
    let root =
        pathrs::Root::open(rootfs).map_err(|e| step(line, format!("the build root: {e}")))?;
    let perm = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    let dir_fd: OwnedFd = root
        .mkdir_all(dir, &perm)
        .map_err(|e| step(line, format!("{dir}: {e}")))?
        .into();
    let target = PathBuf::from(format!("/proc/self/fd/{}", dir_fd.as_raw_fd())).join(".");
    let mut options = ApplyOptions::new(format!("{} (ADD at line {line})", item.path));
    options.create_devices = false;
    apply_layer(
        &target,
        std::io::BufReader::new(file),
        compression,
        &options,
    )
    .map_err(|e| BuildError::Step {
        line,
        message: format!("extracting {}: {e}", item.path),
    })?;
    Ok(())
}
