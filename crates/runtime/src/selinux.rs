//! SELinux labels (`process.selinuxLabel`, `linux.mountLabel`, `exec --process-label`).
//! runz cannot apply them, so it never accepts one silently where it would matter: on a host
//! where SELinux is enabled a labelled container is refused with an error naming the label;
//! where SELinux is disabled a label means nothing to the kernel and is dropped (`runz
//! features` says so). The decision is pure ([`decide`], from the host's state and the labels
//! found); [`host`] reads the host's state from the kernel.

use std::fmt;

/// Whether SELinux is enabled on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// The kernel has no selinuxfs, or none is mounted: no policy is loaded.
    Disabled,
    /// A selinuxfs is mounted: labels would be enforced (or audited, when permissive).
    Enabled,
    /// /proc could not be read: treated as enabled, so that a label is never dropped where
    /// it might have mattered.
    Unknown,
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Host::Disabled => "SELinux is disabled on this host",
            Host::Enabled => "SELinux is enabled on this host",
            Host::Unknown => "runz cannot tell whether SELinux is enabled on this host",
        })
    }
}

/// A label and where it was given (`process.selinuxLabel`, `exec --process-label`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label<'a> {
    pub field: &'static str,
    pub value: &'a str,
}

/// What to do with the labels of a container or an exec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No labels were given.
    Nothing,
    /// SELinux is disabled: the labels are dropped.
    Ignore,
}

/// A label runz would have to apply and cannot.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{field} {label:?} cannot be applied: {host}, and runz does not apply SELinux labels (remove the label, or use a runtime that applies it)")]
pub struct LabelError {
    pub field: &'static str,
    pub label: String,
    pub host: Host,
}

/// The labels' fate on a host in state `host`: nothing without labels, dropped where SELinux
/// is disabled, refused (naming the first label) otherwise.
pub fn decide(host: Host, labels: &[Label<'_>]) -> Result<Decision, LabelError> {
    let Some(first) = labels.first() else {
        return Ok(Decision::Nothing);
    };
    match host {
        Host::Disabled => Ok(Decision::Ignore),
        Host::Enabled | Host::Unknown => Err(LabelError {
            field: first.field,
            label: first.value.to_string(),
            host,
        }),
    }
}

/// The host's SELinux state from the texts of `/proc/filesystems` and `/proc/self/mountinfo`
/// (None when unreadable): enabled when the kernel knows selinuxfs and one is mounted, as
/// libselinux's `is_selinux_enabled` decides (a policy is loaded once selinuxfs is mounted).
pub fn host_from(filesystems: Option<&str>, mountinfo: impl FnOnce() -> Option<String>) -> Host {
    let Some(filesystems) = filesystems else {
        return Host::Unknown;
    };
    let known = filesystems
        .lines()
        .any(|line| line.split_whitespace().last() == Some("selinuxfs"));
    if !known {
        return Host::Disabled;
    }
    let Some(mountinfo) = mountinfo() else {
        return Host::Unknown;
    };
    // mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE …"
    let mounted = mountinfo.lines().any(|line| {
        line.split_once(" - ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            == Some("selinuxfs")
    });
    if mounted {
        Host::Enabled
    } else {
        Host::Disabled
    }
}

/// The host's SELinux state, read from the kernel.
pub fn host() -> Host {
    if !cfg!(target_os = "linux") {
        return Host::Disabled;
    }
    let filesystems = std::fs::read_to_string("/proc/filesystems").ok();
    host_from(filesystems.as_deref(), || {
        std::fs::read_to_string("/proc/self/mountinfo").ok()
    })
}

/// What `runz features` says about labels on this host.
pub fn features_note(host: Host) -> String {
    match host {
        Host::Disabled => format!(
            "labels (process.selinuxLabel, linux.mountLabel, exec --process-label) are ignored: {host}"
        ),
        Host::Enabled | Host::Unknown => format!(
            "labels (process.selinuxLabel, linux.mountLabel, exec --process-label) are refused: {host}, and runz does not apply them"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROCESS: Label<'static> = Label {
        field: "process.selinuxLabel",
        value: "system_u:system_r:container_t:s0:c1,c2",
    };
    const MOUNT: Label<'static> = Label {
        field: "linux.mountLabel",
        value: "system_u:object_r:container_file_t:s0",
    };

    #[test]
    fn labels_are_ignored_only_where_selinux_is_disabled() {
        for host in [Host::Disabled, Host::Enabled, Host::Unknown] {
            assert_eq!(decide(host, &[]), Ok(Decision::Nothing), "{host:?}");
        }
        assert_eq!(
            decide(Host::Disabled, &[PROCESS, MOUNT]),
            Ok(Decision::Ignore)
        );
        assert_eq!(decide(Host::Disabled, &[MOUNT]), Ok(Decision::Ignore));
        let err = decide(Host::Enabled, &[MOUNT, PROCESS]).unwrap_err();
        assert_eq!(err.field, "linux.mountLabel");
        assert_eq!(
            err.to_string(),
            "linux.mountLabel \"system_u:object_r:container_file_t:s0\" cannot be applied: \
             SELinux is enabled on this host, and runz does not apply SELinux labels (remove \
             the label, or use a runtime that applies it)"
        );
        let exec = Label {
            field: "exec --process-label",
            value: "x_t",
        };
        let err = decide(Host::Unknown, &[exec]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("exec --process-label \"x_t\" cannot be applied: runz cannot tell"),
            "{err}"
        );
    }

    const FILESYSTEMS: &str = "nodev\tsysfs\nnodev\tproc\nnodev\tselinuxfs\n\text4\n";
    const MOUNTED: &str = "22 1 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n\
                           31 22 0:28 / /sys/fs/selinux rw,relatime shared:8 - selinuxfs selinuxfs rw\n";

    #[test]
    fn the_host_is_enabled_when_selinuxfs_is_known_and_mounted() {
        assert_eq!(
            host_from(Some(FILESYSTEMS), || Some(MOUNTED.into())),
            Host::Enabled
        );
        let unmounted = "22 1 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw\n";
        assert_eq!(
            host_from(Some(FILESYSTEMS), || Some(unmounted.into())),
            Host::Disabled
        );
        let without = "nodev\tsysfs\nnodev\tproc\n\text4\n";
        assert_eq!(
            host_from(Some(without), || panic!("mountinfo is not read")),
            Host::Disabled
        );
        // A mount point merely named like it is not selinuxfs.
        let named = "40 22 0:50 / /mnt/selinuxfs rw - tmpfs selinuxfs rw\n";
        assert_eq!(
            host_from(Some(FILESYSTEMS), || Some(named.into())),
            Host::Disabled
        );
        assert_eq!(host_from(None, || None), Host::Unknown);
        assert_eq!(host_from(Some(FILESYSTEMS), || None), Host::Unknown);
    }

    #[test]
    fn this_host_has_no_selinux() {
        // The test machines (Debian, no policy) have no selinuxfs mounted.
        aurora_testkit::skip_unless!(
            !std::path::Path::new("/sys/fs/selinux/enforce").exists(),
            "this_host_has_no_selinux",
            "SELinux is enabled here"
        );
        assert_eq!(host(), Host::Disabled);
        assert!(features_note(host()).contains("ignored"));
    }
}
