//! `podadm logs`: the container's CRI-format log, read back as it was written.

use std::io::Write;

use anyhow::{Context, Result};
use aurora_crilog::{LogQuery, Stream};
use aurora_engine::Engine;

use crate::cli::LogsArgs;

pub fn logs(engine: &Engine, args: &LogsArgs) -> Result<u8> {
    let record = engine.find(&args.container)?;
    let query = LogQuery {
        since: args
            .since
            .as_deref()
            .map(|t| time_arg("--since", t))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|t| time_arg("--until", t))
            .transpose()?,
        tail: args.tail.and_then(|t| usize::try_from(t).ok()),
        timestamps: args.timestamps,
    };
    let path = engine.log_path(&record);
    let mut reader = aurora_crilog::read_logs(&path, &query)
        .with_context(|| format!("reading the log of {}", record.name))?;
    if args.follow {
        reader = reader.follow(engine.exited_check(&record));
    }
    let mut stdout = std::io::stdout().lock();
    let mut text = Vec::new();
    for line in reader {
        let line = line.with_context(|| format!("reading the log of {}", record.name))?;
        text.clear();
        line.render(args.timestamps, &mut text);
        match line.stream {
            Stream::Stdout => {
                stdout.write_all(&text)?;
                stdout.flush()?;
            }
            Stream::Stderr => {
                let mut stderr = std::io::stderr().lock();
                stderr.write_all(&text)?;
                stderr.flush()?;
            }
        }
    }
    Ok(0)
}

/// RFC 3339, a unix time, or a duration before now (`10m`, `1h30m`, `45s`).
fn time_arg(flag: &str, text: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Some(time) = aurora_engine::clock::parse(text) {
        return Ok(time);
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return chrono::DateTime::from_timestamp(seconds, 0)
            .with_context(|| format!("{flag} {text:?}: out of range"));
    }
    let mut total = 0i64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number
            .parse()
            .with_context(|| format!("{flag} {text:?}: expected RFC 3339, seconds, or 10m/1h"))?;
        number.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => anyhow::bail!("{flag} {text:?}: unknown unit {c:?}"),
        };
    }
    if !number.is_empty() {
        anyhow::bail!("{flag} {text:?}: a duration needs a unit (s, m, h)");
    }
    Ok(chrono::Utc::now() - chrono::Duration::seconds(total))
}
