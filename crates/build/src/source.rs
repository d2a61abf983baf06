//! What a COPY or ADD copies, read safely: the context (or another stage's root) opened as a
//! root the kernel resolves every path inside (`pathrs`), each source's tree walked with
//! `openat(O_NOFOLLOW)` so that no symlink it holds is ever followed, and everything written
//! as one tar stream for the applier. The stream's entries are hashed as they are written,
//! without their times, into the step's cache key.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use aurora_containerfile::IgnoreRules;
use rustix::fs::{FileType, Mode, OFlags};
use sha2::{Digest as _, Sha256};

use crate::error::{BuildError, Result};

/// Who owns what is copied, and with which mode.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Attributes {
    /// `--chown` resolved; `None` keeps the source's owner (`--from`) or root (context).
    pub owner: Option<(u32, u32)>,
    /// `--chmod`.
    pub mode: Option<u32>,
    /// Keep the sources' owners (COPY --from) rather than making them root's.
    pub keep_owner: bool,
}

/// A tar stream being written, and the hash of what it holds.
pub(crate) struct Archive<W: Write> {
    builder: tar::Builder<W>,
    hash: Sha256,
    attributes: Attributes,
    /// Bytes of file content written so far, against `limit`.
    written: u64,
    limit: u64,
    pub entries: u64,
}

impl<W: Write> Archive<W> {
    pub fn new(out: W, attributes: Attributes, limit: u64) -> Self {
        let mut builder = tar::Builder::new(out);
        builder.mode(tar::HeaderMode::Complete);
        Archive {
            builder,
            hash: Sha256::new(),
            attributes,
            written: 0,
            limit,
            entries: 0,
        }
    }

    /// Finishes the stream; returns the writer and the hash of the entries.
    pub fn finish(self) -> Result<(W, String)> {
        let hash = hex::encode(self.hash.finalize());
        let out = self
            .builder
            .into_inner()
            .map_err(|e| BuildError::Invalid(e.to_string()))?;
        Ok((out, hash))
    }

    fn header(&self, kind: tar::EntryType, stat: &rustix::fs::Stat) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        let mode = if kind == tar::EntryType::Symlink {
            0o777
        } else {
            self.attributes.mode.unwrap_or(stat.st_mode & 0o7777)
        };
        header.set_mode(mode);
        let (uid, gid) = match self.attributes.owner {
            Some(owner) => owner,
            None if self.attributes.keep_owner => (stat.st_uid, stat.st_gid),
            None => (0, 0),
        };
        header.set_uid(u64::from(uid));
        header.set_gid(u64::from(gid));
        header.set_mtime(u64::try_from(stat.st_mtime).unwrap_or(0));
        header.set_size(0);
        header
    }

    /// Hashes what the entry is, not when it was made: a touched file is still a cache hit.
    fn note(&mut self, name: &str, header: &tar::Header, link: &str) -> Result<()> {
        // The applier reads `.wh.` names as whiteouts: such a file cannot be copied as itself.
        if name
            .rsplit('/')
            .next()
            .is_some_and(|base| base.starts_with(".wh."))
        {
            return Err(BuildError::Invalid(format!(
                "{name}: a name starting with .wh. cannot be copied into an image layer"
            )));
        }
        let (mode, uid, gid) = (
            header.mode().unwrap_or(0),
            header.uid().unwrap_or(0),
            header.gid().unwrap_or(0),
        );
        let kind = header.entry_type().as_byte();
        self.hash
            .update(format!("{name}\0{kind}\0{mode:o}\0{uid}\0{gid}\0{link}\0").as_bytes());
        Ok(())
    }

    fn add_dir(&mut self, name: &str, stat: &rustix::fs::Stat) -> Result<()> {
        let mut header = self.header(tar::EntryType::Directory, stat);
        self.note(name, &header, "")?;
        let name = format!("{}/", name.trim_end_matches('/'));
        header.set_cksum();
        self.builder
            .append_data(&mut header, &name, std::io::empty())
            .map_err(|e| BuildError::Invalid(format!("writing {name}: {e}")))
    }

    fn add_symlink(&mut self, name: &str, stat: &rustix::fs::Stat, target: &str) -> Result<()> {
        let mut header = self.header(tar::EntryType::Symlink, stat);
        self.note(name, &header, target)?;
        self.builder
            .append_link(&mut header, name, target)
            .map_err(|e| BuildError::Invalid(format!("writing {name}: {e}")))
    }

    fn add_file(&mut self, name: &str, stat: &rustix::fs::Stat, file: impl Read) -> Result<()> {
        let size = u64::try_from(stat.st_size).unwrap_or(0);
        self.written = self.written.saturating_add(size);
        if self.written > self.limit {
            return Err(BuildError::Invalid(format!(
                "{name}: the copy exceeds {} bytes",
                self.limit
            )));
        }
        let mut header = self.header(tar::EntryType::Regular, stat);
        header.set_size(size);
        self.note(name, &header, "")?;
        let hasher = HashingReader {
            inner: file.take(size),
            hash: &mut self.hash,
        };
        self.builder
            .append_data(&mut header, name, hasher)
            .map_err(|e| BuildError::Invalid(format!("writing {name}: {e}")))?;
        self.entries += 1;
        Ok(())
    }

    /// A downloaded file (ADD URL): 0600 unless `--chmod`, as docker makes it.
    pub fn add_download(&mut self, name: &str, path: &Path) -> Result<()> {
        let file = std::fs::File::open(path).map_err(crate::error::io(path))?;
        let mut stat = rustix::fs::fstat(&file)
            .map_err(|e| BuildError::Invalid(format!("{}: {e}", path.display())))?;
        stat.st_mode = 0o100600;
        self.add_file(name, &stat, file)
    }

    /// A file made from text (a heredoc), 0644 unless `--chmod`.
    pub fn add_text(&mut self, name: &str, text: &str) -> Result<()> {
        let mut stat = empty_stat();
        stat.st_mode = 0o100644;
        stat.st_size = text.len() as i64;
        stat.st_mtime = now_seconds();
        self.add_file(name, &stat, text.as_bytes())
    }
}

