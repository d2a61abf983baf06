//! Names (references) in index.json: setting, finding, listing, removing.

use std::fs;

use aurora_spec::media::{DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST};
use aurora_spec::sha256_digest;
use aurora_store::{ref_name, Descriptor, StoreError, REF_NAME_ANNOTATION};
use oci_spec::image::{Arch, MediaType, Os, Platform};
use serde_json::Value;

mod common;
use common::*;

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

#[test]
fn names_can_be_set_found_listed_and_removed() {
    let (_dir, store) = new_store();
    let alpine = sha256_digest(b"alpine manifest");
    let busybox = sha256_digest(b"busybox manifest");
    store
        .set_ref("alpine:3.20", &desc(OCI_MANIFEST, &alpine, 100))
        .unwrap();
    store
        .set_ref("busybox:latest", &desc(DOCKER_MANIFEST, &busybox, 200))
        .unwrap();
    store
        .set_ref("alias", &desc(OCI_MANIFEST, &alpine, 100))
        .unwrap();

    let refs = store.list_refs().unwrap();
    let listed: Vec<(&str, String)> = refs
        .iter()
        .map(|(n, d)| (n.as_str(), d.digest().to_string()))
        .collect();
    assert_eq!(
        listed,
        [
            ("alpine:3.20", alpine.to_string()),
            ("busybox:latest", busybox.to_string()),
            ("alias", alpine.to_string()),
        ]
    );
    for (name, descriptor) in &refs {
        assert_eq!(ref_name(descriptor), Some(name.as_str()));
    }

    let found = store.find_ref("busybox:latest").unwrap().unwrap();
    assert_eq!(found.digest(), &busybox);
    assert_eq!(found.size(), 200);
    assert_eq!(found.media_type(), &MediaType::from(DOCKER_MANIFEST));
    assert_eq!(
        found.annotations().as_ref().unwrap()[REF_NAME_ANNOTATION],
        "busybox:latest"
    );
    assert_eq!(store.find_ref("busybox").unwrap(), None);
    assert_eq!(store.find_ref("nope").unwrap(), None);

    let removed = store.remove_ref("busybox:latest").unwrap();
    assert_eq!(removed, found);
    assert_eq!(store.find_ref("busybox:latest").unwrap(), None);
    assert_eq!(names(&store), ["alpine:3.20", "alias"]);

    let before = index_json(&store);
    match store.remove_ref("busybox:latest").unwrap_err() {
        StoreError::RefNotFound(name) => assert_eq!(name, "busybox:latest"),
        other => panic!("expected RefNotFound, got {other:?}"),
    }
    assert_eq!(
        index_json(&store),
        before,
        "a failed removal writes nothing"
    );

    let index = index_as_oci_spec_reads_it(&store);
    assert_eq!(index.schema_version(), 2);
    assert_eq!(index.manifests().len(), 2);
    let raw: Value = serde_json::from_slice(&index_json(&store)).unwrap();
    assert_eq!(
        raw["manifests"][0]["annotations"][REF_NAME_ANNOTATION],
        "alpine:3.20"
    );
    assert_eq!(raw["manifests"][0]["digest"], alpine.to_string());
    assert_eq!(raw["manifests"][0]["mediaType"], OCI_MANIFEST);
    assert_eq!(raw["manifests"][0]["size"], 100);
    assert_eq!(
        raw["manifests"][1]["annotations"][REF_NAME_ANNOTATION],
        "alias"
    );

    store.remove_ref("alpine:3.20").unwrap();
    store.remove_ref("alias").unwrap();
    assert!(store.list_refs().unwrap().is_empty());
    assert!(index_as_oci_spec_reads_it(&store).manifests().is_empty());
    assert!(matches!(
        store.remove_ref("alias"),
        Err(StoreError::RefNotFound(_))
    ));
}

