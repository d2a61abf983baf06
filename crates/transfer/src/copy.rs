//! `imageadm copy SRC DST` between the places images live, named as skopeo names them:
//! `docker://REF` (a registry), `oci:DIR[:TAG]` (an OCI layout), `oci-archive:FILE[:TAG]` (a
//! tar of one), and a plain `REF` for imageadm's own store. Every OCI layout is opened as a
//! [`Store`], so a copy is always the same thing: each blob the image needs streamed from one
//! layout into the other and verified on the way (what the destination has is skipped), then
//! the name set. Registries are reached through a scratch layout (pull, or push from it);
//! archives are unpacked into one, or packed from one. Digests are kept.
//!
//! A source layout that is not imageadm's store is someone else's: it is opened as a
//! [`LayoutReader`], which writes, creates and locks nothing in it and follows no link in it.

use std::path::{Path, PathBuf};

use aurora_store::{LayoutReader, ReadLayout};

use aurora_registry::RegistryClient;
use aurora_spec::document::Link;
use aurora_spec::media;
use aurora_spec::{Digest, ImageRef};
use aurora_store::Store;
use oci_spec::image::Descriptor;

use crate::docker_archive;
use crate::error::{Result, TransferError};
use crate::pull::{pull, PullOptions};
use crate::push::{push, PushOptions};
use aurora_images::find_image;
use aurora_images::Progress;

/// Where an image is, in skopeo's transport syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// imageadm's own store, by name or digest.
    Store(String),
    Registry(ImageRef),
    Oci {
        dir: PathBuf,
        tag: Option<String>,
    },
    OciArchive {
        file: PathBuf,
        tag: Option<String>,
    },
    /// `docker save`'s format; the reference names (or picks) the image in it.
    DockerArchive {
        file: PathBuf,
        reference: Option<String>,
    },
}

impl std::str::FromStr for Location {
    type Err = TransferError;

