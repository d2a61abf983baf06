//! Several writers, threads and processes on one store: two writers for one blob, concurrent
//! naming from threads and processes, a killed writer process, concurrent first opens.
//!
//! Some tests start child processes: they re-run this test binary with only
//! `child_process_helper` selected and an environment variable telling it what to do.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::thread;

use aurora_spec::sha256_digest;
use aurora_store::{GcReport, Store, StoreError, REF_NAME_ANNOTATION};

mod common;
use common::*;

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
