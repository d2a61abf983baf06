//! The state database: SQLite in WAL mode at `ROOT/podadm/state.db`. Every podadm process
//! opens it; writers take SQLite's write lock (`BEGIN IMMEDIATE`) for each change, so any
//! number of them can work side by side, and a process killed at any point leaves the
//! last committed state.

mod pods;
mod pool;
mod record;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};

pub use pods::PodRow;
pub use pool::SandboxRow;
pub use record::{ContainerRecord, ContainerState};

use crate::error::{EngineError, Result};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    image TEXT NOT NULL,
    image_id TEXT NOT NULL,
    config TEXT NOT NULL,
    state TEXT NOT NULL,
    pid INTEGER,
    exit_code INTEGER,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    restarts INTEGER NOT NULL DEFAULT 0,
    runtime TEXT NOT NULL,
    owner_pid INTEGER,
    stopped_by_user INTEGER NOT NULL DEFAULT 0,
    anonymous_volumes TEXT NOT NULL DEFAULT '[]',
    network_status TEXT
);
CREATE TABLE IF NOT EXISTS teardowns (
    id TEXT PRIMARY KEY,
    record TEXT NOT NULL,
    owner_pid INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    type TEXT NOT NULL,
    action TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    image TEXT NOT NULL,
    attributes TEXT NOT NULL DEFAULT '{}'
);
"#;

/// One event (`podadm events`), as podman reports them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    pub seq: i64,
    /// RFC 3339 UTC with nanoseconds.
    pub time: String,
    /// `container`, `volume`, `network`, `image`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// `create`, `start`, `died`, `stop`, `remove`, `restart`, `pause`, ...
    pub action: String,
    pub id: String,
    pub name: String,
    pub image: String,
    pub attributes: serde_json::Value,
}

/// The open database.
pub struct StateDb {
    conn: Connection,
    path: PathBuf,
}

/// WAL frames past which the background commands (the monitor's exit command, the pool's
/// refiller) checkpoint: see [`StateDb::checkpoint_in_background`].
const CHECKPOINT_FRAMES: u64 = 64;

/// WAL pages past which any commit checkpoints (SQLite's automatic checkpoint): the bound
/// for a store whose containers never exit, so that the WAL an opener reads stays small.
const WAL_PAGES_MAX: u32 = 512;

/// The schema's version in `PRAGMA user_version`: raise it with any change to a schema, so
/// that the databases of older podadms get the new tables.
const SCHEMA_VERSION: u32 = 1;

/// The tables, made once per database (a read of the header's user version otherwise).
fn make_schema(conn: &Connection) -> rusqlite::Result<()> {
    let version: u32 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(pods::SCHEMA)?;
    conn.execute_batch(pool::SCHEMA)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)
}

