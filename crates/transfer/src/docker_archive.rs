//! The `docker save` format (`docker-archive:`), which `docker load`, `podman load` and skopeo
//! read: `manifest.json` naming a config `HEX.json` and one uncompressed `HEX/layer.tar` per
//! layer (HEX the layer's diff ID). Layers are stored uncompressed there, so the manifest a
//! round trip gives has other layer digests than the original: the copy says so.

use std::io::{Read, Write};
use std::path::Path;

use aurora_layers::{decoder, Compression};
use std::collections::BTreeMap;

use aurora_spec::document::Link;
use aurora_spec::media::{self, Kind, OCI_LAYER_TAR};
use aurora_spec::{sha256_digest, Digest, Platform};
use aurora_store::{copy_capped, read_capped, NewImage, ReadLayout, Store};
use oci_spec::image::{Descriptor, ImageConfiguration};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TransferError};
use aurora_images::read_document;

/// One image in an archive's `manifest.json`, as `docker save` writes it. `RepoTags` is null
/// for an untagged image; the fields are in the order the archives we wrote have always had.
#[derive(Debug, Serialize, Deserialize)]
struct ArchiveEntry {
    #[serde(rename = "Config")]
    config: Option<String>,
    #[serde(rename = "Layers")]
    layers: Option<Vec<String>>,
    #[serde(rename = "RepoTags")]
    repo_tags: Option<Vec<String>>,
}

fn fail(file: &Path, why: impl std::fmt::Display) -> TransferError {
    TransferError::Copy(format!("{}: {why}", file.display()))
}

/// Writes the image `descriptor` of `from` (for an index: the host platform's manifest) as a
/// docker archive at `file`, tagged `tag` (a full reference) when given. `scratch` holds the
/// uncompressed layers while the archive is written.
pub(crate) fn write(
    from: &dyn ReadLayout,
    descriptor: &Descriptor,
    tag: Option<&str>,
    file: &Path,
    scratch: &Path,
) -> Result<()> {
    let manifest_digest = single_manifest(from, descriptor)?;
    let manifest = read_document(from, &manifest_digest)?;
    let config_link = manifest
        .config
        .as_ref()
        .ok_or_else(|| fail(file, "the image has no config"))?;
    let config_digest = config_link.digest.clone();
    let config_bytes = from.read_blob(&config_digest, media::MAX_CONFIG_BYTES)?;
    std::fs::create_dir_all(scratch).map_err(|e| fail(scratch, e))?;
    let mut layer_files = Vec::new();
    for link in &manifest.layers {
        let digest = link.digest.clone();
        let compression =
            Compression::from_media_type(&link.media_type).unwrap_or(Compression::Detect);
        let blob = from
            .open_blob(&digest)?
            .ok_or_else(|| fail(file, format!("layer {digest} is missing from the source")))?;
        let (_, mut tar) = decoder(blob, compression)
            .map_err(|(_, e)| fail(file, format!("layer {digest}: {e}")))?;
        let out_path = scratch.join(format!("layer-{}", layer_files.len()));
        let mut out = std::fs::File::create(&out_path).map_err(|e| fail(&out_path, e))?;
        let mut hasher = aurora_spec::Hasher::sha256();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = tar
                .read(&mut buf)
                .map_err(|e| fail(file, format!("layer {digest}: {e}")))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(|e| fail(&out_path, e))?;
        }
        let diff_id = hasher.finish();
        layer_files.push((out_path, diff_id));
    }
    let config_hex = config_digest
        .as_ref()
        .trim_start_matches("sha256:")
        .to_string();
    let entry = ArchiveEntry {
        config: Some(format!("{config_hex}.json")),
        layers: Some(
            layer_files
                .iter()
                .map(|(_, d)| format!("{}/layer.tar", d.trim_start_matches("sha256:")))
                .collect(),
        ),
        repo_tags: Some(tag.map(|t| vec![t.to_string()]).unwrap_or_default()),
    };
    let manifest_json = serde_json::to_vec(&[entry]).map_err(|e| fail(file, e))?;

    let parent = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".docker-archive-")
        .tempfile_in(parent)
        .map_err(|e| fail(file, e))?;
    {
        let mut tar = tar::Builder::new(std::io::BufWriter::new(tmp.as_file()));
        tar.mode(tar::HeaderMode::Deterministic);
        let io = |e: std::io::Error| fail(file, e);
        append_bytes(&mut tar, &format!("{config_hex}.json"), &config_bytes).map_err(io)?;
        for (path, diff_id) in &layer_files {
            let name = format!("{}/layer.tar", diff_id.trim_start_matches("sha256:"));
            tar.append_path_with_name(path, &name).map_err(io)?;
        }
        append_bytes(&mut tar, "manifest.json", &manifest_json).map_err(io)?;
        tar.into_inner()
            .map_err(io)?
            .into_inner()
            .map_err(|e| io(e.into_error()))?;
    }
    tmp.persist(file).map_err(|e| fail(file, e.error))?;
    Ok(())
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, name, bytes)
}

