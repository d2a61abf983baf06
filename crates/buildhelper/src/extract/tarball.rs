//! Tar archives: entries read one by one from the (decompressed) stream and written through
//! [`Dest`]. Header memory is bounded: while the parser reads an entry's headers (GNU long
//! names, PAX records), it may read at most [`MAX_HEADER_BYTES`].

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

use tar::EntryType;

use super::dest::{Dest, Meta, Special};
use super::paths::{normalize, shown};
use super::{Budget, ErrorKind, Report};

/// The most bytes the parser may read for one entry's headers and padding: paths are at
/// most 4 KiB on Linux, so this is generous, and it keeps a hostile `L` or `x` record from
/// being read into memory whole.
pub const MAX_HEADER_BYTES: u64 = 1 << 20;

/// What the header guard saw.
#[derive(Default)]
struct Guard {
    armed: Cell<bool>,
    used: Cell<u64>,
    tripped: Cell<bool>,
}

/// The stream the tar parser reads, failing while armed once the header budget is spent.
struct Guarded<R> {
    inner: R,
    guard: Rc<Guard>,
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let g = &self.guard;
        let mut len = buf.len();
        if g.armed.get() {
            let left = MAX_HEADER_BYTES.saturating_sub(g.used.get());
            if left == 0 {
                g.tripped.set(true);
                return Err(io::Error::other("entry headers too large"));
            }
            len = len.min(usize::try_from(left).unwrap_or(usize::MAX));
        }
        let n = self.inner.read(&mut buf[..len])?;
        if g.armed.get() {
            g.used.set(g.used.get() + n as u64);
        }
        Ok(n)
    }
}

/// How the archive is being read.
pub struct Source<'a> {
    pub stream: Box<dyn Read + 'a>,
    /// The archive's length when it is an uncompressed file: entries declaring more data
    /// than follows them are refused before anything is written.
    pub plain_len: Option<u64>,
}

/// Extracts every entry; errors name the entry (`Some`) when one is at fault.
pub fn extract(
    source: Source<'_>,
    dest: &mut Dest,
    strip: usize,
    budget: &mut Budget,
    report: &mut Report,
) -> Result<(), (Option<String>, ErrorKind)> {
    let guard = Rc::new(Guard::default());
    let mut archive = tar::Archive::new(Guarded {
        inner: source.stream,
        guard: guard.clone(),
    });
    let mut entries = archive.entries().map_err(|e| (None, ErrorKind::Read(e)))?;
    let mut last: Option<String> = None;
    loop {
        guard.used.set(0);
        guard.armed.set(true);
        let next = entries.next();
        guard.armed.set(false);
        let mut entry = match next {
            None => break,
            Some(Ok(entry)) => entry,
            Some(Err(source)) => {
                let kind = if guard.tripped.get() {
                    ErrorKind::HeadersTooLarge {
                        limit: MAX_HEADER_BYTES,
                    }
                } else if last.is_none() {
                    ErrorKind::NotTar(source)
                } else {
                    ErrorKind::Header {
                        after: last.take(),
                        source,
                    }
                };
                return Err((None, kind));
            }
        };
        report.entries += 1;
        let raw = entry.path_bytes().into_owned();
        let name = shown(&raw);
        let done = one(
            &mut entry,
            &raw,
            source.plain_len,
            dest,
            strip,
            budget,
            report,
        );
        done.map_err(|kind| (Some(name.clone()), kind))?;
        // What the writer did not read (a link's data, a skipped entry) is read here, so that
        // the guarded read of the next header is headers only.
        io::copy(&mut entry, &mut io::sink())
            .map_err(|e| (Some(name.clone()), ErrorKind::Read(e)))?;
        last = Some(name);
    }
    Ok(())
}

fn number(value: io::Result<u64>, field: &'static str) -> Result<u64, ErrorKind> {
    value.map_err(|source| ErrorKind::BadField { field, source })
}

fn id(value: io::Result<u64>, field: &'static str) -> Result<u32, ErrorKind> {
    let n = number(value, field)?;
    u32::try_from(n).map_err(|_| ErrorKind::BadField {
        field,
        source: io::Error::other(format!("{n} is out of range")),
    })
}

fn one<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    raw: &[u8],
    plain_len: Option<u64>,
    dest: &mut Dest,
    strip: usize,
    budget: &mut Budget,
    report: &mut Report,
) -> Result<(), ErrorKind> {
    let header = entry.header();
    let mut ty = header.entry_type();
    if ty == EntryType::XGlobalHeader {
        report.skipped += 1;
        return Ok(());
    }
    // Old tars mark directories only by the trailing slash.
    if matches!(ty, EntryType::Regular | EntryType::Continuous) && raw.ends_with(b"/") {
        ty = EntryType::Directory;
    }
    let Some(path) = normalize(raw, strip, false)? else {
        report.skipped += 1;
        return Ok(());
    };
    let meta = Meta {
        mode: number(header.mode().map(u64::from), "mode")? as u32,
        uid: id(header.uid(), "uid")?,
        gid: id(header.gid(), "gid")?,
        mtime: i64::try_from(number(header.mtime(), "mtime")?).unwrap_or(i64::MAX),
    };
    let device = |field| -> Result<u32, ErrorKind> {
        let value = match field {
            "major" => header.device_major(),
            _ => header.device_minor(),
        };
        Ok(value
            .map_err(|source| ErrorKind::BadField {
                field: "device",
                source,
            })?
            .unwrap_or(0))
    };
    match ty {
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            // `size` is the file's; `stored` what the archive holds of it (less for a
            // sparse file, whose holes the parser fills with zeros).
            let size = entry.size();
            let stored = number(header.entry_size(), "size")?;
            if let Some(len) = plain_len {
                let left = len.saturating_sub(entry.raw_file_position());
                if stored > left {
                    return Err(ErrorKind::BeyondArchive {
                        declared: stored,
                        left,
                    });
                }
            }
            budget.charge(size)?;
            dest.file(&path, meta, size, entry)?;
            report.files += 1;
            report.bytes += size;
        }
        EntryType::Directory => {
            dest.dir(&path, meta)?;
            report.directories += 1;
        }
        EntryType::Symlink => {
            let target = entry.link_name_bytes().ok_or(ErrorKind::BadSymlinkTarget)?;
            dest.symlink(&path, &target, meta)?;
            report.symlinks += 1;
        }
        EntryType::Link => {
            let raw_target = entry.link_name_bytes().ok_or(ErrorKind::NoLinkTarget)?;
            let target = normalize(&raw_target, strip, false)
                .map_err(|e| ErrorKind::LinkTarget {
                    target: shown(&raw_target),
                    reason: Box::new(e),
                })?
                .ok_or_else(|| ErrorKind::LinkTargetStripped(shown(&raw_target)))?;
            dest.hardlink(&path, &target)?;
            report.hardlinks += 1;
        }
        EntryType::Fifo | EntryType::Char | EntryType::Block => {
            let special = match ty {
                EntryType::Fifo => Special::Fifo,
                EntryType::Char => Special::Char(device("major")?, device("minor")?),
                _ => Special::Block(device("major")?, device("minor")?),
            };
            if dest.special(&path, special, meta)? {
                report.specials += 1;
            } else {
                report.skipped += 1;
                report.warn(format!("{}: device not created (needs root)", shown(raw)));
            }
        }
        other => {
            report.skipped += 1;
            report.warn(format!("{}: entry type {other:?} skipped", shown(raw)));
        }
    }
    Ok(())
}