impl StateDb {
    /// Opens (creating when missing) the database at `path`.
    pub fn open(path: &Path) -> Result<StateDb> {
        let err = |source| EngineError::State {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        // Other podadm processes hold the write lock for milliseconds; wait for them rather
        // than fail.
        conn.busy_timeout(Duration::from_secs(60)).map_err(err)?;
        // Switching a new database to WAL can be refused as busy without SQLite's busy
        // handler being asked (several first openers at once): tried again until a deadline.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let prepared = conn
                .pragma_update(None, "journal_mode", "WAL")
                .and_then(|()| conn.pragma_update(None, "synchronous", "NORMAL"))
                // No checkpoint at close (see `keep_wal_file`) nor, short of WAL_PAGES_MAX,
                // at commit: the commands a user waits for cost no fsync, and those that
                // run after them checkpoint (`checkpoint_in_background`) and empty the WAL
                // file, so that the next opener rebuilds the WAL index from about 256 KiB.
                .and_then(|()| conn.pragma_update(None, "journal_size_limit", 0))
                .and_then(|()| conn.pragma_update(None, "wal_autocheckpoint", WAL_PAGES_MAX))
                .and_then(|()| make_schema(&conn));
            match prepared {
                Ok(()) => break,
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(err(e)),
            }
        }
        keep_wal_file(&conn);
        Ok(StateDb {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Checkpoints the WAL once it holds more than [`CHECKPOINT_FRAMES`] frames. Called by
    /// the commands nobody waits for (the monitor's exit command, the refiller), so that the
    /// fsyncs of a checkpoint stay off the path of `run` and `start`. Passive: it never waits
    /// for readers or writers, and what it cannot copy now the next one does.
    pub fn checkpoint_in_background(&self) -> Result<()> {
        let wal = wal_path(&self.path);
        let Ok(meta) = std::fs::metadata(&wal) else {
            return Ok(());
        };
        let page_size: u64 = self
            .conn
            .query_row("PRAGMA page_size", [], |row| row.get(0))
            .map_err(self.err())?;
        if wal_frames(meta.len(), page_size) <= CHECKPOINT_FRAMES {
            return Ok(());
        }
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .map_err(self.err())
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> EngineError + '_ {
        move |source| EngineError::State {
            path: self.path.clone(),
            source,
        }
    }

    /// Adds a new container; a taken name is refused naming the container that has it.
    pub fn insert(&self, record: &ContainerRecord) -> Result<()> {
        let err = self.err();
        let tx =
            Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(&err)?;
        refuse_taken_name(&tx, &record.name).map_err(&err)??;
        execute_row(&tx, INSERT, record).map_err(&err)?;
        tx.commit().map_err(&err)
    }

    /// Writes every field of `record` (found by id); false if it no longer exists.
    pub fn update(&self, record: &ContainerRecord) -> Result<bool> {
        let changed = execute_row(&self.conn, UPDATE, record).map_err(self.err())?;
        Ok(changed == 1)
    }

    /// Renames a container; a taken name is refused.
    pub fn rename(&self, id: &str, name: &str) -> Result<()> {
        let err = self.err();
        let tx =
            Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(&err)?;
        refuse_taken_name(&tx, name).map_err(&err)??;
        tx.execute(
            "UPDATE containers SET name = ?2 WHERE id = ?1",
            params![id, name],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)
    }

    pub fn delete(&self, id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM containers WHERE id = ?1", params![id])
            .map_err(self.err())?;
        Ok(())
    }

    /// Deletes a removed container's row and records what is left of it (root, runtime state,
    /// network) as a pending teardown owned by `owner`, in the same transaction, so that
    /// nothing is forgotten if the owner dies before it is done.
    pub fn delete_leaving_teardown(&self, record: &ContainerRecord, owner: i32) -> Result<()> {
        let err = self.err();
        let tx =
            Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(&err)?;
        tx.execute("DELETE FROM containers WHERE id = ?1", params![record.id])
            .map_err(&err)?;
        tx.execute(
            "INSERT OR REPLACE INTO teardowns (id, record, owner_pid) VALUES (?1, ?2, ?3)",
            params![record.id, json(record), owner],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)
    }

    /// Whether the teardown of removed container `id` is still to do.
    pub fn teardown_pending(&self, id: &str) -> Result<bool> {
        self.conn
            .query_row("SELECT 1 FROM teardowns WHERE id = ?1", params![id], |_| {
                Ok(())
            })
            .optional()
            .map(|row| row.is_some())
            .map_err(self.err())
    }

    /// Pending network teardowns of removed containers, with their owners.
    pub fn teardowns(&self) -> Result<Vec<(ContainerRecord, i32)>> {
        let mut statement = self
            .conn
            .prepare("SELECT record, owner_pid FROM teardowns")
            .map_err(self.err())?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i32>(1)?))
            })
            .map_err(self.err())?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows
            .into_iter()
            .filter_map(|(record, owner)| Some((serde_json::from_str(&record).ok()?, owner)))
            .collect())
    }

    /// A teardown is done.
    pub fn forget_teardown(&self, id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM teardowns WHERE id = ?1", params![id])
            .map_err(self.err())?;
        Ok(())
    }

    /// The container named by a full id, a name, or an unambiguous id prefix.
    pub fn find(&self, key: &str) -> Result<ContainerRecord> {
        let exact = self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM containers WHERE id = ?1 OR name = ?1"),
                params![key],
                from_row,
            )
            .optional()
            .map_err(self.err())?;
        if let Some(record) = exact {
            return record;
        }
        let is_hex = !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit());
        if is_hex {
            let mut statement = self
                .conn
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM containers WHERE id >= ?1 AND id < ?2 LIMIT 2"
                ))
                .map_err(self.err())?;
            let upper = format!("{key}g");
            let found = statement
                .query_map(params![key, upper], from_row)
                .map_err(self.err())?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(self.err())?;
            if found.len() == 1 {
                return found.into_iter().next().expect("one row");
            }
            if found.len() > 1 {
                return Err(EngineError::Other(format!(
                    "container id prefix {key} is ambiguous: more than one container starts with it"
                )));
            }
        }
        Err(EngineError::NoSuchContainer(key.to_string()))
    }

    /// Every container, oldest first.
    pub fn list(&self) -> Result<Vec<ContainerRecord>> {
        let mut statement = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM containers ORDER BY created_at, id"
            ))
            .map_err(self.err())?;
        let rows = statement
            .query_map([], from_row)
            .map_err(self.err())?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(self.err())?;
        rows.into_iter().collect()
    }

    /// Records an event.
    pub fn add_event(
        &self,
        kind: &str,
        action: &str,
        id: &str,
        name: &str,
        image: &str,
        attributes: serde_json::Value,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO events (time, type, action, id, name, image, attributes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    crate::clock::now(),
                    kind,
                    action,
                    id,
                    name,
                    image,
                    attributes.to_string()
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Events after sequence number `after`, oldest first.
    pub fn events_after(&self, after: i64) -> Result<Vec<Event>> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT seq, time, type, action, id, name, image, attributes FROM events
                 WHERE seq > ?1 ORDER BY seq",
            )
            .map_err(self.err())?;
        let rows = statement
            .query_map(params![after], |row| {
                let attributes: String = row.get(7)?;
                Ok(Event {
                    seq: row.get(0)?,
                    time: row.get(1)?,
                    kind: row.get(2)?,
                    action: row.get(3)?,
                    id: row.get(4)?,
                    name: row.get(5)?,
                    image: row.get(6)?,
                    attributes: serde_json::from_str(&attributes)
                        .unwrap_or(serde_json::Value::Null),
                })
            })
            .map_err(self.err())?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows)
    }
}