/// Reads the docker archive `file` into the layout `to` as an OCI image (config kept byte for
/// byte, layers as uncompressed tar, each checked against the config's diff IDs) named `name`.
/// `tag` picks an image by its RepoTags when the archive holds several. Only the file names
/// docker and podman write are taken, each written under a path built from its checked name.
pub(crate) fn read(
    file: &Path,
    tag: Option<&str>,
    to: &Store,
    name: &str,
    scratch: &Path,
) -> Result<Descriptor> {
    std::fs::create_dir_all(scratch).map_err(|e| fail(scratch, e))?;
    let input = std::fs::File::open(file).map_err(|e| fail(file, e))?;
    let mut archive = tar::Archive::new(input);
    let mut extracted = std::collections::BTreeMap::new();
    let mut aliases = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for entry in archive.entries().map_err(|e| fail(file, e))? {
        let mut entry = entry.map_err(|e| fail(file, e))?;
        let raw = entry
            .path()
            .map_err(|e| fail(file, e))?
            .to_string_lossy()
            .into_owned();
        let archive_name = normalise(&raw);
        // Two entries of one name leave the reader to pick one (tar tools take the last):
        // an archive that says two things about one file is refused.
        if !seen.insert(archive_name.clone()) {
            return Err(fail(
                file,
                format!("the archive holds {raw:?} twice; it is refused rather than guessed at"),
            ));
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !is_known_name(&archive_name) {
            return Err(fail(
                file,
                format!("the archive holds {raw:?}, which `docker save` does not write"),
            ));
        }
        if kind.is_symlink() {
            // docker save links a layer repeated in an image to its first copy.
            let link = entry.link_name().map_err(|e| fail(file, e))?;
            let link = link
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_default();
            let target = resolve_link(&archive_name, &link)
                .filter(|t| is_known_name(t))
                .ok_or_else(|| {
                    fail(
                        file,
                        format!("{raw:?} links to {link:?}, outside the archive's names"),
                    )
                })?;
            aliases.push((archive_name, target));
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let target = scratch.join(format!("f{}", extracted.len()));
        let mut out = std::fs::File::create(&target).map_err(|e| fail(&target, e))?;
        match extraction_cap(&archive_name) {
            Some(limit) => {
                copy_capped(&mut entry, &mut out, Path::new(&archive_name), limit)
                    .map_err(|e| fail(file, e))?;
            }
            None => {
                std::io::copy(&mut entry, &mut out).map_err(|e| fail(file, e))?;
            }
        }
        extracted.insert(archive_name, target);
    }
    for (alias, target) in aliases {
        if let Some(path) = extracted.get(&target).cloned() {
            extracted.insert(alias, path);
        }
    }
    let get = |n: &str| {
        extracted
            .get(n)
            .ok_or_else(|| fail(file, format!("it has no {n}")))
    };
    let read_small = |n: &str, limit: u64| -> Result<Vec<u8>> {
        let path = get(n)?;
        let opened = std::fs::File::open(path).map_err(|e| fail(path, e))?;
        read_capped(opened, Path::new(n), limit).map_err(|e| fail(file, e))
    };
    let entries: Vec<ArchiveEntry> = serde_json::from_slice(&read_small(
        "manifest.json",
        media::MAX_ARCHIVE_METADATA_BYTES,
    )?)
    .map_err(|e| fail(file, format!("manifest.json is not a list of images: {e}")))?;
    let entry = match tag {
        Some(tag) => entries
            .iter()
            .find(|e| e.repo_tags.iter().flatten().any(|t| same_reference(t, tag))),
        None if entries.len() == 1 => entries.first(),
        None => {
            return Err(fail(
                file,
                format!("it holds {} images; name one with :REF", entries.len()),
            ))
        }
    }
    .ok_or_else(|| {
        fail(
            file,
            format!("no image tagged {} in it", tag.unwrap_or_default()),
        )
    })?;
    let config_name = entry
        .config
        .as_deref()
        .ok_or_else(|| fail(file, "an entry without Config"))?;
    let config_bytes = read_small(config_name, media::MAX_CONFIG_BYTES)?;
    check_config_name(config_name, &config_bytes).map_err(|why| fail(file, why))?;
    let config: ImageConfiguration = serde_json::from_slice(&config_bytes)
        .map_err(|e| fail(file, format!("{config_name}: {e}")))?;
    let diff_ids: Vec<Digest> = config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| {
            d.parse()
                .map_err(|e| fail(file, format!("{config_name}: diff ID {d:?}: {e}")))
        })
        .collect::<Result<_>>()?;
    let layers: &[String] = entry.layers.as_deref().unwrap_or_default();
    if layers.len() != diff_ids.len() {
        return Err(fail(
            file,
            format!(
                "{} layers but the config lists {} diff IDs",
                layers.len(),
                diff_ids.len()
            ),
        ));
    }
    let _writer = to.writer_lock()?;
    let mut layer_links = Vec::new();
    for (layer, diff_id) in layers.iter().zip(&diff_ids) {
        let path = get(layer)?;
        let (digest, size) = store_file(to, path)?;
        if digest != *diff_id {
            return Err(fail(
                file,
                format!("layer {layer} has digest {digest}, the config says {diff_id}"),
            ));
        }
        layer_links.push(Link {
            media_type: OCI_LAYER_TAR.to_string(),
            digest,
            size,
            platform: None,
        });
    }
    let image = NewImage {
        config: &config_bytes,
        layers: &layer_links,
        annotations: BTreeMap::new(),
    };
    Ok(to.put_image(name, &image)?.manifest)
}

/// An archive's name as a layout would have it: no `./` in front, no `/` behind.
fn normalise(raw: &str) -> String {
    let mut name = raw;
    while let Some(rest) = name.strip_prefix("./") {
        name = rest;
    }
    name.trim_end_matches('/').to_string()
}

/// The most bytes an archive file may have while it is extracted: configs and the small
/// metadata files are capped as registry documents are; layers are not (they are checked
/// against the config's diff IDs, and laid down under the unpack limits).
fn extraction_cap(name: &str) -> Option<u64> {
    let layer = name.ends_with(".tar") || name.starts_with("blobs/");
    match name {
        _ if layer => None,
        _ if name.ends_with(".json") && !name.contains('/') && name != "manifest.json" => {
            Some(media::MAX_CONFIG_BYTES)
        }
        _ => Some(media::MAX_ARCHIVE_METADATA_BYTES),
    }
}

/// A config is named by its own digest (`HEX.json` as docker and podman write it, or
/// `blobs/sha256/HEX` as docker 25 does): a name that is not the digest of its bytes means
/// the archive was changed or built wrongly.
fn check_config_name(name: &str, bytes: &[u8]) -> std::result::Result<(), String> {
    let actual = sha256_digest(bytes);
    let named = name
        .strip_suffix(".json")
        .or_else(|| name.strip_prefix("blobs/sha256/"));
    match named {
        Some(hex) if hex == actual.digest() => Ok(()),
        _ => Err(format!(
            "the config {name} is not named by its digest (its bytes are {actual})"
        )),
    }
}

/// `HEX.json`, `HEX/layer.tar`, `HEX/json`, `HEX/VERSION`, `HEX.tar`, `blobs/sha256/HEX`,
/// `manifest.json`, `repositories`, `index.json`, `oci-layout`.
fn is_known_name(name: &str) -> bool {
    let hex = |s: &str| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit());
    matches!(
        name,
        "manifest.json" | "repositories" | "index.json" | "oci-layout"
    ) || name.strip_suffix(".json").is_some_and(hex)
        || name.strip_suffix(".tar").is_some_and(hex)
        || name.strip_prefix("blobs/sha256/").is_some_and(hex)
        || name
            .split_once('/')
            .is_some_and(|(dir, file)| hex(dir) && matches!(file, "layer.tar" | "json" | "VERSION"))
}

