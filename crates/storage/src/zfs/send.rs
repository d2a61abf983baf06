//! `zfs send` and `zfs receive` for the ZFS driver: a layer's `@final` written out as a stream
//! (full, or incremental from its parent layer's `@final`), and a stream received into a
//! pending dataset that can then become a layer as it is. SmartOS images (imgadm's files) are
//! such streams; the caller checks and decompresses them and decides the layer's ID.
//!
//! A stream is received as imgadm does: into a temporary dataset (here a pending one, under
//! `PARENT/pending` with its lock, so that `clean_leftovers` takes it if the receiver dies),
//! exactly one snapshot, renamed to `@final`, the dataset renamed into place only once it is
//! complete, and destroyed (`zfs destroy -r`) on any failure.
//!
//! Observed on zfs-fuse 0.7.0 (Debian 12, pool version 23):
//! - `zfs receive -u` works (received datasets stay unmounted) although its usage text lists
//!   only `-vnF`; the driver receives with `-u` so that a long receive is not a mount and
//!   need not be serialized with the others (see the module docs of `zfs`).
//! - An incremental stream received into a new name makes a clone of the snapshot whose
//!   `guid` is the stream's from-snapshot, wherever it is in the pool (with two snapshots of
//!   that guid — a layer exported and received again in the same pool — one nearer the
//!   target was taken). No such snapshot: "cannot receive: local origin for clone
//!   POOL/X@SNAP does not exist", and nothing is left.
//! - A damaged stream fails with "invalid stream (checksum mismatch)", a cut one with
//!   "invalid backup stream", a foreign file with "invalid stream (bad magic number)", an
//!   empty one with "failed to read from stream"; none leaves a dataset behind (the driver
//!   destroys the target anyway, in case another ZFS does).
//! - A plain `zfs send` carries no user properties; `zfs set user:prop=…` works on a
//!   received dataset and `zfs get -s local` finds it there only (snapshots show it as
//!   inherited). `guid` needs `-p` (`13501702480444910326`, not `11.7E`).
//! - A full `zfs send` of a clone's snapshot is a whole stream (the clone's entire tree),
//!   received as a filesystem that is no clone; `zfs send -i ORIGIN@final CLONE@final` is
//!   the incremental one.
//! - `zfs send -i @final` (the short form) fails for a clone's origin ("not an earlier
//!   snapshot from the same fs"): the driver names the origin snapshot in full.
//! - zfs-fuse has no extended attributes at all (EOPNOTSUPP on every set and list), so no
//!   stream of it carries any; `.zfs/snapshot` is not there either.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{get_props, is_missing, parse_get, retry_busy, zfs, ZfsDriver, FINAL};
use crate::command::CommandFailure;
use crate::{pending, Driver, LayerId, Result, StorageError};

/// The user property that records which SmartOS image a layer dataset was received as.
pub const UUID_PROPERTY: &str = "org.smartos.image:uuid";

/// A stream received into a pending dataset, not yet a layer: [`ZfsDriver::adopt_received`]
/// makes it one, [`ZfsDriver::discard_received`] (or a later `clean_leftovers`) throws it away.
#[derive(Debug)]
pub struct ReceivedDataset {
    /// The tree the stream held (`MOUNTPOINT/root`), mounted read-only.
    pub root: PathBuf,
    /// The layer the dataset is a clone of, for an incremental stream.
    pub origin: Option<LayerId>,
    handle: String,
    _lock: File,
}

/// Why a received stream was refused after `zfs receive` accepted it.
fn refused(dataset: &str, reason: String) -> StorageError {
    StorageError::Unsupported {
        driver: "zfs",
        reason: format!("received dataset {dataset}: {reason}"),
    }
}