const INSERT: &str = "INSERT INTO containers (id, name, image, image_id, config, state, pid,
    exit_code, created_at, started_at, finished_at, restarts, runtime, owner_pid,
    stopped_by_user, anonymous_volumes, network_status)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

const UPDATE: &str = "UPDATE containers SET name = ?2, image = ?3, image_id = ?4, config = ?5,
    state = ?6, pid = ?7, exit_code = ?8, created_at = ?9, started_at = ?10,
    finished_at = ?11, restarts = ?12, runtime = ?13, owner_pid = ?14,
    stopped_by_user = ?15, anonymous_volumes = ?16, network_status = ?17
    WHERE id = ?1";

/// SQLite's "busy" or "locked": another connection holds what this one needs.
/// Keeps the WAL file when the last connection closes. Without it, every podadm command that
/// closes the database last deletes the WAL file and the next one creates (and fsyncs) it
/// again: milliseconds on every command, and on the warm pool's claim path. The file's
/// contents are checkpointed on close as before; only its deletion is skipped.
fn keep_wal_file(conn: &Connection) {
    if let Err(e) = conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    ) {
        tracing::debug!("keeping the WAL at close was refused: {e}");
    }
    let mut on: std::ffi::c_int = 1;
    // SAFETY: the handle is this open connection's, used on this thread only for the call;
    // SQLITE_FCNTL_PERSIST_WAL takes a pointer to an int, which lives across the call.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            rusqlite::ffi::SQLITE_FCNTL_PERSIST_WAL,
            (&mut on as *mut std::ffi::c_int).cast(),
        )
    };
    if rc != rusqlite::ffi::SQLITE_OK {
        tracing::debug!("keeping the state database's WAL file was refused ({rc})");
    }
}