/// `RepoTags` as docker writes them (`alpine:3.19`) against a reference as given: the same
/// image when they normalise alike.
fn same_reference(tagged: &str, wanted: &str) -> bool {
    tagged == wanted
        || matches!(
            (aurora_spec::ImageRef::parse(tagged), aurora_spec::ImageRef::parse(wanted)),
            (Ok(a), Ok(b)) if a.to_string() == b.to_string()
        )
}

/// The archive name a symlink at `from` pointing at `link` (relative, as docker writes
/// them: `../HEX/layer.tar`) stands for; None when it climbs out.
fn resolve_link(from: &str, link: &str) -> Option<String> {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for part in link.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// Stores a file as a blob under its own digest.
/// The file at `path` stored as a blob (hashed while it is copied, in one pass), through the
/// store's import.
fn store_file(to: &Store, path: &Path) -> Result<(Digest, u64)> {
    let file = std::fs::File::open(path).map_err(|e| fail(path, e))?;
    Ok(to.import_blob(file, path, None)?)
}

/// The manifest to write: the descriptor's own, or an index's entry for this host.
fn single_manifest(from: &dyn ReadLayout, descriptor: &Descriptor) -> Result<Digest> {
    let digest = descriptor.digest().clone();
    if media::kind(descriptor.media_type().as_ref()) != Kind::Index {
        return Ok(digest);
    }
    let index = read_document(from, &digest)?;
    let entry = index.entry_for(&Platform::host()).ok_or_else(|| {
        TransferError::Copy(format!(
            "{digest}: no image for this host's platform to write as a docker archive"
        ))
    })?;
    Ok(entry.digest.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_links_resolve_inside_the_archive_only() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        assert_eq!(
            resolve_link(&format!("{b}/layer.tar"), &format!("../{a}/layer.tar")),
            Some(format!("{a}/layer.tar"))
        );
        assert_eq!(
            resolve_link(&format!("{b}/layer.tar"), "../../etc/passwd"),
            None
        );
        assert!(is_known_name(&format!("{a}/layer.tar")));
        assert!(is_known_name(&format!("{a}.json")));
        assert!(!is_known_name("etc/passwd"));
        assert!(!is_known_name(&format!("{a}/../x")));
    }

    #[test]
    fn repo_tags_match_by_normalised_reference() {
        assert!(same_reference(
            "alpine:3.19",
            "docker.io/library/alpine:3.19"
        ));
        assert!(same_reference("127.0.0.1:5000/a:1", "127.0.0.1:5000/a:1"));
        assert!(!same_reference("alpine:3.19", "alpine:3.20"));
    }
}
