//! Resuming interrupted blob downloads from their partial files.

use std::fs;

use aurora_spec::{sha256_digest, DigestError};
use aurora_store::StoreError;

mod common;
use common::*;

// ---------------------------------------------------------------------------------------------
// Resuming
// ---------------------------------------------------------------------------------------------

#[test]
fn a_dropped_writer_leaves_a_partial_that_the_next_attempt_resumes() {
    let (_dir, store) = new_store();
    let bytes = data(700_001, 13);
    let len = bytes.len() as u64;
    let half = bytes.len() / 2;
    let digest = sha256_digest(&bytes);
    {
        let mut writer = store.begin_blob(&digest, Some(len)).unwrap();
        write_in_chunks(&mut writer, &bytes[..half], 10_000);
        assert_eq!(writer.offset(), half as u64);
    }
    assert_eq!(scratch_files(&store), [partial_name(&digest)]);
    assert_eq!(
        fs::read(partial_path(&store, &digest)).unwrap(),
        &bytes[..half]
    );
    assert!(!store.blob_path(&digest).exists());

    let mut writer = store.begin_blob(&digest, Some(len)).unwrap();
    assert_eq!(writer.offset(), half as u64);
    write_in_chunks(&mut writer, &bytes[half..], 10_000);
    assert_eq!(writer.commit().unwrap(), len);
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);
    assert_eq!(scratch_files(&store), Vec::<String>::new());
}

#[test]
fn resuming_works_without_an_expected_size_and_from_a_complete_partial() {
    let (_dir, store) = new_store();
    let bytes = data(20_000, 14);
    let digest = sha256_digest(&bytes);
    {
        let mut writer = store.begin_blob(&digest, None).unwrap();
        writer.write(&bytes[..5000]).unwrap();
    }
    {
        let mut writer = store.begin_blob(&digest, None).unwrap();
        assert_eq!(writer.offset(), 5000);
        writer.write(&bytes[5000..]).unwrap();
        // Everything was downloaded but the process died before commit.
    }
    let writer = store.begin_blob(&digest, Some(20_000)).unwrap();
    assert_eq!(writer.offset(), 20_000);
    assert_eq!(writer.commit().unwrap(), 20_000);
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);
}

#[test]
fn a_partial_longer_than_the_expected_size_is_discarded() {
    let (_dir, store) = new_store();
    let bytes = data(10_000, 15);
    let digest = sha256_digest(&bytes);
    {
        let mut writer = store.begin_blob(&digest, None).unwrap();
        writer.write(&bytes).unwrap();
        writer.write(&data(5, 16)).unwrap();
    }
    assert_eq!(
        fs::metadata(partial_path(&store, &digest)).unwrap().len(),
        10_005
    );

    let mut writer = store.begin_blob(&digest, Some(10_000)).unwrap();
    assert_eq!(writer.offset(), 0);
    assert_eq!(
        fs::metadata(partial_path(&store, &digest)).unwrap().len(),
        0
    );
    write_in_chunks(&mut writer, &bytes, 999);
    assert_eq!(writer.commit().unwrap(), 10_000);
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);
}

#[test]
fn a_corrupted_partial_fails_the_commit_and_is_removed() {
    let (_dir, store) = new_store();
    let bytes = data(400_000, 17);
    let len = bytes.len() as u64;
    let half = bytes.len() / 2;
    let digest = sha256_digest(&bytes);
    {
        let mut writer = store.begin_blob(&digest, Some(len)).unwrap();
        write_in_chunks(&mut writer, &bytes[..half], 8192);
    }
    flip_byte(&partial_path(&store, &digest), 1234);

    let mut writer = store.begin_blob(&digest, Some(len)).unwrap();
    assert_eq!(writer.offset(), half as u64);
    write_in_chunks(&mut writer, &bytes[half..], 8192);
    match writer.commit().unwrap_err() {
        StoreError::Digest { digest: d, source } => {
            assert_eq!(d, digest.to_string());
            assert!(matches!(
                source,
                DigestError::Mismatch { size: 400_000, .. }
            ));
        }
        other => panic!("expected a digest error, got {other:?}"),
    }
    assert!(!store.blob_path(&digest).exists());
    assert!(
        !partial_path(&store, &digest).exists(),
        "the bad partial is removed"
    );
    assert_eq!(scratch_files(&store), Vec::<String>::new());

    let mut writer = store.begin_blob(&digest, Some(len)).unwrap();
    assert_eq!(writer.offset(), 0, "the next attempt starts from scratch");
    write_in_chunks(&mut writer, &bytes, 8192);
    assert_eq!(writer.commit().unwrap(), len);
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);
}
