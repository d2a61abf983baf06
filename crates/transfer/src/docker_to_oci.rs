//! Docker schema 2 manifests and lists in OCI form, so that every image in the store is one
//! that skopeo's and umoci's OCI layout readers accept. Only the documents change (their
//! media types, and the digests of converted children in an index); configs and layers keep
//! their bytes and digests, as in skopeo's own conversion to an OCI layout.

use std::collections::HashMap;

use aurora_registry::FetchedManifest;
use aurora_spec::media;
use aurora_spec::Digest;
use serde_json::Value;

/// A converted child's new identity, by its old digest.
pub(crate) type Renamed = HashMap<String, (Digest, u64, String)>;

/// `document` in OCI form, or `None` when it already is (its bytes are then kept as sent).
/// `renamed` gives the new digests of children that were converted themselves.
pub(crate) fn to_oci(
    document: &FetchedManifest,
    renamed: &Renamed,
) -> Result<Option<FetchedManifest>, String> {
    let mut value: Value = serde_json::from_slice(&document.bytes).map_err(|e| e.to_string())?;
    let object = value.as_object_mut().ok_or("not a JSON object")?;
    let mut changed = false;
    if let Some(oci) = media::oci_equivalent(&document.media_type) {
        object.insert("mediaType".into(), Value::from(oci));
        changed = true;
    }
    let docker = changed;
    if let Some(config) = object.get_mut("config").filter(|_| docker) {
        changed |= convert_link(config);
    }
    for field in ["layers", "manifests"] {
        let Some(Value::Array(links)) = object.get_mut(field) else {
            continue;
        };
        for link in links {
            changed |= rename_link(link, renamed) || (docker && convert_link(link));
        }
    }
    if !changed {
        return Ok(None);
    }
    let bytes = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    let media_type = value["mediaType"].as_str().unwrap_or_default().to_string();
    Ok(Some(FetchedManifest {
        digest: aurora_spec::sha256_digest(&bytes),
        kind: media::kind(&media_type),
        bytes,
        media_type,
    }))
}

/// Gives a link the OCI media type of its Docker one.
fn convert_link(link: &mut Value) -> bool {
    let Some(current) = link.get("mediaType").and_then(Value::as_str) else {
        return false;
    };
    match media::oci_equivalent(current) {
        Some(oci) => {
            link["mediaType"] = Value::from(oci);
            true
        }
        None => false,
    }
}

/// Points an index entry at the converted form of its child.
fn rename_link(link: &mut Value, renamed: &Renamed) -> bool {
    let Some(old) = link.get("digest").and_then(Value::as_str) else {
        return false;
    };
    let Some((digest, size, media_type)) = renamed.get(old) else {
        return false;
    };
    link["digest"] = Value::from(digest.to_string());
    link["size"] = Value::from(*size);
    link["mediaType"] = Value::from(media_type.as_str());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use aurora_spec::media::Kind;

    fn fetched(bytes: &[u8], media_type: &str) -> FetchedManifest {
        FetchedManifest {
            bytes: bytes.to_vec(),
            media_type: media_type.to_string(),
            kind: media::kind(media_type),
            digest: aurora_spec::sha256_digest(bytes),
        }
    }

    const DOCKER: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
        "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7,"digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"},
        "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":9,"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111"}]}"#;

    #[test]
    fn docker_manifests_get_oci_media_types_and_keep_blob_digests() {
        let converted = to_oci(
            &fetched(DOCKER.as_bytes(), media::DOCKER_MANIFEST),
            &Renamed::new(),
        )
        .unwrap()
        .unwrap();
        let expected = r#"{"config":{"digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","mediaType":"application/vnd.oci.image.config.v1+json","size":7},"layers":[{"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","size":9}],"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}"#;
        assert_eq!(
            String::from_utf8(converted.bytes.clone()).unwrap(),
            expected
        );
        assert_eq!(converted.media_type, media::OCI_MANIFEST);
        assert_eq!(
            converted.digest,
            aurora_spec::sha256_digest(expected.as_bytes())
        );
        assert_eq!(converted.kind, Kind::Manifest);
    }

    #[test]
    fn oci_documents_are_kept_byte_for_byte() {
        let oci = DOCKER.replace(media::DOCKER_MANIFEST, media::OCI_MANIFEST);
        assert!(to_oci(
            &fetched(oci.as_bytes(), media::OCI_MANIFEST),
            &Renamed::new()
        )
        .unwrap()
        .is_none());
    }

    #[test]
    fn lists_point_at_their_converted_children() {
        let child = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","size":5,"digest":"{child}","platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#,
            media::DOCKER_MANIFEST_LIST,
            media::DOCKER_MANIFEST
        );
        let new_digest = aurora_spec::sha256_digest(b"converted child");
        let renamed = Renamed::from([(
            child.to_string(),
            (new_digest.clone(), 15, media::OCI_MANIFEST.to_string()),
        )]);
        let converted = to_oci(
            &fetched(list.as_bytes(), media::DOCKER_MANIFEST_LIST),
            &renamed,
        )
        .unwrap()
        .unwrap();
        let value: Value = serde_json::from_slice(&converted.bytes).unwrap();
        assert_eq!(value["mediaType"], media::OCI_INDEX);
        assert_eq!(value["manifests"][0]["digest"], new_digest.to_string());
        assert_eq!(value["manifests"][0]["size"], 15);
        assert_eq!(value["manifests"][0]["mediaType"], media::OCI_MANIFEST);
        assert_eq!(value["manifests"][0]["platform"]["architecture"], "amd64");
    }

    #[test]
    fn broken_documents_are_errors() {
        assert!(to_oci(&fetched(b"[1]", media::DOCKER_MANIFEST), &Renamed::new()).is_err());
        assert!(to_oci(&fetched(b"{", media::DOCKER_MANIFEST), &Renamed::new()).is_err());
    }
}