/// The WAL file beside the database at `db`.
fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push("-wal");
    PathBuf::from(name)
}

/// Frames in a WAL file of `len` bytes: a 32-byte header, then frames of a 24-byte header
/// and a page each.
fn wal_frames(len: u64, page_size: u64) -> u64 {
    len.saturating_sub(32) / (page_size + 24).max(1)
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// `NameInUse` naming the container that has `name`, if one has.
fn refuse_taken_name(conn: &Connection, name: &str) -> rusqlite::Result<Result<()>> {
    let holder: Option<String> = conn
        .query_row(
            "SELECT id FROM containers WHERE name = ?1",
            params![name],
            |row| row.get(0),
        )
        .optional()?;
    Ok(match holder {
        Some(id) => Err(EngineError::NameInUse {
            name: name.to_string(),
            id,
        }),
        None => Ok(()),
    })
}

/// Runs `sql` (INSERT or UPDATE) with the record's fields as ?1..?17, in COLUMNS' order.
fn execute_row(conn: &Connection, sql: &str, record: &ContainerRecord) -> rusqlite::Result<usize> {
    conn.execute(
        sql,
        params![
            record.id,
            record.name,
            record.image,
            record.image_id,
            json(&record.config),
            record.state.as_str(),
            record.pid,
            record.exit_code,
            record.created_at,
            record.started_at,
            record.finished_at,
            record.restarts,
            record.runtime,
            record.owner_pid,
            record.stopped_by_user,
            json(&record.anonymous_volumes),
            record.network_status.as_ref().map(json),
        ],
    )
}

const COLUMNS: &str = "id, name, image, image_id, config, state, pid, exit_code, created_at,
    started_at, finished_at, restarts, runtime, owner_pid, stopped_by_user, anonymous_volumes,
    network_status";

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A row → a record; a row podadm cannot read (written by a newer version, or damaged) is an
/// error that names the container rather than a panic.
fn from_row(row: &Row<'_>) -> rusqlite::Result<Result<ContainerRecord>> {
    let id: String = row.get(0)?;
    let config: String = row.get(4)?;
    let state: String = row.get(5)?;
    let volumes: String = row.get(15)?;
    let network: Option<String> = row.get(16)?;
    let bad = |what: &str| EngineError::Invalid {
        name: id.clone(),
        message: format!("its {what} in the state database cannot be read"),
    };
    let Ok(config) = serde_json::from_str(&config) else {
        return Ok(Err(bad("configuration")));
    };
    let Some(state) = ContainerState::parse(&state) else {
        return Ok(Err(bad("state")));
    };
    Ok(Ok(ContainerRecord {
        name: row.get(1)?,
        image: row.get(2)?,
        image_id: row.get(3)?,
        config,
        state,
        pid: row.get(6)?,
        exit_code: row.get(7)?,
        created_at: row.get(8)?,
        started_at: row.get(9)?,
        finished_at: row.get(10)?,
        restarts: row.get(11)?,
        runtime: row.get(12)?,
        owner_pid: row.get(13)?,
        stopped_by_user: row.get(14)?,
        anonymous_volumes: serde_json::from_str(&volumes).unwrap_or_default(),
        network_status: network.and_then(|n| serde_json::from_str(&n).ok()),
        id,
    }))
}