/// Feeds what it reads into the archive's hash.
struct HashingReader<'a, R> {
    inner: R,
    hash: &'a mut Sha256,
}

impl<R: Read> Read for HashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

fn empty_stat() -> rustix::fs::Stat {
    // SAFETY: Stat is a plain C struct of integers, for which all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A tree copies are read from: the context directory or another stage's root.
pub(crate) struct SourceRoot {
    root: pathrs::Root,
    /// Names the tree in errors.
    label: PathBuf,
    ignore: Option<IgnoreRules>,
}

/// One source path matched, relative to the root ('/'-separated, no leading '/').
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Matched {
    pub path: String,
    pub is_dir: bool,
}

impl SourceRoot {
    pub fn open(dir: &Path, ignore: Option<IgnoreRules>) -> Result<SourceRoot> {
        let root = pathrs::Root::open(dir).map_err(|e| BuildError::Context {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(SourceRoot {
            root,
            label: dir.to_path_buf(),
            ignore,
        })
    }

    fn refuse(&self, message: String) -> BuildError {
        BuildError::Context {
            path: self.label.clone(),
            message,
        }
    }

    /// The paths `pattern` names (a path or a glob of Go's `filepath.Match` per component),
    /// sorted; a pattern leaving the root (`../x`) is refused, a pattern matching nothing too.
    pub fn matches(&self, pattern: &str) -> Result<Vec<Matched>> {
        let clean = clean_relative(pattern)
            .ok_or_else(|| self.refuse(format!("{pattern:?} is outside the build context")))?;
        if clean.is_empty() {
            return Ok(vec![Matched {
                path: String::new(),
                is_dir: true,
            }]);
        }
        let parts: Vec<&str> = clean.split('/').collect();
        let mut found = Vec::new();
        self.walk_pattern(String::new(), &parts, &mut found)?;
        found.retain(|m| !self.excluded(&m.path));
        if found.is_empty() {
            return Err(self.refuse(format!("no source file matches {pattern:?}")));
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    fn excluded(&self, path: &str) -> bool {
        self.ignore
            .as_ref()
            .is_some_and(|rules| !path.is_empty() && rules.is_excluded(path))
    }

    fn walk_pattern(&self, at: String, parts: &[&str], found: &mut Vec<Matched>) -> Result<()> {
        let Some((first, rest)) = parts.split_first() else {
            return Ok(());
        };
        let candidates: Vec<String> = if has_glob(first) {
            self.list(&at)?
                .into_iter()
                .filter(|name| aurora_containerfile::pattern_matches(first, name))
                .collect()
        } else {
            vec![(*first).to_string()]
        };
        for name in candidates {
            let path = join(&at, &name);
            let Some(stat) = self.stat(&path)? else {
                continue;
            };
            let is_dir = FileType::from_raw_mode(stat.st_mode) == FileType::Directory;
            if rest.is_empty() {
                found.push(Matched { path, is_dir });
            } else if is_dir {
                self.walk_pattern(path, rest, found)?;
            }
        }
        Ok(())
    }

    /// Opens `path` inside the root (symlinks resolved inside it), for reading.
    fn open_path(&self, path: &str, flags: OFlags) -> Result<Option<OwnedFd>> {
        let target = if path.is_empty() { "/" } else { path };
        match self.root.resolve(target) {
            Ok(handle) => {
                let flags = pathrs::flags::OpenFlags::from_bits_retain(u64::from(
                    (flags | OFlags::CLOEXEC).bits(),
                ));
                let file = handle
                    .reopen(flags)
                    .map_err(|e| self.refuse(format!("{path}: {e}")))?;
                Ok(Some(file.into()))
            }
            Err(e) if e.kind() == pathrs::error::ErrorKind::OsError(Some(libc::ENOENT)) => Ok(None),
            Err(e) => Err(self.refuse(format!("{path}: {e}"))),
        }
    }

    fn stat(&self, path: &str) -> Result<Option<rustix::fs::Stat>> {
        let Some(fd) = self.open_path(path, OFlags::PATH)? else {
            return Ok(None);
        };
        rustix::fs::fstat(&fd)
            .map(Some)
            .map_err(|e| self.refuse(format!("{path}: {e}")))
    }

    fn list(&self, dir: &str) -> Result<Vec<String>> {
        let Some(fd) = self.open_path(dir, OFlags::RDONLY | OFlags::DIRECTORY)? else {
            return Ok(Vec::new());
        };
        list_dir(&fd).map_err(|e| self.refuse(format!("{dir}: {e}")))
    }

    /// The first `n` bytes of file `path` (fewer when it is shorter); `None` if unreadable.
    pub fn head(&self, path: &str, n: usize) -> Option<Vec<u8>> {
        let file = self.open_file(path).ok()?;
        let mut head = Vec::with_capacity(n);
        file.take(n as u64).read_to_end(&mut head).ok()?;
        Some(head)
    }

    /// Opens regular file `path` inside the root for reading.
    pub fn open_file(&self, path: &str) -> Result<std::fs::File> {
        let fd = self
            .open_path(path, OFlags::RDONLY)?
            .ok_or_else(|| self.refuse(format!("{path}: no such file")))?;
        Ok(std::fs::File::from(fd))
    }

    /// Writes `source` into `archive` as `name` (a directory's content goes under `name`,
    /// or at the top when `name` is empty).
    pub fn archive<W: Write>(
        &self,
        source: &Matched,
        name: &str,
        archive: &mut Archive<W>,
    ) -> Result<()> {
        let flags = if source.is_dir {
            OFlags::RDONLY | OFlags::DIRECTORY
        } else {
            OFlags::RDONLY
        };
        let fd = self
            .open_path(&source.path, flags)?
            .ok_or_else(|| self.refuse(format!("{}: no such file", source.path)))?;
        let stat =
            rustix::fs::fstat(&fd).map_err(|e| self.refuse(format!("{}: {e}", source.path)))?;
        if source.is_dir {
            if !name.is_empty() {
                archive.add_dir(name, &stat)?;
            }
            self.archive_dir(&fd, &source.path, name, archive)
        } else {
            archive.add_file(name, &stat, std::fs::File::from(fd))
        }
    }

    /// A directory's entries, recursively, never following a symlink it holds.
    fn archive_dir<W: Write>(
        &self,
        dir: &OwnedFd,
        path: &str,
        name: &str,
        archive: &mut Archive<W>,
    ) -> Result<()> {
        let err = |e: rustix::io::Errno| self.refuse(format!("{path}: {e}"));
        let mut entries = list_dir(dir).map_err(err)?;
        entries.sort();
        for entry in entries {
            let entry_path = join(path, &entry);
            if self.excluded(&entry_path)
                && !self
                    .ignore
                    .as_ref()
                    .is_some_and(|r| r.may_include_under(&entry_path))
            {
                continue;
            }
            let entry_name = join(name, &entry);
            let stat =
                rustix::fs::statat(dir, entry.as_str(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| self.refuse(format!("{entry_path}: {e}")))?;
            let excluded = self.excluded(&entry_path);
            match FileType::from_raw_mode(stat.st_mode) {
                FileType::Directory => {
                    let sub = rustix::fs::openat(
                        dir,
                        entry.as_str(),
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| self.refuse(format!("{entry_path}: {e}")))?;
                    if !excluded {
                        archive.add_dir(&entry_name, &stat)?;
                    }
                    self.archive_dir(&sub, &entry_path, &entry_name, archive)?;
                }
                _ if excluded => {}
                FileType::RegularFile => {
                    let file = rustix::fs::openat(
                        dir,
                        entry.as_str(),
                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| self.refuse(format!("{entry_path}: {e}")))?;
                    archive.add_file(&entry_name, &stat, std::fs::File::from(file))?;
                }
                FileType::Symlink => {
                    let target = rustix::fs::readlinkat(dir, entry.as_str(), Vec::new())
                        .map_err(|e| self.refuse(format!("{entry_path}: {e}")))?;
                    let target = target.to_string_lossy().into_owned();
                    archive.add_symlink(&entry_name, &stat, &target)?;
                }
                other => {
                    return Err(self.refuse(format!(
                        "{entry_path}: a {other:?} cannot be copied into an image"
                    )))
                }
            }
        }
        Ok(())
    }
}

fn list_dir(fd: &impl AsFd) -> std::result::Result<Vec<String>, rustix::io::Errno> {
    let dup = rustix::io::fcntl_dupfd_cloexec(fd, 0)?;
    let mut dir = rustix::fs::Dir::new(dup)?;
    let mut names = Vec::new();
    while let Some(entry) = dir.read() {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    Ok(names)
}

fn has_glob(part: &str) -> bool {
    part.contains(['*', '?', '['])
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else if name.is_empty() {
        dir.to_string()
    } else {
        format!("{}/{name}", dir.trim_end_matches('/'))
    }
}

/// `path` made relative to the root and cleaned; `None` when it climbs out of it.
pub(crate) fn clean_relative(path: &str) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_inside_the_root() {
        assert_eq!(clean_relative("./a/b/../c").as_deref(), Some("a/c"));
        assert_eq!(clean_relative("/a").as_deref(), Some("a"));
        assert_eq!(clean_relative(".").as_deref(), Some(""));
        assert_eq!(clean_relative("../x"), None);
        assert_eq!(clean_relative("a/../../x"), None);
    }

    fn context() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/sub")).unwrap();
        std::fs::write(dir.path().join("src/a.txt"), "a").unwrap();
        std::fs::write(dir.path().join("src/b.md"), "b").unwrap();
        std::fs::write(dir.path().join("src/sub/c.txt"), "c").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("src/out")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", dir.path().join("up")).unwrap();
        dir
    }

    #[test]
    fn globs_match_per_component() {
        let dir = context();
        let root = SourceRoot::open(dir.path(), None).unwrap();
        let found: Vec<String> = root
            .matches("src/*.txt")
            .unwrap()
            .into_iter()
            .map(|m| m.path)
            .collect();
        assert_eq!(found, ["src/a.txt"]);
        let found: Vec<String> = root
            .matches("*/*/c.*")
            .unwrap()
            .into_iter()
            .map(|m| m.path)
            .collect();
        assert_eq!(found, ["src/sub/c.txt"]);
        assert!(root.matches("nothing*").is_err());
        assert!(root.matches("../x").is_err());
    }

    #[test]
    fn symlinks_never_lead_out_of_the_context() {
        let dir = context();
        let root = SourceRoot::open(dir.path(), None).unwrap();
        // `up` points far above the context: resolved inside it, it is the context's root,
        // which has no `passwd`.
        assert!(root.matches("up/passwd").is_err());
        // A symlink inside a copied directory is copied as a symlink, never read through.
        let src = root.matches("src").unwrap();
        let mut archive = Archive::new(Vec::new(), Attributes::default(), 1 << 20);
        root.archive(&src[0], "", &mut archive).unwrap();
        let (bytes, _) = archive.finish().unwrap();
        let mut tar = tar::Archive::new(bytes.as_slice());
        let mut names = Vec::new();
        for entry in tar.entries().unwrap() {
            let entry = entry.unwrap();
            let kind = entry.header().entry_type();
            names.push((
                entry.path().unwrap().display().to_string(),
                kind.is_symlink(),
            ));
        }
        assert!(names.contains(&("out".to_string(), true)), "{names:?}");
        assert!(
            names.contains(&("sub/c.txt".to_string(), false)),
            "{names:?}"
        );
    }

    #[test]
    fn the_hash_ignores_times_but_not_content() {
        let dir = context();
        let root = SourceRoot::open(dir.path(), None).unwrap();
        let hash = |root: &SourceRoot| {
            let src = root.matches("src").unwrap();
            let mut archive = Archive::new(Vec::new(), Attributes::default(), 1 << 20);
            root.archive(&src[0], "src", &mut archive).unwrap();
            archive.finish().unwrap().1
        };
        let first = hash(&root);
        let file = std::fs::File::options()
            .write(true)
            .open(dir.path().join("src/a.txt"))
            .unwrap();
        file.set_modified(std::time::SystemTime::UNIX_EPOCH)
            .unwrap();
        assert_eq!(hash(&root), first);
        std::fs::write(dir.path().join("src/a.txt"), "A").unwrap();
        assert_ne!(hash(&root), first);
    }
}
