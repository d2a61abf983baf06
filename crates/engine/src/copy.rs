//! `podadm cp`: files between the host and a container's root, with podman's (and docker's)
//! rules — a file or a directory; a directory `SRC` copied into an existing directory `DEST`
//! as `DEST/SRC`'s name, or its content only when `SRC` ends with `/.`; a missing `DEST`
//! created; `-` for a tar stream on stdin or stdout.
//!
//! Every path inside the container is resolved by the kernel inside the container's root
//! (`pathrs`, `openat2(RESOLVE_IN_ROOT)`): a symlink in the container, absolute or full of
//! `..`, is followed as if the root were `/` and never leads out of it. What is copied
//! travels as a tar stream, written by `aurora-layers`' walk (which never follows a symlink
//! it finds) and applied by its applier (every parent resolved inside the destination, the
//! last component never followed), so a hostile tree or tar stream cannot write outside the
//! destination either. Owners, modes, times, hardlinks and xattrs are kept.

mod stream;

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use aurora_layers::{apply_layer, ApplyOptions, Compression};
use pathrs::Root;

/// A `podadm cp` failure, naming the container or host path.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{path:?} in the container: {source}")]
    Container {
        path: String,
        #[source]
        source: pathrs::error::Error,
    },
    #[error("{path:?} in the container: no such file or directory")]
    ContainerMissing { path: String },
    #[error("{}: {source}", path.display())]
    Host {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {reason}")]
    Refused { path: String, reason: String },
    #[error(
        "copying {what}{}: {}",
        source.entry.as_ref().map(|e| format!(", entry {e:?}")).unwrap_or_default(),
        source.kind
    )]
    Transfer {
        what: String,
        #[source]
        source: Box<aurora_layers::Error>,
    },
    #[error("copying {what}: {source}")]
    Stream {
        what: String,
        #[source]
        source: io::Error,
    },
}

/// `-`: the tar stream is on stdin (into) or stdout (out of the container).
pub const STDIO: &str = "-";

/// What is copied: a directory or a regular file, opened.
pub(crate) enum Source {
    Dir { dir: OwnedFd },
    File { file: File, meta: std::fs::Metadata },
}

impl Source {
    fn is_dir(&self) -> bool {
        matches!(self, Source::Dir { .. })
    }
}

/// Where a copy lands: a directory, and the name the source takes in it (`None`: the
/// source directory's content goes straight into it).
struct Target {
    dir: PathBuf,
    /// Keeps the directory's descriptor open while `dir` is a `/proc/self/fd` path to it.
    _fd: Option<OwnedFd>,
    name: Option<String>,
}

/// Copies `host_src` (a file or directory, or [`STDIO`] for a tar stream on stdin) to
/// `container_path` in the container whose root is `container_root`.
pub fn copy_into(
    container_root: &Path,
    container_path: &str,
    host_src: &Path,
) -> Result<(), CopyError> {
    if host_src == Path::new(STDIO) {
        return copy_tar_into(container_root, container_path, io::stdin());
    }
    let root = open_root(container_root, container_path)?;
    let source = open_host_source(host_src)?;
    let name = source_name(&host_src.to_string_lossy());
    let target = container_target(&root, container_path, &source, name)?;
    transfer(
        source,
        target,
        &format!("{} into the container", host_src.display()),
    )
}

/// Extracts a tar stream into the directory `container_path` of the container whose root is
/// `container_root` (`cp - CTR:DIR`).
pub fn copy_tar_into(
    container_root: &Path,
    container_path: &str,
    tar: impl Read + Send,
) -> Result<(), CopyError> {
    let root = open_root(container_root, container_path)?;
    let dir = resolve_existing(&root, container_path)?;
    let meta = fd_meta(&dir, container_path)?;
    if !meta.is_dir() {
        return Err(CopyError::Refused {
            path: container_path.to_string(),
            reason: "a tar stream can only be copied into a directory".into(),
        });
    }
    extract(
        &dir_path(&dir),
        tar,
        &format!("stdin into {container_path:?}"),
    )
}

