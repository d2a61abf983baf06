//! `podadm stats` and `pod stats`: samples of containers' resource use, once
//! (`--no-stream`) or every `--interval` seconds as podman streams them — on a terminal the
//! screen cleared before each, on a pipe one after the other. A stream of named containers
//! (or pods) ends when none of them runs; an unnamed one goes on until interrupted.
//!
//! The columns, JSON keys and number formats are podman 4.3's: CPU % over the time since the
//! previous sample (since the start for the first), the memory limit capped at the host's
//! memory, the network namespace's bytes, the cgroup's block I/O.

mod units;

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime};

use anyhow::Result;
use aurora_engine::{ContainerRecord, Engine, ResourceUse};
use serde_json::Value;

use crate::cli::Format;
use crate::views::print_table;
use units::{binary_size, go_duration, human_size, percent};

/// How `stats` samples: once, or every `interval`.
#[derive(Debug, Clone, Copy)]
pub struct Sampling {
    pub stream: bool,
    pub interval: Duration,
    pub format: Format,
}

/// `podadm stats [--no-stream] [-i N] [-a] [CONTAINER…]`.
pub fn stats(engine: &Engine, sampling: Sampling, all: bool, containers: &[String]) -> Result<u8> {
    let named = !containers.is_empty();
    let mut sampler = Sampler::new(engine);
    each_sample(sampling, named, || {
        let records = chosen(engine, all, containers)?;
        let rows = sampler.take(&records)?;
        print_containers(&rows, sampling.format)?;
        Ok(rows.len())
    })
}

/// `pod stats`: `ids`, the running containers of the pods asked for, at each sample.
pub fn pod_stats(
    engine: &Engine,
    sampling: Sampling,
    named: bool,
    mut ids: impl FnMut() -> Result<Vec<String>>,
) -> Result<u8> {
    let mut sampler = Sampler::new(engine);
    each_sample(sampling, named, || {
        let ids = ids()?;
        if ids.is_empty() {
            return Ok(0);
        }
        let records = chosen(engine, false, &ids)?;
        let rows = sampler.take(&records)?;
        print_pod_members(&rows, sampling.format)?;
        Ok(rows.len())
    })
}

/// Takes samples as `sampling` says; `take` prints one and returns how many running
/// containers it showed.
fn each_sample(
    sampling: Sampling,
    named: bool,
    mut take: impl FnMut() -> Result<usize>,
) -> Result<u8> {
    let terminal = std::io::stdout().is_terminal();
    loop {
        if sampling.stream && terminal && sampling.format == Format::Table {
            // Clear the screen and go home, as podman redraws its table.
            print!("\x1b[2J\x1b[H");
        }
        let running = take()?;
        std::io::stdout().flush()?;
        if !sampling.stream || (named && running == 0) {
            return Ok(0);
        }
        std::thread::sleep(sampling.interval);
    }
}

/// The containers named (all of them must exist), else every active one (every one with
/// `all`).
fn chosen(engine: &Engine, all: bool, containers: &[String]) -> Result<Vec<ContainerRecord>> {
    if containers.is_empty() {
        return Ok(engine
            .list()?
            .into_iter()
            .filter(|r| r.state.is_active() || all)
            .collect());
    }
    Ok(containers
        .iter()
        .map(|c| engine.find(c))
        .collect::<Result<_, _>>()?)
}

/// One container's sample, with what podman derives from it.
struct Row {
    record: ContainerRecord,
    usage: ResourceUse,
    /// CPU use since the previous sample (the start for the first), in percent of one core.
    cpu_percent: f64,
    /// CPU use since the start.
    average_cpu_percent: f64,
    /// The cgroup's limit, or the host's memory when that is less (or there is none).
    memory_limit: u64,
}

/// Samples containers, remembering each one's CPU time for the next sample's CPU %.
struct Sampler<'e> {
    engine: &'e Engine,
    host_memory: Option<u64>,
    previous: HashMap<String, (u64, SystemTime)>,
}

impl<'e> Sampler<'e> {
    fn new(engine: &'e Engine) -> Self {
        Sampler {
            engine,
            host_memory: host_memory(),
            previous: HashMap::new(),
        }
    }

    /// A row for each running container of `records`.
    fn take(&mut self, records: &[ContainerRecord]) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        for record in records.iter().filter(|r| r.state.is_active()) {
            let usage = self.engine.stats(&record.id)?;
            let now = SystemTime::now();
            let started = started_at(record).unwrap_or(now);
            let (before_ns, before) = self
                .previous
                .insert(record.id.clone(), (usage.cpu_ns, now))
                .unwrap_or((0, started));
            let cpu_percent = share_of(usage.cpu_ns.saturating_sub(before_ns), before, now);
            let average_cpu_percent = share_of(usage.cpu_ns, started, now);
            let memory_limit = match (usage.memory_limit, self.host_memory) {
                (Some(limit), Some(host)) => limit.min(host),
                (Some(limit), None) => limit,
                (None, Some(host)) => host,
                (None, None) => u64::MAX,
            };
            rows.push(Row {
                record: record.clone(),
                usage,
                cpu_percent,
                average_cpu_percent,
                memory_limit,
            });
        }
        Ok(rows)
    }
}

/// `cpu_ns` of CPU time in percent of the wall time from `since` to `now` (0 for none).
fn share_of(cpu_ns: u64, since: SystemTime, now: SystemTime) -> f64 {
    match now.duration_since(since) {
        Ok(wall) if !wall.is_zero() => cpu_ns as f64 / wall.as_nanos() as f64 * 100.0,
        _ => 0.0,
    }
}

