//! The implementation-defined part of the runtime configuration: what `runc spec` writes.
//!
//! The template below is runc's `specconv.Example()` (runc 1.2 and later) with these
//! differences, all on fields that the image configuration decides or that the conversion
//! sets anyway:
//!
//! - `root.readonly` is `false`: the rootfs is the container's writable clone (umoci does
//!   the same).
//! - `process.terminal` is `false` unless asked for, and `TERM=xterm` is only added with a
//!   terminal; `process.args`, `env`, `cwd` and `user` come from the image.
//! - `hostname` is [`DEFAULT_HOSTNAME`] instead of `"runc"`.
//! - the `cgroup` namespace is always listed. runc adds it only on a cgroup v2 host; this
//!   conversion is pure (it must not look at the host), and runc 1.1 and crun 1.8 both run
//!   containers with a private cgroup namespace on v1, hybrid and v2 hosts alike.
//!
//! runc 1.1 (Debian 12) also writes `ambient` capabilities; runc 1.2 dropped them because
//! an ambient capability cannot be raised without the matching inheritable one, so runc
//! 1.1 never applied them (opencontainers/runc#4367). runc 1.2 also masks
//! `/sys/devices/virtual/tpm`, which we do too.

use oci_spec::runtime::Spec;

/// `PATH` set when the image configuration has none (runc's and docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Hostname when none is given: a fixed, recognisable name that says nothing about the
/// host (a new UTS namespace otherwise starts with the host's name).
pub const DEFAULT_HOSTNAME: &str = "aurora";

/// The `ociVersion` written: every field this crate emits is in runtime-spec 1.0.2.
pub const OCI_VERSION: &str = "1.0.2";

/// The capabilities containers get by default from podman and buildah (containers.conf
/// `default_capabilities`): podadm's containers and imageadm's build steps.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// Every capability Linux defines (up to CAP_CHECKPOINT_RESTORE, Linux 5.9), by number order.
pub const ALL_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// runc's `spec` defaults (see the module documentation for the differences).
const TEMPLATE: &str = r#"{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": { "uid": 0, "gid": 0 },
    "args": [ "sh" ],
    "env": [ "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" ],
    "cwd": "/",
    "capabilities": {
      "bounding": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "effective": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "permitted": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ]
    },
    "rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
    "noNewPrivileges": true
  },
  "root": { "path": "rootfs", "readonly": false },
  "hostname": "aurora",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
      "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
    { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
      "options": [ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" ] },
    { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
      "options": [ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" ] },
    { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
      "options": [ "nosuid", "noexec", "nodev" ] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs",
      "options": [ "nosuid", "noexec", "nodev", "ro" ] },
    { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
      "options": [ "nosuid", "noexec", "nodev", "relatime", "ro" ] }
  ],
  "linux": {
    "resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
    "namespaces": [
      { "type": "pid" }, { "type": "network" }, { "type": "ipc" }, { "type": "uts" },
      { "type": "mount" }, { "type": "cgroup" }
    ],
    "maskedPaths": [
      "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
      "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
      "/proc/scsi", "/sys/devices/virtual/tpm"
    ],
    "readonlyPaths": [
      "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
    ]
  }
}"#;

/// The runtime configuration every bundle starts from: runc's `spec` defaults, with the
/// differences listed in this module's documentation. `process.args` is `["sh"]` here; the
/// conversion replaces it.
pub fn default_spec() -> Spec {
    // The template is a constant checked by a unit test; failing to parse it is a bug.
    serde_json::from_str(TEMPLATE).expect("the built-in runtime spec template is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_and_round_trips() {
        let spec = default_spec();
        assert_eq!(spec.version(), OCI_VERSION);
        assert_eq!(spec.hostname().as_deref(), Some(DEFAULT_HOSTNAME));
        let env = spec.process().as_ref().unwrap().env().clone().unwrap();
        assert_eq!(env, vec![format!("PATH={DEFAULT_PATH}")]);
        // Every field of the template survives the typed round trip (nothing is dropped
        // by oci-spec's types).
        let template: serde_json::Value = serde_json::from_str(TEMPLATE).unwrap();
        let back = crate::canonical_value(&spec).unwrap();
        assert_eq!(crate::canonical_value_of(template), back);
    }
}
