//! The `zfs` command and what it prints: running it, retrying what zfs-fuse calls busy, and
//! parsing `zfs get -H` and `zfs list -H` output and its error messages.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::command::{self, CommandFailure};
use crate::Result;

/// How long to retry a `rename` or `destroy` that zfs-fuse calls busy after an unmount.
const BUSY_RETRY_FOR: Duration = Duration::from_secs(10);

/// Runs `zfs ARGS…`.
pub(super) fn zfs<const N: usize>(args: [&str; N]) -> Result<String, CommandFailure> {
    command::run("zfs", args)
}

/// Retries `op` while zfs says "dataset is busy", which zfs-fuse does for a moment after an
/// unmount. Only called after the driver unmounted the dataset itself, so "busy" cannot mean
/// that a process is using it.
pub(super) fn retry_busy(
    mut op: impl FnMut() -> Result<String, CommandFailure>,
) -> Result<String, CommandFailure> {
    let deadline = Instant::now() + BUSY_RETRY_FOR;
    let mut pause = Duration::from_millis(10);
    loop {
        match op() {
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                tracing::debug!(command = %e.argv.join(" "), "dataset busy; retrying");
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            result => return result,
        }
    }
}

/// `zfs get -Hp -o name,property,value PROPS DATASET`, as property → value.
pub(super) fn get_props(dataset: &str, props: &[&str]) -> Result<BTreeMap<String, String>> {
    let list = props.join(",");
    let out = zfs(["get", "-Hp", "-o", "name,property,value", &list, dataset])?;
    Ok(parse_get(&out)
        .into_iter()
        .filter(|row| row.name == dataset)
        .map(|row| (row.property, row.value))
        .collect())
}

/// One line of `zfs get -H -o name,property,value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PropRow {
    pub(super) name: String,
    pub(super) property: String,
    pub(super) value: String,
}

/// Parses `zfs get -H[p] -o name,property,value …`: one tab-separated line per dataset and
/// property. Lines without three fields are skipped; the value keeps any further tabs.
pub(super) fn parse_get(text: &str) -> Vec<PropRow> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let name = fields.next()?;
            let property = fields.next()?;
            let value = fields.next()?;
            (!name.is_empty()).then(|| PropRow {
                name: name.to_string(),
                property: property.to_string(),
                value: value.to_string(),
            })
        })
        .collect()
}

/// Parses `zfs list -H -o name,origin`: each filesystem with the snapshot it was cloned from
/// (`-`, or an empty field, for none). Lines without two fields are skipped.
pub(super) fn parse_origins(text: &str) -> Vec<(String, Option<String>)> {
    text.lines()
        .filter_map(|line| {
            let (name, origin) = line.split_once('\t')?;
            let origin = origin.split('\t').next().unwrap_or("").trim();
            let origin = (!origin.is_empty() && origin != "-").then(|| origin.to_string());
            (!name.is_empty()).then(|| (name.to_string(), origin))
        })
        .collect()
}

/// The clones named by `zfs get -H -o name,property,value clones …` (comma-separated, `-` for
/// none; illumos before #7668 printed an empty value, or left the column out).
pub(super) fn parse_clones(text: &str) -> Vec<String> {
    let mut clones: Vec<String> = parse_get(text)
        .into_iter()
        .filter(|row| row.property == "clones")
        .flat_map(|row| {
            row.value
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty() && *c != "-")
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    clones.sort();
    clones.dedup();
    clones
}

/// Parses a size as `zfs get -p` prints it (bytes), or as zfs prints it without `-p`
/// (`1.14M`, `512`, `2G`, `-`); `None` when it is neither.
pub(super) fn parse_size(value: &str) -> Option<u64> {
    let value = value.trim();
    if let Ok(bytes) = value.parse::<u64>() {
        return Some(bytes);
    }
    let (number, unit) = value.split_at(value.find(|c: char| c.is_ascii_alphabetic())?);
    let shift = match unit
        .trim_end_matches(['B', 'b'])
        .to_ascii_uppercase()
        .as_str()
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        "P" => 50,
        "E" => 60,
        _ => return None,
    };
    let number: f64 = number.parse().ok()?;
    (number.is_finite() && number >= 0.0).then(|| (number * (1u64 << shift) as f64) as u64)
}

