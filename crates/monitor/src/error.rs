use std::path::PathBuf;

/// A monitor file that could not be read or written, or a `--restart` value that is not a
/// policy; each names the file or the text.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("cannot read the monitor file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the monitor file {path} is not what the monitor writes: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write the monitor file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the restart policy {text:?} is not one of no, on-failure[:N], always, unless-stopped"
    )]
    RestartPolicy { text: String },
}
