//! The warm pool's tables: what each pool should hold, and its sandboxes (not containers
//! yet: `ps` does not show them until `run` claims one). A sandbox row is written before
//! anything of it is made (`filling`, with the refiller as its owner), so that whatever a
//! killed refiller leaves is found and destroyed; a claimed `--rm` container comes back as a
//! `discard` row, in the same transaction that removes its container row, so that its
//! teardown is never forgotten.

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use super::pods::insert_pod_in;
use super::{execute_row, json, refuse_taken_name, StateDb, INSERT};
use crate::error::{EngineError, Result};
use crate::pod::PodRecord;
use crate::pool::{PoolConfig, SandboxState};
use crate::state::ContainerRecord;

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS pools (
    image TEXT PRIMARY KEY,
    config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sandboxes (
    id TEXT PRIMARY KEY,
    pool TEXT NOT NULL,
    state TEXT NOT NULL,
    owner_pid INTEGER,
    record TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"#;

/// One sandbox row.
#[derive(Debug, Clone)]
pub struct SandboxRow {
    /// The pool's image (its key).
    pub pool: String,
    pub state: SandboxState,
    /// The refiller making it (`filling`).
    pub owner_pid: Option<i32>,
    /// The container it becomes when claimed (id, image, network, pid, network status).
    pub record: ContainerRecord,
}

impl StateDb {
    /// Adds or replaces the pool of `config.image`.
    pub fn set_pool(&self, config: &PoolConfig) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO pools (image, config) VALUES (?1, ?2)",
                params![config.image, json(config)],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Every pool, by image.
    pub fn pools(&self) -> Result<Vec<PoolConfig>> {
        let mut statement = self
            .conn
            .prepare("SELECT config FROM pools ORDER BY image")
            .map_err(self.err())?;
        let rows = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(self.err())?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(self.err())?;
        rows.iter()
            .map(|text| {
                serde_json::from_str(text).map_err(|_| {
                    EngineError::Other(format!(
                        "a pool in the state database cannot be read: {text}"
                    ))
                })
            })
            .collect()
    }

    /// True when any pool is kept (one indexed read: `run` asks it before anything else).
    pub fn has_pools(&self) -> Result<bool> {
        self.conn
            .query_row("SELECT EXISTS (SELECT 1 FROM pools)", [], |row| row.get(0))
            .map_err(self.err())
    }

    /// Removes the pool of `image` and, in the same transaction, marks its ready
    /// sandboxes for destruction; false if there was no such pool.
    pub fn remove_pool(&self, image: &str) -> Result<bool> {
        let err = self.err();
        let tx =
            Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(&err)?;
        let removed = tx
            .execute("DELETE FROM pools WHERE image = ?1", params![image])
            .map_err(&err)?;
        tx.execute(
            "UPDATE sandboxes SET state = ?2, owner_pid = NULL WHERE pool = ?1 AND state = ?3",
            params![
                image,
                SandboxState::Discard.as_str(),
                SandboxState::Ready.as_str()
            ],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(removed == 1)
    }

    /// Adds a sandbox row (before anything of it is made).
    pub fn insert_sandbox(&self, row: &SandboxRow) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO sandboxes (id, pool, state, owner_pid, record, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    row.record.id,
                    row.pool,
                    row.state.as_str(),
                    row.owner_pid,
                    json(&row.record),
                    row.record.created_at
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Writes a sandbox's state, owner and record.
    pub fn update_sandbox(&self, row: &SandboxRow) -> Result<()> {
        self.conn
            .execute(
                "UPDATE sandboxes SET state = ?2, owner_pid = ?3, record = ?4 WHERE id = ?1",
                params![
                    row.record.id,
                    row.state.as_str(),
                    row.owner_pid,
                    json(&row.record)
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Every sandbox, oldest first.
    pub fn sandboxes(&self) -> Result<Vec<SandboxRow>> {
        let mut statement = self
            .conn
            .prepare("SELECT pool, state, owner_pid, record FROM sandboxes ORDER BY created_at, id")
            .map_err(self.err())?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, Option<i32>>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })
            .map_err(self.err())?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(self.err())?;
        Ok(rows
            .into_iter()
            .filter_map(|(pool, state, owner_pid, record)| {
                Some(SandboxRow {
                    pool,
                    state: SandboxState::parse(&state)?,
                    owner_pid,
                    record: serde_json::from_str(&record).ok()?,
                })
            })
            .collect())
    }

    /// Marks a ready sandbox for destruction; false if it is not ready any more (claimed).
    pub fn discard_ready(&self, id: &str) -> Result<bool> {
        let changed = self
            .conn
            .execute(
                "UPDATE sandboxes SET state = ?2 WHERE id = ?1 AND state = ?3",
                params![
                    id,
                    SandboxState::Discard.as_str(),
                    SandboxState::Ready.as_str()
                ],
            )
            .map_err(self.err())?;
        Ok(changed == 1)
    }

    pub fn delete_sandbox(&self, id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM sandboxes WHERE id = ?1", params![id])
            .map_err(self.err())?;
        Ok(())
    }

    /// Takes a ready sandbox of `pool` that `usable` accepts and turns it into the container
    /// `make` returns, in one transaction (a taken name is refused and nothing changes).
    /// Sandboxes `usable` refuses are marked for destruction. `None`: none was ready.
    pub fn claim_sandbox(
        &self,
        pool: &str,
        usable: impl Fn(&ContainerRecord) -> bool,
        make: impl FnOnce(ContainerRecord) -> ContainerRecord,
    ) -> Result<Option<ContainerRecord>> {
        let claimed = self.claim_sandbox_with_pod(pool, usable, |sandbox| (make(sandbox), None))?;
        Ok(claimed.map(|(container, _)| container))
    }

    /// [`StateDb::claim_sandbox`] where `make` may also return the pod the container is the
    /// infra of, written in the same transaction (a taken pod name is refused too).
    pub fn claim_sandbox_with_pod(
        &self,
        pool: &str,
        usable: impl Fn(&ContainerRecord) -> bool,
        make: impl FnOnce(ContainerRecord) -> (ContainerRecord, Option<PodRecord>),
    ) -> Result<Option<(ContainerRecord, Option<PodRecord>)>> {
        let err = self.err();
        let tx =
            Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(&err)?;
        let sandbox = loop {
            let found: Option<(String, String)> = tx
                .query_row(
                    "SELECT id, record FROM sandboxes WHERE pool = ?1 AND state = ?2
                     ORDER BY created_at, id LIMIT 1",
                    params![pool, SandboxState::Ready.as_str()],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(&err)?;
            let Some((id, text)) = found else {
                tx.commit().map_err(&err)?;
                return Ok(None);
            };
            match serde_json::from_str::<ContainerRecord>(&text) {
                Ok(record) if usable(&record) => break record,
                _ => {
                    tx.execute(
                        "UPDATE sandboxes SET state = ?2, owner_pid = NULL WHERE id = ?1",
                        params![id, SandboxState::Discard.as_str()],
                    )
                    .map_err(&err)?;
                }
            }
        };
        let id = sandbox.id.clone();
        let (container, pod) = make(sandbox);
        refuse_taken_name(&tx, &container.name).map_err(&err)??;
        if let Some(pod) = &pod {
            insert_pod_in(&tx, pod, None).map_err(&err)??;
        }
        tx.execute("DELETE FROM sandboxes WHERE id = ?1", params![id])
            .map_err(&err)?;
        execute_row(&tx, INSERT, &container).map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(Some((container, pod)))
    }

    /// A claimed container goes back to the pool's table to be destroyed: its row deleted
    /// and a `discard` sandbox row written in one transaction. False if the row was gone
    /// already (someone else removed it).
    pub fn discard_container(&self, record: &ContainerRecord, pool: &str) -> Result<bool> {
        let err = self.err();
        let tx =
            Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(&err)?;
        let deleted = tx
            .execute("DELETE FROM containers WHERE id = ?1", params![record.id])
            .map_err(&err)?;
        if deleted == 1 {
            tx.execute(
                "INSERT OR REPLACE INTO sandboxes (id, pool, state, owner_pid, record, created_at)
                 VALUES (?1, ?2, ?3, NULL, ?4, ?5)",
                params![
                    record.id,
                    pool,
                    SandboxState::Discard.as_str(),
                    json(record),
                    record.created_at
                ],
            )
            .map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        Ok(deleted == 1)
    }
}
