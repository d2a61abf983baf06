//! Integration tests for the local OCI image layout, against the public API of `aurora-store`.
//!
//! Some tests start child processes: they re-run this test binary with only
//! `child_process_helper` selected and an environment variable telling it what to do.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use aurora_spec::media::{
    DOCKER_CONFIG, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST,
};
use aurora_spec::{sha256_digest, Digest, DigestError, Hasher};
use aurora_store::{
    ref_name, BlobWriter, Descriptor, GcReport, ImageIndex, Store, StoreError, REF_NAME_ANNOTATION,
};
use oci_spec::image::{Arch, MediaType, Os, Platform};
use serde_json::{json, Value};
use tempfile::TempDir;

const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Deterministic, incompressible-looking bytes.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn new_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("layout")).unwrap();
    (dir, store)
}

fn scratch(store: &Store) -> PathBuf {
    store.root().join(".aurora").join("tmp")
}

/// Names of the files in ROOT/.aurora/tmp, sorted.
fn scratch_files(store: &Store) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(scratch(store))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn partial_name(digest: &Digest) -> String {
    format!("{}-{}.partial", digest.algorithm(), digest.digest())
}

fn partial_path(store: &Store, digest: &Digest) -> PathBuf {
    scratch(store).join(partial_name(digest))
}

