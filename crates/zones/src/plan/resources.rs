//! `linux.resources` and `solaris` resource controls → capped-memory, capped-cpu,
//! dedicated-cpu and the global resource properties.

use std::collections::BTreeSet;

use crate::plan::error::{value_error, PlanError};
use crate::plan::planner::{text, Planner};
use crate::zonecfg::{CappedCpu, CappedMemory, DedicatedCpu, Global, Text};

#[derive(Default)]
pub(super) struct Resources {
    pub(super) capped_memory: Option<CappedMemory>,
    pub(super) capped_cpu: Option<CappedCpu>,
    pub(super) dedicated_cpu: Option<DedicatedCpu>,
}

/// A size as zonecfg reads it: digits, an optional fraction, an optional K/M/G/T suffix.
pub(super) fn size(field: &str, value: &str) -> Result<Text, PlanError> {
    let (number, suffix) = match value.char_indices().last() {
        Some((i, c)) if "KMGTkmgt".contains(c) => (&value[..i], &value[i..]),
        _ => (value, ""),
    };
    let mut parts = number.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let frac = parts.next();
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if !digits(whole) || frac.is_some_and(|f| !digits(f)) {
        return Err(value_error(
            field,
            value,
            "must be a size: a number with an optional K, M, G or T suffix",
        ));
    }
    text(field, format!("{number}{suffix}"))
}

/// A CPU count as zonecfg's capped-cpu reads it: a positive decimal, at most two places.
pub(super) fn ncpus(field: &str, value: &str) -> Result<Text, PlanError> {
    let mut parts = value.splitn(2, '.');
    let whole = parts.next().unwrap_or_default();
    let frac = parts.next();
    let ok = !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && frac
            .is_none_or(|f| !f.is_empty() && f.len() <= 2 && f.chars().all(|c| c.is_ascii_digit()))
        && value.chars().any(|c| c.is_ascii_digit() && c != '0');
    if !ok {
        return Err(value_error(
            field,
            value,
            "must be a positive number of CPUs with at most two decimals (1.5 = 150%)",
        ));
    }
    text(field, value)
}

