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
//! Nothing in a stream decides where or whether its dataset is mounted or shared: the first
//! record is parsed before `zfs receive` starts ([`super::stream`]) and anything but a plain
//! stream of one filesystem snapshot is refused — a compound stream (`zfs send -p`, `-R`,
//! `-I`) carries properties (mountpoint, canmount, sharenfs, …), children and more snapshots.
//! The dataset is received unmounted (`-u`); the driver sets its own properties (read-only,
//! `canmount=noauto`, `sharenfs`/`sharesmb` off; the mountpoint stays inherited), checks that
//! `zfs get -s local,received` shows those and nothing else, that the dataset has no children
//! and only the announced snapshot (by guid), and only then mounts it.
//!
//! Observed on zfs-fuse 0.7.0 (Debian 12, pool version 23):
//! - `zfs receive -u` works (received datasets stay unmounted) although its usage text lists
//!   only `-vnF`; the driver receives with `-u` so that a long receive is not a mount and
//!   need not be serialized with the others (see the module docs of `zfs`). `-o` and `-x`
//!   ("invalid option") do not exist: properties cannot be overridden while receiving.
//! - `zfs send -p`, `-R` and `-I` write compound streams; received (even with `-u`), a `-p`
//!   stream sets mountpoint, canmount, sharenfs and user properties with source `received`,
//!   and the dataset is later mounted at the stream's mountpoint; `-R` also makes the child
//!   datasets and every snapshot. `zfs get -s local,received` lists exactly those.
//! - With `canmount=noauto` an explicit `zfs mount` still mounts, and after a `zfs rename`
//!   too; `zfs set sharenfs=off` and `sharesmb=off` work (there is no `exportfs` to run).
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
use std::sync::atomic::{AtomicU64, Ordering};

use super::cli::{is_missing, retry_busy, Depth, Feed, PropRow, Zfs};
use super::stream::{parse_begin, BeginRecord, BEGIN_RECORD_LEN};
use super::{ZfsDriver, FINAL};
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

/// The properties the driver sets on a received dataset before it is first mounted, and then
/// the only ones the dataset may have of its own (`zfs get -s local,received`): read-only;
/// mounted only when the driver mounts it (not by `zfs mount -a`), where its parent puts it
/// (`mountpoint` stays inherited); shared with no one.
const RECEIVED_PROPERTIES: [(&str, &str); 4] = [
    ("readonly", "on"),
    ("canmount", "noauto"),
    ("sharenfs", "off"),
    ("sharesmb", "off"),
];

/// Why a received stream was refused after `zfs receive` accepted it.
fn refused(dataset: &str, reason: String) -> StorageError {
    StorageError::Received {
        dataset: dataset.to_string(),
        reason,
    }
}