fn started_at(record: &ContainerRecord) -> Option<SystemTime> {
    let started = chrono::DateTime::parse_from_rfc3339(record.started_at.as_deref()?).ok()?;
    Some(SystemTime::from(started))
}

/// The host's memory (`MemTotal`), which podman reports as the limit of an unlimited
/// container.
fn host_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_total(&text)
}

fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut fields = line["MemTotal:".len()..].split_whitespace();
    let kib: u64 = fields.next()?.parse().ok()?;
    (fields.next() == Some("kB")).then_some(kib.saturating_mul(1024))
}

impl Row {
    fn memory(&self) -> String {
        format!(
            "{} / {}",
            human_size(self.usage.memory_usage),
            human_size(self.memory_limit)
        )
    }

    fn memory_binary(&self) -> String {
        format!(
            "{} / {}",
            binary_size(self.usage.memory_usage),
            binary_size(self.memory_limit)
        )
    }

    fn memory_percent(&self) -> String {
        percent(self.usage.memory_usage as f64 / self.memory_limit.max(1) as f64 * 100.0)
    }

    fn net(&self) -> String {
        match self.usage.net {
            Some(net) => format!("{} / {}", human_size(net.received), human_size(net.sent)),
            None => "-- / --".to_string(),
        }
    }

    fn block(&self) -> String {
        format!(
            "{} / {}",
            human_size(self.usage.block_read),
            human_size(self.usage.block_write)
        )
    }

    fn short_id(&self) -> String {
        self.record.id[..12].to_string()
    }

    fn pod_id(&self) -> String {
        self.record
            .config
            .pod
            .as_deref()
            .map_or_else(String::new, |pod| pod[..pod.len().min(12)].to_string())
    }
}

/// A column of a view: its header in the table (none: JSON only), its key in the JSON, and
/// its cell.
struct Column {
    header: Option<&'static str>,
    key: &'static str,
    cell: fn(&Row) -> String,
}

const fn column(header: &'static str, key: &'static str, cell: fn(&Row) -> String) -> Column {
    Column {
        header: Some(header),
        key,
        cell,
    }
}

/// `stats`: podman's columns and JSON keys.
const CONTAINER_VIEW: [Column; 10] = [
    column("ID", "id", Row::short_id),
    column("NAME", "name", |row| row.record.name.clone()),
    column("CPU %", "cpu_percent", |row| percent(row.cpu_percent)),
    column("MEM USAGE / LIMIT", "mem_usage", Row::memory),
    column("MEM %", "mem_percent", Row::memory_percent),
    column("NET IO", "net_io", Row::net),
    column("BLOCK IO", "block_io", Row::block),
    column("PIDS", "pids", |row| row.usage.pids.to_string()),
    column("CPU TIME", "cpu_time", |row| {
        go_duration(Duration::from_nanos(row.usage.cpu_ns))
    }),
    column("AVG CPU %", "avg_cpu", |row| {
        percent(row.average_cpu_percent)
    }),
];

/// `pod stats`: podman's columns and JSON keys.
const POD_VIEW: [Column; 10] = [
    column("POD", "Pod", Row::pod_id),
    column("CID", "CID", Row::short_id),
    column("NAME", "Name", |row| row.record.name.clone()),
    column("CPU %", "CPU", |row| percent(row.cpu_percent)),
    column("MEM USAGE/ LIMIT", "MemUsage", Row::memory),
    Column {
        header: None,
        key: "MemUsageBytes",
        cell: Row::memory_binary,
    },
    column("MEM %", "Mem", Row::memory_percent),
    column("NET IO", "NetIO", Row::net),
    column("BLOCK IO", "BlockIO", Row::block),
    column("PIDS", "PIDS", |row| row.usage.pids.to_string()),
];

fn print_containers(rows: &[Row], format: Format) -> Result<()> {
    print_view(&CONTAINER_VIEW, rows, format)
}

fn print_pod_members(rows: &[Row], format: Format) -> Result<()> {
    print_view(&POD_VIEW, rows, format)
}

/// The rows as a table, or as a JSON array of objects.
fn print_view(view: &[Column], rows: &[Row], format: Format) -> Result<()> {
    if format == Format::Json {
        let list: Vec<Value> = rows
            .iter()
            .map(|row| {
                let object: serde_json::Map<String, Value> = view
                    .iter()
                    .map(|c| (c.key.to_string(), Value::String((c.cell)(row))))
                    .collect();
                Value::Object(object)
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    let shown: Vec<&Column> = view.iter().filter(|c| c.header.is_some()).collect();
    let headers: Vec<&str> = shown.iter().filter_map(|c| c.header).collect();
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|row| shown.iter().map(|c| (c.cell)(row)).collect())
        .collect();
    print_table(&headers, &table);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_memory_from_meminfo() {
        let meminfo = "MemTotal:       24683664 kB\nMemFree:        16362632 kB\n";
        assert_eq!(parse_mem_total(meminfo), Some(24683664 * 1024));
        assert_eq!(parse_mem_total("MemTotal: lots\n"), None);
        assert_eq!(parse_mem_total("MemTotal: 5 MB\n"), None);
        assert_eq!(parse_mem_total(""), None);
    }

    #[test]
    fn cpu_share_of_the_wall_time() {
        let start = SystemTime::UNIX_EPOCH;
        let later = start + Duration::from_millis(100);
        assert_eq!(share_of(50_000_000, start, later), 50.0);
        assert_eq!(share_of(50_000_000, later, start), 0.0, "a clock gone back");
        assert_eq!(share_of(1, start, start), 0.0);
    }
}