/// Copies `container_path` of the container whose root is `container_root` to `host_dest`
/// (a path, or [`STDIO`] for a tar stream on stdout).
pub fn copy_out(
    container_root: &Path,
    container_path: &str,
    host_dest: &Path,
) -> Result<(), CopyError> {
    if host_dest == Path::new(STDIO) {
        let mut stdout = io::BufWriter::new(io::stdout());
        copy_out_tar(container_root, container_path, &mut stdout)?;
        return stdout.flush().map_err(|source| CopyError::Stream {
            what: format!("{container_path:?} to stdout"),
            source,
        });
    }
    let root = open_root(container_root, container_path)?;
    let source = open_container_source(&root, container_path)?;
    let name = source_name(container_path);
    let target = host_target(host_dest, &source, name)?;
    transfer(
        source,
        target,
        &format!("{container_path:?} out of the container"),
    )
}

/// Writes `container_path` of the container as a tar stream (`cp CTR:PATH -`): a directory's
/// entries under its name (or, for `DIR/.`, its content), a file as one entry.
pub fn copy_out_tar(
    container_root: &Path,
    container_path: &str,
    out: impl Write + Send,
) -> Result<(), CopyError> {
    let root = open_root(container_root, container_path)?;
    let source = open_container_source(&root, container_path)?;
    let name = source_name(container_path);
    stream::write_tar(&source, name.as_deref(), out)
        .map(drop)
        .map_err(|e| CopyError::Stream {
            what: format!("{container_path:?} out of the container"),
            source: e,
        })
}

