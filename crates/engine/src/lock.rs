//! One lock per container, held across a state change (start, stop, cleanup, remove) so that
//! two podadm processes, or podadm and a monitor's exit command, change a container one at a
//! time. An advisory `flock` on a file under the run root: released by the kernel when the
//! holder dies, so a killed podadm never leaves a container locked.

use std::fs::File;
use std::path::Path;

use rustix::fs::{flock, FlockOperation};

use crate::error::{io, Result};

/// A held container lock.
pub struct ContainerLock {
    _file: File,
}

/// Waits for and takes the lock of container `id`.
pub fn lock(dir: &Path, id: &str) -> Result<ContainerLock> {
    take(dir, id, FlockOperation::LockExclusive).map(|held| held.expect("blocking lock"))
}

/// Takes the lock if nobody holds it.
pub fn try_lock(dir: &Path, id: &str) -> Result<Option<ContainerLock>> {
    take(dir, id, FlockOperation::NonBlockingLockExclusive)
}

fn take(dir: &Path, id: &str, how: FlockOperation) -> Result<Option<ContainerLock>> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(format!("{id}.lock"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    match flock(&file, how) {
        Ok(()) => Ok(Some(ContainerLock { _file: file })),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
        Err(e) => Err(io(&path)(e.into())),
    }
}

/// Removes a removed container's lock file (while holding it, so nobody waits on it).
pub fn forget(dir: &Path, id: &str) {
    let _ = std::fs::remove_file(dir.join(format!("{id}.lock")));
}