/// Every file under ROOT/blobs, as `algorithm:hex`.
fn blob_names(store: &Store) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for algorithm in fs::read_dir(store.root().join("blobs")).unwrap() {
        let algorithm = algorithm.unwrap();
        for blob in fs::read_dir(algorithm.path()).unwrap() {
            names.insert(format!(
                "{}:{}",
                algorithm.file_name().to_string_lossy(),
                blob.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    names
}

fn write_in_chunks(writer: &mut BlobWriter, bytes: &[u8], chunk: usize) {
    for piece in bytes.chunks(chunk) {
        writer.write(piece).unwrap();
    }
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at] ^= 0xff;
    fs::write(path, bytes).unwrap();
}

fn desc(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor::new(MediaType::from(media_type), size, digest.clone())
}

fn sha512_digest(bytes: &[u8]) -> Digest {
    let template: Digest = format!("sha512:{}", "0".repeat(128)).parse().unwrap();
    let mut hasher = Hasher::for_digest(&template).unwrap();
    hasher.update(bytes);
    hasher.finish().parse().unwrap()
}

fn names(store: &Store) -> Vec<String> {
    store
        .list_refs()
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

fn index_json(store: &Store) -> Vec<u8> {
    fs::read(store.root().join("index.json")).unwrap()
}

/// index.json as another OCI tool would read it.
fn index_as_oci_spec_reads_it(store: &Store) -> ImageIndex {
    ImageIndex::from_file(store.root().join("index.json")).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

const CHILD_ROLE: &str = "AURORA_STORE_TEST_CHILD_ROLE";
const CHILD_ROOT: &str = "AURORA_STORE_TEST_CHILD_ROOT";
const CHILD_ARG: &str = "AURORA_STORE_TEST_CHILD_ARG";

/// The blob a `hold-partial` child writes: more than the writer's 256 KiB buffer, so that
/// part of it reaches the disk before the child is killed.
const HELD_LEN: usize = 1_000_000;
const HELD_WRITTEN: usize = 600 * 1024;
const HELD_SEED: u64 = 77;

fn named_descriptor(name: &str) -> Descriptor {
    desc(
        OCI_MANIFEST,
        &sha256_digest(name.as_bytes()),
        name.len() as u64,
    )
}

fn set_many_refs(store: &Store, prefix: &str, count: usize) {
    for i in 0..count {
        let name = format!("{prefix}-{i}");
        store.set_ref(&name, &named_descriptor(&name)).unwrap();
    }
}

/// Not a test of its own: the body of the child processes the other tests start. Run
/// normally (without the environment variable) it does nothing.
#[test]
fn child_process_helper() {
    let Ok(role) = std::env::var(CHILD_ROLE) else {
        return;
    };
    let root = PathBuf::from(std::env::var(CHILD_ROOT).unwrap());
    let arg = std::env::var(CHILD_ARG).unwrap_or_default();
    let store = Store::open(&root).unwrap();
    match role.as_str() {
        "set-refs" => set_many_refs(&store, &arg, 25),
        "hold-partial" => {
            let bytes = data(HELD_LEN, HELD_SEED);
            let digest = sha256_digest(&bytes);
            let mut writer = store.begin_blob(&digest, Some(bytes.len() as u64)).unwrap();
            write_in_chunks(&mut writer, &bytes[..HELD_WRITTEN], 64 * 1024);
            eprintln!("READY {}", writer.offset());
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            // Like a crash: no destructor runs, nothing is committed.
            std::process::exit(0);
        }
        other => panic!("unknown child role {other}"),
    }
}

fn child(role: &str, root: &Path, arg: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "child_process_helper",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ROLE, role)
        .env(CHILD_ROOT, root)
        .env(CHILD_ARG, arg)
        .stdout(Stdio::null());
    command
}

// ---------------------------------------------------------------------------------------------
// open()
// ---------------------------------------------------------------------------------------------

fn assert_fresh_layout(root: &Path, store: &Store) {
    assert_eq!(store.root(), root);
    let layout: Value =
        serde_json::from_slice(&fs::read(root.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout, json!({"imageLayoutVersion": "1.0.0"}));

    let raw: Value = serde_json::from_slice(&fs::read(root.join("index.json")).unwrap()).unwrap();
    assert_eq!(raw["schemaVersion"], json!(2));
    assert_eq!(raw["mediaType"], json!(OCI_INDEX));
    assert_eq!(raw["manifests"], json!([]));
    let index = ImageIndex::from_file(root.join("index.json")).unwrap();
    assert_eq!(index.schema_version(), 2);
    assert!(index.manifests().is_empty());
    assert_eq!(store.read_index().unwrap(), index);

    assert!(root.join("blobs").join("sha256").is_dir());
    assert_eq!(
        fs::read_dir(root.join("blobs").join("sha256"))
            .unwrap()
            .count(),
        0
    );
    assert!(scratch(store).is_dir());
    assert_eq!(
        scratch_files(store),
        Vec::<String>::new(),
        "no temporary file left"
    );
    assert!(store.list_refs().unwrap().is_empty());
}

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

#[test]
fn a_killed_writer_process_keeps_its_partial_locked_until_it_dies_then_it_is_resumed() {
    let (_dir, store) = new_store();
    let bytes = data(HELD_LEN, HELD_SEED);
    let digest = sha256_digest(&bytes);

    let mut process = child("hold-partial", store.root(), "")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(process.stderr.take().unwrap());
    let mut ready = None;
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if let Some(n) = line.trim().strip_prefix("READY ") {
            ready = Some(n.parse::<usize>().unwrap());
            break;
        }
        line.clear();
    }
    assert_eq!(
        ready,
        Some(HELD_WRITTEN),
        "the child did not get ready: {line}"
    );
    assert_eq!(scratch_files(&store), [partial_name(&digest)]);

    // While the child lives, another writer does not touch its partial...
    let other = store.begin_blob(&digest, Some(HELD_LEN as u64)).unwrap();
    assert_eq!(other.offset(), 0);
    assert_eq!(scratch_files(&store).len(), 2);
    drop(other);
    assert_eq!(scratch_files(&store), [partial_name(&digest)]);
    // ... and neither does gc.
    assert_eq!(store.gc().unwrap(), GcReport::default());
    assert_eq!(scratch_files(&store), [partial_name(&digest)]);

    process.kill().unwrap();
    process.wait().unwrap();

    let on_disk = fs::read(partial_path(&store, &digest)).unwrap();
    assert!(
        !on_disk.is_empty() && on_disk.len() <= HELD_WRITTEN,
        "{}",
        on_disk.len()
    );
    assert_eq!(
        on_disk,
        &bytes[..on_disk.len()],
        "the partial is a prefix of the blob"
    );

    let mut writer = store.begin_blob(&digest, Some(HELD_LEN as u64)).unwrap();
    assert_eq!(writer.offset(), on_disk.len() as u64);
    write_in_chunks(&mut writer, &bytes[on_disk.len()..], 65_536);
    assert_eq!(writer.commit().unwrap(), HELD_LEN as u64);
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);
    assert_eq!(scratch_files(&store), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Two writers for one blob
// ---------------------------------------------------------------------------------------------

#[test]
fn two_writers_for_the_same_blob_at_once_both_commit() {
    let (_dir, store) = new_store();
    let bytes = data(600_000, 18);
    let len = bytes.len() as u64;
    let digest = sha256_digest(&bytes);
    let third = bytes.len() / 3;

    let mut first = store.begin_blob(&digest, Some(len)).unwrap();
    first.write(&bytes[..third]).unwrap();
    let mut second = store.begin_blob(&digest, Some(len)).unwrap();
    assert_eq!(
        second.offset(),
        0,
        "the second writer does not share the first's file"
    );
    let files = scratch_files(&store);
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.contains(&partial_name(&digest)));

    let rest = bytes[third..].chunks(50_000);
    let mut all = bytes.chunks(50_000);
    for piece in rest {
        first.write(piece).unwrap();
        second.write(all.next().unwrap()).unwrap();
    }
    for piece in all {
        second.write(piece).unwrap();
    }

    assert_eq!(second.commit().unwrap(), len);
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);
    assert_eq!(first.commit().unwrap(), len);
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);
    assert_eq!(blob_names(&store), BTreeSet::from([digest.to_string()]));
    assert_eq!(scratch_files(&store), Vec::<String>::new());
}

#[test]
fn a_failing_second_writer_leaves_the_first_writers_partial_alone() {
    let (_dir, store) = new_store();
    let bytes = data(300_000, 19);
    let len = bytes.len() as u64;
    let digest = sha256_digest(&bytes);

    let mut first = store.begin_blob(&digest, Some(len)).unwrap();
    write_in_chunks(&mut first, &bytes[..100_000], 10_000);

    let mut second = store.begin_blob(&digest, Some(len)).unwrap();
    write_in_chunks(&mut second, &data(300_000, 20), 10_000);
    assert!(matches!(second.commit(), Err(StoreError::Digest { .. })));
    let mut third = store.begin_blob(&digest, Some(len)).unwrap();
    third.write(&bytes[..10]).unwrap();
    drop(third);
    assert_eq!(scratch_files(&store), [partial_name(&digest)]);
    drop(first);
    assert_eq!(
        fs::read(partial_path(&store, &digest)).unwrap(),
        &bytes[..100_000]
    );

    let mut writer = store.begin_blob(&digest, Some(len)).unwrap();
    assert_eq!(writer.offset(), 100_000);
    writer.write(&bytes[100_000..]).unwrap();
    writer.commit().unwrap();
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);
}