/// The metadata of `container_path` inside the container (symlinks followed inside its
/// root); `None` when it does not exist.
pub(crate) fn container_metadata(
    container_root: &Path,
    container_path: &str,
) -> Result<Option<std::fs::Metadata>, CopyError> {
    let root = open_root(container_root, container_path)?;
    match resolve_existing(&root, container_path) {
        Ok(fd) => fd_meta(&fd, container_path).map(Some),
        Err(CopyError::ContainerMissing { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn open_root(container_root: &Path, container_path: &str) -> Result<Root, CopyError> {
    Root::open(container_root).map_err(|source| CopyError::Container {
        path: container_path.to_string(),
        source,
    })
}

/// The name a source takes at its destination: the last component of the path as given;
/// `None` for `DIR/.` and `/` (their content is copied).
fn source_name(path: &str) -> Option<String> {
    if path.ends_with("/.") || path == "." {
        return None;
    }
    Path::new(path.trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

fn resolve_existing(root: &Root, path: &str) -> Result<OwnedFd, CopyError> {
    match root.resolve(path) {
        Ok(handle) => Ok(OwnedFd::from(handle)),
        Err(e) if is_missing(&e) => Err(CopyError::ContainerMissing {
            path: path.to_string(),
        }),
        Err(source) => Err(CopyError::Container {
            path: path.to_string(),
            source,
        }),
    }
}

fn is_missing(err: &pathrs::error::Error) -> bool {
    matches!(
        err.kind(),
        pathrs::error::ErrorKind::OsError(Some(errno))
            if errno == libc_enoent() || errno == libc_enotdir()
    )
}

fn libc_enoent() -> i32 {
    rustix::io::Errno::NOENT.raw_os_error()
}

fn libc_enotdir() -> i32 {
    rustix::io::Errno::NOTDIR.raw_os_error()
}

/// `/proc/self/fd/N` for a descriptor: how a directory already resolved inside the
/// container is handed to the walk and the applier, which then never see the container's
/// path again.
fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// [`fd_path`] of a directory, as a path whose last component is `.`: the applier opens its
/// root without following a last-component symlink, and `/proc/self/fd/N` is one.
fn dir_path(fd: &OwnedFd) -> PathBuf {
    fd_path(fd).join(".")
}

fn fd_meta(fd: &OwnedFd, path: &str) -> Result<std::fs::Metadata, CopyError> {
    std::fs::metadata(fd_path(fd)).map_err(|source| CopyError::Host {
        path: PathBuf::from(path),
        source,
    })
}

fn refuse_special(meta: &std::fs::Metadata, path: &str) -> Result<(), CopyError> {
    if meta.is_dir() || meta.is_file() {
        Ok(())
    } else {
        Err(CopyError::Refused {
            path: path.to_string(),
            reason: "only regular files and directories can be copied".into(),
        })
    }
}

fn open_container_source(root: &Root, path: &str) -> Result<Source, CopyError> {
    let fd = resolve_existing(root, path)?;
    let meta = fd_meta(&fd, path)?;
    refuse_special(&meta, path)?;
    if meta.is_dir() {
        return Ok(Source::Dir { dir: fd });
    }
    let file = File::open(fd_path(&fd)).map_err(|source| CopyError::Host {
        path: PathBuf::from(path),
        source,
    })?;
    Ok(Source::File { file, meta })
}

fn open_host_source(path: &Path) -> Result<Source, CopyError> {
    let host_err = |source| CopyError::Host {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(host_err)?;
    refuse_special(&meta, &path.display().to_string())?;
    let file = File::open(path).map_err(host_err)?;
    if meta.is_dir() {
        return Ok(Source::Dir {
            dir: OwnedFd::from(file),
        });
    }
    Ok(Source::File { file, meta })
}

/// podman's destination rules, once the destination's state is known: `dest_is_dir`
/// (`None`: it does not exist), and whether it was given with a trailing `/`.
fn plan(
    source: &Source,
    name: Option<String>,
    dest: &str,
    dest_is_dir: Option<bool>,
) -> Result<Placement, CopyError> {
    let refused = |reason: &str| {
        Err(CopyError::Refused {
            path: dest.to_string(),
            reason: reason.to_string(),
        })
    };
    let wants_dir = dest.ends_with('/') || dest.ends_with("/.");
    match (dest_is_dir, source.is_dir()) {
        // Into an existing directory: under the source's name, or its content.
        (Some(true), _) => Ok(Placement::Into(name)),
        (Some(false), true) => refused("cannot copy a directory onto a file"),
        (Some(false), false) if wants_dir => refused("not a directory"),
        (Some(false), false) => Ok(Placement::Replace),
        (None, false) if wants_dir => refused("the destination directory does not exist"),
        // A new file, or a new directory holding the source's content.
        (None, _) => Ok(Placement::Replace),
    }
}

/// Where, relative to the destination path, the source goes.
enum Placement {
    /// Inside the destination directory, under this name (`None`: the content).
    Into(Option<String>),
    /// At the destination path itself (its parent must exist).
    Replace,
}

fn last_component(dest: &str) -> Result<(String, String), CopyError> {
    let trimmed = dest.trim_end_matches('/');
    let path = Path::new(trimmed);
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => Ok((
            parent.to_string_lossy().into_owned(),
            name.to_string_lossy().into_owned(),
        )),
        _ => Err(CopyError::Refused {
            path: dest.to_string(),
            reason: "not a path a file can be copied to".into(),
        }),
    }
}

fn container_target(
    root: &Root,
    dest: &str,
    source: &Source,
    name: Option<String>,
) -> Result<Target, CopyError> {
    let existing = match resolve_existing(root, dest) {
        Ok(fd) => Some(fd),
        Err(CopyError::ContainerMissing { .. }) => None,
        Err(e) => return Err(e),
    };
    let is_dir = match &existing {
        Some(fd) => Some(fd_meta(fd, dest)?.is_dir()),
        None => None,
    };
    match plan(source, name, dest, is_dir)? {
        Placement::Into(name) => {
            let fd = existing.ok_or_else(|| CopyError::ContainerMissing {
                path: dest.to_string(),
            })?;
            Ok(Target {
                dir: dir_path(&fd),
                _fd: Some(fd),
                name,
            })
        }
        Placement::Replace => {
            // An existing file reached through symlinks is replaced where they lead: its
            // path inside the root, as the kernel resolved it, whose parent is resolved
            // inside the root again (never opened by its host path).
            let in_root = match &existing {
                Some(fd) => path_in_root(root, fd, dest)?,
                None => dest.to_string(),
            };
            let (_, name) = last_component(&in_root)?;
            let parent = parent_of(root, &in_root)?;
            Ok(Target {
                dir: dir_path(&parent),
                _fd: Some(parent),
                name: Some(name),
            })
        }
    }
}

/// The path of `fd` (resolved inside the container) as the container sees it.
fn path_in_root(root: &Root, fd: &OwnedFd, dest: &str) -> Result<String, CopyError> {
    use std::os::fd::AsFd;
    let link = |path: PathBuf| {
        std::fs::read_link(&path).map_err(|source| CopyError::Host {
            path: PathBuf::from(dest),
            source,
        })
    };
    let root_path = link(PathBuf::from(format!(
        "/proc/self/fd/{}",
        root.as_fd().as_raw_fd()
    )))?;
    let real = link(fd_path(fd))?;
    let inside = real
        .strip_prefix(&root_path)
        .map_err(|_| CopyError::Refused {
            path: dest.to_string(),
            reason: "it resolves outside the container's root".into(),
        })?;
    Ok(format!("/{}", inside.display()))
}

fn parent_of(root: &Root, dest: &str) -> Result<OwnedFd, CopyError> {
    let (parent, _) = last_component(dest)?;
    let parent = if parent.is_empty() {
        "/".to_string()
    } else {
        parent
    };
    let fd = resolve_existing(root, &parent)?;
    if !fd_meta(&fd, &parent)?.is_dir() {
        return Err(CopyError::Refused {
            path: dest.to_string(),
            reason: format!("{parent:?} is not a directory"),
        });
    }
    Ok(fd)
}

fn host_target(dest: &Path, source: &Source, name: Option<String>) -> Result<Target, CopyError> {
    let text = dest.to_string_lossy().into_owned();
    let is_dir = match std::fs::metadata(dest) {
        Ok(meta) => Some(meta.is_dir()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(CopyError::Host {
                path: dest.to_path_buf(),
                source,
            })
        }
    };
    match plan(source, name, &text, is_dir)? {
        Placement::Into(name) => Ok(Target {
            dir: dest.to_path_buf(),
            _fd: None,
            name,
        }),
        Placement::Replace => {
            let (parent, name) = last_component(&text)?;
            let parent = if parent.is_empty() {
                ".".into()
            } else {
                parent
            };
            if !Path::new(&parent).is_dir() {
                return Err(CopyError::Refused {
                    path: text,
                    reason: format!("the directory {parent:?} does not exist"),
                });
            }
            Ok(Target {
                dir: PathBuf::from(parent),
                _fd: None,
                name: Some(name),
            })
        }
    }
}

/// Streams `source` as tar into `target`: the walk on one thread, the applier on this one.
fn transfer(source: Source, target: Target, what: &str) -> Result<(), CopyError> {
    let (reader, writer) = io::pipe().map_err(|e| CopyError::Stream {
        what: what.to_string(),
        source: e,
    })?;
    std::thread::scope(|scope| {
        let name = target.name.clone();
        // The writer is dropped when the thread ends (not kept in its result), so that the
        // applier sees the end of the stream.
        let writing =
            scope.spawn(move || stream::write_tar(&source, name.as_deref(), writer).map(drop));
        let applied = extract(&target.dir, reader, what);
        let written = writing
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the tar writer panicked")));
        // The applier's error is the one to report; a writer error after the applier
        // stopped is only the broken pipe.
        applied?;
        written.map_err(|e| CopyError::Stream {
            what: what.to_string(),
            source: e,
        })
    })
}

/// Applies a tar stream into the directory `dir` (a host path, or a `/proc/self/fd` path of a
/// directory resolved inside a container).
fn extract(dir: &Path, tar: impl Read + Send, what: &str) -> Result<(), CopyError> {
    let options = if rustix::process::geteuid().is_root() {
        ApplyOptions::new(what)
    } else {
        ApplyOptions::unprivileged(what)
    };
    apply_layer(dir, tar, Compression::None, &options)
        .map(drop)
        .map_err(|source| CopyError::Transfer {
            what: what.to_string(),
            source: Box::new(source),
        })
}
