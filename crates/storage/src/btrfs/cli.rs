//! A thin wrapper of the `btrfs` command, run through a [`Runner`] (the system's, or a fake in
//! tests): subvolumes made, snapshotted and deleted (nested ones too), their IDs, and quota
//! groups. It knows nothing of layers.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::command::{CommandFailure, Runner, SystemRunner};
use crate::{Result, StorageError};

/// The `btrfs` command, run through a [`Runner`].
#[derive(Debug, Clone)]
pub(crate) struct Btrfs {
    runner: Arc<dyn Runner>,
}

impl Btrfs {
    pub(crate) fn new(runner: Arc<dyn Runner>) -> Btrfs {
        Btrfs { runner }
    }

    /// The system's `btrfs`.
    pub(crate) fn system() -> Btrfs {
        Btrfs::new(Arc::new(SystemRunner))
    }

    /// `btrfs ARGS…`.
    fn run(&self, args: &[&OsStr]) -> Result<String, CommandFailure> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        self.runner.run("btrfs", &args)
    }

    /// `btrfs --version`: whether btrfs-progs works at all.
    pub(crate) fn version(&self) -> Result<String, CommandFailure> {
        self.run(&["--version".as_ref()])
    }

    /// `btrfs subvolume create PATH`.
    pub(crate) fn create_subvolume(&self, path: &Path) -> Result<(), CommandFailure> {
        self.run(&["subvolume".as_ref(), "create".as_ref(), path.as_os_str()])
            .map(drop)
    }

    /// Exclusive bytes per subvolume ID, when quotas are enabled on the filesystem at `base`.
    pub(crate) fn exclusive_bytes(&self, base: &Path) -> Option<HashMap<u64, u64>> {
        let base = base.as_os_str();
        // Without quotas this fails ("quotas not enabled"): then there is nothing to sync.
        self.run(&["qgroup".as_ref(), "show".as_ref(), base]).ok()?;
        // Qgroup numbers are brought up to date when a transaction commits.
        self.run(&["filesystem".as_ref(), "sync".as_ref(), base])
            .ok()?;
        let text = self
            .run(&["qgroup".as_ref(), "show".as_ref(), "--raw".as_ref(), base])
            .ok()?;
        Some(parse_qgroups(&text))
    }

    /// The subvolume ID of the subvolume at `path`.
    pub(crate) fn subvolume_id(&self, path: &Path) -> Option<u64> {
        self.run(&[
            "inspect-internal".as_ref(),
            "rootid".as_ref(),
            path.as_os_str(),
        ])
        .ok()?
        .trim()
        .parse()
        .ok()
    }

    /// `btrfs subvolume snapshot [-r] FROM TO`; `TO` must not exist (else btrfs-progs would
    /// snapshot into it).
    pub(crate) fn snapshot(&self, from: &Path, to: &Path, read_only: bool) -> Result<()> {
        match fs::symlink_metadata(to) {
            Ok(_) => {
                return Err(StorageError::Io {
                    path: to.to_path_buf(),
                    source: io::Error::from(io::ErrorKind::AlreadyExists),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io(to)(e)),
        }
        let mut args: Vec<&OsStr> = vec!["subvolume".as_ref(), "snapshot".as_ref()];
        if read_only {
            args.push("-r".as_ref());
        }
        args.extend([from.as_os_str(), to.as_os_str()]);
        self.run(&args)?;
        Ok(())
    }

    /// Deletes the subvolume at `path` with any subvolume nested in it; nothing if it is gone.
    /// A plain directory (a pending layer whose subvolume was never made) is removed as such.
    pub(crate) fn delete_subvolume(&self, path: &Path) -> Result<()> {
        let meta = match fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(StorageError::io(path)(e)),
        };
        if !is_subvolume(&meta) {
            return if meta.is_dir() {
                fs::remove_dir_all(path).map_err(StorageError::io(path))
            } else {
                fs::remove_file(path).map_err(StorageError::io(path))
            };
        }
        let delete = || self.run(&["subvolume".as_ref(), "delete".as_ref(), path.as_os_str()]);
        match delete() {
            Ok(_) => Ok(()),
            Err(failure) if failure.stderr.contains("Directory not empty") => {
                self.delete_nested_subvolumes(path, &meta)?;
                delete()?;
                Ok(())
            }
            Err(failure) => Err(failure.into()),
        }
    }

    /// Deletes every subvolume nested below the subvolume `dir` (whose metadata is `meta`).
    fn delete_nested_subvolumes(&self, dir: &Path, meta: &fs::Metadata) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let entries = fs::read_dir(dir).map_err(StorageError::io(dir))?;
        for entry in entries {
            let entry = entry.map_err(StorageError::io(dir))?;
            let path = entry.path();
            let Ok(child) = fs::symlink_metadata(&path) else {
                continue;
            };
            if !child.is_dir() {
                continue;
            }
            if is_subvolume(&child) && child.dev() != meta.dev() {
                self.delete_subvolume(&path)?;
            } else if child.dev() == meta.dev() {
                self.delete_nested_subvolumes(&path, meta)?;
            }
        }
        Ok(())
    }
}

/// `0/ID REFERENCED EXCLUSIVE …` lines of `btrfs qgroup show --raw`: ID → exclusive bytes.
fn parse_qgroups(text: &str) -> HashMap<u64, u64> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let id = fields.next()?.strip_prefix("0/")?.parse().ok()?;
            let _referenced = fields.next()?;
            let exclusive = fields.next()?.parse().ok()?;
            Some((id, exclusive))
        })
        .collect()
}

/// Whether `path` is the root of a btrfs subvolume (whose inode number is always 256).
fn is_subvolume(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.is_dir() && meta.ino() == 256
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qgroup_lines_give_exclusive_bytes() {
        let text = "\
Qgroupid    Referenced    Exclusive   Path 
--------    ----------    ---------   ---- 
0/5              16384        16384   <toplevel>
0/261          2019328        16384   layers/x
0/263          2322432       319488   <stale>
1/100          2322432       319488   
";
        let by_id = parse_qgroups(text);
        assert_eq!(by_id.len(), 3);
        assert_eq!(by_id[&263], 319_488);
        assert_eq!(by_id[&5], 16384);
    }
}
