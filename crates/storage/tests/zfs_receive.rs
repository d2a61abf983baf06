//! `zfs receive` through the zfs driver against real ZFS (zfs-fuse, a file-backed pool per
//! test): a layer sent and received again has the driver's properties and nothing else; a
//! stream that is not a plain one of the expected snapshot is refused from its first record,
//! before `zfs receive` reads a byte of it, leaving nothing behind.
//! Needs root; outside CI a test without root or zfs-fuse is skipped, saying why.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::Command;

use aurora_storage::zfs::stream::{StreamError, BEGIN_RECORD_LEN};
use aurora_storage::zfs::ZfsDriver;
use aurora_storage::StorageError;
use aurora_testkit::ZfsPool;
use common::*;

fn setup(test: &str) -> Option<(ZfsPool, ZfsDriver)> {
    let pool = ZfsPool::create_or_skip(test)?;
    let driver = ZfsDriver::new(&format!("{}/aurora", pool.name()), pool.scratch()).unwrap();
    Some((pool, driver))
}

/// A reader that counts what was read from it.
struct Counting<'a> {
    inner: &'a [u8],
    read: usize,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n;
        Ok(n)
    }
}

/// The datasets and snapshots below the driver's pending parent.
fn pending(pool: &ZfsPool, driver: &ZfsDriver) -> Vec<String> {
    let parent = format!("{}/pending", driver.parent_dataset());
    pool.zfs(&["list", "-H", "-o", "name", "-r", "-t", "all", &parent])
        .lines()
        .filter(|name| *name != parent)
        .map(str::to_string)
        .collect()
}

/// What a failed receive must not leave: anything pending, datasets or lock files.
fn leftovers(pool: &ZfsPool, driver: &ZfsDriver) -> Vec<String> {
    let mut found = pending(pool, driver);
    found.extend(
        names_in(&pool.scratch())
            .into_iter()
            .filter(|n| n.ends_with(".lock")),
    );
    found
}

fn send(args: &[&str]) -> Vec<u8> {
    let out = Command::new("zfs").arg("send").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "zfs send {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn refused(
    driver: &ZfsDriver,
    stream: &[u8],
    origin: Option<&aurora_storage::LayerId>,
) -> StreamError {
    let mut reader = Counting {
        inner: stream,
        read: 0,
    };
    let err = driver
        .receive_pending("refused", &mut reader, origin)
        .unwrap_err();
    // Only the first record was read: zfs receive never saw the stream.
    assert_eq!(reader.read, BEGIN_RECORD_LEN);
    match err {
        StorageError::Stream { label, source } => {
            assert_eq!(label, "refused");
            source
        }
        other => panic!("not refused from the stream's first record: {other}"),
    }
}

#[test]
fn a_received_layer_has_the_drivers_properties_and_nothing_else() {
    let Some((pool, driver)) =
        setup("a_received_layer_has_the_drivers_properties_and_nothing_else")
    else {
        return;
    };
    ensure_layer(&driver, &id(1), None, &[("etc/os", "base")]);
    ensure_layer(&driver, &id(2), Some(&id(1)), &[("a", "2")]);
    ensure_layer(&driver, &id(3), Some(&id(1)), &[("a", "3")]);
    let mut full = Vec::new();
    driver
        .send_layer(&id(1), None, &mut full, Path::new("full"))
        .unwrap();
    let mut incremental = Vec::new();
    driver
        .send_layer(
            &id(2),
            Some(&id(1)),
            &mut incremental,
            Path::new("incremental"),
        )
        .unwrap();

    let received = driver
        .receive_pending("full", &mut &full[..], None)
        .unwrap();
    assert_eq!(
        tree(&received.root),
        tree(&driver.layer_root(&id(1)).unwrap())
    );
    let pending = pending(&pool, &driver);
    let [dataset, snapshot] = &pending[..] else {
        panic!("one dataset and its snapshot expected: {pending:?}");
    };
    assert_eq!(snapshot, &format!("{dataset}@final"));
    assert_eq!(
        pool.own_properties(dataset),
        [
            format!("{dataset} canmount noauto"),
            format!("{dataset} sharenfs off"),
            format!("{dataset} sharesmb off"),
        ]
    );
    assert!(driver.adopt_received(received, &id(9), "uuid-9").unwrap());
    assert_eq!(leftovers(&pool, &driver), Vec::<String>::new());

    // An incremental stream from another layer's snapshot than the one named, a full one
    // where an incremental one is expected, and the reverse.
    let wrong = refused(&driver, &incremental, Some(&id(3)));
    assert!(matches!(wrong, StreamError::WrongOrigin { .. }), "{wrong}");
    let full_instead = refused(&driver, &full, Some(&id(1)));
    assert!(
        matches!(full_instead, StreamError::UnexpectedFull { .. }),
        "{full_instead}"
    );
    let no_origin = refused(&driver, &incremental, None);
    assert!(
        matches!(no_origin, StreamError::UnexpectedIncremental { .. }),
        "{no_origin}"
    );
    assert_eq!(leftovers(&pool, &driver), Vec::<String>::new());

    // The right origin: received as a clone of it, or of layer 9, the received copy of its
    // snapshot (the same guid; zfs picks either).
    let received = driver
        .receive_pending("incremental", &mut &incremental[..], Some(&id(1)))
        .unwrap();
    let origin = received.origin.clone().unwrap();
    assert!(origin == id(1) || origin == id(9), "{origin}");
    assert_eq!(
        tree(&received.root),
        tree(&driver.layer_root(&id(2)).unwrap())
    );
    driver.discard_received(received);
    assert_eq!(leftovers(&pool, &driver), Vec::<String>::new());
}

#[test]
fn compound_streams_are_refused_before_zfs_receive_reads_them() {
    let Some((pool, driver)) = setup("compound_streams_are_refused_before_zfs_receive_reads_them")
    else {
        return;
    };
    let src = format!("{}/src", pool.name());
    pool.zfs(&["create", &src]);
    pool.zfs(&["create", &format!("{src}/child")]);
    pool.zfs(&["set", "org.example:x=y", &src]);
    pool.zfs(&["snapshot", "-r", &format!("{src}@one")]);
    pool.zfs(&["snapshot", "-r", &format!("{src}@two")]);
    let one = format!("{src}@one");
    let two = format!("{src}@two");
    for args in [
        vec!["-p", one.as_str()],
        vec!["-R", two.as_str()],
        vec!["-I", one.as_str(), two.as_str()],
    ] {
        let stream = send(&args);
        let err = refused(&driver, &stream, None);
        assert!(
            matches!(err, StreamError::Compound { .. }),
            "{args:?}: {err}"
        );
        assert_eq!(leftovers(&pool, &driver), Vec::<String>::new(), "{args:?}");
    }
    // Not a stream at all.
    let err = refused(&driver, &[0x5a; 4096], None);
    assert!(err.is_malformed(), "{err}");
    let short = driver
        .receive_pending("short", &mut &[0u8; 100][..], None)
        .unwrap_err();
    assert!(
        matches!(
            short,
            StorageError::Stream {
                source: StreamError::Short { len: 100 },
                ..
            }
        ),
        "{short}"
    );
    assert_eq!(leftovers(&pool, &driver), Vec::<String>::new());
}
