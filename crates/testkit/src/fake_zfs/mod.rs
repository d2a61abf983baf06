//! A stateful fake of the `zfs` command, for running the zfs storage driver's logic where no
//! pool can be made, and fast: an [`aurora_command::Runner`] that keeps a pool's filesystems
//! and snapshots (guids, origins, local properties, mounted state) and refuses what zfs
//! refuses — creating a dataset that exists, cloning a snapshot that does not, destroying a
//! snapshot that clones depend on, renaming or destroying a mounted filesystem (as zfs-fuse
//! calls it busy), unmounting a filesystem with another mounted inside — with zfs's messages.
//! It is a fake, not a mock (omicron's `illumos-utils/src/fakes`): tests check what the driver
//! made, not which commands it ran.
//!
//! Trees are real directories: a mounted filesystem's tree is at its mountpoint below
//! `DIR/mnt`, an unmounted one's and each snapshot's (a copy, `cp -a --reflink=auto`) under
//! `DIR/data`. The state lives in `DIR/state.json`, read and written under a lock by every
//! command, so that several processes (a builder that is killed, the test that cleans after
//! it) share one pool. Snapshots have the `clones` property, as on illumos and OpenZFS
//! (zfs-fuse has none: the driver then reads every filesystem's `origin`), so the suite runs
//! the driver's other path there. Not modelled: `readonly` and `quota` are recorded but not
//! enforced, a clone is a copy (inodes are not shared with its origin), `zfs send` and
//! `zfs receive`. `tests/fake_zfs.rs` of aurora-storage checks it against zfs-fuse.

mod pool;

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::path::Path;

use aurora_command::{CommandFailure, Runner};

use pool::{Pool, Refusal, Store};

/// A fake `zfs` with one pool, kept in a directory.
#[derive(Debug, Clone)]
pub struct FakeZfs {
    store: Store,
    pool: String,
}

impl FakeZfs {
    /// A new pool `pool` in `dir` (created, and empty), its root mounted at `dir/mnt/POOL`.
    pub fn create(dir: &Path, pool: &str) -> FakeZfs {
        fs::create_dir_all(dir).expect("create the fake pool's directory");
        let fake = FakeZfs {
            store: Store {
                dir: dir.to_path_buf(),
            },
            pool: pool.to_string(),
        };
        let state = Pool::create(&fake.store, pool, &dir.join("mnt").join(pool));
        fake.save(&state);
        fs::write(dir.join("pool"), pool).expect("record the fake pool's name");
        fake
    }

    /// The pool another [`FakeZfs::create`] made in `dir` (from another process, too).
    pub fn open(dir: &Path) -> FakeZfs {
        let pool = fs::read_to_string(dir.join("pool"))
            .unwrap_or_else(|e| panic!("no fake pool in {}: {e}", dir.display()));
        FakeZfs {
            store: Store {
                dir: dir.to_path_buf(),
            },
            pool,
        }
    }

    /// The directory the fake keeps everything in.
    pub fn dir(&self) -> &Path {
        &self.store.dir
    }

    /// The pool's name, which is also its root filesystem.
    pub fn pool(&self) -> &str {
        &self.pool
    }

    /// Runs `zfs ARGS…` on the fake, panicking with its stderr if it fails; returns its
    /// stdout (as [`crate::ZfsPool::zfs`] does on a real pool).
    pub fn zfs(&self, args: &[&str]) -> String {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        self.run("zfs", &args)
            .unwrap_or_else(|failure| panic!("fake {failure}"))
    }

