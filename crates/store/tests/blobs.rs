//! Writing blobs (`BlobWriter`, `put_blob`) and reading them back (`read_blob`).

use std::collections::BTreeSet;
use std::fs;

use aurora_spec::{sha256_digest, Digest, DigestError};
use aurora_store::StoreError;
use serde_json::json;

mod common;
use common::*;

// ---------------------------------------------------------------------------------------------
// BlobWriter
// ---------------------------------------------------------------------------------------------

#[test]
fn blob_writer_streams_chunks_to_exactly_the_blob_path() {
    let (_dir, store) = new_store();
    // Bigger than the writer's buffer and not a multiple of the chunk size.
    let bytes = data(1_000_003, 2);
    let len = bytes.len() as u64;
    let digest = sha256_digest(&bytes);
    let mut writer = store.begin_blob(&digest, Some(len)).unwrap();
    assert_eq!(writer.offset(), 0);
    assert_eq!(writer.digest(), &digest);

    for (i, chunk) in bytes.chunks(7919).enumerate() {
        writer.write(chunk).unwrap();
        assert_eq!(writer.offset(), ((i + 1) * 7919).min(bytes.len()) as u64);
    }
    let path = store
        .root()
        .join("blobs")
        .join("sha256")
        .join(digest.digest());
    assert_eq!(store.blob_path(&digest), path);
    assert!(!path.exists(), "nothing under the final name before commit");
    assert_eq!(store.blob_size(&digest).unwrap(), None);

    assert_eq!(writer.commit().unwrap(), len);
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(store.blob_size(&digest).unwrap(), Some(len));
    assert_eq!(blob_names(&store), BTreeSet::from([digest.to_string()]));
    assert_eq!(scratch_files(&store), Vec::<String>::new());
}

#[test]
fn blob_writer_without_an_expected_size_checks_the_digest() {
    let (_dir, store) = new_store();
    let bytes = data(100_000, 3);
    let digest = sha256_digest(&bytes);
    let mut writer = store.begin_blob(&digest, None).unwrap();
    write_in_chunks(&mut writer, &bytes, 4096);
    assert_eq!(writer.commit().unwrap(), 100_000);
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);

    let wrong = sha256_digest(b"other");
    let mut writer = store.begin_blob(&wrong, None).unwrap();
    write_in_chunks(&mut writer, &bytes, 4096);
    assert!(matches!(writer.commit(), Err(StoreError::Digest { .. })));
    assert!(!store.blob_path(&wrong).exists());
    assert_eq!(scratch_files(&store), Vec::<String>::new());
}

#[test]
fn the_empty_blob_can_be_written() {
    let (_dir, store) = new_store();
    let digest = sha256_digest(b"");
    assert_eq!(
        digest.to_string(),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let writer = store.begin_blob(&digest, Some(0)).unwrap();
    assert_eq!(writer.commit().unwrap(), 0);
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), b"");
    assert_eq!(store.blob_size(&digest).unwrap(), Some(0));
}

