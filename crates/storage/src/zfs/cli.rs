//! A thin typed wrapper of the `zfs` command: one method per call the driver makes (create,
//! clone, snapshot, rename, destroy, mount, get and set properties, list), each run through a
//! [`Runner`] — the system's, or a stateful fake in tests —, and the parsing of what `zfs get
//! -H` and `zfs list -H` print and of its error messages. It knows nothing of layers.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::command::{CommandFailure, Runner, SystemRunner};

mod pipe;

use crate::Result;
pub(crate) use pipe::Feed;

/// How long to retry a `rename` or `destroy` that zfs-fuse calls busy after an unmount.
const BUSY_RETRY_FOR: Duration = Duration::from_secs(10);

/// The `zfs` command, run through a [`Runner`].
#[derive(Debug, Clone)]
pub(crate) struct Zfs {
    runner: Arc<dyn Runner>,
}

/// How far below the named datasets `zfs get` and `zfs list` look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// The named datasets only.
    Named,
    /// Their children (and snapshots) too.
    Children,
    /// Everything below them.
    All,
}

impl Depth {
    fn args(self) -> &'static [&'static str] {
        match self {
            Depth::Named => &[],
            Depth::Children => &["-r", "-d", "1"],
            Depth::All => &["-r"],
        }
    }
}

/// A filesystem's `mounted` and `mountpoint` properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountState {
    pub(crate) mounted: bool,
    /// As zfs prints it: a path, or `legacy`, `none`, `-`; `None` when not reported.
    pub(crate) mountpoint: Option<String>,
}

impl Zfs {
    pub(crate) fn new(runner: Arc<dyn Runner>) -> Zfs {
        Zfs { runner }
    }

    /// The system's `zfs`.
    pub(crate) fn system() -> Zfs {
        Zfs::new(Arc::new(SystemRunner))
    }

