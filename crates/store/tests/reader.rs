//! Layouts read as sources ([`LayoutReader`]) and the index cap every reader applies.

use std::fs;
use std::path::Path;

use aurora_spec::{media, sha256_digest};
use aurora_store::{Descriptor, LayoutReader, ReadLayout, Store, StoreError};
use oci_spec::image::MediaType;

/// A layout written by the store, holding one blob named `v1`; returns the blob's bytes.
fn layout_with_blob(root: &Path) -> Vec<u8> {
    let store = Store::open(root).unwrap();
    let bytes = br#"{"schemaVersion":2}"#.to_vec();
    let digest = sha256_digest(&bytes);
    store.put_blob(&digest, &bytes).unwrap();
    let descriptor = Descriptor::new(MediaType::ImageManifest, bytes.len() as u64, digest);
    store.set_ref("v1", &descriptor).unwrap();
    // What the store keeps for itself is not part of the layout a reader is given.
    fs::remove_dir_all(root.join(".aurora")).unwrap();
    bytes
}

#[test]
fn a_reader_reads_blobs_and_names_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("layout");
    let bytes = layout_with_blob(&root);
    let listing = |root: &Path| {
        let mut names: Vec<String> = fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = listing(&root);
    let reader = LayoutReader::open(&root).unwrap();
    let found = reader.find_ref("v1").unwrap().expect("v1 is named");
    let digest = found.digest().to_string().parse().unwrap();
    assert_eq!(reader.read_blob(&digest, 1024).unwrap(), bytes);
    assert_eq!(reader.blob_size(&digest).unwrap(), Some(bytes.len() as u64));
    assert!(matches!(
        reader.read_blob(&digest, 4),
        Err(StoreError::TooLarge { limit: 4, .. })
    ));
    assert_eq!(listing(&root), before);
}

#[test]
fn a_reader_refuses_fifos_links_and_non_layouts() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("layout");
    layout_with_blob(&root);
    // A fifo under a blob's name is refused at once (opening it must not block).
    let digest = sha256_digest(b"never written");
    let fifo = root.join("blobs/sha256").join(digest.digest());
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
    let reader = LayoutReader::open(&root).unwrap();
    match reader.open_blob(&digest) {
        Err(StoreError::NotPlain { path, what }) => {
            assert_eq!(path, fifo);
            assert_eq!(what, "not a regular file");
        }
        other => panic!("a fifo blob was opened: {other:?}"),
    }
    // oci-layout a link: not followed.
    fs::rename(root.join("oci-layout"), dir.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("elsewhere"), root.join("oci-layout")).unwrap();
    assert!(matches!(
        LayoutReader::open(&root),
        Err(StoreError::NotPlain {
            what: "a symbolic link",
            ..
        })
    ));
    // An empty directory is not a layout, and stays empty.
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    assert!(matches!(
        LayoutReader::open(&empty),
        Err(StoreError::NotALayout { .. })
    ));
    assert_eq!(fs::read_dir(&empty).unwrap().count(), 0);
}

#[test]
fn an_index_over_the_cap_is_refused_by_store_and_reader_alike() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("layout");
    layout_with_blob(&root);
    let index = fs::OpenOptions::new()
        .write(true)
        .open(root.join("index.json"))
        .unwrap();
    index.set_len(media::MAX_LAYOUT_INDEX_BYTES + 1).unwrap();
    let too_large = |result: Result<_, StoreError>| match result {
        Err(StoreError::FileTooLarge { path, limit }) => {
            assert_eq!(path, root.join("index.json"));
            assert_eq!(limit, media::MAX_LAYOUT_INDEX_BYTES);
        }
        Err(other) => panic!("not refused as too large: {other}"),
        Ok(_) => panic!("an index over the cap was read"),
    };
    too_large(LayoutReader::open(&root).unwrap().read_index());
    too_large(Store::open(&root).unwrap().read_index());
}

#[test]
fn a_store_never_writes_an_index_it_could_not_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("layout");
    layout_with_blob(&root);
    let store = Store::open(&root).unwrap();
    let (_, descriptor) = store.list_refs().unwrap().remove(0);
    // One name whose annotation brings index.json just under the cap.
    let mut big = descriptor.clone();
    let used = fs::metadata(root.join("index.json")).unwrap().len();
    let pad = "x".repeat((media::MAX_LAYOUT_INDEX_BYTES - used - 200) as usize);
    big.set_annotations(Some([("pad".to_string(), pad)].into()));
    store.set_ref("v1", &big).unwrap();
    let before = fs::read(root.join("index.json")).unwrap();
    assert!(before.len() as u64 <= media::MAX_LAYOUT_INDEX_BYTES);
    // Another name would take it over the cap: refused, index.json as it was.
    match store.set_ref("v2", &descriptor) {
        Err(StoreError::IndexTooLarge { size, limit }) => {
            assert_eq!(limit, media::MAX_LAYOUT_INDEX_BYTES);
            assert!(size > limit);
        }
        other => panic!("index grown past the cap: {other:?}"),
    }
    assert_eq!(fs::read(root.join("index.json")).unwrap(), before);
    assert_eq!(store.list_refs().unwrap().len(), 1);
}