#[test]
fn writers_on_several_threads_for_one_blob_all_commit_it() {
    let (_dir, store) = new_store();
    let bytes = Arc::new(data(500_000, 21));
    let digest = sha256_digest(&bytes);
    let barrier = Arc::new(Barrier::new(6));
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let (store, bytes, digest, barrier) = (
                store.clone(),
                bytes.clone(),
                digest.clone(),
                barrier.clone(),
            );
            thread::spawn(move || {
                barrier.wait();
                let mut writer = store.begin_blob(&digest, Some(bytes.len() as u64)).unwrap();
                let start = writer.offset() as usize;
                write_in_chunks(&mut writer, &bytes[start..], 16_384);
                writer.commit().unwrap()
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap(), 500_000);
    }
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), *bytes);
    assert_eq!(scratch_files(&store), Vec::<String>::new());
}

#[test]
fn writers_racing_for_one_small_blob_all_commit_it() {
    // Small blobs commit at once, so writers often open the partial just before another
    // writer moves it to the final name, and lock it just after.
    for round in 0..40 {
        let (_dir, store) = new_store();
        let bytes = Arc::new(format!("round {round} ").repeat(40).into_bytes());
        let digest = sha256_digest(&bytes);
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (store, bytes, digest, barrier) = (
                    store.clone(),
                    bytes.clone(),
                    digest.clone(),
                    barrier.clone(),
                );
                thread::spawn(move || {
                    barrier.wait();
                    (0..4)
                        .map(|_| {
                            let mut writer = store.begin_blob(&digest, Some(bytes.len() as u64))?;
                            let start = writer.offset() as usize;
                            writer.write(&bytes[start..])?;
                            writer.commit()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            for result in handle.join().unwrap() {
                assert_eq!(result.unwrap(), bytes.len() as u64, "round {round}");
            }
        }
        assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), *bytes);
        assert_eq!(scratch_files(&store), Vec::<String>::new());
    }
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

// ---------------------------------------------------------------------------------------------
// Concurrent processes and threads
// ---------------------------------------------------------------------------------------------

fn assert_all_names(store: &Store, prefixes: &[String], per_prefix: usize) {
    let refs = store.list_refs().unwrap();
    let expected: BTreeSet<String> = prefixes
        .iter()
        .flat_map(|p| (0..per_prefix).map(move |i| format!("{p}-{i}")))
        .collect();
    let got: BTreeSet<String> = refs.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(refs.len(), expected.len(), "no name twice");
    assert_eq!(got, expected);
    for (name, descriptor) in &refs {
        assert_eq!(descriptor, &{
            let mut d = named_descriptor(name);
            d.set_annotations(Some(
                [(REF_NAME_ANNOTATION.to_string(), name.clone())].into(),
            ));
            d
        });
    }
    assert_eq!(
        index_as_oci_spec_reads_it(store).manifests().len(),
        expected.len()
    );
    assert_eq!(scratch_files(store), Vec::<String>::new());
}

#[test]
fn concurrent_set_ref_from_eight_threads_loses_no_name() {
    let (_dir, store) = new_store();
    let root = store.root().to_path_buf();
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let (root, barrier) = (root.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let store = Store::open(&root).unwrap();
                set_many_refs(&store, &format!("thread{t}"), 25);
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let prefixes: Vec<String> = (0..8).map(|t| format!("thread{t}")).collect();
    assert_all_names(&store, &prefixes, 25);
}

#[test]
fn concurrent_set_ref_from_processes_and_threads_loses_no_name() {
    let dir = tempfile::tempdir().unwrap();
    // The children create the layout themselves, all at once.
    let root = dir.path().join("layout");
    let processes: Vec<_> = (0..4)
        .map(|p| {
            child("set-refs", &root, &format!("process{p}"))
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let root = root.clone();
            thread::spawn(move || {
                let store = Store::open(&root).unwrap();
                set_many_refs(&store, &format!("thread{t}"), 25);
            })
        })
        .collect();
    for process in processes {
        let output = process.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "child failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    for thread in threads {
        thread.join().unwrap();
    }
    let store = Store::open(&root).unwrap();
    let prefixes: Vec<String> = (0..4)
        .map(|p| format!("process{p}"))
        .chain((0..4).map(|t| format!("thread{t}")))
        .collect();
    assert_all_names(&store, &prefixes, 25);
}

// ---------------------------------------------------------------------------------------------
// Garbage collection
// ---------------------------------------------------------------------------------------------

/// A layout under construction that remembers every blob it stored.
struct Blobs<'a> {
    store: &'a Store,
    stored: BTreeMap<String, Vec<u8>>,
}

impl<'a> Blobs<'a> {
    fn new(store: &'a Store) -> Self {
        Blobs {
            store,
            stored: BTreeMap::new(),
        }
    }

    fn put(&mut self, bytes: Vec<u8>) -> (Digest, u64) {
        let digest = sha256_digest(&bytes);
        self.store.put_blob(&digest, &bytes).unwrap();
        let size = bytes.len() as u64;
        self.stored.insert(digest.to_string(), bytes);
        (digest, size)
    }

    fn put_json(&mut self, value: Value) -> (Digest, u64) {
        self.put(serde_json::to_vec_pretty(&value).unwrap())
    }

    /// A config, layers and the manifest naming them; returns the manifest and every digest.
    fn image(
        &mut self,
        manifest_type: &str,
        config_type: &str,
        layer_type: &str,
        seed: u64,
        layers: &[Vec<u8>],
    ) -> ((Digest, u64), Vec<String>) {
        let config = self.put_json(json!({
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "config": {"Labels": {"seed": seed.to_string()}},
        }));
        let layers: Vec<(Digest, u64)> = layers.iter().map(|l| self.put(l.clone())).collect();
        let manifest = self.put_json(json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {"mediaType": config_type, "digest": config.0.to_string(), "size": config.1},
            "layers": layers
                .iter()
                .map(|(d, s)| json!({"mediaType": layer_type, "digest": d.to_string(), "size": s}))
                .collect::<Vec<_>>(),
        }));
        let mut all = vec![manifest.0.to_string(), config.0.to_string()];
        all.extend(layers.iter().map(|(d, _)| d.to_string()));
        (manifest, all)
    }

    fn index(&mut self, index_type: &str, manifests: &[(&str, &(Digest, u64))]) -> (Digest, u64) {
        self.put_json(json!({
            "schemaVersion": 2,
            "mediaType": index_type,
            "manifests": manifests
                .iter()
                .enumerate()
                .map(|(i, (media_type, (d, s)))| json!({
                    "mediaType": media_type,
                    "digest": d.to_string(),
                    "size": s,
                    "platform": {"architecture": if i == 0 { "amd64" } else { "arm64" }, "os": "linux"},
                }))
                .collect::<Vec<_>>(),
        }))
    }

    fn size(&self, digest: &str) -> u64 {
        self.stored[digest].len() as u64
    }

    /// Every blob in `kept` is on disk with its bytes; nothing else is under blobs/.
    fn assert_exactly(&self, kept: &BTreeSet<String>) {
        assert_eq!(&blob_names(self.store), kept);
        for digest in kept {
            let parsed: Digest = digest.parse().unwrap();
            assert_eq!(
                fs::read(self.store.blob_path(&parsed)).unwrap(),
                self.stored[digest],
                "{digest}"
            );
        }
    }
}