#[test]
fn set_ref_replaces_an_existing_name() {
    let (_dir, store) = new_store();
    let old = sha256_digest(b"old");
    let other = sha256_digest(b"other");
    let new = sha256_digest(b"new");
    store.set_ref("app", &desc(OCI_MANIFEST, &old, 10)).unwrap();
    store
        .set_ref("other", &desc(OCI_MANIFEST, &other, 20))
        .unwrap();
    store.set_ref("app", &desc(OCI_INDEX, &new, 30)).unwrap();

    let refs = store.list_refs().unwrap();
    assert_eq!(refs.len(), 2);
    let apps: Vec<_> = refs.iter().filter(|(n, _)| n == "app").collect();
    assert_eq!(apps.len(), 1, "one entry per name");
    assert_eq!(apps[0].1.digest(), &new);
    assert_eq!(apps[0].1.size(), 30);
    assert_eq!(apps[0].1.media_type(), &MediaType::ImageIndex);
    assert_eq!(store.find_ref("other").unwrap().unwrap().digest(), &other);

    let index = index_as_oci_spec_reads_it(&store);
    assert_eq!(index.manifests().len(), 2);
    assert!(index.manifests().iter().all(|d| d.digest() != &old));
}

#[test]
fn set_ref_keeps_the_descriptors_other_fields() {
    let (_dir, store) = new_store();
    let digest = sha256_digest(b"arm64 manifest");
    let mut descriptor = desc(OCI_MANIFEST, &digest, 512);
    let mut platform = Platform::default();
    platform.set_architecture(Arch::ARM64);
    platform.set_os(Os::Linux);
    platform.set_variant(Some("v8".to_string()));
    descriptor.set_platform(Some(platform.clone()));
    descriptor.set_annotations(Some(
        [
            ("org.opencontainers.image.created", "2024-01-01T00:00:00Z"),
            (REF_NAME_ANNOTATION, "stale"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    ));
    store.set_ref("app:arm", &descriptor).unwrap();

    let found = store.find_ref("app:arm").unwrap().unwrap();
    assert_eq!(found.platform().as_ref(), Some(&platform));
    assert_eq!(found.size(), 512);
    let annotations = found.annotations().as_ref().unwrap();
    assert_eq!(annotations.len(), 2);
    assert_eq!(annotations[REF_NAME_ANNOTATION], "app:arm");
    assert_eq!(
        annotations["org.opencontainers.image.created"],
        "2024-01-01T00:00:00Z"
    );
    assert_eq!(store.find_ref("stale").unwrap(), None);
}

#[test]
fn entries_without_a_name_are_kept_but_not_listed() {
    let (_dir, store) = new_store();
    let unnamed = desc(OCI_MANIFEST, &sha256_digest(b"unnamed"), 1);
    store
        .update_index(|index| {
            let mut manifests = index.manifests().clone();
            manifests.push(unnamed.clone());
            index.set_manifests(manifests);
            Ok(())
        })
        .unwrap();
    store.set_ref("a", &named_descriptor("a")).unwrap();
    store.set_ref("a", &named_descriptor("a")).unwrap();
    store.remove_ref("a").unwrap();
    assert!(store.list_refs().unwrap().is_empty());
    assert_eq!(store.read_index().unwrap().manifests(), &vec![unnamed]);
}

#[test]
fn a_failing_index_update_writes_nothing() {
    let (_dir, store) = new_store();
    store.set_ref("keep", &named_descriptor("keep")).unwrap();
    let before = index_json(&store);
    let result: Result<(), _> = store.update_index(|index| {
        index.set_manifests(Vec::new());
        Err(StoreError::RefNotFound("on purpose".into()))
    });
    assert!(matches!(result, Err(StoreError::RefNotFound(n)) if n == "on purpose"));
    assert_eq!(index_json(&store), before);
    assert_eq!(names(&store), ["keep"]);
    assert_eq!(scratch_files(&store), Vec::<String>::new());
}

#[test]
fn naming_the_same_thing_again_leaves_index_json_untouched() {
    let (_dir, store) = new_store();
    let digest = sha256_digest(b"m");
    let mut descriptor = Descriptor::new(MediaType::ImageManifest, 1, digest);
    descriptor.set_annotations(Some(
        (0..8).map(|i| (format!("k{i}"), format!("v{i}"))).collect(),
    ));
    store.set_ref("a", &descriptor).unwrap();
    store.set_ref("b", &descriptor).unwrap();
    let index = store.root().join("index.json");
    let before = (
        fs::read(&index).unwrap(),
        fs::metadata(&index).unwrap().modified().unwrap(),
    );
    for _ in 0..5 {
        store.set_ref("a", &descriptor).unwrap();
    }
    let after = (
        fs::read(&index).unwrap(),
        fs::metadata(&index).unwrap().modified().unwrap(),
    );
    assert_eq!(before, after);
    assert_eq!(names(&store), ["a", "b"]);
}
