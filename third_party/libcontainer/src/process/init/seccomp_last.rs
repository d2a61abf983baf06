//! Aurora patch: the seccomp filter is loaded as the last step before the container's
//! program is executed, as crun does, so a profile constrains that program and not the
//! runtime's own last steps.
//!
//! Upstream 0.7 loaded it before dropping capabilities (without no_new_privs) or just after
//! the working-directory check (with it); the init then still checked its working directory
//! (getcwd), validated the executable (stat, access), reported ready, waited on the notify
//! socket (accept, recv), ran startContainer hooks (fork, exec) and looked the program up, all
//! under the filter: a profile denying any of those calls killed `start` although the
//! container's program never makes them.
//!
//! Now the filter is built (and the profile checked) at the same point as before, so a bad
//! profile still fails `create`, but loaded right before `exec`. Two cases keep an earlier
//! point or need care:
//! - a profile with `SCMP_ACT_NOTIFY` hands its listener to the runtime's main process, which
//!   only listens until the init reports ready: it is loaded just before that report;
//! - without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which the container's own
//!   capabilities usually lack. runc and crun load it before dropping capabilities; here the
//!   capabilities are dropped as before except that CAP_SYS_ADMIN stays in the effective and
//!   permitted sets until the filter is loaded, and one capset drops it right after. Programs
//!   run from the init meanwhile (startContainer hooks) get their capabilities from the
//!   bounding and inheritable sets at exec, which are already the container's.

use std::os::unix::io::RawFd;

use caps::CapSet;
use libseccomp::ScmpFilterContext;
use oci_spec::runtime::{LinuxCapabilities, LinuxSeccomp};

use super::error::InitProcessError;
use crate::capabilities::CapabilityExt;
use crate::seccomp;

/// A filter waiting to be loaded.
pub struct PendingFilter {
    filter: ScmpFilterContext,
    notify: bool,
    /// Without no_new_privs: the capability sets to return to once the filter is loaded
    /// (the container's, without the CAP_SYS_ADMIN kept for the load).
    restore: Option<Restore>,
}

/// Effective and permitted sets to set after the load (inheritable is kept as it is).
struct Restore {
    effective: Option<caps::CapsHashSet>,
    permitted: Option<caps::CapsHashSet>,
}

impl PendingFilter {
    /// Builds the filter; `no_new_privs` is whether the init has set it.
    pub fn prepare(
        profile: &LinuxSeccomp,
        no_new_privs: bool,
    ) -> Result<PendingFilter, InitProcessError> {
        let filter = seccomp::prepare_seccomp(profile)?;
        // Without no_new_privs, keep_sys_admin fills this in when the capabilities drop.
        let restore = (!no_new_privs).then_some(Restore {
            effective: None,
            permitted: None,
        });
        Ok(PendingFilter {
            filter,
            notify: seccomp::is_notify(profile),
            restore,
        })
    }

    /// Whether the filter must be loaded before the init reports ready (its listener goes to
    /// the main process).
    pub fn loads_before_ready(&self) -> bool {
        self.notify
    }

    /// The capabilities to drop to: `caps`, plus CAP_SYS_ADMIN in its effective and
    /// permitted sets when the load needs it and they lack it. A set the spec leaves out is
    /// not changed by the drop (it keeps CAP_SYS_ADMIN), so it is left out here too.
    pub fn keep_sys_admin(&mut self, caps: &LinuxCapabilities) -> LinuxCapabilities {
        let Some(restore) = self.restore.as_mut() else {
            return caps.clone();
        };
        let sys_admin = oci_spec::runtime::Capability::SysAdmin;
        let mut kept = caps.clone();
        if let Some(effective) = caps
            .effective()
            .as_ref()
            .filter(|s| !s.contains(&sys_admin))
        {
            restore.effective = Some(effective.iter().map(|c| c.to_cap()).collect());
            let mut with = effective.clone();
            with.insert(sys_admin);
            kept.set_effective(Some(with));
        }
        if let Some(permitted) = caps
            .permitted()
            .as_ref()
            .filter(|s| !s.contains(&sys_admin))
        {
            restore.permitted = Some(permitted.iter().map(|c| c.to_cap()).collect());
            let mut with = permitted.clone();
            with.insert(sys_admin);
            kept.set_permitted(Some(with));
        }
        kept
    }

    /// Loads the filter and drops the CAP_SYS_ADMIN kept for it; returns the listener's
    /// descriptor of a notifying profile.
    pub fn load(self) -> Result<Option<RawFd>, InitProcessError> {
        // Read before the load: after it, the one call left is the capset itself.
        let restore = match &self.restore {
            Some(restore) if restore.effective.is_some() || restore.permitted.is_some() => {
                Some(CapData::new(restore)?)
            }
            _ => None,
        };
        let fd = seccomp::load_seccomp(self.filter, self.notify)?;
        if let Some(data) = restore {
            data.apply()?;
        }
        Ok(fd)
    }
}

/// The three capability sets as capset(2) takes them (version 3: two 32-bit words each).
struct CapData {
    data: [libc_cap_data; 2],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
#[allow(non_camel_case_types)]
struct libc_cap_data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

#[repr(C)]
#[allow(non_camel_case_types)]
struct libc_cap_header {
    version: u32,
    pid: libc::c_int,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

fn bits(set: &caps::CapsHashSet) -> u64 {
    set.iter().fold(0u64, |acc, cap| acc | cap.bitmask())
}

impl CapData {
    /// The sets to return to: `restore`'s, and the current ones where it has none.
    fn new(restore: &Restore) -> Result<CapData, InitProcessError> {
        let read = |set| caps::read(None, set).map_err(InitProcessError::ReadCapabilities);
        let effective = match &restore.effective {
            Some(set) => set.clone(),
            None => read(CapSet::Effective)?,
        };
        let permitted = match &restore.permitted {
            Some(set) => set.clone(),
            None => read(CapSet::Permitted)?,
        };
        let inheritable = read(CapSet::Inheritable)?;
        let (p, i) = (bits(&permitted), bits(&inheritable));
        // The kernel wants effective within permitted.
        let e = bits(&effective) & p;
        let word = |v: u64, n: u32| (v >> (32 * n)) as u32;
        let mut data = [libc_cap_data::default(); 2];
        for (n, d) in data.iter_mut().enumerate() {
            d.effective = word(e, n as u32);
            d.permitted = word(p, n as u32);
            d.inheritable = word(i, n as u32);
        }
        Ok(CapData { data })
    }

    fn apply(&self) -> Result<(), InitProcessError> {
        let header = libc_cap_header {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        // SAFETY: capset(2) reads a version-3 header and two data elements, both live here.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_capset,
                &header as *const libc_cap_header,
                self.data.as_ptr(),
            )
        };
        if rc != 0 {
            return Err(InitProcessError::DropSysAdmin(
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }
}