#[test]
fn gc_removes_exactly_the_unreachable_blobs_and_abandoned_partials() {
    let (_dir, store) = new_store();
    let mut blobs = Blobs::new(&store);
    let shared_layer = data(3000, 100);

    // An OCI image and a Docker schema 2 image behind one OCI index.
    let (oci, oci_blobs) = blobs.image(
        OCI_MANIFEST,
        OCI_CONFIG,
        OCI_LAYER,
        1,
        &[data(2000, 101), shared_layer.clone()],
    );
    let (docker, docker_blobs) = blobs.image(
        DOCKER_MANIFEST,
        DOCKER_CONFIG,
        DOCKER_LAYER,
        2,
        &[data(2500, 102)],
    );
    let multi = blobs.index(
        OCI_INDEX,
        &[(OCI_MANIFEST, &oci), (DOCKER_MANIFEST, &docker)],
    );
    // A Docker image behind a Docker manifest list, sharing a layer with the OCI image.
    let (legacy, legacy_blobs) = blobs.image(
        DOCKER_MANIFEST,
        DOCKER_CONFIG,
        DOCKER_LAYER,
        3,
        &[data(1500, 103), shared_layer.clone()],
    );
    let list = blobs.index(DOCKER_MANIFEST_LIST, &[(DOCKER_MANIFEST, &legacy)]);
    // A named blob that is not a manifest: kept, not parsed.
    let plain = blobs.put(data(700, 104));

    // Unreachable: an unnamed image and the unnamed index over it, and loose blobs.
    let (orphan, orphan_blobs) =
        blobs.image(OCI_MANIFEST, OCI_CONFIG, OCI_LAYER, 4, &[data(4000, 105)]);
    let orphan_index = blobs.index(OCI_INDEX, &[(OCI_MANIFEST, &orphan)]);
    let loose_a = blobs.put(data(10_000, 106));
    let loose_b = blobs.put(vec![b'x']);

    store
        .set_ref("multi:latest", &desc(OCI_INDEX, &multi.0, multi.1))
        .unwrap();
    store
        .set_ref("legacy:1", &desc(DOCKER_MANIFEST_LIST, &list.0, list.1))
        .unwrap();
    store
        .set_ref(
            "plain",
            &desc("application/octet-stream", &plain.0, plain.1),
        )
        .unwrap();

    // Abandoned scratch files: a partial download and a file a crashed index update left.
    let abandoned = data(50_000, 107);
    {
        let mut writer = store
            .begin_blob(&sha256_digest(&abandoned), Some(50_000))
            .unwrap();
        writer.write(&abandoned[..20_000]).unwrap();
    }
    fs::write(scratch(&store).join(".replace-crashed"), vec![b'{'; 123]).unwrap();
    assert_eq!(scratch_files(&store).len(), 2);

    let index_before = index_json(&store);
    let report = store.gc().unwrap();

    let mut removed: Vec<(String, u64)> = orphan_blobs
        .iter()
        .cloned()
        .chain([
            orphan_index.0.to_string(),
            loose_a.0.to_string(),
            loose_b.0.to_string(),
        ])
        .map(|d| {
            let size = blobs.size(&d);
            (d, size)
        })
        .collect();
    removed.sort();
    let removed_bytes: u64 = removed.iter().map(|(_, s)| s).sum();
    assert_eq!(
        report,
        GcReport {
            removed: removed.clone(),
            freed_bytes: removed_bytes + 20_000 + 123,
            partials_removed: 2,
        }
    );

    let mut reachable: BTreeSet<String> = oci_blobs
        .iter()
        .chain(&docker_blobs)
        .chain(&legacy_blobs)
        .cloned()
        .collect();
    reachable.extend([multi.0.to_string(), list.0.to_string(), plain.0.to_string()]);
    assert_eq!(reachable.len(), 13, "the shared layer is one blob");
    blobs.assert_exactly(&reachable);
    assert_eq!(scratch_files(&store), Vec::<String>::new());
    assert_eq!(
        index_json(&store),
        index_before,
        "gc does not touch the names"
    );

    // Nothing more to collect.
    assert_eq!(store.gc().unwrap(), GcReport::default());
    blobs.assert_exactly(&reachable);

    // Without its name, the index and both its images go, except the layer the other image shares.
    store.remove_ref("multi:latest").unwrap();
    let report = store.gc().unwrap();
    let mut gone: Vec<String> = oci_blobs
        .iter()
        .chain(&docker_blobs)
        .filter(|d| **d != sha256_digest(&shared_layer).to_string())
        .cloned()
        .collect();
    gone.push(multi.0.to_string());
    gone.sort();
    assert_eq!(
        report
            .removed
            .iter()
            .map(|(d, _)| d.clone())
            .collect::<Vec<_>>(),
        gone
    );
    assert!(report.removed.iter().all(|(d, s)| *s == blobs.size(d)));
    assert_eq!(
        report.freed_bytes,
        gone.iter().map(|d| blobs.size(d)).sum::<u64>()
    );
    assert_eq!(report.partials_removed, 0);

    let mut still: BTreeSet<String> = legacy_blobs.iter().cloned().collect();
    still.extend([list.0.to_string(), plain.0.to_string()]);
    assert!(still.contains(&sha256_digest(&shared_layer).to_string()));
    blobs.assert_exactly(&still);
    assert_eq!(names(&store), ["legacy:1", "plain"]);
}

