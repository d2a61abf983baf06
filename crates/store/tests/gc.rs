//! Garbage collection: what is reachable stays, the rest and abandoned partials go.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use aurora_spec::media::{
    DOCKER_CONFIG, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST,
};
use aurora_spec::{sha256_digest, Digest};
use aurora_store::{GcReport, Store, StoreError};
use serde_json::{json, Value};

mod common;
use common::*;

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
