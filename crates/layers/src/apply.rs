//! The portable driver: decompression on its own thread, tar entries read one by one, each
//! classified (whiteout, opaque marker, plain entry) and handed to the platform target.

use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;

use aurora_spec::Hasher;
use tar::EntryType;

use crate::error::shown;
use crate::limits::{Meter, ENTRY_COST};
use crate::path::{self, LayerPaths, RelPath, Role, WHITEOUT_PREFIX};
use crate::stream::{self, ChunkReader, HeaderBudget, ProduceError};
use crate::sys::{self, Ctx, Meta, Node, Target, Time, Warnings};
use crate::{
    ApplyOptions, ApplyReport, Compression, Error, ErrorKind, Ownership, MAX_HEADER_BYTES,
};

/// Applies one layer blob onto `root`.
///
/// The blob is decompressed (`compression`, or detected from its magic bytes) on a separate
/// thread behind a bounded queue, hashed as it streams (checked against
/// `options.expected_diff_id` at the end), and its entries are applied in order with the image
/// spec's whiteout semantics. See the crate documentation for the safety model. On error the
/// root may hold part of the layer and must be discarded.
pub fn apply_layer<R: Read + Send>(
    root: &Path,
    blob: R,
    compression: Compression,
    options: &ApplyOptions,
) -> Result<ApplyReport, Error> {
    let mut meter = Meter::new(options.max_bytes.as_ref(), options.shared_budget.as_deref());
    let applied = apply_metered(root, blob, compression, options, &mut meter);
    // A failed layer is discarded: what it drew from a shared budget is given back, so that
    // laying it down again (or another way) is not charged twice.
    if applied.is_err() {
        meter.refund();
    }
    applied
}

fn apply_metered<R: Read + Send>(
    root: &Path,
    blob: R,
    compression: Compression,
    options: &ApplyOptions,
    meter: &mut Meter<'_>,
) -> Result<ApplyReport, Error> {
    let label = options.label.as_str();
    let mut target = sys::open(root, options).map_err(|k| Error::new(label, None, k))?;
    let hasher = match &options.expected_diff_id {
        Some(digest) => Hasher::for_digest(digest)
            .map_err(|e| Error::new(label, None, ErrorKind::Unsupported(e.to_string())))?,
        None => Hasher::sha256(),
    };
    let mut report = ApplyReport::default();
    let mut warnings = Warnings {
        label,
        list: Vec::new(),
        count: 0,
    };

    let (applied, produced) = thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel(stream::QUEUE);
        let (recycle_tx, recycle_rx) = mpsc::channel();
        let producer = thread::Builder::new()
            .name("layer-decompress".into())
            .spawn_scoped(scope, move || {
                stream::produce(blob, compression, hasher, tx, recycle_rx)
            })
            .expect("spawning the decompression thread");
        // Returns only once `rx` is dropped, so the producer cannot block on a full queue.
        let applied = apply_entries(
            &mut *target,
            rx,
            recycle_tx,
            options,
            &mut report,
            &mut warnings,
            meter,
        );
        let produced = match producer.join() {
            Ok(produced) => produced,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (applied, produced)
    });

    report.warnings = warnings.list;
    report.warning_count = warnings.count;
    let produced = match (applied, produced) {
        // A decompression error explains whatever the tar side saw (usually a short stream).
        (
            applied,
            Err(ProduceError::Read {
                compression,
                source,
            }),
        ) => {
            let entry = applied.err().and_then(|e| e.entry);
            return Err(Error::new(
                label,
                entry,
                ErrorKind::Decompress {
                    compression,
                    source,
                },
            ));
        }
        (Err(e), _) => return Err(e),
        (Ok(()), Err(ProduceError::Stopped)) => {
            unreachable!("the tar side drains the stream before it returns Ok")
        }
        (Ok(()), Ok(produced)) => produced,
    };
    report.compression = produced.compression;
    report.tar_bytes = produced.tar_bytes;
    report.blob_bytes = produced.blob_bytes;
    report.diff_id = produced.digest.parse().ok();
    if let Some(expected) = &options.expected_diff_id {
        if expected.to_string() != produced.digest {
            return Err(Error::new(
                label,
                None,
                ErrorKind::DiffIdMismatch {
                    expected: expected.to_string(),
                    actual: produced.digest,
                },
            ));
        }
    }
    Ok(report)
}

