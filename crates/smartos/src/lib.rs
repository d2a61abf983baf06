//! SmartOS images (imgadm's manifest v2 and its file, a compressed `zfs send` stream) in and
//! out of the store, on the zfs storage driver.
//!
//! Import (`import`) checks the manifest and the file (size, sha1), receives the stream into a pending
//! dataset (see `aurora_storage::zfs::send`), packs the dataset's `root/` as one layer blob
//! and makes the received dataset *be* that layer in storage: its layer ID is the chain ID of
//! the one layer, so a later unpack finds it and clones it, laying nothing down. The image in
//! the store records the SmartOS UUID (an annotation, and a zfs user property on the dataset,
//! by which an incremental image finds its origin).
//!
//! The stream must be a plain one of one snapshot, full, or incremental from the origin
//! image's snapshot when the manifest names an origin; the driver refuses any other (a
//! compound `zfs send -p`/`-R`/`-I` stream would bring its own mountpoint, canmount, sharenfs,
//! children and snapshots) before `zfs receive` sees it, and the error names the file and
//! the image's UUID.
//!
//! Export writes NAME-VERSION.json (manifest v2) and NAME-VERSION.zfs.gz (gzip'd `zfs send`
//! of the image's top layer, whole or incremental from its parent layer). UUIDs follow
//! SmartOS's scheme for docker layers, so the same chain gets the same UUID everywhere.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use aurora_spec::{Digest, ImageRef};
use serde::Serialize;
use serde_json::{json, Value};
use sha1::{Digest as _, Sha1};

use aurora_images::{ensure_layers, Images, LayDown, Progress};

use crate::error::io;

mod error;
#[doc(hidden)]
pub mod fuzzing;
mod import;

pub use error::{Result, SmartosError};
pub use import::{import_smartos, ImportOptions, ImportReport};

/// The annotation (on the manifest) and label (in the config) naming the SmartOS image.
pub const UUID_ANNOTATION: &str = "org.smartos.image.uuid";

/// Manifests are a few KiB; anything past this is not one.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

const MAX_NAME: usize = 512;
const MAX_VERSION: usize = 128;

/// How the image file is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Bzip2,
    Xz,
    None,
}

impl Compression {
    fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
            Compression::None => "none",
        }
    }
}

/// A manifest v2, checked: what import needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub uuid: String,
    pub name: String,
    pub version: String,
    pub kind: String,
    pub os: String,
    pub origin: Option<String>,
    pub published_at: Option<String>,
    pub sha1: String,
    pub size: u64,
    pub compression: Compression,
}

/// Parses and checks a manifest as imgadm would before installing it: v=2; uuid; name (at
/// most 512 of `[A-Za-z0-9._/ -]`, no empty, `.` or `..` component); version (at most 128,
/// no `/`, whitespace or control characters); a filesystem type; os; files[0] with sha1, size
/// and compression.
pub fn parse_manifest(bytes: &[u8]) -> std::result::Result<Manifest, String> {
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(format!(
            "{} bytes; a manifest has at most {MAX_MANIFEST_BYTES}",
            bytes.len()
        ));
    }
    // serde_json refuses nesting deeper than 128 levels.
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let doc = value.as_object().ok_or("not a JSON object")?;
    let text = |field: &str| -> std::result::Result<&str, String> {
        match doc.get(field) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(format!("{field} is not a string")),
            None => Err(format!("{field} is missing")),
        }
    };
    match doc.get("v") {
        Some(v) if v.as_u64() == Some(2) || v.as_str() == Some("2") => {}
        Some(v) => return Err(format!("v is {v}; only manifest version 2 is supported")),
        None => return Err("v is missing (manifest version 2 expected)".into()),
    }
    let uuid = check_uuid(text("uuid")?).map_err(|e| format!("uuid: {e}"))?;
    let name = text("name")?;
    check_name(name).map_err(|e| format!("name: {e}"))?;
    let version = text("version")?;
    check_version(version).map_err(|e| format!("version: {e}"))?;
    let kind = text("type")?;
    match kind {
        "zone-dataset" | "lx-dataset" | "docker" => {}
        "zvol" | "other" => {
            return Err(format!(
                "type {kind}: only filesystem images (zone-dataset, lx-dataset, docker) can become layers"
            ))
        }
        other => return Err(format!("unknown type {other:?}")),
    }
    let os = text("os")?;
    let os_ok = !os.is_empty()
        && os.len() <= 32
        && os
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !os_ok {
        return Err(format!("os {os:?} is not an os name"));
    }
    let origin = match doc.get("origin") {
        None | Some(Value::Null) => None,
        Some(Value::String(o)) => Some(check_uuid(o).map_err(|e| format!("origin: {e}"))?),
        Some(_) => return Err("origin is not a string".into()),
    };
    let published_at = match doc.get("published_at") {
        Some(Value::String(p)) if p.len() <= 64 => Some(p.clone()),
        _ => None,
    };
    let file = match doc.get("files") {
        Some(Value::Array(files)) => files.first().ok_or("files is empty")?,
        Some(_) => return Err("files is not a list".into()),
        None => return Err("files is missing".into()),
    };
    let file = file.as_object().ok_or("files[0] is not an object")?;
    let sha1 = match file.get("sha1") {
        Some(Value::String(s)) if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
            s.to_ascii_lowercase()
        }
        _ => return Err("files[0].sha1 is not 40 hex digits".into()),
    };
    let size = file
        .get("size")
        .and_then(Value::as_u64)
        .ok_or("files[0].size is not a number of bytes")?;
    let compression = match file.get("compression").and_then(Value::as_str) {
        Some("gzip") => Compression::Gzip,
        Some("bzip2") => Compression::Bzip2,
        Some("xz") => Compression::Xz,
        Some("none") => Compression::None,
        Some(other) => {
            return Err(format!(
                "files[0].compression {other:?}: gzip, bzip2, xz or none"
            ))
        }
        None => return Err("files[0].compression is missing".into()),
    };
    Ok(Manifest {
        uuid,
        name: name.to_string(),
        version: version.to_string(),
        kind: kind.to_string(),
        os: os.to_string(),
        origin,
        published_at,
        sha1,
        size,
        compression,
    })
}