    fn from_str(text: &str) -> Result<Self> {
        let path_and_tag = |rest: &str| -> (PathBuf, Option<String>) {
            // The last `:` separates a tag, unless what follows looks like a path.
            match rest.rsplit_once(':') {
                Some((path, tag)) if !tag.is_empty() && !tag.contains('/') => {
                    (PathBuf::from(path), Some(tag.to_string()))
                }
                _ => (PathBuf::from(rest), None),
            }
        };
        if let Some(rest) = text.strip_prefix("docker://") {
            return Ok(Location::Registry(ImageRef::parse(rest)?));
        }
        if let Some(rest) = text.strip_prefix("oci:") {
            let (dir, tag) = path_and_tag(rest);
            return Ok(Location::Oci { dir, tag });
        }
        if let Some(rest) = text.strip_prefix("oci-archive:") {
            let (file, tag) = path_and_tag(rest);
            return Ok(Location::OciArchive { file, tag });
        }
        if let Some(rest) = text.strip_prefix("docker-archive:") {
            // skopeo's rule: the path ends at the first `:`; a reference may have more.
            let (file, reference) = match rest.split_once(':') {
                Some((file, reference)) if !reference.is_empty() => {
                    (PathBuf::from(file), Some(reference.to_string()))
                }
                _ => (PathBuf::from(rest), None),
            };
            return Ok(Location::DockerArchive { file, reference });
        }
        if let Some((transport, _)) = text.split_once(':').filter(|(t, rest)| {
            !t.contains('/')
                && !t.contains('.')
                && !rest.starts_with(|c: char| c.is_ascii_digit())
                && matches!(*t, "containers-storage" | "dir" | "docker-daemon")
        }) {
            return Err(TransferError::UnsupportedTransport(transport.to_string()));
        }
        Ok(Location::Store(text.to_string()))
    }
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    pub source: String,
    pub destination: String,
    /// The digest of the manifest (or index) copied: the same on both sides.
    pub digest: String,
    pub blobs_copied: usize,
    pub blobs_present: usize,
    /// What the destination's format changed (docker archives hold uncompressed layers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Copies the image at `source` to `destination`.
pub async fn copy(
    store: &Store,
    client: &RegistryClient,
    source: &Location,
    destination: &Location,
    progress: &dyn Progress,
) -> Result<CopyReport> {
    let scratch = tempfile::Builder::new()
        .prefix("copy-")
        .tempdir_in(store.root().join(".aurora").join("tmp"))
        .map_err(|e| TransferError::Copy(format!("cannot make a scratch directory: {e}")))?;
    let (source_layout, from_name) =
        open_source(store, client, source, scratch.path(), progress).await?;
    // Shared lock on a store of ours: its gc waits until the copy is done. A layout only
    // read is not ours to lock.
    let _reading = match &source_layout {
        Source::Store(from) => Some(from.writer_lock()?),
        Source::Layout(_) => None,
    };
    let from = source_layout.layout();
    let descriptor = from
        .find_ref(&from_name)?
        .ok_or_else(|| TransferError::not_in_store(from_name.clone()))?;
    let mut report = CopyReport {
        source: describe(source),
        destination: describe(destination),
        digest: descriptor.digest().to_string(),
        ..CopyReport::default()
    };
    match destination {
        Location::Store(name) => {
            let name = ImageRef::parse(name)?.store_name();
            transfer(from, &descriptor, store, &name, &mut report)?;
        }
        Location::Registry(image) => {
            // push finds images by reference: a layout's bare tag goes through a scratch
            // layout under the destination's own name.
            let (staging, name) = match (&source_layout, source) {
                (Source::Store(from), Location::Store(_)) => (from.clone(), from_name.clone()),
                _ => {
                    let staging = Store::open(scratch.path().join("out"))?;
                    let mut staged = CopyReport::default();
                    transfer(
                        from,
                        &descriptor,
                        &staging,
                        &image.store_name(),
                        &mut staged,
                    )?;
                    (staging, image.store_name())
                }
            };
            let pushing = &staging;
            let options = PushOptions::default();
            let pushed = push(pushing, client, &name, image, &options, progress).await?;
            report.blobs_copied = pushed.uploaded + pushed.mounted;
            report.blobs_present = pushed.present;
        }
        Location::Oci { dir, tag } => {
            into_layout(from, &descriptor, dir, tag.as_deref(), &mut report)?;
        }
        Location::DockerArchive { file, reference } => {
            let tag = reference
                .as_deref()
                .map(ImageRef::parse)
                .transpose()?
                .map(|r| r.to_string());
            docker_archive::write(
                from,
                &descriptor,
                tag.as_deref(),
                file,
                &scratch.path().join("layers"),
            )?;
            report.note = Some(
                "a docker archive holds uncompressed layers: loading it back gives other layer and manifest digests"
                    .to_string(),
            );
        }
        Location::OciArchive { file, tag } => {
            let packed = scratch.path().join("out");
            into_layout(from, &descriptor, &packed, tag.as_deref(), &mut report)?;
            write_archive(&packed, file)?;
        }
    }
    Ok(report)
}

/// Where a copy reads from: a store of ours (imageadm's, or a scratch one holding what was
/// pulled or unpacked from an archive), or a layout that is only read.
enum Source {
    Store(Store),
    Layout(LayoutReader),
}

impl Source {
    fn layout(&self) -> &dyn ReadLayout {
        match self {
            Source::Store(store) => store,
            Source::Layout(reader) => reader,
        }
    }
}

/// The layout holding the source image, and its name there.
async fn open_source(
    store: &Store,
    client: &RegistryClient,
    source: &Location,
    scratch: &Path,
    progress: &dyn Progress,
) -> Result<(Source, String)> {
    match source {
        Location::Store(name) => {
            let (found, _) = find_image(store, name)?;
            Ok((Source::Store(store.clone()), found))
        }
        Location::Registry(image) => {
            let layout = Store::open(scratch.join("in"))?;
            pull(&layout, client, image, &PullOptions::default(), progress).await?;
            Ok((Source::Store(layout), image.store_name()))
        }
        Location::Oci { dir, tag } => {
            let layout = open_existing_layout(dir)?;
            let name = only_name(&layout, tag.as_deref(), dir)?;
            Ok((Source::Layout(layout), name))
        }
        Location::DockerArchive { file, reference } => {
            let layout = Store::open(scratch.join("in"))?;
            docker_archive::read(
                file,
                reference.as_deref(),
                &layout,
                "image",
                &scratch.join("extract"),
            )?;
            Ok((Source::Store(layout), "image".to_string()))
        }
        Location::OciArchive { file, tag } => {
            let dir = scratch.join("in");
            read_archive(file, &dir)?;
            let layout = open_existing_layout(&dir)?;
            let name = only_name(&layout, tag.as_deref(), file)?;
            Ok((Source::Layout(layout), name))
        }
    }
}

fn describe(location: &Location) -> String {
    match location {
        Location::Store(name) => name.clone(),
        Location::Registry(image) => format!("docker://{image}"),
        Location::Oci { dir, tag } => format!("oci:{}{}", dir.display(), tag_suffix(tag)),
        Location::OciArchive { file, tag } => {
            format!("oci-archive:{}{}", file.display(), tag_suffix(tag))
        }
        Location::DockerArchive { file, reference } => {
            format!("docker-archive:{}{}", file.display(), tag_suffix(reference))
        }
    }
}

fn tag_suffix(tag: &Option<String>) -> String {
    tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default()
}

/// The image into the OCI layout at `dir` (made if missing) as `tag` (skopeo's default:
/// `latest`).
fn into_layout(
    from: &dyn ReadLayout,
    descriptor: &Descriptor,
    dir: &Path,
    tag: Option<&str>,
    report: &mut CopyReport,
) -> Result<()> {
    let to = Store::open(dir)?;
    transfer(from, descriptor, &to, tag.unwrap_or("latest"), report)
}

/// A layout that must exist already (a source), opened read-only: an empty or missing
/// directory is no image, and nothing is created in it.
fn open_existing_layout(dir: &Path) -> Result<LayoutReader> {
    match LayoutReader::open(dir) {
        Err(aurora_store::StoreError::NotALayout { reason, .. }) => Err(TransferError::Copy(
            format!("{} is not an OCI image layout ({reason})", dir.display()),
        )),
        Err(aurora_store::StoreError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Err(TransferError::Copy(format!(
                "{} is not an OCI image layout (no such directory)",
                dir.display()
            )))
        }
        other => Ok(other?),
    }
}

/// The image named `tag` in a layout, or its only image when no tag is given.
fn only_name(layout: &dyn ReadLayout, tag: Option<&str>, place: &Path) -> Result<String> {
    let refs = layout.list_refs()?;
    match tag {
        Some(tag) if refs.iter().any(|(name, _)| name == tag) => Ok(tag.to_string()),
        Some(tag) => Err(TransferError::not_in_store(format!(
            "{tag} in {}",
            place.display()
        ))),
        None => match refs.as_slice() {
            [(name, _)] => Ok(name.clone()),
            [] => Err(TransferError::not_in_store(format!(
                "any image in {}",
                place.display()
            ))),
            _ => Err(TransferError::Copy(format!(
                "{} holds {} images; name one with :TAG",
                place.display(),
                refs.len()
            ))),
        },
    }
}

/// Every blob `descriptor` reaches, from `from` into `to` (verified, skipping what `to`
/// has), then `name` in `to`.
fn transfer(
    from: &dyn ReadLayout,
    descriptor: &Descriptor,
    to: &Store,
    name: &str,
    report: &mut CopyReport,
) -> Result<()> {
    // A gc of the destination waits until the copy is done (the source's lock, if it is a
    // store of ours, is held by the caller).
    let _writer = to.writer_lock()?;
    // Every platform of an index is copied: the whole graph, each blob once.
    let walked = aurora_store::walk(from, [Link::from_descriptor(descriptor)], |_, _| true)?;
    for blob in walked {
        let digest = blob.link.digest;
        if to.blob_size(&digest)?.is_some() {
            report.blobs_present += 1;
            continue;
        }
        copy_blob(from, to, &digest)?;
        report.blobs_copied += 1;
    }
    to.set_ref(name, descriptor)?;
    Ok(())
}

fn copy_blob(from: &dyn ReadLayout, to: &Store, digest: &Digest) -> Result<()> {
    let missing = || TransferError::Copy(format!("blob {digest} is missing from the source"));
    let file = from.open_blob(digest)?.ok_or_else(missing)?;
    let path = from
        .root()
        .join(format!("blobs/{}/{}", digest.algorithm(), digest.digest()));
    let size = file
        .metadata()
        .map_err(|e| TransferError::Copy(format!("cannot read {}: {e}", path.display())))?
        .len();
    // Verified against the digest and size on the way in: a corrupt source blob leaves nothing.
    to.import_blob(file, &path, Some((digest, Some(size))))?;
    Ok(())
}

/// A tar of the layout's own files (oci-layout, index.json, blobs/), as skopeo writes one.
fn write_archive(layout: &Path, file: &Path) -> Result<()> {
    let fail =
        |e: std::io::Error| TransferError::Copy(format!("cannot write {}: {e}", file.display()));
    let parent = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".oci-archive-")
        .tempfile_in(parent)
        .map_err(fail)?;
    {
        let mut tar = tar::Builder::new(std::io::BufWriter::new(tmp.as_file()));
        tar.mode(tar::HeaderMode::Deterministic);
        tar.append_path_with_name(layout.join("oci-layout"), "oci-layout")
            .map_err(fail)?;
        tar.append_path_with_name(layout.join("index.json"), "index.json")
            .map_err(fail)?;
        tar.append_dir_all("blobs", layout.join("blobs"))
            .map_err(fail)?;
        tar.into_inner()
            .map_err(fail)?
            .into_inner()
            .map_err(|e| fail(e.into_error()))?;
    }
    tmp.persist(file).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Unpacks an OCI archive into `dir`: only `oci-layout`, `index.json` and
/// `blobs/ALGORITHM/HEX` are taken (written by their checked names, never by the archive's
/// paths), `oci-layout` and `index.json` capped as registry documents are while they are
/// extracted; anything else, and any name the archive holds twice, is an error naming it.
fn read_archive(file: &Path, dir: &Path) -> Result<()> {
    let fail =
        |e: std::io::Error| TransferError::Copy(format!("cannot read {}: {e}", file.display()));
    let refuse = |why: String| TransferError::Copy(format!("{}: {why}", file.display()));
    let input = std::fs::File::open(file).map_err(fail)?;
    std::fs::create_dir_all(dir.join("blobs").join("sha256")).map_err(fail)?;
    let mut archive = tar::Archive::new(input);
    let mut seen = std::collections::BTreeSet::new();
    for entry in archive.entries().map_err(fail)? {
        let mut entry = entry.map_err(fail)?;
        let raw = entry.path().map_err(fail)?.to_string_lossy().into_owned();
        let mut name = raw.as_str();
        while let Some(rest) = name.strip_prefix("./") {
            name = rest;
        }
        let name = name.trim_end_matches('/');
        // Tar readers take the last of two entries of one name, skopeo's the first: an
        // archive that says two things about one file is refused rather than guessed at.
        if !seen.insert(name.to_string()) {
            return Err(refuse(format!("the archive holds {raw:?} twice")));
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() && matches!(name, "blobs" | "blobs/sha256" | "") {
            continue;
        }
        let (target, cap) = match name {
            "oci-layout" => (dir.join(name), Some(media::MAX_ARCHIVE_METADATA_BYTES)),
            "index.json" => (dir.join(name), Some(media::MAX_LAYOUT_INDEX_BYTES)),
            _ => match name.strip_prefix("blobs/sha256/") {
                Some(hex) if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) => {
                    (dir.join("blobs").join("sha256").join(hex), None)
                }
                _ => {
                    return Err(refuse(format!(
                        "the archive holds {raw:?}, which no OCI layout has"
                    )))
                }
            },
        };
        if !kind.is_file() {
            return Err(refuse(format!("{raw:?} is not a regular file")));
        }
        let mut out = std::fs::File::create(&target).map_err(fail)?;
        match cap {
            Some(limit) => {
                aurora_store::copy_capped(&mut entry, &mut out, Path::new(name), limit)
                    .map_err(|e| refuse(e.to_string()))?;
            }
            None => {
                std::io::copy(&mut entry, &mut out).map_err(fail)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_in_skopeo_s_syntax() {
        let parse = |t: &str| t.parse::<Location>().unwrap();
        assert_eq!(
            parse("oci:/tmp/x:v1"),
            Location::Oci {
                dir: "/tmp/x".into(),
                tag: Some("v1".into())
            }
        );
        assert_eq!(
            parse("oci:/tmp/x"),
            Location::Oci {
                dir: "/tmp/x".into(),
                tag: None
            }
        );
        assert_eq!(
            parse("oci:rel/dir"),
            Location::Oci {
                dir: "rel/dir".into(),
                tag: None
            }
        );
        assert_eq!(
            parse("oci-archive:/a/b.tar:latest"),
            Location::OciArchive {
                file: "/a/b.tar".into(),
                tag: Some("latest".into())
            }
        );
        assert_eq!(
            parse("docker://alpine:3.19"),
            Location::Registry(ImageRef::parse("alpine:3.19").unwrap())
        );
        assert_eq!(
            parse("127.0.0.1:5000/a:1"),
            Location::Store("127.0.0.1:5000/a:1".into())
        );
        assert_eq!(parse("alpine"), Location::Store("alpine".into()));
        assert_eq!(
            parse("docker-archive:/x.tar:127.0.0.1:5000/a:1"),
            Location::DockerArchive {
                file: "/x.tar".into(),
                reference: Some("127.0.0.1:5000/a:1".into())
            }
        );
        assert!(matches!(
            "containers-storage:x".parse::<Location>(),
            Err(TransferError::UnsupportedTransport(_))
        ));
        assert!("docker://Not Valid".parse::<Location>().is_err());
    }
}
