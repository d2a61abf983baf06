//! The pods table. A pod's state is derived from its containers (see `crate::pod`).

use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior};

use super::StateDb;
use crate::error::{EngineError, Result};
use crate::pod::PodRecord;

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS pods (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    infra_id TEXT,
    created_at TEXT NOT NULL,
    cgroup_parent TEXT NOT NULL,
    owner_pid INTEGER
);
"#;

/// A pod's row: its record, and the podadm process in the middle of creating or removing
/// it (a pod whose owner died half-way is removed by the next reader).
#[derive(Debug, Clone, PartialEq)]
pub struct PodRow {
    pub record: PodRecord,
    pub owner_pid: Option<i32>,
}

const POD_COLUMNS: &str = "id, name, config, infra_id, created_at, cgroup_parent, owner_pid";

impl StateDb {
    /// Adds a new pod owned by `owner`; a taken pod name is refused.
    pub fn insert_pod(&self, pod: &PodRecord, owner: i32) -> Result<()> {
        let err = self.err();
        let tx =
            Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate).map_err(&err)?;
        insert_pod_in(&tx, pod, Some(owner)).map_err(&err)??;
        tx.commit().map_err(&err)
    }

    /// Writes the pod's infra id and owner (`None`: no transition in progress).
    pub fn update_pod(&self, pod: &PodRecord, owner: Option<i32>) -> Result<()> {
        self.conn
            .execute(
                "UPDATE pods SET infra_id = ?2, owner_pid = ?3 WHERE id = ?1",
                params![pod.id, pod.infra_id, owner],
            )
            .map_err(self.err())?;
        Ok(())
    }

    pub fn delete_pod(&self, id: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM pods WHERE id = ?1", params![id])
            .map_err(self.err())?;
        Ok(())
    }

    /// The pod named by a full id, a name, or an unambiguous id prefix.
    pub fn find_pod(&self, key: &str) -> Result<PodRow> {
        let exact = self
            .conn
            .query_row(
                &format!("SELECT {POD_COLUMNS} FROM pods WHERE id = ?1 OR name = ?1"),
                params![key],
                pod_from_row,
            )
            .optional()
            .map_err(self.err())?;
        if let Some(row) = exact {
            return row;
        }
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut statement = self
                .conn
                .prepare(&format!(
                    "SELECT {POD_COLUMNS} FROM pods WHERE id >= ?1 AND id < ?2 LIMIT 2"
                ))
                .map_err(self.err())?;
            let found = statement
                .query_map(params![key, format!("{key}g")], pod_from_row)
                .map_err(self.err())?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(self.err())?;
            if found.len() > 1 {
                return Err(EngineError::Other(format!(
                    "pod id prefix {key} is ambiguous: more than one pod starts with it"
                )));
            }
            if let Some(row) = found.into_iter().next() {
                return row;
            }
        }
        Err(EngineError::NoSuchPod(key.to_string()))
    }

    /// Every pod, oldest first.
    pub fn list_pods(&self) -> Result<Vec<PodRow>> {
        let mut statement = self
            .conn
            .prepare(&format!(
                "SELECT {POD_COLUMNS} FROM pods ORDER BY created_at, id"
            ))
            .map_err(self.err())?;
        let rows = statement
            .query_map([], pod_from_row)
            .map_err(self.err())?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(self.err())?;
        rows.into_iter().collect()
    }
}

/// A row → a pod; a configuration podadm cannot read is an error naming the pod.
fn pod_from_row(row: &Row<'_>) -> rusqlite::Result<Result<PodRow>> {
    let id: String = row.get(0)?;
    let config: String = row.get(2)?;
    let Ok(config) = serde_json::from_str(&config) else {
        return Ok(Err(EngineError::Other(format!(
            "pod {id}: its configuration in the state database cannot be read"
        ))));
    };
    Ok(Ok(PodRow {
        record: PodRecord {
            name: row.get(1)?,
            config,
            infra_id: row.get(3)?,
            created_at: row.get(4)?,
            cgroup_parent: row.get(5)?,
            id,
        },
        owner_pid: row.get(6)?,
    }))
}

/// Inserts `pod` in the caller's transaction (`owner`: the podadm process still making it);
/// a taken pod name is refused and nothing is written.
pub(super) fn insert_pod_in(
    conn: &rusqlite::Connection,
    pod: &PodRecord,
    owner: Option<i32>,
) -> rusqlite::Result<Result<()>> {
    let holder: Option<String> = conn
        .query_row(
            "SELECT id FROM pods WHERE name = ?1",
            params![pod.name],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(id) = holder {
        return Ok(Err(EngineError::PodNameInUse {
            name: pod.name.clone(),
            id,
        }));
    }
    conn.execute(
        &format!("INSERT INTO pods ({POD_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![
            pod.id,
            pod.name,
            super::json(&pod.config),
            pod.infra_id,
            pod.created_at,
            pod.cgroup_parent,
            owner
        ],
    )?;
    Ok(Ok(()))
}