/// A UUID as 8-4-4-4-12 hex digits; returned in lower case.
fn check_uuid(text: &str) -> std::result::Result<String, String> {
    let groups: Vec<&str> = text.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    let hex = groups
        .iter()
        .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()));
    if lengths != [8, 4, 4, 4, 12] || !hex {
        return Err(format!("{text:?} is not a UUID (8-4-4-4-12 hex digits)"));
    }
    Ok(text.to_ascii_lowercase())
}

fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!("longer than {MAX_NAME} characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | ' ' | '-')))
    {
        return Err(format!(
            "{c:?} is not allowed (letters, digits, '.', '_', '/', ' ', '-')"
        ));
    }
    if name
        .split('/')
        .any(|part| matches!(part.trim(), "" | "." | ".."))
    {
        return Err(format!("{name:?} has an empty, '.' or '..' component"));
    }
    Ok(())
}

fn check_version(version: &str) -> std::result::Result<(), String> {
    if version.is_empty() {
        return Err("it is empty".into());
    }
    if version.chars().count() > MAX_VERSION {
        return Err(format!("longer than {MAX_VERSION} characters"));
    }
    if let Some(c) = version
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || matches!(c, '/' | '\\'))
    {
        return Err(format!("{c:?} is not allowed"));
    }
    if matches!(version, "." | "..") {
        return Err(format!("{version:?} is not a version"));
    }
    Ok(())
}

/// SmartOS's UUID for a docker layer: the first 32 hex digits of the sha256 of the
/// space-joined compressed-blob digests of its chain, base first, as 8-4-4-4-12.
pub fn docker_layer_uuid(blobs: &[Digest]) -> String {
    let joined: Vec<String> = blobs.iter().map(|d| d.to_string()).collect();
    let digest = aurora_spec::sha256_digest(joined.join(" ").as_bytes());
    let hex = digest.digest();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// `smartos/NAME:VERSION`, made to fit docker's reference grammar: lower case, runs of
/// anything else as one `-`, separators trimmed from each path component.
pub fn default_image_name(name: &str, version: &str) -> std::result::Result<String, String> {
    let components: Vec<String> = name
        .split('/')
        .map(|part| {
            let mut out = String::new();
            for c in part.chars() {
                let c = c.to_ascii_lowercase();
                if c.is_ascii_lowercase() || c.is_ascii_digit() {
                    out.push(c);
                } else if !out.ends_with('-') {
                    out.push('-');
                }
            }
            out.trim_matches('-').to_string()
        })
        .filter(|part| !part.is_empty())
        .collect();
    if components.is_empty() {
        return Err(name.to_string());
    }
    let mut tag: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if tag.starts_with(['.', '-']) {
        tag.insert(0, '_');
    }
    tag.truncate(128);
    let text = format!("smartos/{}:{tag}", components.join("/"));
    ImageRef::parse(&text)
        .map(|r| r.store_name())
        .map_err(|_| name.to_string())
}

/// How to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Only the top layer's changes since its parent layer, with `origin` set.
    pub incremental: bool,
    /// Bounds on laying the image's layers down when storage lacks them.
    pub limits: aurora_images::UnpackLimits,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub image: String,
    pub uuid: String,
    pub origin: Option<String>,
    pub manifest_path: PathBuf,
    pub file_path: PathBuf,
    pub size: u64,
    pub sha1: String,
    /// Layers laid down first (the image had not been unpacked).
    pub layers_created: usize,
}

