//! A container's security options in its spec: seccomp (none, the default profile below, or
//! a profile file), no_new_privs, masked and read-only paths, sysctls and the OOM score.
//!
//! The default profile is a deny list, not docker's allow list: every syscall is allowed but
//! those that reach past a container (kernel modules, kexec, the clock, keyrings, mounts and
//! new namespaces, tracing other processes, BPF, perf, swap, reboot, …), which fail with
//! EPERM unless the container holds the capability that governs them (as docker's profile
//! lets `CAP_SYS_ADMIN` mount). A deny list keeps working for syscalls newer than the
//! profile; the cost is that a newly added dangerous syscall is allowed until listed.

use std::path::Path;

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompBuilder,
    LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder, Spec,
};

use super::SpecError;
use crate::config::{ContainerConfig, Seccomp};

/// The largest seccomp profile file read.
const MAX_PROFILE: u64 = 1 << 20;

/// EPERM, what a denied syscall returns.
const EPERM: u32 = 1;
/// ENOSYS: `clone3` is refused this way so that libc falls back to `clone`, whose flags the
/// filter can read.
const ENOSYS: u32 = 38;

/// Syscalls denied unless the container holds the capability (`None`: always denied).
const DENIED: &[(Option<&str>, &[&str])] = &[
    (
        Some("CAP_SYS_ADMIN"),
        &[
            "mount",
            "umount2",
            "pivot_root",
            "unshare",
            "setns",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_mount",
            "open_tree",
            "mount_setattr",
            "quotactl",
            "quotactl_fd",
            "lookup_dcookie",
            "name_to_handle_at",
            "fanotify_init",
            "bpf",
            "perf_event_open",
            "userfaultfd",
            "syslog",
        ],
    ),
    (
        Some("CAP_SYS_MODULE"),
        &["init_module", "finit_module", "delete_module"],
    ),
    (
        Some("CAP_SYS_BOOT"),
        &["reboot", "kexec_load", "kexec_file_load"],
    ),
    (
        Some("CAP_SYS_TIME"),
        &["settimeofday", "clock_settime", "clock_adjtime", "adjtimex"],
    ),
    (
        Some("CAP_SYS_PTRACE"),
        &["ptrace", "process_vm_readv", "process_vm_writev", "kcmp"],
    ),
    (Some("CAP_SYS_PACCT"), &["acct"]),
    (Some("CAP_SYS_RAWIO"), &["iopl", "ioperm"]),
    (
        Some("CAP_SYS_NICE"),
        &["mbind", "set_mempolicy", "move_pages"],
    ),
    (Some("CAP_DAC_READ_SEARCH"), &["open_by_handle_at"]),
    (
        None,
        &[
            "add_key",
            "request_key",
            "keyctl",
            "swapon",
            "swapoff",
            "uselib",
            "ustat",
            "sysfs",
            "nfsservctl",
            "vhangup",
        ],
    ),
];

/// The clone flags that make namespaces: denied without `CAP_SYS_ADMIN`.
const NAMESPACE_FLAGS: &[u64] = &[
    0x0002_0000, // CLONE_NEWNS
    0x0200_0000, // CLONE_NEWCGROUP
    0x0400_0000, // CLONE_NEWUTS
    0x0800_0000, // CLONE_NEWIPC
    0x1000_0000, // CLONE_NEWUSER
    0x2000_0000, // CLONE_NEWPID
    0x4000_0000, // CLONE_NEWNET
];

/// Sets what `config.security` asks for; `bounding` is the container's bounding set (the
/// default profile allows what its capabilities govern).
pub(super) fn apply(
    spec: &mut Spec,
    config: &ContainerConfig,
    bounding: &[String],
) -> Result<(), SpecError> {
    let security = &config.security;
    if let Some(process) = spec.process_mut() {
        if security.no_new_privileges {
            process.set_no_new_privileges(Some(true));
        }
        if let Some(score) = security.oom_score_adj {
            process.set_oom_score_adj(Some(score));
        }
    }
    let linux = spec.linux_mut().get_or_insert_with(Default::default);
    if !config.privileged {
        if let Some(paths) = &security.masked_paths {
            linux.set_masked_paths(Some(paths.clone()));
        }
        if let Some(paths) = &security.readonly_paths {
            linux.set_readonly_paths(Some(paths.clone()));
        }
        match &security.seccomp {
            None | Some(Seccomp::Unconfined) => linux.set_seccomp(None),
            Some(Seccomp::RuntimeDefault) => linux.set_seccomp(Some(default_profile(bounding)?)),
            Some(Seccomp::Profile(path)) => linux.set_seccomp(Some(read_profile(path)?)),
        };
    }
    if !security.sysctls.is_empty() {
        let mut sysctls = linux.sysctl().clone().unwrap_or_default();
        for (key, value) in &security.sysctls {
            check_sysctl(key)?;
            sysctls.insert(key.clone(), value.clone());
        }
        linux.set_sysctl(Some(sysctls));
    }
    Ok(())
}

/// A sysctl name is dotted words (`net.ipv4.ip_forward`, `kernel.shm_rmid_forced`); a
/// slash or `..` would let the runtime write outside `/proc/sys`.
fn check_sysctl(key: &str) -> Result<(), SpecError> {
    if !key.contains('/') && key.split('.').all(|word| !word.is_empty()) {
        Ok(())
    } else {
        Err(SpecError::Invalid {
            field: "sysctl",
            reason: format!("{key:?} is not a sysctl name"),
        })
    }
}