    /// Runs `f` on the state under the lock, saving what it changed.
    fn with_state<T>(&self, f: impl FnOnce(&mut Pool) -> Result<T, Refusal>) -> Result<T, Refusal> {
        let lock_path = self.store.dir.join("state.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("fake zfs: {}: {e}\n", lock_path.display()))?;
        lock.lock()
            .map_err(|e| format!("fake zfs: {}: {e}\n", lock_path.display()))?;
        let mut state = self.load();
        let result = f(&mut state);
        self.save(&state);
        drop(lock);
        result
    }

    fn load(&self) -> Pool {
        let path = self.store.dir.join("state.json");
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("fake zfs: {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("fake zfs: {}: {e}", path.display()))
    }

    fn save(&self, state: &Pool) {
        let path = self.store.dir.join("state.json");
        let aside = self.store.dir.join("state.json.new");
        let text = serde_json::to_string_pretty(state).expect("serialize the fake pool");
        let written = File::create(&aside)
            .and_then(|mut file| std::io::Write::write_all(&mut file, text.as_bytes()))
            .and_then(|()| fs::rename(&aside, &path));
        written.unwrap_or_else(|e| panic!("fake zfs: {}: {e}", path.display()));
    }

    fn execute(&self, args: &[String]) -> Result<String, Refusal> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let store = &self.store;
        let done = |result: Result<(), Refusal>| result.map(|()| String::new());
        match args.as_slice() {
            ["create", "-p", name] => {
                done(self.with_state(|p| p.create_filesystem(store, name, true)))
            }
            ["create", name] => done(self.with_state(|p| p.create_filesystem(store, name, false))),
            ["clone", snapshot, name] => {
                done(self.with_state(|p| p.clone_snapshot(store, snapshot, name)))
            }
            ["snapshot", snapshot] => done(self.with_state(|p| p.snapshot(store, snapshot))),
            ["rename", from, to] => done(self.with_state(|p| p.rename(from, to))),
            ["destroy", "-r", name] => done(self.with_state(|p| p.destroy_recursive(store, name))),
            ["mount", name] => done(self.with_state(|p| p.mount(store, name))),
            ["umount", name] => done(self.with_state(|p| p.unmount(store, name))),
            ["set", assignment, name] => {
                let (property, value) = assignment
                    .split_once('=')
                    .ok_or_else(|| format!("missing '=' in {assignment:?}\n"))?;
                done(self.with_state(|p| p.set(name, property, value)))
            }
            ["get", rest @ ..] => {
                let query = Query::parse(rest)?;
                self.with_state(|p| query.get(p, store))
            }
            ["list", rest @ ..] => {
                let query = Query::parse(rest)?;
                self.with_state(|p| query.list(p))
            }
            _ => Err(format!(
                "fake zfs: unsupported command: zfs {}\n",
                args.join(" ")
            )),
        }
    }
}

impl Runner for FakeZfs {
    fn run(&self, program: &str, args: &[OsString]) -> Result<String, CommandFailure> {
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let argv = || {
            std::iter::once(program.to_string())
                .chain(args.iter().cloned())
                .collect()
        };
        if program != "zfs" {
            return Err(CommandFailure {
                argv: argv(),
                status: None,
                stdout: String::new(),
                stderr: format!("the fake zfs runs zfs, not {program}"),
            });
        }
        self.execute(&args).map_err(|stderr| CommandFailure {
            argv: argv(),
            status: Some(1),
            stdout: String::new(),
            stderr,
        })
    }
}

/// The options of `zfs get` and `zfs list` that the driver uses.
#[derive(Debug, Default)]
struct Query {
    recursive: bool,
    depth: Option<usize>,
    sources: Option<Vec<String>>,
    fields: Vec<String>,
    types: Option<String>,
    /// `get`: the properties; `list`: nothing.
    properties: Vec<String>,
    datasets: Vec<String>,
}

impl Query {
    fn parse(args: &[&str]) -> Result<Query, Refusal> {
        let mut query = Query::default();
        let mut args = args.iter();
        let mut positional = Vec::new();
        while let Some(arg) = args.next() {
            let mut value = || {
                args.next()
                    .map(|v| v.to_string())
                    .ok_or_else(|| format!("missing argument after {arg}\n"))
            };
            match *arg {
                "-H" | "-p" | "-Hp" => {}
                "-r" => query.recursive = true,
                "-d" => {
                    query.recursive = true;
                    query.depth = Some(value()?.parse().map_err(|_| "bad depth\n".to_string())?);
                }
                "-s" => query.sources = Some(value()?.split(',').map(str::to_string).collect()),
                "-o" => query.fields = value()?.split(',').map(str::to_string).collect(),
                "-t" => query.types = Some(value()?),
                other if other.starts_with('-') => {
                    return Err(format!("fake zfs: unsupported option {other}\n"))
                }
                other => positional.push(other.to_string()),
            }
        }
        query.datasets = positional;
        Ok(query)
    }

    /// The datasets the query covers, each named one first checked to exist.
    fn targets(&self, pool: &Pool, snapshots: bool) -> Result<Vec<String>, Refusal> {
        let mut targets = Vec::new();
        for name in &self.datasets {
            if !pool.exists(name) {
                return Err(format!("cannot open '{name}': dataset does not exist\n"));
            }
            if self.recursive && pool.filesystems.contains_key(name) {
                targets.extend(pool.below(name, self.depth, snapshots));
            } else {
                targets.push(name.clone());
            }
        }
        Ok(targets)
    }

