//! Warnings for the fields that no other part of the planner reads and that have no zone
//! equivalent.

use crate::plan::options::annotations;
use crate::plan::planner::Planner;

/// Warnings for the fields that nothing above looks at and that have no zone equivalent.
pub(super) fn other_warnings(p: &mut Planner) {
    let spec = p.spec;
    const KNOWN: [&str; 5] = [
        annotations::BRAND,
        annotations::IP_TYPE,
        annotations::PHYSICAL,
        annotations::GLOBAL_NIC,
        annotations::KERNEL_VERSION,
    ];
    let mut unknown: Vec<&String> = spec
        .annotations()
        .iter()
        .flatten()
        .map(|(k, _)| k)
        .filter(|k| {
            k.starts_with(annotations::PREFIX)
                && !k.starts_with(annotations::ATTR_PREFIX)
                && !KNOWN.contains(&k.as_str())
        })
        .collect();
    unknown.sort();
    for k in unknown {
        p.warn(
            format!("annotations.{k}"),
            "unknown zone annotation; ignored",
        );
    }

    if let Some(pr) = spec.process() {
        if pr.oom_score_adj().is_some() {
            p.warn(
                "process.oomScoreAdj",
                "zones have no OOM killer score; ignored",
            );
        }
        if pr.apparmor_profile().is_some() {
            p.warn("process.apparmorProfile", "no AppArmor in zones; ignored");
        }
        if pr.selinux_label().is_some() {
            p.warn("process.selinuxLabel", "no SELinux in zones; ignored");
        }
        if pr.scheduler().is_some() {
            p.warn("process.scheduler", "no zone equivalent; ignored");
        }
        if pr.io_priority().is_some() {
            p.warn("process.ioPriority", "no zone equivalent; ignored");
        }
        if pr.exec_cpu_affinity().is_some() {
            p.warn("process.execCPUAffinity", "no zone equivalent; ignored");
        }
    }

    let Some(linux) = spec.linux() else {
        return;
    };
    if let Some(sysctl) = linux.sysctl().as_ref().filter(|s| !s.is_empty()) {
        let mut keys: Vec<&String> = sysctl.keys().collect();
        keys.sort();
        let keys: Vec<&str> = keys.into_iter().map(String::as_str).collect();
        p.warn(
            "linux.sysctl",
            format!("zones have no sysctls; ignored: {}", keys.join(", ")),
        );
    }
    let nonempty = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
    let fields = [
        (
            "linux.seccomp",
            linux.seccomp().is_some(),
            "no seccomp in zones; the zone's privileges (limitpriv) limit what it may do",
        ),
        (
            "linux.maskedPaths",
            nonempty(linux.masked_paths()),
            "not masked: the brand's /proc and /sys show only the zone's own",
        ),
        (
            "linux.readonlyPaths",
            nonempty(linux.readonly_paths()),
            "not made read-only: the brand's /proc and /sys are the zone's own",
        ),
        (
            "linux.rootfsPropagation",
            linux.rootfs_propagation().is_some(),
            "zones have no mount propagation; ignored",
        ),
        (
            "linux.mountLabel",
            linux.mount_label().is_some(),
            "no SELinux in zones; ignored",
        ),
        (
            "linux.intelRdt",
            linux.intel_rdt().is_some(),
            "no zone equivalent; ignored",
        ),
        (
            "linux.personality",
            linux.personality().is_some(),
            "no zone equivalent; ignored",
        ),
        (
            "linux.timeOffsets",
            linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty()),
            "zones share the host's clocks; ignored",
        ),
        (
            "linux.memoryPolicy",
            linux.memory_policy().is_some(),
            "no zone equivalent; ignored",
        ),
        (
            "linux.netDevices",
            linux.net_devices().as_ref().is_some_and(|n| !n.is_empty()),
            "use solaris.anet or the org.aurora.zone.physical annotation; ignored",
        ),
    ];
    for (field, present, message) in fields {
        if present {
            p.warn(field, message);
        }
    }
}