#[test]
fn gc_on_an_empty_store_removes_nothing() {
    let (_dir, store) = new_store();
    assert_eq!(store.gc().unwrap(), GcReport::default());
    assert_fresh_layout(store.root(), &store);
}

#[test]
fn gc_collects_blobs_of_every_algorithm() {
    let (_dir, store) = new_store();
    let kept = data(100, 200);
    let kept_digest = sha512_digest(&kept);
    let lost = data(300, 201);
    let lost_digest = sha512_digest(&lost);
    store.put_blob(&kept_digest, &kept).unwrap();
    store.put_blob(&lost_digest, &lost).unwrap();
    store
        .set_ref(
            "sha512",
            &desc("application/octet-stream", &kept_digest, 100),
        )
        .unwrap();
    let report = store.gc().unwrap();
    assert_eq!(report.removed, [(lost_digest.to_string(), 300)]);
    assert_eq!(report.freed_bytes, 300);
    assert_eq!(
        blob_names(&store),
        BTreeSet::from([kept_digest.to_string()])
    );
}

#[test]
fn gc_keeps_the_subject_of_a_named_referrer() {
    let (_dir, store) = new_store();
    let mut blobs = Blobs::new(&store);
    let (image, image_blobs) =
        blobs.image(OCI_MANIFEST, OCI_CONFIG, OCI_LAYER, 5, &[data(100, 300)]);
    let empty = blobs.put(b"{}".to_vec());
    let signature = blobs.put(data(64, 301));
    let referrer = blobs.put_json(json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.0.to_string(), "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": signature.0.to_string(), "size": 64}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": image.0.to_string(), "size": image.1},
    }));
    store
        .set_ref("signature", &desc(OCI_MANIFEST, &referrer.0, referrer.1))
        .unwrap();
    assert_eq!(store.gc().unwrap(), GcReport::default());
    let mut all: BTreeSet<String> = image_blobs.into_iter().collect();
    all.extend([
        empty.0.to_string(),
        signature.0.to_string(),
        referrer.0.to_string(),
    ]);
    blobs.assert_exactly(&all);
}

