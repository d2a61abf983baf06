//! A zone's `fs` resources, mounted when the zone is readied (or booted from installed) and
//! unmounted when it halts, as zoneadmd does. lofs is a bind mount here; the fake mounts no
//! other type and ignores the options (lofs' `nodevices`, `ro`).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::store::{FsResource, Zone};
use crate::Refusal;

fn target(zone: &Zone, fs: &FsResource) -> PathBuf {
    zone.root().join(fs.dir.trim_start_matches('/'))
}

fn cstring(path: &Path) -> Option<CString> {
    CString::new(path.as_os_str().as_bytes()).ok()
}

/// Mounts every `fs` of the zone; on a failure, unmounts those already done.
pub fn mount_all(zone: &Zone) -> Result<(), Refusal> {
    for (i, fs) in zone.fs.iter().enumerate() {
        if let Err(why) = mount(zone, fs) {
            for done in zone.fs[..i].iter().rev() {
                unmount(zone, done);
            }
            return Err(Refusal::error(format!(
                "zoneadm: zone '{}': cannot mount {} on {}: {why}",
                zone.name, fs.special, fs.dir
            )));
        }
    }
    Ok(())
}

fn mount(zone: &Zone, fs: &FsResource) -> Result<(), String> {
    if fs.fs_type != "lofs" {
        return Err(format!("the fake mounts only lofs, not {}", fs.fs_type));
    }
    let target = target(zone, fs);
    if !target.is_dir() {
        return Err(format!("no directory {} to mount on", target.display()));
    }
    let (Some(source), Some(target)) = (cstring(Path::new(&fs.special)), cstring(&target)) else {
        return Err("a path with a NUL byte".into());
    };
    // SAFETY: valid C strings; a bind mount takes no data.
    let r = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    Ok(())
}

/// Unmounts every `fs` of the zone, last first; one not mounted is fine.
pub fn unmount_all(zone: &Zone) {
    for fs in zone.fs.iter().rev() {
        unmount(zone, fs);
    }
}

fn unmount(zone: &Zone, fs: &FsResource) {
    if let Some(target) = cstring(&target(zone, fs)) {
        // SAFETY: a valid C string. Detached: the zone's processes are gone already.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}
