//! Logging as runc does it: `--log FILE` (default stderr), `--log-format text|json`, `--debug`;
//! `RUST_LOG` also works. A failure is always written to stderr, and to the log file as
//! runc's `{"level":"error","msg":…,"time":…}` line, which conmon and containerd's shim read
//! to report why the runtime failed.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

pub struct Log {
    file: Option<(PathBuf, Mutex<File>)>,
    format: LogFormat,
}

impl Log {
    pub fn init(path: Option<&Path>, format: LogFormat, debug: bool) -> Log {
        // libcgroups warns about every controller this host lacks: errors only, unless asked;
        // but the warnings the runtime spec asks for (a poststart or poststop hook that
        // failed) are always shown.
        let default_level = if debug {
            "debug"
        } else {
            "error,libcontainer::hooks=warn,aurora_runtime=warn"
        };
        let filter =
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
        let file = path.and_then(
            |p| match OpenOptions::new().create(true).append(true).open(p) {
                Ok(f) => Some((p.to_path_buf(), f)),
                Err(e) => {
                    eprintln!("runz: cannot open the log file {}: {e}", p.display());
                    None
                }
            },
        );
        let builder = tracing_subscriber::fmt().with_env_filter(filter);
        let result = match (&file, format) {
            (Some((_, f)), LogFormat::Json) => match f.try_clone() {
                Ok(f) => builder.json().with_writer(Mutex::new(f)).try_init(),
                Err(_) => builder
                    .with_ansi(false)
                    .with_writer(std::io::stderr)
                    .try_init(),
            },
            (Some((_, f)), LogFormat::Text) => match f.try_clone() {
                Ok(f) => builder
                    .with_ansi(false)
                    .with_writer(Mutex::new(f))
                    .try_init(),
                Err(_) => builder
                    .with_ansi(false)
                    .with_writer(std::io::stderr)
                    .try_init(),
            },
            (None, _) => builder
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr)
                .try_init(),
        };
        let _ = result;
        Log {
            file: file.map(|(p, f)| (p, Mutex::new(f))),
            format,
        }
    }

    /// Reports a failure on stderr and in the log file.
    pub fn error(&self, message: &str) {
        eprintln!("runz: {message}");
        let Some((_, file)) = &self.file else { return };
        let line = match self.format {
            LogFormat::Json => serde_json::json!({
                "level": "error",
                "msg": message,
                "time": rfc3339_now(),
            })
            .to_string(),
            LogFormat::Text => format!("time=\"{}\" level=error msg={:?}", rfc3339_now(), message),
        };
        if let Ok(mut file) = file.lock() {
            let _ = writeln!(file, "{line}");
        }
    }
}

fn rfc3339_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
