//! Reading a new clone's program before its first exec. A zfs clone's files are new to the
//! kernel (a filesystem of their own), so the first exec of the container's program reads
//! it through zfs again: under zfs-fuse, ~5 ms for the 2 MB static busybox here, ~1 ms once
//! read. A thread reads it while the monitor and the runtime start (or, for a warm pool's
//! sandbox, while the refiller goes on), so the container's exec finds it in the page cache.
//! Inside the clone through pathrs (`RESOLVE_IN_ROOT`), bounded, and best effort: whatever
//! fails only leaves the exec to read the file itself.

use std::io::Read;
use std::path::{Path, PathBuf};

use pathrs::flags::OpenFlags;
use pathrs::Root;

/// What is read of a program at most: the read must end soon after the container's start,
/// since an open file keeps the clone busy for its unmount when the container is removed.
const READ_AT_MOST: u64 = 64 << 20;

/// The search path when the process has none (the runtimes' and podman's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Reads the program `process` will run from `rootfs`, in a thread of its own.
pub(crate) fn spawn_read_program(rootfs: PathBuf, process: &oci_spec::runtime::Process) {
    let Some(program) = process
        .args()
        .as_ref()
        .and_then(|args| args.first())
        .cloned()
    else {
        return;
    };
    let path = search_path(process.env().as_deref().unwrap_or_default());
    let spawned = std::thread::Builder::new()
        .name("read-program".into())
        .spawn(move || {
            read_program(&rootfs, &program, &path);
        });
    if let Err(e) = spawned {
        tracing::debug!("not reading the container's program ahead: {e}");
    }
}

/// `PATH` of a process environment, or the default.
fn search_path(env: &[String]) -> String {
    env.iter()
        .find_map(|entry| entry.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
        .to_string()
}

/// Where `program` is looked for: itself when it names a path, else each `PATH` entry
/// (absolute ones only: the runtime resolves relative ones from the process's cwd).
fn candidates(program: &str, path: &str) -> Vec<PathBuf> {
    if program.contains('/') {
        return Path::new(program)
            .is_absolute()
            .then(|| PathBuf::from(program))
            .into_iter()
            .collect();
    }
    path.split(':')
        .filter(|dir| dir.starts_with('/'))
        .map(|dir| Path::new(dir).join(program))
        .collect()
}

/// Reads the first regular file `program` is found as; the bytes read, if one was.
fn read_program(rootfs: &Path, program: &str, path: &str) -> Option<u64> {
    let root = Root::open(rootfs).ok()?;
    for candidate in candidates(program, path) {
        let Ok(handle) = root.resolve(&candidate) else {
            continue;
        };
        let Ok(file) = handle.reopen(OpenFlags::O_RDONLY) else {
            continue;
        };
        if file.metadata().is_ok_and(|meta| meta.is_file()) {
            return std::io::copy(&mut file.take(READ_AT_MOST), &mut std::io::sink()).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_looked_for_as_the_runtime_does() {
        assert_eq!(
            candidates("true", "/usr/bin:relative:/bin"),
            vec![PathBuf::from("/usr/bin/true"), PathBuf::from("/bin/true")]
        );
        assert_eq!(
            candidates("/bin/sh", "/usr/bin"),
            vec![PathBuf::from("/bin/sh")]
        );
        assert!(candidates("./run.sh", "/bin").is_empty());
        assert_eq!(search_path(&["A=1".into(), "PATH=/bin".into()]), "/bin");
        assert_eq!(search_path(&[]), DEFAULT_PATH);
    }

    #[test]
    fn a_program_is_read_inside_the_root_only() {
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::write(bin.join("prog"), b"#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("prog", bin.join("sh")).unwrap();
        // A link out of the root resolves inside it (to ROOT/etc/passwd, missing): nothing
        // is read from the host.
        std::os::unix::fs::symlink("/etc/passwd", bin.join("escape")).unwrap();
        std::fs::create_dir(bin.join("dir")).unwrap();
        assert_eq!(read_program(root.path(), "prog", "/bin"), Some(10));
        assert_eq!(read_program(root.path(), "/bin/sh", "/usr/bin"), Some(10));
        assert_eq!(read_program(root.path(), "escape", "/bin"), None);
        assert_eq!(read_program(root.path(), "dir", "/bin"), None);
        assert_eq!(read_program(root.path(), "missing", "/bin"), None);
        assert_eq!(
            read_program(Path::new("/nonexistent-root"), "prog", "/bin"),
            None
        );
    }
}