    fn get(mut self, pool: &Pool, store: &Store) -> Result<String, Refusal> {
        if self.datasets.is_empty() {
            return Err("missing property argument\n".into());
        }
        self.properties = self
            .datasets
            .remove(0)
            .split(',')
            .map(str::to_string)
            .collect();
        let mut out = String::new();
        for name in self.targets(pool, true)? {
            let properties = if self.properties == ["all"] {
                all_properties(pool, &name)
            } else {
                self.properties.clone()
            };
            for property in properties {
                let (value, source) = property_of(pool, store, &name, &property)?;
                if let Some(sources) = &self.sources {
                    if !sources.iter().any(|s| s == source) {
                        continue;
                    }
                }
                let row: Vec<&str> = self
                    .fields
                    .iter()
                    .map(|field| match field.as_str() {
                        "name" => name.as_str(),
                        "property" => property.as_str(),
                        "value" => value.as_str(),
                        "source" => source,
                        _ => "-",
                    })
                    .collect();
                out.push_str(&row.join("\t"));
                out.push('\n');
            }
        }
        Ok(out)
    }

    fn list(self, pool: &Pool) -> Result<String, Refusal> {
        let snapshots = self.types.as_deref() == Some("all");
        let mut out = String::new();
        for name in self.targets(pool, snapshots)? {
            let row: Vec<String> = self
                .fields
                .iter()
                .map(|field| match field.as_str() {
                    "name" => name.clone(),
                    "origin" => pool
                        .filesystems
                        .get(&name)
                        .and_then(|f| f.origin.clone())
                        .unwrap_or_else(|| "-".into()),
                    _ => "-".into(),
                })
                .collect();
            out.push_str(&row.join("\t"));
            out.push('\n');
        }
        Ok(out)
    }
}

/// The native properties the fake knows (`zfs get all` shows these and the local ones).
const PROPERTIES: [&str; 11] = [
    "type",
    "origin",
    "used",
    "guid",
    "mounted",
    "mountpoint",
    "readonly",
    "quota",
    "canmount",
    "sharenfs",
    "sharesmb",
];

/// The properties `zfs get all` shows for `name`: the native ones and its local ones.
fn all_properties(pool: &Pool, name: &str) -> Vec<String> {
    let mut properties: Vec<String> = PROPERTIES.map(str::to_string).to_vec();
    if let Some(fs) = pool.filesystems.get(name) {
        let own: Vec<String> = fs
            .local
            .keys()
            .filter(|k| !properties.contains(k))
            .cloned()
            .collect();
        properties.extend(own);
    }
    properties
}

/// A property's value as `zfs get -Hp` prints it, and its source (`local`, `default`, `-`).
fn property_of(
    pool: &Pool,
    store: &Store,
    name: &str,
    property: &str,
) -> Result<(String, &'static str), Refusal> {
    if let Some(snapshot) = pool.snapshots.get(name) {
        let value = match property {
            "type" => "snapshot".to_string(),
            "guid" => snapshot.guid.to_string(),
            "used" => {
                tree_bytes(&store.dir.join("data").join(snapshot.guid.to_string())).to_string()
            }
            "clones" => pool.clones_of(name).join(","),
            _ if property.contains(':') || known(property) => "-".to_string(),
            _ => return Err(invalid_property(property)),
        };
        return Ok((value, "-"));
    }
    let fs = pool.filesystem(name)?;
    if let Some(value) = fs.local.get(property) {
        let value = if property == "quota" && value == "none" {
            "0".to_string()
        } else {
            value.clone()
        };
        return Ok((value, "local"));
    }
    let value = match property {
        "type" => "filesystem".to_string(),
        "origin" => fs.origin.clone().unwrap_or_else(|| "-".into()),
        "guid" => fs.guid.to_string(),
        "used" => tree_bytes(&pool.tree(store, name)?).to_string(),
        "mounted" => if fs.mounted { "yes" } else { "no" }.to_string(),
        "mountpoint" => pool.mountpoint(name).display().to_string(),
        "clones" => "-".to_string(),
        "readonly" | "sharenfs" | "sharesmb" => "off".to_string(),
        "canmount" => "on".to_string(),
        "quota" => "0".to_string(),
        _ if property.contains(':') => "-".to_string(),
        _ => return Err(invalid_property(property)),
    };
    let source = match property {
        "readonly" | "sharenfs" | "sharesmb" | "canmount" | "quota" | "mountpoint" => "default",
        _ => "-",
    };
    Ok((value, source))
}

fn known(property: &str) -> bool {
    PROPERTIES.contains(&property)
}

fn invalid_property(property: &str) -> Refusal {
    format!("bad property list: invalid property '{property}'\n")
}

/// What `used` reports: the bytes `du` counts under `path` (a fake's approximation of the
/// space a dataset holds; nothing checks it exactly).
fn tree_bytes(path: &Path) -> u64 {
    std::process::Command::new("du")
        .args(["-s", "-b"])
        .arg(path)
        .output()
        .ok()
        .and_then(|out| {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}