/// Writes the image `reference` as a SmartOS image into `out_dir`.
pub fn export_smartos(
    images: &Images,
    reference: &str,
    out_dir: &Path,
    options: &ExportOptions,
    progress: &dyn Progress,
) -> Result<ExportReport> {
    let refuse = |reason: String| -> SmartosError {
        SmartosError::Export {
            reference: reference.to_string(),
            reason,
        }
    };
    let store = images.store()?;
    let driver = images.zfs_storage()?;
    let _writer = store.writer_lock()?;
    let image = aurora_images::resolve(store, reference, None)?;
    let layers = aurora_images::plan_layers(&image)?;
    let Some(top) = layers.last() else {
        return Err(refuse("the image has no layers".into()));
    };
    let parent = match (options.incremental, layers.len()) {
        (false, _) => None,
        (true, 1) => {
            return Err(refuse(
                "it has one layer: there is no parent layer to be incremental from".into(),
            ))
        }
        (true, n) => Some(&layers[n - 2]),
    };
    let work = LayDown {
        store,
        driver: &driver,
        progress,
        id_map: None,
        limits: options.limits,
    };
    let (layers_created, _) = ensure_layers(&work, &layers)?;
    let blobs: Vec<Digest> = layers.iter().map(|l| l.blob.clone()).collect();
    let uuid = docker_layer_uuid(&blobs);
    let origin = parent.map(|_| docker_layer_uuid(&blobs[..blobs.len() - 1]));
    let (name, version) = export_name(&image.name, &image.manifest_digest);
    let linux = image.config["os"].as_str() == Some("linux");
    let stem = format!("{}-{version}", name.replace('/', "-"));
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let file_path = out_dir.join(format!("{stem}.zfs.gz"));
    let manifest_path = out_dir.join(format!("{stem}.json"));

    // The stream first, the manifest last: a manifest there means its file is complete.
    let scratch = tempfile::Builder::new()
        .prefix(".export-")
        .tempfile_in(out_dir)
        .map_err(io(out_dir))?;
    let hashing = Hashing {
        inner: BufWriter::with_capacity(1 << 20, scratch),
        hasher: Sha1::new(),
        count: 0,
    };
    let mut gzip = flate2::write::GzEncoder::new(hashing, flate2::Compression::default());
    driver.send_layer(&top.id, parent.map(|p| &p.id), &mut gzip, &file_path)?;
    let hashing = gzip.finish().map_err(io(&file_path))?;
    let (size, sha1) = (hashing.count, format!("{:x}", hashing.hasher.finalize()));
    let scratch = hashing
        .inner
        .into_inner()
        .map_err(|e| io(&file_path)(e.into_error()))?;
    scratch.as_file().sync_all().map_err(io(&file_path))?;
    scratch
        .persist(&file_path)
        .map_err(|e| io(&file_path)(e.error))?;

    let mut manifest = json!({
        "v": 2,
        "uuid": uuid,
        "owner": "00000000-0000-0000-0000-000000000000",
        "name": name,
        "version": version,
        "type": if linux { "lx-dataset" } else { "zone-dataset" },
        "os": if linux { "linux" } else { "smartos" },
        "published_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "state": "active",
        "files": [{"sha1": sha1, "size": size, "compression": "gzip"}],
    });
    if linux {
        manifest["requirements"] = json!({"brand": "lx"});
    }
    if let Some(origin) = &origin {
        manifest["origin"] = json!(origin);
    }
    let text = serde_json::to_vec_pretty(&manifest).map_err(|e| refuse(e.to_string()))?;
    let mut scratch = tempfile::Builder::new()
        .prefix(".export-")
        .tempfile_in(out_dir)
        .map_err(io(out_dir))?;
    scratch
        .write_all(&text)
        .and_then(|()| scratch.as_file().sync_all())
        .map_err(io(&manifest_path))?;
    scratch
        .persist(&manifest_path)
        .map_err(|e| io(&manifest_path)(e.error))?;
    Ok(ExportReport {
        image: image.name,
        uuid,
        origin,
        manifest_path,
        file_path,
        size,
        sha1,
        layers_created,
    })
}

