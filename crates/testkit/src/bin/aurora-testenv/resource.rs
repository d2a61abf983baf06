//! The three environments, each the testkit type the tests use; dropping the value is the
//! teardown.

use std::any::Any;
use std::path::PathBuf;

use aurora_testkit::{BtrfsVolume, Registry, ZfsPool};

/// Which environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ZfsPool,
    Btrfs,
    Registry,
}

impl Kind {
    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "zfs-pool" => Some(Kind::ZfsPool),
            "btrfs" => Some(Kind::Btrfs),
            "registry" => Some(Kind::Registry),
            _ => None,
        }
    }

    /// Its name on the command line, and of its files in the directory.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ZfsPool => "zfs-pool",
            Kind::Btrfs => "btrfs",
            Kind::Registry => "registry",
        }
    }
}

/// What `up` was asked for.
pub struct Options {
    /// Where the resource and its keeper's files live.
    pub dir: PathBuf,
    /// Bytes of the sparse file behind a pool or volume.
    pub size: u64,
    /// The registry's port.
    pub port: Option<u16>,
}

/// A live resource: the value whose drop tears it down, and what the caller is told.
pub struct Live {
    pub guard: Box<dyn Any>,
    pub facts: Vec<(&'static str, String)>,
}

/// Makes the resource (in the keeper process, which then holds it).
pub fn create(kind: Kind, options: &Options) -> Result<Live, String> {
    match kind {
        Kind::ZfsPool => {
            let pool =
                ZfsPool::create_in(options.size, Some(&options.dir)).map_err(|e| e.to_string())?;
            let facts = vec![
                ("POOL", pool.name().to_string()),
                ("MOUNTPOINT", display(pool.mountpoint())),
            ];
            Ok(Live {
                guard: Box::new(pool),
                facts,
            })
        }
        Kind::Btrfs => {
            let volume = BtrfsVolume::create_in(options.size, Some(&options.dir))
                .map_err(|e| e.to_string())?;
            let facts = vec![("MOUNTPOINT", display(volume.path()))];
            Ok(Live {
                guard: Box::new(volume),
                facts,
            })
        }
        Kind::Registry => {
            let port = options.port.ok_or("--port PORT is required")?;
            let data = options.dir.join("data");
            let registry = Registry::open_on(port, &data)?;
            let facts = vec![
                ("ADDRESS", registry.host()),
                ("DATA", display(data)),
                ("PID", registry.pid().to_string()),
            ];
            Ok(Live {
                guard: Box::new(registry),
                facts,
            })
        }
    }
}

/// When an open registry answers on the port already, the facts about it (nothing to keep).
pub fn already_there(
    kind: Kind,
    options: &Options,
) -> Result<Option<Vec<(&'static str, String)>>, String> {
    let (Kind::Registry, Some(port)) = (kind, options.port) else {
        return Ok(None);
    };
    let host = format!("127.0.0.1:{port}");
    match Registry::probe(&host) {
        None => Ok(None),
        Some(status) if (200..300).contains(&status) => {
            Ok(Some(vec![("ADDRESS", host), ("STARTED", "0".to_string())]))
        }
        Some(status) => Err(format!(
            "{host} is in use by something that is not an open registry (GET /v2/ -> HTTP {status}); pick another port"
        )),
    }
}

fn display(path: PathBuf) -> String {
    path.display().to_string()
}
