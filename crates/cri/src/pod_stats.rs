//! PodSandboxStats and ListPodSandboxStats: a pod's usage as the sum of its containers'
//! (CPU time, memory usage, working set and RSS, from the runtime's statistics), with each
//! container's statistics beside it. The infra container (podinit's pause) is left out: it
//! uses next to nothing and kubelet does not know it.

use aurora_engine::{Engine, PodRecord};
use k8s_cri::v1::{
    ContainerStats, CpuUsage, LinuxPodSandboxStats, MemoryUsage, PodSandboxStats,
    PodSandboxStatsFilter, UInt64Value,
};

use crate::containers;
use crate::error::ApiError;

/// The pod's statistics.
pub(crate) fn pod_stats(engine: &Engine, pod: &PodRecord) -> Result<PodSandboxStats, ApiError> {
    let members = engine
        .pod_containers(&pod.id)
        .map_err(crate::pods::status)?;
    let stats: Vec<ContainerStats> = members
        .iter()
        .filter(|r| containers::is_cri_container(r))
        .map(|r| containers::stats(engine, r))
        .collect();
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    Ok(PodSandboxStats {
        attributes: Some(crate::pods::attributes(pod)),
        linux: Some(LinuxPodSandboxStats {
            cpu: Some(CpuUsage {
                timestamp,
                usage_core_nano_seconds: sum(&stats, |s| s.cpu.as_ref()?.usage_core_nano_seconds),
                usage_nano_cores: None,
            }),
            memory: Some(MemoryUsage {
                timestamp,
                working_set_bytes: sum(&stats, |s| s.memory.as_ref()?.working_set_bytes),
                usage_bytes: sum(&stats, |s| s.memory.as_ref()?.usage_bytes),
                rss_bytes: sum(&stats, |s| s.memory.as_ref()?.rss_bytes),
                ..Default::default()
            }),
            network: None,
            process: None,
            containers: stats,
        }),
        windows: None,
    })
}

/// Whether `pod` passes the filter (id prefix, labels).
pub(crate) fn matches(pod: &PodRecord, filter: &PodSandboxStatsFilter) -> bool {
    (filter.id.is_empty() || pod.id.starts_with(&filter.id))
        && filter
            .label_selector
            .iter()
            .all(|(k, v)| pod.config.labels.get(k) == Some(v))
}

/// The sum of a value the containers report; `None` when none reports it.
fn sum(
    stats: &[ContainerStats],
    value: impl Fn(&ContainerStats) -> Option<UInt64Value>,
) -> Option<UInt64Value> {
    let values: Vec<u64> = stats.iter().filter_map(value).map(|v| v.value).collect();
    (!values.is_empty()).then(|| UInt64Value {
        value: values.iter().fold(0u64, |a, b| a.saturating_add(*b)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_of_what_the_containers_report() {
        let with = |cpu: Option<u64>| ContainerStats {
            cpu: Some(CpuUsage {
                usage_core_nano_seconds: cpu.map(|value| UInt64Value { value }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let cpu = |s: &ContainerStats| s.cpu.as_ref()?.usage_core_nano_seconds;
        let stats = [with(Some(5)), with(None), with(Some(7))];
        assert_eq!(sum(&stats, cpu), Some(UInt64Value { value: 12 }));
        assert_eq!(sum(&[with(None)], cpu), None);
        let huge = [with(Some(u64::MAX)), with(Some(1))];
        assert_eq!(sum(&huge, cpu), Some(UInt64Value { value: u64::MAX }));
    }
}
