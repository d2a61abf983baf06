//! The container's stdio when runz's own is `/dev/null`.
//!
//! libcontainer 0.7 replaces any stdio descriptor that is `/dev/null` with the container's own
//! `/dev/null` (as runc does, so that the host's device node is not held inside), but opens it
//! read-only: a container started with `>/dev/null` then fails every write with EBADF (shells
//! report "write error: Bad file descriptor", and some programs exit on it). runz therefore
//! gives such a container `/dev/zero` opened write-only as its stdout and stderr: a sink that
//! discards writes exactly like `/dev/null` and that libcontainer leaves alone. Standard input
//! needs nothing: a read-only `/dev/null` reads as end of file, as it should.

use std::fs::OpenOptions;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use libcontainer::container::builder::ContainerBuilder;
use nix::sys::stat::fstat;

use crate::error::{Error, Result};

/// `/dev/null` is character device 1:3 on Linux.
fn is_dev_null(fd: BorrowedFd<'_>) -> bool {
    match fstat(fd.as_raw_fd()) {
        Ok(st) => {
            (st.st_mode & libc::S_IFMT) == libc::S_IFCHR
                && libc::major(st.st_rdev) == 1
                && libc::minor(st.st_rdev) == 3
        }
        Err(_) => false,
    }
}

/// Gives the builder a write-only `/dev/zero` for each of stdout and stderr that is
/// `/dev/null`; other descriptors are inherited as they are.
pub(super) fn guard_dev_null_outputs(mut builder: ContainerBuilder) -> Result<ContainerBuilder> {
    let sink = || {
        OpenOptions::new()
            .write(true)
            .open("/dev/zero")
            .map_err(|source| Error::Io {
                what: "cannot open",
                path: "/dev/zero".into(),
                source,
            })
    };
    if is_dev_null(std::io::stdout().as_fd()) {
        builder = builder.with_stdout(sink()?);
    }
    if is_dev_null(std::io::stderr().as_fd()) {
        builder = builder.with_stderr(sink()?);
    }
    Ok(builder)
}