#[test]
fn gc_leaves_the_partials_of_live_writers_alone() {
    let (_dir, store) = new_store();
    let bytes = data(400_000, 400);
    let len = bytes.len() as u64;
    let digest = sha256_digest(&bytes);
    let abandoned = data(9000, 401);
    {
        let mut writer = store
            .begin_blob(&sha256_digest(&abandoned), Some(9000))
            .unwrap();
        writer.write(&abandoned[..4000]).unwrap();
    }

    let mut first = store.begin_blob(&digest, Some(len)).unwrap();
    write_in_chunks(&mut first, &bytes[..300_000], 10_000);
    let mut second = store.begin_blob(&digest, Some(len)).unwrap();
    write_in_chunks(&mut second, &bytes[..300_000], 10_000);
    let live = {
        let mut files = scratch_files(&store);
        files.retain(|f| *f != partial_name(&sha256_digest(&abandoned)));
        files
    };
    assert_eq!(live.len(), 2);

    let report = store.gc().unwrap();
    assert_eq!(
        report,
        GcReport {
            removed: Vec::new(),
            freed_bytes: 4000,
            partials_removed: 1,
        }
    );
    assert_eq!(
        scratch_files(&store),
        live,
        "both live writers' files are kept"
    );

    first.write(&bytes[300_000..]).unwrap();
    second.write(&bytes[300_000..]).unwrap();
    assert_eq!(first.commit().unwrap(), len);
    assert_eq!(second.commit().unwrap(), len);
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);
    assert_eq!(scratch_files(&store), Vec::<String>::new());
}