impl ZfsDriver {
    /// The committed layer recorded (by [`ZfsDriver::adopt_received`]) as SmartOS image
    /// `uuid`, if any.
    pub fn find_layer_by_uuid(&self, uuid: &str) -> Result<Option<LayerId>> {
        let layers = format!("{}/layers", self.parent);
        let out = zfs([
            "get",
            "-H",
            "-r",
            "-d",
            "1",
            "-s",
            "local",
            "-o",
            "name,property,value",
            UUID_PROPERTY,
            &layers,
        ])?;
        let prefix = format!("{layers}/");
        for row in parse_get(&out) {
            let Some(id) = row.name.strip_prefix(&prefix).and_then(LayerId::parse) else {
                continue;
            };
            if row.property == UUID_PROPERTY && row.value == uuid && self.has_layer(&id)? {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Receives the `zfs send` stream read from `stream` into a new pending dataset (`label`
    /// names it, e.g. the image's UUID: letters, digits and `-`). For an incremental stream
    /// `origin` must be the layer whose `@final` it was sent from; a full stream needs none.
    /// On success the dataset has exactly one snapshot, `@final`, is read-only and mounted;
    /// on any failure nothing is left. A read error of `stream` is returned as
    /// [`StorageError::Io`] on `label`; the caller that wraps its reader can keep the cause.
    pub fn receive_pending(
        &self,
        label: &str,
        stream: &mut dyn Read,
        origin: Option<&LayerId>,
    ) -> Result<ReceivedDataset> {
        if label.is_empty()
            || !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            || label.len() > 64
        {
            return Err(StorageError::Unsupported {
                driver: "zfs",
                reason: format!("bad label {label:?} for a received dataset"),
            });
        }
        if let Some(origin) = origin {
            if !self.has_layer(origin)? {
                return Err(StorageError::NoSuchLayer(origin.clone()));
            }
        }
        static ATTEMPT: AtomicU64 = AtomicU64::new(0);
        let handle = format!(
            "{label}-{}-{}",
            std::process::id(),
            ATTEMPT.fetch_add(1, Ordering::Relaxed)
        );
        // As for every pending dataset, the lock comes before the dataset.
        let lock = pending::lock(&self.state_dir, &handle)?;
        let dataset = self.pending_dataset(&handle);
        match self.receive_into(&dataset, label, stream, origin) {
            Ok((root, origin)) => Ok(ReceivedDataset {
                root,
                origin,
                handle,
                _lock: lock,
            }),
            Err(e) => {
                self.discard(&handle);
                Err(e)
            }
        }
    }

    fn receive_into(
        &self,
        dataset: &str,
        label: &str,
        stream: &mut dyn Read,
        expected_origin: Option<&LayerId>,
    ) -> Result<(PathBuf, Option<LayerId>)> {
        // -u: not mounted while receiving, so not a mount to serialize (module docs).
        let argv = ["zfs", "receive", "-u", dataset];
        let child = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_failure(&argv, e))?;
        let fed = feed(child, stream, &argv);
        match fed {
            Feed::Done(Ok(())) => {}
            Feed::Done(Err(failure)) => return Err(failure.into()),
            Feed::ReadFailed(source) => {
                return Err(StorageError::Io {
                    path: PathBuf::from(label),
                    source,
                })
            }
        }
        self.check_received(dataset, expected_origin)
    }

    /// One snapshot, renamed `@final`; the origin the one expected; read-only; mounted.
    fn check_received(
        &self,
        dataset: &str,
        expected_origin: Option<&LayerId>,
    ) -> Result<(PathBuf, Option<LayerId>)> {
        let listed = zfs([
            "list", "-H", "-o", "name", "-t", "snapshot", "-r", "-d", "1", dataset,
        ])?;
        let prefix = format!("{dataset}@");
        let snapshots: Vec<&str> = listed
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .collect();
        let [snapshot] = snapshots[..] else {
            return Err(refused(
                dataset,
                format!(
                    "the stream must hold exactly one snapshot, it held {} ({})",
                    snapshots.len(),
                    snapshots.join(", ")
                ),
            ));
        };
        if snapshot != FINAL {
            retry_busy(|| {
                zfs([
                    "rename",
                    &format!("{dataset}@{snapshot}"),
                    &format!("{dataset}@{FINAL}"),
                ])
            })?;
        }
        let origin = self.received_origin(dataset, expected_origin)?;
        // Before it is ever mounted: reading it then changes nothing (no atime either), so
        // the live tree stays what @final holds.
        zfs(["set", "readonly=on", dataset])?;
        let root = self.mounted(dataset)?.join("root");
        match std::fs::symlink_metadata(&root) {
            Ok(meta) if meta.is_dir() => Ok((root, origin)),
            Ok(_) => Err(refused(dataset, "root is not a directory".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(refused(
                dataset,
                "it has no root/ directory (SmartOS zone datasets and Aurora's layers keep \
                 their tree there)"
                    .into(),
            )),
            Err(e) => Err(StorageError::io(&root)(e)),
        }
    }

    /// The layer a received dataset is a clone of, checked against the one expected: the
    /// same `@final` snapshot by guid (zfs may have picked another snapshot of that guid).
    fn received_origin(
        &self,
        dataset: &str,
        expected: Option<&LayerId>,
    ) -> Result<Option<LayerId>> {
        let props = get_props(dataset, &["origin"])?;
        let origin = props
            .get("origin")
            .map(String::as_str)
            .filter(|o| !o.is_empty() && *o != "-");
        let (origin, expected) = match (origin, expected) {
            (None, _) => return Ok(None),
            (Some(origin), None) => {
                return Err(refused(
                    dataset,
                    format!(
                        "the stream is incremental (from {origin}) but no origin image was named"
                    ),
                ))
            }
            (Some(origin), Some(expected)) => (origin, expected),
        };
        let layers = format!("{}/layers/", self.parent);
        let layer = origin
            .strip_prefix(&layers)
            .and_then(|rest| rest.strip_suffix(&format!("@{FINAL}")))
            .and_then(LayerId::parse);
        let wanted = format!("{}@{FINAL}", self.layer_dataset(expected));
        if layer.as_ref() != Some(expected) && guid(origin)? != guid(&wanted)? {
            return Err(refused(
                dataset,
                format!("the stream is incremental from {origin}, not from {wanted}"),
            ));
        }
        let Some(layer) = layer else {
            return Err(refused(
                dataset,
                format!("zfs made it a clone of {origin}, which is not a layer's @final"),
            ));
        };
        Ok(Some(layer))
    }

    /// Makes a received dataset the committed layer `id`, recording `uuid` on it. Returns
    /// whether it did: `false` when layer `id` existed already (the received copy is then
    /// destroyed, and the existing layer records `uuid` if it is the same snapshot).
    pub fn adopt_received(
        &self,
        received: ReceivedDataset,
        id: &LayerId,
        uuid: &str,
    ) -> Result<bool> {
        let from = self.pending_dataset(&received.handle);
        let to = self.layer_dataset(id);
        let result = self.adopt(&from, &to, id, uuid);
        match result {
            Ok(true) => {
                pending::unlock(&self.state_dir, &received.handle);
                Ok(true)
            }
            Ok(false) => {
                self.discard(&received.handle);
                Ok(false)
            }
            Err(e) => {
                self.discard(&received.handle);
                Err(e)
            }
        }
    }

    fn adopt(&self, from: &str, to: &str, id: &LayerId, uuid: &str) -> Result<bool> {
        let property = format!("{UUID_PROPERTY}={uuid}");
        if self.has_layer(id)? {
            // Only the same snapshot can stand for the image: an incremental from `uuid`
            // is received by guid.
            if guid(&format!("{from}@{FINAL}"))? == guid(&format!("{to}@{FINAL}"))? {
                zfs(["set", &property, to])?;
            }
            return Ok(false);
        }
        zfs(["set", &property, from])?;
        self.unmount_tree(from)?;
        match retry_busy(|| zfs(["rename", from, to])) {
            Ok(_) => {}
            // Another process made the same layer meanwhile.
            Err(_) if self.has_layer(id)? => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        self.mounted(to)?;
        Ok(true)
    }

    /// Throws a received dataset away.
    pub fn discard_received(&self, received: ReceivedDataset) {
        self.discard(&received.handle);
    }

    /// Writes `zfs send` of layer `id`'s `@final` to `out`: the whole tree, or with `from`
    /// (which must be the layer `id` was cloned from) only what changed since `from@final`.
    /// `out_path` names `out` in errors.
    pub fn send_layer(
        &self,
        id: &LayerId,
        from: Option<&LayerId>,
        out: &mut dyn Write,
        out_path: &Path,
    ) -> Result<()> {
        for layer in std::iter::once(id).chain(from) {
            if !self.has_layer(layer)? {
                return Err(StorageError::NoSuchLayer(layer.clone()));
            }
        }
        let snapshot = format!("{}@{FINAL}", self.layer_dataset(id));
        let base = from.map(|f| format!("{}@{FINAL}", self.layer_dataset(f)));
        let mut argv = vec!["zfs", "send"];
        if let Some(base) = &base {
            argv.extend(["-i", base.as_str()]);
        }
        argv.push(&snapshot);
        let mut child = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| spawn_failure(&argv, e))?;
        let stderr = collect_stderr(&mut child);
        let copied = match child.stdout.take() {
            Some(mut stdout) => std::io::copy(&mut stdout, out).map(drop),
            None => Ok(()),
        };
        // The pipe is closed here when the copy failed: `zfs send` then ends on EPIPE.
        let status = child.wait().map_err(|e| spawn_failure(&argv, e))?;
        let stderr = stderr.join().unwrap_or_default();
        if !status.success() {
            return Err(failure(&argv, status.code(), stderr).into());
        }
        copied.map_err(StorageError::io(out_path))
    }
}

/// What feeding a stream to `zfs receive` came to.
enum Feed {
    /// The command's outcome.
    Done(Result<(), CommandFailure>),
    /// The stream could not be read; the command was stopped.
    ReadFailed(std::io::Error),
}

/// Copies `stream` into the child's stdin and waits for it. A write refused because the
/// command stopped reading (a bad stream) is not an error of its own: the command's failure
/// says why.
fn feed(mut child: Child, stream: &mut dyn Read, argv: &[&str]) -> Feed {
    let stderr = collect_stderr(&mut child);
    let mut read_error = None;
    if let Some(mut stdin) = child.stdin.take() {
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            };
            if stdin.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        // Closing stdin ends the stream: after a read error `zfs receive` fails on the cut
        // stream and cleans up, rather than being killed half way.
    }
    let status = child.wait();
    let stderr = stderr.join().unwrap_or_default();
    if let Some(e) = read_error {
        return Feed::ReadFailed(e);
    }
    Feed::Done(match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(failure(argv, status.code(), stderr)),
        Err(e) => Err(spawn_failure(argv, e)),
    })
}

/// Reads the child's stderr on a thread (so that a chatty command cannot block on a full pipe
/// while we feed or drain it).
fn collect_stderr(child: &mut Child) -> std::thread::JoinHandle<String> {
    let stderr = child.stderr.take();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let mut bytes = Vec::new();
            let _ = stderr.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

fn failure(argv: &[&str], status: Option<i32>, stderr: String) -> CommandFailure {
    CommandFailure {
        argv: argv.iter().map(|a| a.to_string()).collect(),
        status,
        stdout: String::new(),
        stderr,
    }
}

fn spawn_failure(argv: &[&str], e: std::io::Error) -> CommandFailure {
    failure(argv, None, e.to_string())
}

/// A snapshot's guid (exact, `-p`).
fn guid(snapshot: &str) -> Result<String> {
    match get_props(snapshot, &["guid"]) {
        Ok(props) => props
            .get("guid")
            .cloned()
            .ok_or_else(|| refused(snapshot, "zfs reported no guid".into())),
        Err(StorageError::Command(e)) if is_missing(&e) => {
            Err(refused(snapshot, "the snapshot does not exist".into()))
        }
        Err(e) => Err(e),
    }
}
