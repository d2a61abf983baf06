//! Opening a store: creating, checking and reopening the OCI image layout.

use std::fs;

use aurora_spec::media::{DOCKER_MANIFEST, OCI_MANIFEST};
use aurora_spec::sha256_digest;
use aurora_store::{Store, StoreError};
use oci_spec::image::MediaType;

mod common;
use common::*;

// ---------------------------------------------------------------------------------------------
// open()
// ---------------------------------------------------------------------------------------------

#[test]
fn open_creates_a_layout_in_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("not").join("there");
    assert!(!root.exists());
    let store = Store::open(&root).unwrap();
    assert_fresh_layout(&root, &store);
}

#[test]
fn open_creates_a_layout_in_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_fresh_layout(dir.path(), &store);
}

#[test]
fn open_refuses_a_bad_oci_layout_file_and_names_the_directory() {
    for bad in [
        r#"{"imageLayoutVersion":"2.0.0"}"#,
        r#"{"imageLayoutVersion":1}"#,
        r#"{}"#,
        "this is not JSON",
        "",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("layout");
        fs::create_dir(&root).unwrap();
        fs::write(root.join("oci-layout"), bad).unwrap();

        let err = Store::open(&root).unwrap_err();
        match &err {
            StoreError::NotALayout { path, reason } => {
                assert_eq!(path, &root, "for {bad:?}");
                assert!(!reason.is_empty());
            }
            other => panic!("oci-layout {bad:?}: expected NotALayout, got {other:?}"),
        }
        assert!(
            err.to_string().contains(&root.display().to_string()),
            "{err}"
        );
        // Nothing was written over or next to the foreign file.
        assert_eq!(fs::read(root.join("oci-layout")).unwrap(), bad.as_bytes());
        assert!(!root.join("index.json").exists(), "for {bad:?}");
    }
}

#[test]
fn reopening_keeps_names_blobs_and_files() {
    let (_dir, store) = new_store();
    let root = store.root().to_path_buf();
    let bytes = data(4096, 1);
    let digest = sha256_digest(&bytes);
    store.put_blob(&digest, &bytes).unwrap();
    store
        .set_ref("app:1", &desc(OCI_MANIFEST, &digest, 4096))
        .unwrap();
    store
        .set_ref("app:2", &desc(DOCKER_MANIFEST, &digest, 4096))
        .unwrap();
    let index_before = index_json(&store);
    let layout_before = fs::read(root.join("oci-layout")).unwrap();
    drop(store);

    let again = Store::open(&root).unwrap();
    assert_eq!(
        index_json(&again),
        index_before,
        "index.json is not rewritten"
    );
    assert_eq!(fs::read(root.join("oci-layout")).unwrap(), layout_before);
    assert_eq!(names(&again), ["app:1", "app:2"]);
    let found = again.find_ref("app:2").unwrap().unwrap();
    assert_eq!(found.digest(), &digest);
    assert_eq!(found.media_type(), &MediaType::from(DOCKER_MANIFEST));
    assert_eq!(again.read_blob(&digest, 1 << 20).unwrap(), bytes);
}

#[test]
fn open_refuses_a_non_empty_directory_that_is_not_a_layout_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
    match Store::open(dir.path()) {
        Err(StoreError::NotALayout { path, reason }) => {
            assert_eq!(path, dir.path());
            assert!(reason.contains("notes.txt"), "{reason}");
        }
        other => panic!("expected NotALayout, got {other:?}"),
    }
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["notes.txt"]);
}