/// quota÷period in hundredths of a CPU, rounded up, written as zonecfg reads it.
pub(crate) fn quota_ncpus(quota: u64, period: u64) -> String {
    let hundredths = (u128::from(quota) * 100).div_ceil(u128::from(period));
    let (whole, frac) = (hundredths / 100, hundredths % 100);
    match frac {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

/// The number of CPUs in a Linux cpuset list (`0-3,6`).
pub(super) fn cpuset_count(field: &str, list: &str) -> Result<u64, PlanError> {
    const MAX_CPUS: u64 = 65536;
    let bad = |reason: &str| value_error(field, list, reason.to_string());
    let mut cpus = BTreeSet::new();
    for item in list.split(',').map(str::trim) {
        if item.is_empty() {
            continue;
        }
        let (lo, hi) = match item.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (item, item),
        };
        let lo: u64 = lo
            .parse()
            .map_err(|_| bad("is not a CPU list such as 0-3,6"))?;
        let hi: u64 = hi
            .parse()
            .map_err(|_| bad("is not a CPU list such as 0-3,6"))?;
        if lo > hi || hi >= MAX_CPUS {
            return Err(bad("has a range that is reversed or beyond 65535"));
        }
        cpus.extend(lo..=hi);
    }
    if cpus.is_empty() {
        return Err(bad("lists no CPUs"));
    }
    Ok(cpus.len() as u64)
}

/// A comma-separated privilege set as limitpriv takes it (`default,dtrace_proc,-net_access`).
pub(super) fn limitpriv(value: &str) -> Result<Text, PlanError> {
    let ok = value.split(',').all(|item| {
        let name = item.strip_prefix(['-', '!']).unwrap_or(item);
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    if !ok {
        return Err(value_error(
            "solaris.limitpriv",
            value,
            "must be a comma-separated list of privilege names, each optionally prefixed by - or !",
        ));
    }
    text("solaris.limitpriv", value)
}

pub(super) fn resources(
    p: &mut Planner,
    global: &mut Global,
    out: &mut Resources,
) -> Result<(), PlanError> {
    let spec = p.spec;
    let res = spec.linux().as_ref().and_then(|l| l.resources().as_ref());

    let mut physical = None;
    let mut swap = None;
    if let Some(mem) = res.and_then(|r| r.memory().as_ref()) {
        const F: &str = "linux.resources.memory";
        let limit = match mem.limit() {
            Some(l) if l > 0 => Some(l),
            Some(0) | Some(-1) | None => None,
            Some(l) => {
                return Err(value_error(
                    &format!("{F}.limit"),
                    l,
                    "must be positive or -1",
                ))
            }
        };
        let swap_limit = match mem.swap() {
            Some(s) if s > 0 => Some(s),
            Some(0) | Some(-1) | None => None,
            Some(s) => {
                return Err(value_error(
                    &format!("{F}.swap"),
                    s,
                    "must be positive or -1",
                ))
            }
        };
        if let (Some(l), Some(s)) = (limit, swap_limit) {
            if s < l {
                return Err(value_error(
                    &format!("{F}.swap"),
                    s,
                    format!("memory+swap must be at least the memory limit {l}"),
                ));
            }
        }
        physical = limit.map(|l| l.to_string());
        swap = swap_limit.map(|s| s.to_string());
        let unmapped = [
            ("reservation", mem.reservation().is_some()),
            ("kernel", mem.kernel().is_some()),
            ("kernelTCP", mem.kernel_tcp().is_some()),
            ("swappiness", mem.swappiness().is_some()),
            ("disableOOMKiller", mem.disable_oom_killer().is_some()),
        ];
        for (name, set) in unmapped {
            if set {
                p.warn(format!("{F}.{name}"), "no zone equivalent; ignored");
            }
        }
    }
    let solaris = spec.solaris().as_ref();
    if let Some(cm) = solaris.and_then(|s| s.capped_memory().as_ref()) {
        if cm.physical().is_some() || cm.swap().is_some() {
            if physical.is_some() || swap.is_some() {
                p.warn(
                    "linux.resources.memory",
                    "solaris.cappedMemory is used instead",
                );
            }
            physical = cm.physical().clone();
            swap = cm.swap().clone();
        }
    }
    if physical.is_some() || swap.is_some() {
        out.capped_memory = Some(CappedMemory {
            physical: physical
                .map(|v| size("capped-memory.physical", &v))
                .transpose()?,
            swap: swap.map(|v| size("capped-memory.swap", &v)).transpose()?,
        });
    }

    let mut cpuset = None;
    if let Some(cpu) = res.and_then(|r| r.cpu().as_ref()) {
        const F: &str = "linux.resources.cpu";
        if let Some(shares) = cpu.shares().filter(|s| *s > 0) {
            const MAX_SHARES: u64 = 65535;
            if shares > MAX_SHARES {
                p.warn(
                    format!("{F}.shares"),
                    format!("{shares} is above zonecfg's maximum; cpu-shares={MAX_SHARES}"),
                );
            }
            global.cpu_shares = Some(shares.min(MAX_SHARES));
        }
        if let Some(quota) = cpu.quota().filter(|q| *q > 0) {
            let period = cpu.period().unwrap_or(100_000);
            if period == 0 {
                return Err(value_error(&format!("{F}.period"), 0, "must be positive"));
            }
            out.capped_cpu = Some(CappedCpu {
                ncpus: text("capped-cpu.ncpus", quota_ncpus(quota as u64, period))?,
            });
        }
        if let Some(cpus) = cpu.cpus().as_deref().filter(|c| !c.trim().is_empty()) {
            cpuset = Some(cpuset_count(&format!("{F}.cpus"), cpus)?);
        }
        let unmapped = [
            ("mems", cpu.mems().is_some()),
            ("realtimeRuntime", cpu.realtime_runtime().is_some()),
            ("realtimePeriod", cpu.realtime_period().is_some()),
            ("idle", cpu.idle().is_some()),
            ("burst", cpu.burst().is_some()),
        ];
        for (name, set) in unmapped {
            if set {
                p.warn(format!("{F}.{name}"), "no zone equivalent; ignored");
            }
        }
    }
    if let Some(n) = solaris
        .and_then(|s| s.capped_cpu().as_ref())
        .and_then(|c| c.ncpus().as_deref())
    {
        if out.capped_cpu.is_some() {
            p.warn(
                "linux.resources.cpu.quota",
                "solaris.cappedCPU is used instead",
            );
        }
        out.capped_cpu = Some(CappedCpu {
            ncpus: ncpus("solaris.cappedCPU.ncpus", n)?,
        });
    }
    if let Some(count) = cpuset {
        if out.capped_cpu.is_some() {
            p.warn(
                "linux.resources.cpu.cpus",
                "zonecfg cannot combine dedicated-cpu with capped-cpu; only the cap is kept",
            );
        } else {
            p.warn(
                "linux.resources.cpu.cpus",
                format!(
                    "dedicated-cpu gives the zone {count} CPUs of its own, not the ones listed"
                ),
            );
            out.dedicated_cpu = Some(DedicatedCpu { ncpus: count });
        }
    }

    if let Some(pids) = res.and_then(|r| r.pids().as_ref()) {
        if pids.limit() > 0 {
            global.max_processes = Some(pids.limit() as u64);
        }
    }

    if let Some(r) = res {
        const F: &str = "linux.resources";
        let unmapped = [
            ("blockIO", r.block_io().is_some()),
            (
                "hugepageLimits",
                r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty()),
            ),
            ("network", r.network().is_some()),
            ("rdma", r.rdma().as_ref().is_some_and(|v| !v.is_empty())),
            (
                "unified",
                r.unified().as_ref().is_some_and(|v| !v.is_empty()),
            ),
        ];
        for (name, set) in unmapped {
            if set {
                p.warn(format!("{F}.{name}"), "no zone equivalent; ignored");
            }
        }
        if r.devices().iter().flatten().any(|d| d.allow()) {
            p.warn(
                format!("{F}.devices"),
                "device cgroup rules are not applied: a zone sees only the default devices and linux.devices",
            );
        }
    }

    if let Some(s) = solaris {
        if let Some(v) = s.limitpriv() {
            global.limitpriv = Some(limitpriv(v)?);
        }
        if let Some(v) = s.max_shm_memory() {
            global.max_shm_memory = Some(size("solaris.maxShmMemory", v)?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_rounds_up_to_hundredths() {
        assert_eq!(quota_ncpus(50_000, 100_000), "0.5");
        assert_eq!(quota_ncpus(150_000, 100_000), "1.5");
        assert_eq!(quota_ncpus(200_000, 100_000), "2");
        assert_eq!(quota_ncpus(1, 100_000), "0.01");
        assert_eq!(quota_ncpus(33_333, 100_000), "0.34");
        assert_eq!(quota_ncpus(12_345, 10_000), "1.24");
    }

    #[test]
    fn cpuset_counts() {
        assert_eq!(cpuset_count("f", "0-3,6").unwrap(), 5);
        assert_eq!(cpuset_count("f", "1").unwrap(), 1);
        assert_eq!(cpuset_count("f", "0-1,1-2").unwrap(), 3);
        for bad in ["", "a", "3-1", "0-99999", "-", ","] {
            assert!(cpuset_count("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        for ok in ["512m", "1G", "1073741824", "1.5g"] {
            assert!(size("f", ok).is_ok(), "{ok}");
        }
        for bad in ["", "m", "1x", "-1", "1.m", "1 g"] {
            assert!(size("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ncpus_values() {
        for ok in ["1", "0.5", "1.25", "16"] {
            assert!(ncpus("f", ok).is_ok(), "{ok}");
        }
        for bad in ["", "0", "0.0", "1.234", "-1", "1.", ".5", "x"] {
            assert!(ncpus("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limitpriv_values() {
        assert!(limitpriv("default,dtrace_proc,-net_access,!proc_info").is_ok());
        for bad in ["", "default,", "de fault", "a;b"] {
            assert!(limitpriv(bad).is_err(), "{bad}");
        }
    }
}
