//! The SmartOS image manifest (imgadm's v2): parsed and checked as imgadm would before
//! installing it, and the names and UUIDs SmartOS gives docker layers and images.

use aurora_layers::Compression;
use aurora_spec::{Digest, ImageRef};
use serde_json::Value;

/// The annotation (on the manifest) and label (in the config) naming the SmartOS image.
pub const UUID_ANNOTATION: &str = "org.smartos.image.uuid";

/// Manifests are a few KiB; anything past this is not one.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 1 << 20;

const MAX_NAME: usize = 512;
const MAX_VERSION: usize = 128;

/// The name imgadm's manifest gives a file's compression (`none` where layers say `tar`).
pub(crate) fn compression_name(compression: Compression) -> String {
    match compression {
        Compression::None => "none".to_string(),
        other => other.to_string(),
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

/// Not empty, and at most `max` characters (as imgadm counts them).
fn check_length(text: &str, max: usize) -> std::result::Result<(), String> {
    if text.is_empty() {
        return Err("it is empty".into());
    }
    if text.chars().count() > max {
        return Err(format!("longer than {max} characters"));
    }
    Ok(())
}

fn check_name(name: &str) -> std::result::Result<(), String> {
    check_length(name, MAX_NAME)?;
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
    check_length(version, MAX_VERSION)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
            assert_eq!(compression_name(parse(&doc).unwrap().compression), c);
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
}
