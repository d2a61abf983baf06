//! `podadm stats` and `pod stats`: samples of containers' resource use, once
//! (`--no-stream`) or every `--interval` seconds as podman streams them — on a terminal the
//! screen cleared before each, on a pipe one after the other. A stream of named containers
//! (or pods) ends when none of them runs; an unnamed one goes on until interrupted.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::Result;
use aurora_engine::{ContainerRecord, Engine};
use serde_json::json;

use crate::cli::Format;
use crate::views::print_table;

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
    each_sample(sampling, named, || {
        sample(engine, all, sampling.format, containers)
    })
}

/// Takes samples as `sampling` says; `take` prints one and returns how many running
/// containers it showed.
pub fn each_sample(
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

/// One sample of `containers` (every active one, or with `all` every one, when none is
/// named); the number of running containers shown.
pub fn sample(engine: &Engine, all: bool, format: Format, containers: &[String]) -> Result<usize> {
    let records: Vec<ContainerRecord> = if containers.is_empty() {
        engine
            .list()?
            .into_iter()
            .filter(|r| r.state.is_active() || all)
            .collect()
    } else {
        containers
            .iter()
            .map(|c| engine.find(c))
            .collect::<Result<_, _>>()?
    };
    let mut rows = Vec::new();
    let mut list = Vec::new();
    for record in records.iter().filter(|r| r.state.is_active()) {
        let sample = engine.stats(&record.id)?;
        let data = &sample["data"];
        // runc writes memory.usage and cpu.usage.total; runz (libcontainer) memory.memory
        // and cpu.usage.usage_total.
        let first = |paths: &[&str]| {
            paths
                .iter()
                .find_map(|p| data.pointer(p).and_then(serde_json::Value::as_u64))
                .unwrap_or(0)
        };
        let memory = first(&["/memory/usage/usage", "/memory/memory/usage"]);
        let limit = first(&["/memory/usage/limit", "/memory/memory/limit"]);
        let pids = first(&["/pids/current"]);
        let cpu = first(&["/cpu/usage/total", "/cpu/usage/usage_total"]);
        list.push(json!({
            "id": record.id, "name": record.name, "mem_usage": memory, "mem_limit": limit,
            "pids": pids, "cpu_nano": cpu,
        }));
        rows.push([
            record.id[..12].to_string(),
            record.name.clone(),
            format!("{:.2}s", cpu as f64 / 1e9),
            format!("{} / {}", human_bytes(memory), human_bytes(limit)),
            pids.to_string(),
        ]);
    }
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        print_table(
            &["ID", "NAME", "CPU TIME", "MEM USAGE / LIMIT", "PIDS"],
            &rows,
        );
    }
    Ok(rows.len())
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.3}{}", UNITS[unit])
}