#[test]
fn commit_with_a_wrong_digest_fails_and_leaves_no_file() {
    let (_dir, store) = new_store();
    let bytes = data(300_000, 4);
    let actual = sha256_digest(&bytes);
    let claimed = sha256_digest(b"what the registry said");
    let mut writer = store
        .begin_blob(&claimed, Some(bytes.len() as u64))
        .unwrap();
    write_in_chunks(&mut writer, &bytes, 10_000);

    let err = writer.commit().unwrap_err();
    assert!(err.to_string().contains(&claimed.to_string()), "{err}");
    match err {
        StoreError::Digest {
            digest,
            source:
                DigestError::Mismatch {
                    expected,
                    actual: got,
                    size,
                },
        } => {
            assert_eq!(digest, claimed.to_string());
            assert_eq!(expected, claimed.to_string());
            assert_eq!(got, actual.to_string());
            assert_eq!(size, 300_000);
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert!(!store.blob_path(&claimed).exists());
    assert!(!store.blob_path(&actual).exists());
    assert!(blob_names(&store).is_empty());
    assert_eq!(
        scratch_files(&store),
        Vec::<String>::new(),
        "bad bytes are not kept"
    );
}

#[test]
fn writing_more_than_the_expected_size_fails_at_once() {
    let (_dir, store) = new_store();
    let bytes = data(1000, 5);
    let digest = sha256_digest(&bytes);
    let mut writer = store.begin_blob(&digest, Some(1000)).unwrap();
    writer.write(&bytes[..600]).unwrap();

    match writer.write(&data(401, 6)).unwrap_err() {
        StoreError::SizeMismatch {
            digest: d,
            expected,
            actual,
        } => {
            assert_eq!(d, digest.to_string());
            assert_eq!(expected, 1000);
            assert_eq!(actual, 1001);
        }
        other => panic!("expected SizeMismatch, got {other:?}"),
    }
    assert_eq!(writer.offset(), 600, "refused bytes are not counted");
    // ... nor written: the right remainder still makes the right blob.
    writer.write(&bytes[600..]).unwrap();
    assert_eq!(writer.commit().unwrap(), 1000);
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);
}

#[test]
fn refused_oversized_bytes_never_reach_the_disk() {
    let (_dir, store) = new_store();
    let digest = sha256_digest(&data(10, 7));
    let mut writer = store.begin_blob(&digest, Some(10)).unwrap();
    assert!(matches!(
        writer.write(&data(1 << 20, 8)),
        Err(StoreError::SizeMismatch {
            expected: 10,
            actual: 1_048_576,
            ..
        })
    ));
    drop(writer);
    assert_eq!(
        fs::metadata(partial_path(&store, &digest)).unwrap().len(),
        0
    );
    assert!(!store.blob_path(&digest).exists());
}

#[test]
fn too_few_bytes_fail_at_commit_and_nothing_is_stored() {
    let (_dir, store) = new_store();
    let bytes = data(1000, 9);
    let digest = sha256_digest(&bytes);
    let mut writer = store.begin_blob(&digest, Some(1000)).unwrap();
    writer.write(&bytes[..999]).unwrap();
    match writer.commit().unwrap_err() {
        StoreError::SizeMismatch {
            digest: d,
            expected,
            actual,
        } => {
            assert_eq!(d, digest.to_string());
            assert_eq!((expected, actual), (1000, 999));
        }
        other => panic!("expected SizeMismatch, got {other:?}"),
    }
    assert!(!store.blob_path(&digest).exists());
    assert_eq!(store.blob_size(&digest).unwrap(), None);
    assert!(blob_names(&store).is_empty());
    assert_eq!(scratch_files(&store), Vec::<String>::new());
}

#[test]
fn restart_throws_away_what_was_written() {
    let (_dir, store) = new_store();
    let bytes = data(50_000, 10);
    let digest = sha256_digest(&bytes);
    let mut writer = store.begin_blob(&digest, Some(50_000)).unwrap();
    writer.write(&data(30_000, 11)).unwrap();
    writer.restart().unwrap();
    assert_eq!(writer.offset(), 0);
    write_in_chunks(&mut writer, &bytes, 3000);
    assert_eq!(writer.commit().unwrap(), 50_000);
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);
}

#[test]
fn begin_blob_refuses_an_unsupported_algorithm() {
    let (_dir, store) = new_store();
    let md5: Digest = "md5:0123456789abcdef0123456789abcdef".parse().unwrap();
    match store.begin_blob(&md5, None) {
        Err(StoreError::Digest {
            digest,
            source: DigestError::UnsupportedAlgorithm(_),
        }) => assert_eq!(digest, md5.to_string()),
        Err(other) => panic!("expected UnsupportedAlgorithm, got {other:?}"),
        Ok(_) => panic!("an md5 blob writer was started"),
    }
    assert_eq!(scratch_files(&store), Vec::<String>::new());
}

#[test]
fn sha512_blobs_are_verified_and_stored_under_their_algorithm() {
    let (_dir, store) = new_store();
    let bytes = data(70_000, 12);
    let digest = sha512_digest(&bytes);
    assert_eq!(digest.digest().len(), 128);
    store.put_blob(&digest, &bytes).unwrap();
    let path = store
        .root()
        .join("blobs")
        .join("sha512")
        .join(digest.digest());
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(store.read_blob(&digest, 1 << 20).unwrap(), bytes);

    let other = sha512_digest(b"other");
    assert!(matches!(
        store.put_blob(&other, &bytes),
        Err(StoreError::Digest { .. })
    ));
    assert!(!store.blob_path(&other).exists());
}

// ---------------------------------------------------------------------------------------------
// put_blob / read_blob
// ---------------------------------------------------------------------------------------------

#[test]
fn put_blob_and_read_blob_round_trip() {
    let (_dir, store) = new_store();
    let bytes = serde_json::to_vec(&json!({"schemaVersion": 2, "hello": "world"})).unwrap();
    let digest = sha256_digest(&bytes);
    store.put_blob(&digest, &bytes).unwrap();
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);
    assert_eq!(store.blob_size(&digest).unwrap(), Some(bytes.len() as u64));
    assert_eq!(store.read_blob(&digest, bytes.len() as u64).unwrap(), bytes);
    // Storing it again is harmless.
    store.put_blob(&digest, &bytes).unwrap();
    assert_eq!(store.read_blob(&digest, 1 << 20).unwrap(), bytes);
    assert_eq!(blob_names(&store), BTreeSet::from([digest.to_string()]));
    assert_eq!(scratch_files(&store), Vec::<String>::new());
}