fn apply_entries(
    target: &mut dyn Target,
    rx: Receiver<Vec<u8>>,
    recycle: Sender<Vec<u8>>,
    options: &ApplyOptions,
    report: &mut ApplyReport,
    warnings: &mut Warnings<'_>,
    meter: &mut Meter<'_>,
) -> Result<(), Error> {
    let label = options.label.as_str();
    let budget = Rc::new(HeaderBudget::default());
    let mut archive = tar::Archive::new(ChunkReader::new(rx, recycle, budget.clone()));
    let mut layer_paths = LayerPaths::default();
    let mut last: Option<String> = None;
    {
        let mut entries = archive
            .entries()
            .map_err(|e| Error::new(label, None, ErrorKind::Tar(e)))?;
        loop {
            budget.arm();
            let next = entries.next();
            budget.disarm();
            let mut entry = match next {
                None => break,
                Some(Ok(entry)) => entry,
                Some(Err(source)) => {
                    let after = last.take();
                    let kind = if budget.exceeded() {
                        ErrorKind::HeadersTooLarge {
                            after,
                            limit: MAX_HEADER_BYTES,
                        }
                    } else {
                        ErrorKind::Header { after, source }
                    };
                    return Err(Error::new(label, None, kind));
                }
            };
            report.entries += 1;
            let raw = entry.path_bytes().into_owned();
            let name = shown(&raw);
            let fail = |kind| Error::new(label, Some(name.clone()), kind);
            let applied = apply_entry(
                target,
                &mut entry,
                &raw,
                &name,
                options,
                report,
                warnings,
                &mut layer_paths,
                meter,
            );
            report.unpacked_bytes = meter.used;
            applied.map_err(fail)?;
            // Whatever the entry's data the target did not need (links with data, skipped
            // entries) is read here, so the next header read is only headers.
            io::copy(&mut entry, &mut io::sink()).map_err(|e| fail(ErrorKind::Tar(e)))?;
            last = Some(name);
        }
    }
    let mut ctx = Ctx {
        layer_paths: &layer_paths,
        warnings,
        entry: "",
    };
    target
        .finish(&mut ctx)
        .map_err(|k| Error::new(label, None, k))?;
    report.implied_dirs = target.implied_dirs();
    // The diff ID covers the whole stream: the end-of-archive blocks and any padding too.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| Error::new(label, None, ErrorKind::Tar(e)))?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn apply_entry<R: Read>(
    target: &mut dyn Target,
    entry: &mut tar::Entry<'_, R>,
    raw: &[u8],
    name: &str,
    options: &ApplyOptions,
    report: &mut ApplyReport,
    warnings: &mut Warnings<'_>,
    layer_paths: &mut LayerPaths,
    meter: &mut Meter<'_>,
) -> Result<(), ErrorKind> {
    let header = entry.header();
    let kind = header.entry_type();
    if kind.is_pax_global_extensions() {
        report.skipped += 1;
        return Ok(());
    }
    // Charged before anything of the entry is written: a whiteout or marker (a device in an
    // overlay upper) costs an inode as a file does; a file its declared size, holes included.
    let contents = match kind {
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => entry.size(),
        _ => 0,
    };
    meter.charge(ENTRY_COST.saturating_add(contents))?;
    let path = RelPath::normalize(raw).ok_or(ErrorKind::OutsideRoot)?;
    let role = path::role(&path).map_err(ErrorKind::InvalidEntry)?;
    match role {
        Role::Plain => {}
        Role::Whiteout(hidden) => {
            report.whiteouts += 1;
            let mut ctx = Ctx {
                layer_paths,
                warnings,
                entry: name,
            };
            return target.whiteout(&mut ctx, &hidden);
        }
        Role::Opaque(dir) => {
            report.opaque_dirs += 1;
            let mut ctx = Ctx {
                layer_paths,
                warnings,
                entry: name,
            };
            return target.opaque(&mut ctx, &dir);
        }
        Role::AufsMeta => {
            report.skipped += 1;
            return Ok(());
        }
    }

    if path.is_root() {
        report.root_entry = true;
    }
    let bad_header = |e: io::Error| ErrorKind::InvalidEntry(format!("bad header field: {e}"));
    let size = entry.size();
    let mode = header.mode().map_err(bad_header)? & 0o7777;
    let uid = header.uid().map_err(bad_header)?;
    let gid = header.gid().map_err(bad_header)?;
    let mtime = header.mtime().map_err(bad_header)?;
    // Only devices have meaningful device numbers; other entries may leave them blank.
    let (major, minor) = if matches!(kind, EntryType::Char | EntryType::Block) {
        (
            header.device_major().map_err(bad_header)?.unwrap_or(0),
            header.device_minor().map_err(bad_header)?.unwrap_or(0),
        )
    } else {
        (0, 0)
    };
    let link = entry.link_name_bytes().map(|l| l.into_owned());

    let link_path;
    let node = match kind {
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            if raw.ends_with(b"/") {
                // Old tars mark directories with a trailing slash only.
                Node::Dir
            } else {
                Node::File { size }
            }
        }
        EntryType::Directory => Node::Dir,
        EntryType::Symlink => match link.as_deref() {
            Some(target) if !target.is_empty() => Node::Symlink(target),
            _ => return Err(ErrorKind::InvalidEntry("a symlink without a target".into())),
        },
        EntryType::Link => {
            let target = link
                .as_deref()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| ErrorKind::InvalidEntry("a hardlink without a target".into()))?;
            link_path = RelPath::normalize(target).ok_or_else(|| ErrorKind::HardlinkTarget {
                target: shown(target),
                source: io::Error::other("climbs out of the root with '..'"),
            })?;
            if link_path.split().1.starts_with(WHITEOUT_PREFIX) {
                // Whiteouts are not files here (deleted, or devices in an upper dir).
                report.skipped += 1;
                warnings.warn(format!(
                    "entry {name:?}: hardlink to the whiteout {:?} skipped",
                    shown(target)
                ));
                return Ok(());
            }
            Node::Hardlink(&link_path)
        }
        EntryType::Char | EntryType::Block if !options.create_devices => {
            report.skipped += 1;
            warnings.warn(format!(
                "entry {name:?}: device node {major}:{minor} skipped (device creation is off)"
            ));
            return Ok(());
        }
        EntryType::Char => Node::CharDevice { major, minor },
        EntryType::Block => Node::BlockDevice { major, minor },
        EntryType::Fifo => Node::Fifo,
        other => {
            report.skipped += 1;
            warnings.warn(format!(
                "entry {name:?}: tar entry type {:?} is not supported, skipped",
                other.as_byte() as char
            ));
            return Ok(());
        }
    };

    let owner = match &options.ownership {
        // A hardlink has no metadata of its own: it is another name for its target.
        _ if matches!(node, Node::Hardlink(_)) => None,
        Ownership::Ignore => None,
        Ownership::Preserve => {
            let id = |v: u64, what: &str| {
                u32::try_from(v)
                    .map_err(|_| ErrorKind::InvalidEntry(format!("{what} {v} is too large")))
            };
            Some((id(uid, "uid")?, id(gid, "gid")?))
        }
        Ownership::Map(map) => {
            let host_uid = u32::try_from(uid).ok().and_then(|u| map.uid(u));
            let host_gid = u32::try_from(gid).ok().and_then(|g| map.gid(g));
            match (host_uid, host_gid) {
                (Some(u), Some(g)) => Some((u, g)),
                (None, _) => {
                    return Err(ErrorKind::InvalidEntry(format!(
                        "uid {uid} is not in the id map"
                    )))
                }
                (_, None) => {
                    return Err(ErrorKind::InvalidEntry(format!(
                        "gid {gid} is not in the id map"
                    )))
                }
            }
        }
    };
    let mut meta = Meta {
        owner,
        mode,
        mtime: Time {
            secs: i64::try_from(mtime).unwrap_or(i64::MAX),
            nanos: 0,
        },
        atime: Time {
            secs: i64::try_from(mtime).unwrap_or(i64::MAX),
            nanos: 0,
        },
        xattrs: Vec::new(),
    };
    let mut atime = None;
    if let Some(pax) = entry.pax_extensions().map_err(bad_header)? {
        for record in pax {
            let record = record.map_err(bad_header)?;
            let key = record.key_bytes();
            if key == b"mtime" {
                if let Some(t) = parse_pax_time(record.value_bytes()) {
                    meta.mtime = t;
                }
            } else if key == b"atime" {
                atime = parse_pax_time(record.value_bytes());
            } else if let Some(xattr) = key.strip_prefix(b"SCHILY.xattr.") {
                if xattr.starts_with(b"trusted.overlay.") || xattr.starts_with(b"user.overlay.") {
                    warnings.warn(format!(
                        "entry {name:?}: overlayfs xattr {} not taken from a layer",
                        String::from_utf8_lossy(xattr)
                    ));
                    continue;
                }
                // An empty PAX value deletes the keyword (POSIX pax; Go's archive/tar, and so
                // docker, containerd and umoci, read it so): no xattr.
                if record.value_bytes().is_empty() {
                    meta.xattrs.retain(|(n, _)| n != xattr);
                    continue;
                }
                meta.xattrs
                    .push((xattr.to_vec(), record.value_bytes().to_vec()));
            }
        }
    }
    meta.atime = atime.unwrap_or(meta.mtime);

    layer_paths.insert(&path);
    let mut ctx = Ctx {
        layer_paths,
        warnings,
        entry: name,
    };
    let written = target.put(&mut ctx, &path, &node, &meta, entry)?;
    // A hardlink to a lower layer's file in an overlay upper is a copy: known once made.
    if !matches!(node, Node::File { .. }) && written > 0 {
        meter.charge(written)?;
    }
    match node {
        Node::File { .. } => report.files += 1,
        Node::Dir => report.directories += 1,
        Node::Symlink(_) => report.symlinks += 1,
        Node::Hardlink(_) => report.hardlinks += 1,
        Node::CharDevice { .. } | Node::BlockDevice { .. } => report.devices += 1,
        Node::Fifo => report.fifos += 1,
    }
    report.file_bytes += written;
    Ok(())
}

/// A PAX time: decimal seconds, optionally negative, with an optional fraction.
fn parse_pax_time(value: &[u8]) -> Option<Time> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: u32 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
    }
    if negative {
        if nanos == 0 {
            Some(Time {
                secs: -secs,
                nanos: 0,
            })
        } else {
            Some(Time {
                secs: -secs - 1,
                nanos: 1_000_000_000 - nanos,
            })
        }
    } else {
        Some(Time { secs, nanos })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_keep_nanoseconds_and_sign() {
        assert_eq!(
            parse_pax_time(b"1700000000"),
            Some(Time {
                secs: 1700000000,
                nanos: 0
            })
        );
        assert_eq!(
            parse_pax_time(b"1700000000.123456789123"),
            Some(Time {
                secs: 1700000000,
                nanos: 123456789
            })
        );
        assert_eq!(
            parse_pax_time(b"1.5"),
            Some(Time {
                secs: 1,
                nanos: 500000000
            })
        );
        assert_eq!(
            parse_pax_time(b"-1.25"),
            Some(Time {
                secs: -2,
                nanos: 750000000
            })
        );
        assert_eq!(parse_pax_time(b"x"), None);
        assert_eq!(parse_pax_time(b""), None);
    }
}
