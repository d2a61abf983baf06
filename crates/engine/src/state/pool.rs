//! The warm pool's tables: what each pool should hold, and its sandboxes (not containers
//! yet: `ps` does not show them until `run` claims one).

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
