use std::path::PathBuf;

/// A log that could not be opened, written, rotated or read; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open the container log {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the container log {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot rotate the container log {path} to {path}.1: {source}")]
    Rotate {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the container log {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}