/// The default profile for a container whose bounding set is `bounding`.
pub fn default_profile(bounding: &[String]) -> Result<LinuxSeccomp, SpecError> {
    let invalid = |e: oci_spec::OciSpecError| SpecError::Invalid {
        field: "seccomp",
        reason: e.to_string(),
    };
    let holds = |cap: &str| bounding.iter().any(|c| c == cap);
    let deny = |names: Vec<String>, errno: u32| {
        LinuxSyscallBuilder::default()
            .names(names)
            .action(LinuxSeccompAction::ScmpActErrno)
            .errno_ret(errno)
            .build()
    };
    let mut syscalls: Vec<LinuxSyscall> = Vec::new();
    let denied: Vec<String> = DENIED
        .iter()
        .filter(|(cap, _)| cap.is_none_or(|cap| !holds(cap)))
        .flat_map(|(_, names)| names.iter().map(|n| n.to_string()))
        .collect();
    syscalls.push(deny(denied, EPERM).map_err(invalid)?);
    if !holds("CAP_SYS_ADMIN") {
        syscalls.push(deny(vec!["clone3".into()], ENOSYS).map_err(invalid)?);
        for flag in NAMESPACE_FLAGS {
            let arg = LinuxSeccompArgBuilder::default()
                .index(0usize)
                .value(*flag)
                .value_two(*flag)
                .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
                .build()
                .map_err(invalid)?;
            let rule = LinuxSyscallBuilder::default()
                .names(vec!["clone".to_string()])
                .action(LinuxSeccompAction::ScmpActErrno)
                .errno_ret(EPERM)
                .args(vec![arg])
                .build()
                .map_err(invalid)?;
            syscalls.push(rule);
        }
    }
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .syscalls(syscalls)
        .build()
        .map_err(invalid)
}

/// A profile file: the runtime spec's `linux.seccomp` object (docker's profiles have the
/// same shape when their rules use `names`).
fn read_profile(path: &Path) -> Result<LinuxSeccomp, SpecError> {
    use std::io::Read;
    let invalid = |reason: String| SpecError::Invalid {
        field: "seccomp",
        reason: format!("profile {}: {reason}", path.display()),
    };
    let file = std::fs::File::open(path).map_err(|e| invalid(e.to_string()))?;
    let mut text = Vec::new();
    file.take(MAX_PROFILE + 1)
        .read_to_end(&mut text)
        .map_err(|e| invalid(e.to_string()))?;
    if text.len() as u64 > MAX_PROFILE {
        return Err(invalid(format!("larger than {MAX_PROFILE} bytes")));
    }
    serde_json::from_slice(&text).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(profile: &LinuxSeccomp) -> Vec<String> {
        profile
            .syscalls()
            .iter()
            .flatten()
            .filter(|s| s.args().is_none())
            .flat_map(|s| s.names().clone())
            .collect()
    }

    #[test]
    fn the_default_profile_denies_what_capabilities_do_not_grant() {
        let plain = default_profile(&["CAP_CHOWN".into()]).unwrap();
        assert_eq!(plain.default_action(), LinuxSeccompAction::ScmpActAllow);
        let names = denied(&plain);
        for name in [
            "mount",
            "unshare",
            "kexec_load",
            "ptrace",
            "keyctl",
            "clone3",
        ] {
            assert!(names.contains(&name.to_string()), "{name}");
        }
        let clone_rules = plain
            .syscalls()
            .iter()
            .flatten()
            .filter(|s| s.names() == &["clone".to_string()])
            .count();
        assert_eq!(clone_rules, NAMESPACE_FLAGS.len());

        let admin = default_profile(&["CAP_SYS_ADMIN".into(), "CAP_SYS_PTRACE".into()]).unwrap();
        let names = denied(&admin);
        for name in ["mount", "unshare", "ptrace", "clone3"] {
            assert!(!names.contains(&name.to_string()), "{name}");
        }
        assert!(names.contains(&"keyctl".to_string()));
        assert!(names.contains(&"kexec_load".to_string()));
    }

    #[test]
    fn sysctl_names_stay_under_proc_sys() {
        for good in ["net.ipv4.ip_forward", "kernel.shm_rmid_forced"] {
            assert!(check_sysctl(good).is_ok(), "{good}");
        }
        for bad in ["", "net..x", "../../etc/passwd", "net/ipv4", ".x"] {
            assert!(check_sysctl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn profile_files_are_read_bounded_and_refused_with_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.json");
        std::fs::write(
            &good,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO"}]}"#,
        )
        .unwrap();
        let profile = read_profile(&good).unwrap();
        assert_eq!(denied(&profile), vec!["chmod".to_string()]);
        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, b"{\"defaultAction\":").unwrap();
        let message = read_profile(&broken).unwrap_err().to_string();
        assert!(message.contains("broken.json"), "{message}");
        let huge = dir.path().join("huge.json");
        std::fs::write(&huge, vec![b' '; (MAX_PROFILE + 10) as usize]).unwrap();
        assert!(read_profile(&huge).is_err());
        assert!(read_profile(&dir.path().join("missing.json")).is_err());
    }
}