impl ZfsDriver {
    /// The committed layer recorded (by [`ZfsDriver::adopt_received`]) as SmartOS image
    /// `uuid`, if any.
    pub fn find_layer_by_uuid(&self, uuid: &str) -> Result<Option<LayerId>> {
        let layers = format!("{}/layers", self.parent);
        let rows = self
            .zfs
            .get(&[UUID_PROPERTY], &[&layers], Depth::Children, Some("local"))?;
        let prefix = format!("{layers}/");
        for row in rows {
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
    /// Only a plain stream of one filesystem snapshot is received (full, or incremental from
    /// `origin`'s `@final` by guid); anything else is refused from its first record, as
    /// [`StorageError::Stream`], before `zfs receive` runs (see [`super::stream`]).
    /// On success the dataset has exactly one snapshot, `@final`, no children, no properties
    /// of its own but those the driver set (read-only, `canmount=noauto`, not shared), and is
    /// mounted below its parent; on any failure nothing is left. A read error of `stream` is
    /// returned as [`StorageError::Io`] on `label`; the caller that wraps its reader can keep
    /// the cause.
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
        // The stream's first record decides before `zfs receive` sees a byte of it: a compound
        // stream (`zfs send -p`, `-R`, `-I`) brings its own properties — mountpoint, canmount,
        // sharenfs — and may bring children and more snapshots, and zfs-fuse's receive can
        // neither override (`-o`) nor exclude (`-x`) properties. Only the record is read ahead.
        let mut head = [0u8; BEGIN_RECORD_LEN];
        let got = read_up_to(stream, &mut head).map_err(|source| StorageError::Io {
            path: PathBuf::from(label),
            source,
        })?;
        let from_guid = match expected_origin {
            Some(origin) => Some(guid_number(
                &self.zfs,
                &format!("{}@{FINAL}", self.layer_dataset(origin)),
            )?),
            None => None,
        };
        let begin = parse_begin(&head[..got])
            .and_then(|begin| begin.check_single_snapshot(from_guid).map(|()| begin))
            .map_err(|source| StorageError::Stream {
                label: label.to_string(),
                source,
            })?;
        // -u: not mounted while receiving, so not a mount to serialize (module docs), and not
        // mounted before the driver has set its properties (`check_received`).
        let mut whole = (&head[..got]).chain(stream);
        match self.zfs.receive_unmounted(dataset, &mut whole) {
            Feed::Done(Ok(())) => {}
            Feed::Done(Err(failure)) => return Err(failure.into()),
            Feed::ReadFailed(source) => {
                return Err(StorageError::Io {
                    path: PathBuf::from(label),
                    source,
                })
            }
        }
        self.check_received(dataset, expected_origin, &begin)
    }

    /// What the stream's first record announced, and nothing else: the dataset alone (no
    /// children), its one snapshot (by guid), renamed `@final`; the origin the one expected.
    /// Then, still unmounted, the properties the driver decides, checked to be the only ones
    /// the dataset has of its own; then mounted where its parent puts it.
    fn check_received(
        &self,
        dataset: &str,
        expected_origin: Option<&LayerId>,
        begin: &BeginRecord,
    ) -> Result<(PathBuf, Option<LayerId>)> {
        let listed = self.zfs.everything_below(dataset)?;
        let snapshot = format!("{dataset}@{}", begin.snapshot());
        let names: Vec<&str> = listed.iter().map(String::as_str).collect();
        let mut expected = vec![dataset, snapshot.as_str()];
        let mut found = names.clone();
        expected.sort_unstable();
        found.sort_unstable();
        if found != expected {
            return Err(refused(
                dataset,
                format!(
                    "the stream of {} was to make the dataset and its snapshot {} only, zfs \
                     made {}",
                    begin.to_name,
                    begin.snapshot(),
                    names.join(", ")
                ),
            ));
        }
        if guid(&self.zfs, &snapshot)? != begin.to_guid.to_string() {
            return Err(refused(
                dataset,
                format!(
                    "snapshot {snapshot} is not the one the stream announced (guid {})",
                    begin.to_guid
                ),
            ));
        }
        if begin.snapshot() != FINAL {
            retry_busy(|| self.zfs.rename(&snapshot, &format!("{dataset}@{FINAL}")))?;
        }
        let origin = self.received_origin(dataset, expected_origin)?;
        // Before it is ever mounted: reading it then changes nothing (no atime either), so
        // the live tree stays what @final holds; it is mounted only by the driver, and shared
        // with no one, whatever zfs would otherwise take from elsewhere.
        for (property, value) in RECEIVED_PROPERTIES {
            self.zfs.set(dataset, property, value)?;
        }
        // Before mounting too: zfs-fuse reports `readonly` as `temporary` on a mounted dataset.
        let own = self
            .zfs
            .get(&["all"], &[dataset], Depth::All, Some("local,received"))?;
        let mismatches = property_mismatches(&own, dataset, &RECEIVED_PROPERTIES);
        if !mismatches.is_empty() {
            return Err(refused(
                dataset,
                format!(
                    "its own properties are not only those the driver set: {}",
                    mismatches.join("; ")
                ),
            ));
        }
        let name = dataset.rsplit('/').next().unwrap_or(dataset);
        let wanted = self.mountpoint(&self.pending_parent())?.join(name);
        let mountpoint = self.mounted(dataset)?;
        if mountpoint != wanted {
            return Err(refused(
                dataset,
                format!(
                    "it is mounted at {}, not below its parent at {}",
                    mountpoint.display(),
                    wanted.display()
                ),
            ));
        }
        let root = mountpoint.join("root");
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
        let origin = self.zfs.origin(dataset)?;
        let (origin, expected) = match (origin.as_deref(), expected) {
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
        if layer.as_ref() != Some(expected) && guid(&self.zfs, origin)? != guid(&self.zfs, &wanted)?
        {
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
        if self.has_layer(id)? {
            // Only the same snapshot can stand for the image: an incremental from `uuid`
            // is received by guid.
            if guid(&self.zfs, &format!("{from}@{FINAL}"))?
                == guid(&self.zfs, &format!("{to}@{FINAL}"))?
            {
                self.zfs.set(to, UUID_PROPERTY, uuid)?;
            }
            return Ok(false);
        }
        self.zfs.set(from, UUID_PROPERTY, uuid)?;
        self.unmount_tree(from)?;
        match retry_busy(|| self.zfs.rename(from, to)) {
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
        let copied = self.zfs.send(&snapshot, base.as_deref(), out)?;
        copied.map_err(StorageError::io(out_path))
    }
}

/// A snapshot's guid (exact, `-p`).
fn guid(zfs: &Zfs, snapshot: &str) -> Result<String> {
    match zfs.props(snapshot, &["guid"]).map_err(StorageError::from) {
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

/// A snapshot's guid as a number.
fn guid_number(zfs: &Zfs, snapshot: &str) -> Result<u64> {
    let text = guid(zfs, snapshot)?;
    text.parse().map_err(|_| {
        refused(
            snapshot,
            format!("zfs reported guid {text:?}, not a number"),
        )
    })
}

/// Reads until `buf` is full or the stream ends; returns how much was read.
fn read_up_to(stream: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// What differs between the rows of `zfs get -H -r -s local,received -o name,property,value
/// all DATASET` and `expected`, the only properties `dataset` may have of its own (its
/// snapshots none): a row not expected, or an expected one missing or with another value.
fn property_mismatches(rows: &[PropRow], dataset: &str, expected: &[(&str, &str)]) -> Vec<String> {
    let mut mismatches: Vec<String> = rows
        .iter()
        .filter(|row| {
            row.name != dataset
                || !expected
                    .iter()
                    .any(|(p, v)| row.property == *p && row.value == *v)
        })
        .map(|row| format!("{} {}={}", row.name, row.property, row.value))
        .collect();
    for (property, value) in expected {
        let set = rows
            .iter()
            .any(|row| row.name == dataset && row.property == *property && row.value == *value);
        if !set {
            mismatches.push(format!("{dataset} {property} is not {value}"));
        }
    }
    mismatches
}

#[cfg(test)]
mod tests {
    use super::super::cli::parse_get;
    use super::*;

    const DATASET: &str = "pool/aurora/pending/x-1-0";

    fn rows(lines: &[&str]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    #[test]
    fn only_the_properties_the_driver_set() {
        // As zfs-fuse prints them for a plain stream received with -u and then set.
        let exact = rows(&[
            "pool/aurora/pending/x-1-0\tsharenfs\toff",
            "pool/aurora/pending/x-1-0\treadonly\ton",
            "pool/aurora/pending/x-1-0\tcanmount\tnoauto",
            "pool/aurora/pending/x-1-0\tsharesmb\toff",
        ]);
        assert!(property_mismatches(&parse_get(&exact), DATASET, &RECEIVED_PROPERTIES).is_empty());

        // What a `zfs send -p` stream leaves (source `received`), beside what was set.
        let hostile = format!(
            "{exact}{}",
            rows(&[
                "pool/aurora/pending/x-1-0\tmountpoint\t/etc/cron.d",
                "pool/aurora/pending/x-1-0\tuser:x\ty",
                "pool/aurora/pending/x-1-0@final\tuser:y\tz",
                "pool/aurora/pending/x-1-0/child\tcanmount\ton",
            ])
        );
        let found = property_mismatches(&parse_get(&hostile), DATASET, &RECEIVED_PROPERTIES);
        assert_eq!(
            found,
            [
                "pool/aurora/pending/x-1-0 mountpoint=/etc/cron.d",
                "pool/aurora/pending/x-1-0 user:x=y",
                "pool/aurora/pending/x-1-0@final user:y=z",
                "pool/aurora/pending/x-1-0/child canmount=on",
            ]
        );

        // A value that did not take, and one missing.
        let wrong = rows(&[
            "pool/aurora/pending/x-1-0\tsharenfs\ton",
            "pool/aurora/pending/x-1-0\treadonly\ton",
            "pool/aurora/pending/x-1-0\tcanmount\tnoauto",
        ]);
        assert_eq!(
            property_mismatches(&parse_get(&wrong), DATASET, &RECEIVED_PROPERTIES),
            [
                "pool/aurora/pending/x-1-0 sharenfs=on",
                "pool/aurora/pending/x-1-0 sharenfs is not off",
                "pool/aurora/pending/x-1-0 sharesmb is not off",
            ]
        );
    }

    #[test]
    fn the_record_is_read_ahead_and_nothing_more() {
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut reader = std::io::Read::chain(&data[..5], &data[5..]);
        let mut head = [0u8; BEGIN_RECORD_LEN];
        assert_eq!(
            read_up_to(&mut reader, &mut head).unwrap(),
            BEGIN_RECORD_LEN
        );
        assert_eq!(&head[..], &data[..BEGIN_RECORD_LEN]);
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, &data[BEGIN_RECORD_LEN..]);
        let mut short = &data[..10];
        assert_eq!(read_up_to(&mut short, &mut head).unwrap(), 10);
    }
}