#[test]
fn gc_waits_for_writers_holding_the_writer_lock() {
    let (_dir, store) = new_store();
    let bytes = data(5000, 500);
    let digest = sha256_digest(&bytes);

    // A pull: it takes the writer lock, stores blobs, names them, then lets go.
    let pull = store.writer_lock().unwrap();
    store.put_blob(&digest, &bytes).unwrap();

    // The writer lock is shared: a second pull is not kept waiting.
    let (tx, rx) = mpsc::channel();
    let other = store.clone();
    thread::spawn(move || {
        let _lock = other.writer_lock().unwrap();
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("a second writer lock was refused");

    let (tx, rx) = mpsc::channel();
    let collector = store.clone();
    let gc = thread::spawn(move || {
        tx.send(()).unwrap();
        collector.gc().unwrap()
    });
    rx.recv().unwrap();
    // The event itself: the kernel lists gc as waiting for the lock (a hang guard only).
    let gc_lock = store.root().join(".aurora/gc.lock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !waits_for_flock(&gc_lock) {
        assert!(!gc.is_finished(), "gc did not wait for the writer lock");
        assert!(Instant::now() < deadline, "gc never waited for the lock");
        thread::sleep(Duration::from_millis(10));
    }
    assert!(!gc.is_finished(), "gc did not wait for the writer lock");
    assert!(store.blob_path(&digest).exists());

    store
        .set_ref("pulled", &desc("application/octet-stream", &digest, 5000))
        .unwrap();
    drop(pull);
    assert_eq!(gc.join().unwrap(), GcReport::default());
    assert_eq!(fs::read(store.blob_path(&digest)).unwrap(), bytes);
}

/// Whether a thread of this process waits for a flock(2) on `path`: /proc/locks lists
/// waiters as `N: -> FLOCK ADVISORY WRITE PID MAJ:MIN:INODE …`.
fn waits_for_flock(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let inode = format!(":{}", fs::metadata(path).unwrap().ino());
    let pid = std::process::id().to_string();
    fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1) == Some(&"->")
                && fields.get(2) == Some(&"FLOCK")
                && fields.get(5) == Some(&pid.as_str())
                && fields.get(6).is_some_and(|id| id.ends_with(&inode))
        })
}