/// zfs's "cannot open 'X': dataset does not exist" (illumos, OpenZFS and zfs-fuse alike).
pub(super) fn is_missing(failure: &CommandFailure) -> bool {
    failure.stderr.contains("dataset does not exist")
}

/// zfs's "cannot destroy 'X': dataset is busy" (also for `rename`).
pub(super) fn is_busy(failure: &CommandFailure) -> bool {
    failure.stderr.contains("dataset is busy")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_rows_keep_tabs_in_values_and_skip_short_lines() {
        let rows = parse_get("a\tp\tv\tw\nshort\tline\n\nb\tmountpoint\t/x y\n");
        assert_eq!(
            rows,
            [
                PropRow {
                    name: "a".into(),
                    property: "p".into(),
                    value: "v\tw".into()
                },
                PropRow {
                    name: "b".into(),
                    property: "mountpoint".into(),
                    value: "/x y".into()
                },
            ]
        );
    }

    #[test]
    fn origins_as_zfs_list_prints_them() {
        // zfs-fuse 0.7.0, `zfs list -H -o name,origin -r -t filesystem aurtest`.
        let text = "aurtest\t-\naurtest/aurora/containers/c1\taurtest/aurora/layers/L1@final\n\
                    garbage\nempty-origin\t\n";
        assert_eq!(
            parse_origins(text),
            [
                ("aurtest".to_string(), None),
                (
                    "aurtest/aurora/containers/c1".to_string(),
                    Some("aurtest/aurora/layers/L1@final".to_string())
                ),
                ("empty-origin".to_string(), None),
            ]
        );
    }

    #[test]
    fn clones_as_illumos_prints_them() {
        // `zfs get -H -r -d 1 -o name,property,value clones zones/aurora/layers/L` (zfs(8)):
        // the filesystem itself says `-`, its snapshots list their clones.
        let text = "zones/aurora/layers/L\tclones\t-\n\
                    zones/aurora/layers/L@final\tclones\tzones/aurora/containers/b,zones/aurora/layers/M\n\
                    zones/aurora/layers/L@other\tclones\tzones/aurora/containers/a\n";
        assert_eq!(
            parse_clones(text),
            [
                "zones/aurora/containers/a",
                "zones/aurora/containers/b",
                "zones/aurora/layers/M"
            ]
        );
        // No clones: `-` now; an empty value, or no value column, before illumos #7668.
        for none in [
            "z/l@final\tclones\t-\n",
            "z/l@final\tclones\t\n",
            "z/l@final\tclones\n",
            "",
        ] {
            assert!(parse_clones(none).is_empty(), "{none:?}");
        }
    }

    #[test]
    fn sizes_exact_and_human() {
        assert_eq!(parse_size("1056768"), Some(1056768));
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("112K"), Some(112 * 1024));
        assert_eq!(parse_size("1.50M"), Some(3 * 512 * 1024));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("-"), None);
        assert_eq!(parse_size("none"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("1.2Q"), None);
    }

    fn failure(stderr: &str) -> CommandFailure {
        CommandFailure {
            argv: vec!["zfs".into()],
            status: Some(1),
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn errors_recognised_from_stderr() {
        // zfs-fuse 0.7.0's messages; illumos prints the same ones.
        assert!(is_missing(&failure(
            "cannot open 'aurtest/aurora/nope': dataset does not exist\n"
        )));
        assert!(is_busy(&failure(
            "cannot rename 'aurtest/aurora/pending/t1': dataset is busy\n"
        )));
        assert!(is_busy(&failure(
            "cannot destroy 'aurtest/aurora/pending/t3': dataset is busy\n"
        )));
        assert!(!is_busy(&failure(
            "cannot unmount '/tank/x': Device busy\n"
        )));
        assert!(!is_missing(&failure(
            "cannot create 'aurtest/aurora/a/b': parent does not exist\n"
        )));
    }

    #[test]
    fn busy_is_retried_and_other_failures_are_not() {
        let mut calls = 0;
        let result = retry_busy(|| {
            calls += 1;
            if calls < 3 {
                Err(failure("cannot destroy 'p/x': dataset is busy"))
            } else {
                Ok(String::new())
            }
        });
        assert!(result.is_ok());
        assert_eq!(calls, 3);
        let mut calls = 0;
        let result = retry_busy(|| {
            calls += 1;
            Err(failure("cannot destroy 'p/x': dataset does not exist"))
        });
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }
}