#[test]
fn put_blob_repairs_a_truncated_blob() {
    let (_dir, store) = new_store();
    let bytes = data(5000, 26);
    let digest = sha256_digest(&bytes);
    store.put_blob(&digest, &bytes).unwrap();
    fs::write(store.blob_path(&digest), &bytes[..2500]).unwrap();
    store.put_blob(&digest, &bytes).unwrap();
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);
}

#[test]
fn put_blob_ignores_a_stale_partial_of_the_same_blob() {
    let (_dir, store) = new_store();
    let bytes = data(5000, 22);
    let digest = sha256_digest(&bytes);
    {
        let mut writer = store.begin_blob(&digest, None).unwrap();
        writer.write(&data(3000, 23)).unwrap();
    }
    store.put_blob(&digest, &bytes).unwrap();
    assert_eq!(store.read_blob(&digest, 1 << 20).unwrap(), bytes);
    assert_eq!(scratch_files(&store), Vec::<String>::new());
}

#[test]
fn put_blob_refuses_bytes_that_do_not_match_the_digest() {
    let (_dir, store) = new_store();
    let digest = sha256_digest(b"right");
    match store.put_blob(&digest, b"wrong").unwrap_err() {
        StoreError::Digest { digest: d, .. } => assert_eq!(d, digest.to_string()),
        other => panic!("expected a digest error, got {other:?}"),
    }
    assert!(!store.blob_path(&digest).exists());
    assert_eq!(scratch_files(&store), Vec::<String>::new());
}

#[test]
fn read_blob_detects_a_tampered_blob() {
    let (_dir, store) = new_store();
    let bytes = data(2048, 24);
    let digest = sha256_digest(&bytes);
    store.put_blob(&digest, &bytes).unwrap();
    flip_byte(&store.blob_path(&digest), 100);
    let mut tampered = bytes.clone();
    tampered[100] ^= 0xff;

    let err = store.read_blob(&digest, 1 << 20).unwrap_err();
    assert!(err.to_string().contains(&digest.to_string()), "{err}");
    match err {
        StoreError::Digest {
            digest: d,
            source:
                DigestError::Mismatch {
                    expected,
                    actual,
                    size,
                },
        } => {
            assert_eq!(d, digest.to_string());
            assert_eq!(expected, digest.to_string());
            assert_eq!(actual, sha256_digest(&tampered).to_string());
            assert_eq!(size, 2048);
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
}

#[test]
fn read_blob_refuses_a_blob_over_the_limit() {
    let (_dir, store) = new_store();
    let bytes = data(5000, 25);
    let digest = sha256_digest(&bytes);
    store.put_blob(&digest, &bytes).unwrap();

    match store.read_blob(&digest, 4999).unwrap_err() {
        StoreError::TooLarge {
            digest: d,
            size,
            limit,
        } => {
            assert_eq!(d, digest.to_string());
            assert_eq!(limit, 4999);
            assert_eq!(size, 5000, "the error tells the blob's real size");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    match store.read_blob(&digest, 10).unwrap_err() {
        StoreError::TooLarge { size, limit, .. } => assert_eq!((size, limit), (5000, 10)),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(store.read_blob(&digest, 5000).unwrap(), bytes);
}

#[test]
fn read_blob_of_a_missing_blob_is_blob_not_found() {
    let (_dir, store) = new_store();
    let digest = sha256_digest(b"never stored");
    match store.read_blob(&digest, 1 << 20).unwrap_err() {
        StoreError::BlobNotFound(d) => assert_eq!(d, digest.to_string()),
        other => panic!("expected BlobNotFound, got {other:?}"),
    }
    assert_eq!(store.blob_size(&digest).unwrap(), None);
}

#[test]
fn finished_blobs_wait_aside_until_published_and_are_adopted_when_dropped() {
    let (_dir, store) = new_store();
    let bytes = data(30_000, 900);
    let digest = sha256_digest(&bytes);
    let mut writer = store.begin_blob(&digest, Some(bytes.len() as u64)).unwrap();
    writer.write(&bytes).unwrap();
    let verified = writer.finish().unwrap();
    assert_eq!(verified.size(), 30_000);
    assert!(!store.blob_path(&digest).exists(), "not published yet");
    // Dropped unpublished (the operation failed elsewhere): the next attempt adopts it whole.
    drop(verified);
    let writer = store.begin_blob(&digest, Some(bytes.len() as u64)).unwrap();
    assert_eq!(writer.offset(), 30_000);
    let verified = writer.finish().unwrap();
    assert_eq!(verified.publish().unwrap(), 30_000);
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);
    assert_eq!(
        fs::read_dir(store.root().join(".aurora/tmp"))
            .unwrap()
            .count(),
        0
    );
}
