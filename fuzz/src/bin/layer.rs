//! Layer blobs (tar, gzip, zstd with whiteouts, links, devices) applied onto a root beside a
//! canary. As root the target first moves into a private mount namespace and chroots into a
//! small tmpfs of its own (nodev, nosuid) holding the root, the canary and /proc: whatever a
//! layer manages, absolute paths land in the jail, where the check sees them, and nothing
//! can reach the host's files or fill its disk. It needs root for that (run.sh skips it
//! otherwise).
use std::path::PathBuf;

use aurora_layers::fuzzing::Jail;
use rustix::mount::{mount, mount_change, MountFlags, MountPropagationFlags};
use rustix::thread::{unshare_unsafe, UnshareFlags};

fn enter_jail() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("aurora-fuzz-layer-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // SAFETY: called before any thread is started, so no other thread shares the file
    // system attributes this unshares.
    unsafe { unshare_unsafe(UnshareFlags::NEWNS) }?;
    mount_change(
        "/",
        MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
    )?;
    mount(
        "aurora-fuzz",
        &dir,
        "tmpfs",
        MountFlags::NODEV | MountFlags::NOSUID,
        c"size=64m,mode=0755",
    )?;
    std::fs::create_dir(dir.join("proc"))?;
    mount(
        "proc",
        dir.join("proc"),
        "proc",
        MountFlags::NODEV | MountFlags::NOSUID | MountFlags::NOEXEC,
        c"",
    )?;
    rustix::process::chroot(&dir)?;
    std::env::set_current_dir("/")?;
    Ok(PathBuf::from("/"))
}

fn main() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("the layer target needs root: it applies layers in a jail of its own");
        std::process::exit(2);
    }
    let dir = enter_jail().expect("entering the jail (a mount namespace and a chroot)");
    let jail = Jail::new(&dir, true).expect("laying out the canary");
    afl::fuzz!(|data: &[u8]| jail.check(data));
}