/// The SmartOS name and version of a store image: its repository and tag (the short
/// manifest digest when it has no tag).
fn export_name(store_name: &str, manifest: &Digest) -> (String, String) {
    let short = manifest.digest().chars().take(12).collect::<String>();
    match ImageRef::parse(store_name) {
        Ok(r) => (
            r.repository().to_string(),
            r.tag().map_or(short, str::to_string),
        ),
        Err(_) => ("image".to_string(), short),
    }
}

/// A writer that counts and hashes what it passes on (the compressed file's size and sha1,
/// computed while it is written).
struct Hashing<W> {
    inner: W,
    hasher: Sha1,
    count: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Value {
        json!({
            "v": 2,
            "uuid": "B265D8D3-a33c-f570-5fbf-d453e6c4391b",
            "owner": "00000000-0000-0000-0000-000000000000",
            "name": "base-64 lts/x_y.z",
            "version": "21.4.0",
            "type": "zone-dataset",
            "os": "smartos",
            "published_at": "2021-12-01T10:00:00.000Z",
            "files": [{"sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709", "size": 0, "compression": "gzip"}],
        })
    }

    fn parse(value: &Value) -> std::result::Result<Manifest, String> {
        parse_manifest(&serde_json::to_vec(value).unwrap())
    }

    fn with(field: &str, value: Value) -> Value {
        let mut doc = good();
        doc[field] = value;
        doc
    }

    fn without(field: &str) -> Value {
        let mut doc = good();
        doc.as_object_mut().unwrap().remove(field);
        doc
    }

    #[test]
    fn uuids_follow_smartos_docker_layers() {
        let base: Digest =
            "sha256:84ff92691f909a05b224e1c56abb4864f01b4f8e3c854e4bb4c7baf1d3f6d652"
                .parse()
                .unwrap();
        let next: Digest =
            "sha256:847f49d214bac745aad71de7e5c4ca2fa729c096ca749151bf9566b7e2e565d9"
                .parse()
                .unwrap();
        assert_eq!(
            docker_layer_uuid(std::slice::from_ref(&base)),
            "b265d8d3-a33c-f570-5fbf-d453e6c4391b"
        );
        assert_eq!(
            docker_layer_uuid(&[base, next]),
            "f6f69a22-4b55-1c2d-4986-f7f6dbb0f39a"
        );
    }

    #[test]
    fn a_good_manifest_parses() {
        let m = parse(&good()).unwrap();
        assert_eq!(m.uuid, "b265d8d3-a33c-f570-5fbf-d453e6c4391b");
        assert_eq!(m.name, "base-64 lts/x_y.z");
        assert_eq!(m.compression, Compression::Gzip);
        assert_eq!(m.origin, None);
        let m = parse(&with(
            "origin",
            json!("f6f69a22-4b55-1c2d-4986-f7f6dbb0f39a"),
        ))
        .unwrap();
        assert_eq!(
            m.origin.as_deref(),
            Some("f6f69a22-4b55-1c2d-4986-f7f6dbb0f39a")
        );
        for c in ["bzip2", "xz", "none"] {
            let mut doc = good();
            doc["files"][0]["compression"] = json!(c);
            assert_eq!(parse(&doc).unwrap().compression.name(), c);
        }
    }

