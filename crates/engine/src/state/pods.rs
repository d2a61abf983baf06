//! The pods table. A pod's state is derived from its containers (see `crate::pod`).

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
