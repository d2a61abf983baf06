//! The state database on disk: its WAL file outlives the last connection (so the next
//! podadm does not recreate it), and what was written is read back by the next opener.

use aurora_engine::state::{ContainerRecord, StateDb};
use aurora_engine::ContainerConfig;

#[test]
fn the_wal_file_outlives_the_last_connection_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let wal = dir.path().join("state.db-wal");
    let record = ContainerRecord::creating(
        "a".repeat(64),
        "first".into(),
        (
            "example/image:1".into(),
            format!("sha256:{}", "b".repeat(64)),
        ),
        ContainerConfig::default(),
        "/usr/bin/runz".into(),
    );
    {
        let db = StateDb::open(&path).unwrap();
        db.insert(&record).unwrap();
    }
    assert!(wal.exists(), "the WAL file went with the last connection");
    let again = StateDb::open(&path).unwrap();
    assert_eq!(again.find("first").unwrap(), record);
    assert_eq!(again.list().unwrap(), vec![record]);
}

fn numbered_record(round: usize, i: usize) -> ContainerRecord {
    ContainerRecord::creating(
        format!("{round:02}{i:062}"),
        format!("c{round}-{i}"),
        (
            "example/image:1".into(),
            format!("sha256:{}", "b".repeat(64)),
        ),
        ContainerConfig::default(),
        "/usr/bin/runz".into(),
    )
}

fn wal_len(dir: &std::path::Path) -> u64 {
    std::fs::metadata(dir.join("state.db-wal")).unwrap().len()
}

/// Without checkpoints at close, and with only commits past 512 pages checkpointing, the
/// WAL still empties: however much is written, the file the next opener reads stays around
/// 2 MiB at most.
#[test]
fn the_wal_stays_bounded_without_checkpoints_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    for round in 0..20 {
        let db = StateDb::open(&path).unwrap();
        for i in 0..100 {
            db.insert(&numbered_record(round, i)).unwrap();
        }
    }
    let wal = wal_len(dir.path());
    assert!(wal < 2560 << 10, "the WAL grew to {wal} bytes");
    assert_eq!(StateDb::open(&path).unwrap().list().unwrap().len(), 2000);
}

/// Commits below the bound leave the WAL to the background checkpoint, which empties it
/// once it holds more than 64 frames (the next commit starts the file over), and nothing is
/// lost.
#[test]
fn the_background_checkpoint_empties_a_grown_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let db = StateDb::open(&path).unwrap();
    db.insert(&numbered_record(0, 0)).unwrap();
    db.checkpoint_in_background().unwrap();
    let small = wal_len(dir.path());
    for i in 1..40 {
        db.insert(&numbered_record(0, i)).unwrap();
    }
    let grown = wal_len(dir.path());
    assert!(
        grown > 64 * 4120,
        "40 commits wrote only {grown} bytes of WAL"
    );
    db.checkpoint_in_background().unwrap();
    db.insert(&numbered_record(0, 40)).unwrap();
    let after = wal_len(dir.path());
    assert!(
        after < grown / 4,
        "the WAL held {grown} bytes before the checkpoint, {after} after (small: {small})"
    );
    drop(db);
    assert_eq!(StateDb::open(&path).unwrap().list().unwrap().len(), 41);
}

/// The tables are made once per database (then only its user version is read); a database
/// an older podadm made, without the newer tables, gets them.
#[test]
fn an_older_database_gets_the_newer_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let old = rusqlite::Connection::open(&path).unwrap();
        old.execute_batch("CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT);")
            .unwrap();
    }
    let db = StateDb::open(&path).unwrap();
    assert!(db.pools().unwrap().is_empty());
    assert!(db.list_pods().unwrap().is_empty());
    drop(db);
    let version: u32 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert!(version > 0);
    // Opened again: the version says the tables are there.
    assert!(StateDb::open(&path).unwrap().pools().unwrap().is_empty());
}