/// Each way a named document can be damaged makes gc refuse to delete anything, naming the
/// damaged digest: what the document references cannot be known.
#[test]
fn gc_refuses_to_collect_when_a_named_manifest_is_damaged() {
    let (_dir, store) = new_store();
    let mut blobs = Blobs::new(&store);
    let (good, good_blobs) =
        blobs.image(OCI_MANIFEST, OCI_CONFIG, OCI_LAYER, 6, &[data(1000, 600)]);
    let loose = blobs.put(data(321, 601));
    store
        .set_ref("good", &desc(OCI_MANIFEST, &good.0, good.1))
        .unwrap();
    let mut kept: BTreeSet<String> = good_blobs.into_iter().collect();
    kept.insert(loose.0.to_string());

    let not_json = blobs.put(b"{\"schemaVersion\": 2, \"config\": ".to_vec());
    let wrong_shape = blobs.put_json(json!({"schemaVersion": 2, "layers": "none", "config": 7}));
    let truncated = blobs.put(b"{\"schemaVersion\": 2, \"layers\": [".to_vec());
    let index = blobs.index(
        OCI_INDEX,
        &[(OCI_MANIFEST, &good), (DOCKER_MANIFEST, &truncated)],
    );
    let missing = (sha256_digest(b"never pulled"), 12);
    let tampered = blobs.image(OCI_MANIFEST, OCI_CONFIG, OCI_LAYER, 7, &[data(100, 700)]);
    let tampered_blobs: BTreeSet<String> = tampered.1.into_iter().collect();
    flip_byte(&store.blob_path(&tampered.0 .0), 5);

    let cases = [
        (
            "not-json",
            OCI_MANIFEST,
            not_json.clone(),
            not_json.0.clone(),
        ),
        (
            "wrong-shape",
            DOCKER_MANIFEST,
            wrong_shape.clone(),
            wrong_shape.0.clone(),
        ),
        ("index", OCI_INDEX, index.clone(), truncated.0.clone()),
        ("missing", OCI_MANIFEST, missing.clone(), missing.0.clone()),
        (
            "tampered",
            OCI_MANIFEST,
            tampered.0.clone(),
            tampered.0 .0.clone(),
        ),
    ];
    let mut all_kept = kept.clone();
    all_kept.extend(
        [&not_json, &wrong_shape, &truncated, &index]
            .iter()
            .map(|(d, _)| d.to_string()),
    );
    all_kept.extend(tampered_blobs);
    for (name, media_type, (digest, size), damaged) in cases {
        store
            .set_ref(name, &desc(media_type, &digest, size))
            .unwrap();
        match store.gc() {
            Err(StoreError::Damaged { digest, .. }) => {
                assert_eq!(digest, damaged.to_string(), "{name}")
            }
            other => panic!("{name}: expected a Damaged error, got {other:?}"),
        }
        // Nothing was deleted (contents are not compared: one manifest was tampered with).
        assert_eq!(blob_names(&store), all_kept, "{name}");
        store.remove_ref(name).unwrap();
    }
    // With the damaged names gone, collection works again and frees only what is unreachable.
    let report = store.gc().unwrap();
    assert!(report
        .removed
        .iter()
        .any(|(d, s)| *d == loose.0.to_string() && *s == 321));
    assert!(store.blob_path(&good.0).exists());
    assert_eq!(names(&store), ["good"]);
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

#[test]
fn concurrent_first_opens_of_a_new_store_all_succeed() {
    // One open may find another's oci-layout (and more) appear between its two looks.
    for round in 0..300 {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (root, barrier) = (root.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    Store::open(&root).map(|_| ())
                })
            })
            .collect();
        for handle in handles {
            let result = handle.join().unwrap();
            assert!(result.is_ok(), "round {round}: {:?}", result.err());
        }
        assert_eq!(
            std::fs::read_to_string(root.join("oci-layout")).unwrap(),
            "{\"imageLayoutVersion\":\"1.0.0\"}"
        );
    }
}