    /// `zfs ARGS…`.
    pub(crate) fn run(&self, args: &[&str]) -> Result<String, CommandFailure> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        self.runner.run("zfs", &args)
    }

    /// Whether `dataset` (a filesystem or a snapshot) exists.
    pub(crate) fn exists(&self, dataset: &str) -> Result<bool, CommandFailure> {
        match self.run(&["get", "-H", "-o", "value", "type", dataset]) {
            Ok(_) => Ok(true),
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `zfs create [-p] DATASET`.
    pub(crate) fn create(&self, dataset: &str, with_parents: bool) -> Result<(), CommandFailure> {
        let mut args = vec!["create"];
        if with_parents {
            args.push("-p");
        }
        args.push(dataset);
        self.run(&args).map(drop)
    }

    /// `zfs clone SNAPSHOT DATASET`.
    pub(crate) fn clone_snapshot(
        &self,
        snapshot: &str,
        dataset: &str,
    ) -> Result<(), CommandFailure> {
        self.run(&["clone", snapshot, dataset]).map(drop)
    }

    /// `zfs snapshot DATASET@NAME`.
    pub(crate) fn snapshot(&self, snapshot: &str) -> Result<(), CommandFailure> {
        self.run(&["snapshot", snapshot]).map(drop)
    }

    /// `zfs rename FROM TO` (filesystems or snapshots).
    pub(crate) fn rename(&self, from: &str, to: &str) -> Result<(), CommandFailure> {
        self.run(&["rename", from, to]).map(drop)
    }

    /// `zfs destroy -r DATASET`: with its snapshots and children, never their clones.
    pub(crate) fn destroy_recursive(&self, dataset: &str) -> Result<(), CommandFailure> {
        self.run(&["destroy", "-r", dataset]).map(drop)
    }

    pub(crate) fn mount(&self, dataset: &str) -> Result<(), CommandFailure> {
        self.run(&["mount", dataset]).map(drop)
    }

    pub(crate) fn unmount(&self, dataset: &str) -> Result<(), CommandFailure> {
        self.run(&["umount", dataset]).map(drop)
    }

    /// `zfs set PROPERTY=VALUE DATASET`.
    pub(crate) fn set(
        &self,
        dataset: &str,
        property: &str,
        value: &str,
    ) -> Result<(), CommandFailure> {
        self.run(&["set", &format!("{property}={value}"), dataset])
            .map(drop)
    }

    /// `zfs get -Hp [-r [-d 1]] [-s SOURCES] -o name,property,value PROPS DATASETS…`.
    pub(crate) fn get(
        &self,
        props: &[&str],
        datasets: &[&str],
        depth: Depth,
        sources: Option<&str>,
    ) -> Result<Vec<PropRow>, CommandFailure> {
        let props = props.join(",");
        let mut args = vec!["get", "-Hp"];
        args.extend(depth.args());
        if let Some(sources) = sources {
            args.extend(["-s", sources]);
        }
        args.extend(["-o", "name,property,value", &props]);
        args.extend(datasets);
        Ok(parse_get(&self.run(&args)?))
    }

    /// `PROPS` of `dataset` alone, as property → value.
    pub(crate) fn props(
        &self,
        dataset: &str,
        props: &[&str],
    ) -> Result<BTreeMap<String, String>, CommandFailure> {
        Ok(self
            .get(props, &[dataset], Depth::Named, None)?
            .into_iter()
            .filter(|row| row.name == dataset)
            .map(|row| (row.property, row.value))
            .collect())
    }

    pub(crate) fn mount_state(&self, dataset: &str) -> Result<MountState, CommandFailure> {
        let props = self.props(dataset, &["mounted", "mountpoint"])?;
        Ok(MountState {
            mounted: props.get("mounted").map(String::as_str) == Some("yes"),
            mountpoint: props.get("mountpoint").cloned(),
        })
    }

    /// The snapshot `dataset` was cloned from; `None` for a filesystem that is no clone (`-`).
    pub(crate) fn origin(&self, dataset: &str) -> Result<Option<String>, CommandFailure> {
        let props = self.props(dataset, &["origin"])?;
        Ok(props
            .get("origin")
            .map(|o| o.trim())
            .filter(|o| !o.is_empty() && *o != "-")
            .map(str::to_string))
    }

    /// `zfs list -H -o name [-r [-d 1]] -t filesystem ROOT`: the filesystems at and below `root`.
    pub(crate) fn filesystems(
        &self,
        root: &str,
        depth: Depth,
    ) -> Result<Vec<String>, CommandFailure> {
        let mut args = vec!["list", "-H", "-o", "name"];
        args.extend(depth.args());
        args.extend(["-t", "filesystem", root]);
        Ok(names(&self.run(&args)?))
    }

    /// `zfs list -H -o name -r -t all DATASET`: the dataset, its snapshots and everything below.
    pub(crate) fn everything_below(&self, dataset: &str) -> Result<Vec<String>, CommandFailure> {
        Ok(names(&self.run(&[
            "list", "-H", "-o", "name", "-r", "-t", "all", dataset,
        ])?))
    }

    /// Every filesystem at and below `root` with the snapshot it was cloned from.
    pub(crate) fn origins(
        &self,
        root: &str,
    ) -> Result<Vec<(String, Option<String>)>, CommandFailure> {
        let listed = self.run(&[
            "list",
            "-H",
            "-o",
            "name,origin",
            "-r",
            "-t",
            "filesystem",
            root,
        ])?;
        Ok(parse_origins(&listed))
    }

    /// The clones of `dataset`'s snapshots, from their `clones` property; `None` where zfs has
    /// no such property (zfs-fuse: "bad property list: invalid property 'clones'").
    pub(crate) fn clones(&self, dataset: &str) -> Result<Option<Vec<String>>, CommandFailure> {
        match self.run(&[
            "get",
            "-H",
            "-r",
            "-d",
            "1",
            "-o",
            "name,property,value",
            "clones",
            dataset,
        ]) {
            Ok(out) => Ok(Some(parse_clones(&out))),
            Err(e) if e.stderr.contains("invalid property 'clones'") => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The non-empty lines of `zfs list -H -o name`.
fn names(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Retries `op` while zfs says "dataset is busy", which zfs-fuse does for a moment after an
/// unmount. Only called after the driver unmounted the dataset itself, so "busy" cannot mean
/// that a process is using it.
pub(crate) fn retry_busy<T>(
    mut op: impl FnMut() -> Result<T, CommandFailure>,
) -> Result<T, CommandFailure> {
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

/// One line of `zfs get -H -o name,property,value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PropRow {
    pub(crate) name: String,
    pub(crate) property: String,
    pub(crate) value: String,
}

/// Parses `zfs get -H[p] -o name,property,value …`: one tab-separated line per dataset and
/// property. Lines without three fields are skipped; the value keeps any further tabs.
pub(crate) fn parse_get(text: &str) -> Vec<PropRow> {
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
pub(crate) fn parse_origins(text: &str) -> Vec<(String, Option<String>)> {
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
pub(crate) fn parse_clones(text: &str) -> Vec<String> {
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
pub(crate) fn parse_size(value: &str) -> Option<u64> {
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
pub(crate) fn is_missing(failure: &CommandFailure) -> bool {
    failure.stderr.contains("dataset does not exist")
}

/// zfs's "cannot destroy 'X': dataset is busy" (also for `rename`).
pub(crate) fn is_busy(failure: &CommandFailure) -> bool {
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
        let result: Result<(), _> = retry_busy(|| {
            calls += 1;
            Err(failure("cannot destroy 'p/x': dataset does not exist"))
        });
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }
}
