//! Zip archives: read from their central directory (so from a file, not a pipe), entries
//! written through [`Dest`] with the same path rules as tar's. A symlink is an entry whose
//! Unix mode says `S_IFLNK`, its data the target. Files are owned by the user extracting
//! (zip keeps no portable owner); modes come from the Unix mode when the archive has one.

use std::fs::File;
use std::io::{BufReader, Read};

use zip::CompressionMethod;

use super::dest::{Dest, Meta};
use super::paths::{normalize, shown};
use super::{Budget, ErrorKind, Report};

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// The longest symlink target read from a zip (Linux's PATH_MAX).
const MAX_LINK: u64 = 4096;

/// Extracts every entry of the zip archive `file` (`len` bytes long).
pub fn extract(
    file: File,
    len: u64,
    dest: &mut Dest,
    strip: usize,
    budget: &mut Budget,
    report: &mut Report,
) -> Result<(), (Option<String>, ErrorKind)> {
    let mut archive =
        zip::ZipArchive::new(BufReader::new(file)).map_err(|e| (None, ErrorKind::Zip(e)))?;
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|e| (None, ErrorKind::Zip(e)))?;
        report.entries += 1;
        let raw = entry.name_raw().to_vec();
        one(&mut entry, &raw, len, dest, strip, budget, report)
            .map_err(|kind| (Some(shown(&raw)), kind))?;
    }
    Ok(())
}

fn one(
    entry: &mut zip::read::ZipFile<'_, BufReader<File>>,
    raw: &[u8],
    len: u64,
    dest: &mut Dest,
    strip: usize,
    budget: &mut Budget,
    report: &mut Report,
) -> Result<(), ErrorKind> {
    let Some(path) = normalize(raw, strip, true)? else {
        report.skipped += 1;
        return Ok(());
    };
    let unix = entry.unix_mode();
    let kind = unix.map(|m| m & S_IFMT).unwrap_or(0);
    let is_dir = entry.is_dir() || kind == S_IFDIR;
    let default_mode = if is_dir { 0o755 } else { 0o644 };
    let meta = Meta {
        mode: unix.map(|m| m & 0o7777).unwrap_or(default_mode),
        // Not chowned (Dest is opened without same-owner for zips); kept for the type.
        uid: 0,
        gid: 0,
        mtime: entry
            .last_modified()
            .map(|t| {
                unix_time(
                    t.year(),
                    t.month(),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second(),
                )
            })
            .unwrap_or(0),
    };
    let size = entry.size();
    if entry.compressed_size() > len {
        return Err(ErrorKind::BeyondArchive {
            declared: entry.compressed_size(),
            left: len,
        });
    }
    if kind == S_IFLNK {
        if size > MAX_LINK {
            return Err(ErrorKind::BadSymlinkTarget);
        }
        let mut target = Vec::new();
        entry
            .by_ref()
            .take(MAX_LINK + 1)
            .read_to_end(&mut target)
            .map_err(ErrorKind::Read)?;
        dest.symlink(&path, &target, meta)?;
        report.symlinks += 1;
    } else if is_dir {
        dest.dir(&path, meta)?;
        report.directories += 1;
    } else if kind == 0 || kind == S_IFREG {
        if entry.compression() == CompressionMethod::Stored && size > entry.compressed_size() {
            return Err(ErrorKind::BeyondArchive {
                declared: size,
                left: entry.compressed_size(),
            });
        }
        budget.charge(size)?;
        dest.file(&path, meta, size, entry)?;
        report.files += 1;
        report.bytes += size;
    } else {
        report.skipped += 1;
        report.warn(format!(
            "{}: not a file, directory or symlink; skipped",
            shown(raw)
        ));
    }
    Ok(())
}

/// Seconds since the epoch of a zip (MS-DOS) local time, read as UTC: zip records no zone.
fn unix_time(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> i64 {
    // Days from 1970-01-01 to the date (the proleptic Gregorian calendar, March-based
    // years so that the leap day is the last day of a year).
    let (y, m) = if month <= 2 {
        (i64::from(year) - 1, i64::from(month) + 9)
    } else {
        (i64::from(year), i64::from(month) - 3)
    };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
}

#[cfg(test)]
mod tests {
    use super::unix_time;

    #[test]
    fn dos_times() {
        assert_eq!(unix_time(1980, 1, 1, 0, 0, 0), 315_532_800);
        assert_eq!(unix_time(2000, 2, 29, 12, 0, 0), 951_825_600);
        assert_eq!(unix_time(2024, 12, 31, 23, 59, 58), 1_735_689_598);
    }
}