    #[test]
    fn broken_and_hostile_manifests_are_refused() {
        let long_name = "a".repeat(MAX_NAME + 1);
        let long_version = "1".repeat(MAX_VERSION + 1);
        let cases: Vec<(Value, &str)> = vec![
            (json!([]), "not a JSON object"),
            (json!("x"), "not a JSON object"),
            (with("v", json!(1)), "version 2"),
            (without("v"), "v is missing"),
            (without("uuid"), "uuid is missing"),
            (with("uuid", json!("not-a-uuid")), "not a UUID"),
            (
                with("uuid", json!("b265d8d3a33cf5705fbfd453e6c4391b")),
                "not a UUID",
            ),
            (with("uuid", json!(12)), "not a string"),
            (with("name", json!(long_name)), "longer than 512"),
            (with("name", json!("")), "empty"),
            (with("name", json!("../../etc/passwd")), "'..'"),
            (with("name", json!("a/./b")), "'.'"),
            (with("name", json!("/abs")), "empty"),
            (with("name", json!("a//b")), "empty"),
            (with("name", json!("x\ny")), "not allowed"),
            (with("name", json!("x;rm -rf")), "not allowed"),
            (with("name", json!("ünï")), "not allowed"),
            (with("name", json!("a$(id)")), "not allowed"),
            (with("version", json!(long_version)), "longer than 128"),
            (with("version", json!("1/../2")), "not allowed"),
            (with("version", json!("1 2")), "not allowed"),
            (with("version", json!("..")), "not a version"),
            (with("version", json!("")), "empty"),
            (without("version"), "version is missing"),
            (with("type", json!("zvol")), "only filesystem images"),
            (with("type", json!("rootkit")), "unknown type"),
            (without("type"), "type is missing"),
            (with("os", json!("Smart OS")), "not an os name"),
            (without("os"), "os is missing"),
            (with("origin", json!("../x")), "origin"),
            (with("origin", json!(7)), "origin is not a string"),
            (with("files", json!([])), "files is empty"),
            (with("files", json!({})), "files is not a list"),
            (without("files"), "files is missing"),
            (with("files", json!(["x"])), "files[0] is not an object"),
            (
                with(
                    "files",
                    json!([{"sha1": "xyz", "size": 1, "compression": "gzip"}]),
                ),
                "sha1",
            ),
            (
                with(
                    "files",
                    json!([{"sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709", "size": -1, "compression": "gzip"}]),
                ),
                "size",
            ),
            (
                with(
                    "files",
                    json!([{"sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709", "size": "9", "compression": "gzip"}]),
                ),
                "size",
            ),
            (
                with(
                    "files",
                    json!([{"sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709", "size": 1, "compression": "lz4"}]),
                ),
                "compression",
            ),
            (
                with(
                    "files",
                    json!([{"sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709", "size": 1}]),
                ),
                "compression is missing",
            ),
        ];
        for (doc, expected) in cases {
            let err = parse(&doc).unwrap_err();
            assert!(err.contains(expected), "{doc}: {err:?} lacks {expected:?}");
        }
        assert!(parse_manifest(b"{").unwrap_err().contains("not JSON"));
        assert!(parse_manifest(b"").unwrap_err().contains("not JSON"));
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(parse_manifest(deep.as_bytes())
            .unwrap_err()
            .contains("not JSON"));
        let mut big = serde_json::to_vec(&good()).unwrap();
        big.pop();
        big.extend(format!(",\"pad\":\"{}\"}}", "x".repeat(MAX_MANIFEST_BYTES as usize)).bytes());
        assert!(parse_manifest(&big).unwrap_err().contains("at most"));
    }

    #[test]
    fn default_names_fit_dockers_grammar() {
        let cases = [
            ("base-64", "21.4.0", "docker.io/smartos/base-64:21.4.0"),
            (
                "Base 64 LTS",
                "21.4.0",
                "docker.io/smartos/base-64-lts:21.4.0",
            ),
            ("team/rich", "1", "docker.io/smartos/team/rich:1"),
            ("a__b..c", "1+2~3", "docker.io/smartos/a-b-c:1_2_3"),
            ("-x-/ /y.", ".v", "docker.io/smartos/x/y:_.v"),
        ];
        for (name, version, expected) in cases {
            assert_eq!(
                default_image_name(name, version).unwrap(),
                expected,
                "{name}"
            );
        }
        assert!(default_image_name("...", "1").is_err());
        assert!(default_image_name(" - ", "1").is_err());
    }

    #[test]
    fn export_names_from_store_names() {
        let digest: Digest =
            "sha256:84ff92691f909a05b224e1c56abb4864f01b4f8e3c854e4bb4c7baf1d3f6d652"
                .parse()
                .unwrap();
        assert_eq!(
            export_name("docker.io/team/rich:1", &digest),
            ("team/rich".to_string(), "1".to_string())
        );
        assert_eq!(
            export_name(&format!("127.0.0.1:5000/app@{digest}"), &digest),
            ("app".to_string(), "84ff92691f90".to_string())
        );
    }
}
