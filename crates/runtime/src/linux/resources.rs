//! Cgroup resources that need runz's attention before libcontainer applies them.
//!
//! `linux.resources.memory.disableOOMKiller` exists only on cgroup v1 (`memory.oom_control`).
//! On a pure cgroup v2 host there is no such control: crun refuses the configuration
//! ("cannot disable OOM killer with cgroupv2") rather than run a container whose memory
//! limit would kill it when the configuration said it must not; runz does the same, at create,
//! before anything is made. (Hybrid hosts apply memory limits through v1, so it works there.)

use libcgroups::common::CgroupSetup;
use oci_spec::runtime::{LinuxResources, Spec};

/// What is wrong with the spec's resources on this cgroup layout, if anything.
pub(super) fn unsupported(spec: &Spec, setup: &CgroupSetup) -> Option<String> {
    unsupported_resources(spec.linux().as_ref()?.resources().as_ref()?, setup)
}

/// What is wrong with `resources` (a spec's, or an update's) on this cgroup layout.
pub(super) fn unsupported_resources(
    resources: &LinuxResources,
    setup: &CgroupSetup,
) -> Option<String> {
    if matches!(setup, CgroupSetup::Unified) && disables_oom_killer(resources) == Some(true) {
        return Some(
            "linux.resources.memory.disableOOMKiller cannot be honoured on cgroup v2, \
             which has no such control (set it to false or remove it)"
                .to_string(),
        );
    }
    None
}

/// The OOM-killer setting to apply with an update: the one the update gives, else the one
/// the container was created with. libcgroups writes `memory.oom_control` whenever memory
/// resources are applied, so passing `false` for an update that does not mention it would
/// silently re-enable an OOM killer the container's configuration disabled.
pub(super) fn oom_killer_disabled(update: &LinuxResources, created: Option<&Spec>) -> bool {
    disables_oom_killer(update)
        .or_else(|| {
            created
                .and_then(|spec| spec.linux().as_ref())
                .and_then(|linux| linux.resources().as_ref())
                .and_then(disables_oom_killer)
        })
        .unwrap_or(false)
}

fn disables_oom_killer(resources: &LinuxResources) -> Option<bool> {
    resources.memory().as_ref()?.disable_oom_killer()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(memory: serde_json::Value) -> Spec {
        let mut spec = Spec::default();
        let linux = serde_json::from_value(serde_json::json!({
            "resources": {"memory": memory}
        }))
        .unwrap();
        spec.set_linux(Some(linux));
        spec
    }

    #[test]
    fn cgroup_v2_refuses_to_pretend_the_oom_killer_is_disabled() {
        let disabled = spec(serde_json::json!({"limit": 1 << 20, "disableOOMKiller": true}));
        let why = unsupported(&disabled, &CgroupSetup::Unified).expect("refused on v2");
        assert!(why.contains("disableOOMKiller"), "{why}");
        assert!(why.contains("cgroup v2"), "{why}");
        assert_eq!(unsupported(&disabled, &CgroupSetup::Hybrid), None);
        assert_eq!(unsupported(&disabled, &CgroupSetup::Legacy), None);
        let enabled = spec(serde_json::json!({"disableOOMKiller": false}));
        assert_eq!(unsupported(&enabled, &CgroupSetup::Unified), None);
        assert_eq!(unsupported(&Spec::default(), &CgroupSetup::Unified), None);
    }

    #[test]
    fn an_update_keeps_the_oom_killer_setting_it_does_not_mention() {
        let created = spec(serde_json::json!({"disableOOMKiller": true}));
        let update: LinuxResources =
            serde_json::from_value(serde_json::json!({"memory": {"limit": 1 << 20}})).unwrap();
        assert!(oom_killer_disabled(&update, Some(&created)));
        assert!(!oom_killer_disabled(&update, None));
        let explicit: LinuxResources =
            serde_json::from_value(serde_json::json!({"memory": {"disableOOMKiller": false}}))
                .unwrap();
        assert!(!oom_killer_disabled(&explicit, Some(&created)));
        let disabling: LinuxResources =
            serde_json::from_value(serde_json::json!({"memory": {"disableOOMKiller": true}}))
                .unwrap();
        assert!(unsupported_resources(&disabling, &CgroupSetup::Unified).is_some());
        assert!(unsupported_resources(&disabling, &CgroupSetup::Hybrid).is_none());
    }
}
