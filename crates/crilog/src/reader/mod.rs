//! Reading a container's log back: `FILE.1` then `FILE`, `P` fragments joined into the line
//! they form, filtered by time, the last N lines, and following a running container.

mod segment;

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::line::{format_timestamp, parse_line, Stream};
use crate::{rotated_path, LogError};
pub use segment::MAX_RECORD_SIZE;
use segment::{Read, Segment};

/// A line joined from `P` fragments is handed out once it reaches this size (1 MiB), marked
/// partial, so that a stream without newlines cannot make a reader hold it all.
pub const MAX_JOINED_LINE: usize = 1024 * 1024;

/// What to read (podman's `logs --since --until --tail --timestamps`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Only lines written at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only lines written at or before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only the last N lines (of those since/until let through), then whatever follows.
    pub tail: Option<usize>,
    /// Whether [`LogLine::render`] prefixes the time.
    pub timestamps: bool,
}

/// One line of output, its fragments joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When its first fragment was written.
    pub time: DateTime<Utc>,
    pub stream: Stream,
    /// The line has no newline (the output stopped in the middle of it, or it was cut at
    /// [`MAX_JOINED_LINE`]).
    pub partial: bool,
    /// Without the newline.
    pub message: Vec<u8>,
}

impl LogLine {
    /// Appends the line as `podman logs` prints it: `[TIMESTAMP ]MESSAGE` and the newline
    /// the container wrote (none for a partial line).
    pub fn render(&self, timestamps: bool, out: &mut Vec<u8>) {
        if timestamps {
            out.extend_from_slice(format_timestamp(self.time).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&self.message);
        if !self.partial {
            out.push(b'\n');
        }
    }
}

/// Opens the log at `path` (and `path.1` before it) for `query`. A log that does not exist
/// yet reads as empty (or, when following, is waited for).
pub fn read_logs(path: &Path, query: &LogQuery) -> Result<LogReader, LogError> {
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |source| LogError::Read { path, source }
    };
    let rotated = rotated_path(path);
    let mut segments = VecDeque::new();
    for file in [&rotated, path] {
        match File::open(file) {
            Ok(opened) => segments.push_back(Segment::new(opened, None).map_err(failed(file))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(LogError::Read {
                    path: file.to_path_buf(),
                    source,
                })
            }
        }
    }
    let mut reader = LogReader::new(path, segments, query);
    if let Some(tail) = query.tail {
        reader.skip = reader.count_lines()?.saturating_sub(tail);
    }
    Ok(reader)
}

struct Follow {
    stop: Box<dyn FnMut() -> bool + Send>,
    interval: Duration,
    /// `stop` said yes: one last read to the end, then the reader ends.
    stopping: bool,
    /// FILE was rotated away from under the last segment: after that one is read to its
    /// end, the new FILE follows.
    rotated: bool,
}

/// The lines of a log, oldest first. Records that are not CRI records (garbage, a bad time,
/// longer than [`MAX_RECORD_SIZE`]) are skipped and counted ([`LogReader::skipped_records`]).
pub struct LogReader {
    path: PathBuf,
    /// What is left to read: FILE.1, then FILE (the last one is the one followed).
    segments: VecDeque<Segment>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    /// Lines still to drop (for `tail`).
    skip: usize,
    /// The line being joined on stdout and on stderr: its time and fragments so far.
    joining: [Option<(DateTime<Utc>, Vec<u8>)>; 2],
    ready: VecDeque<LogLine>,
    skipped_records: u64,
    follow: Option<Follow>,
    finished: bool,
}

impl LogReader {
    fn new(path: &Path, segments: VecDeque<Segment>, query: &LogQuery) -> LogReader {
        LogReader {
            path: path.to_owned(),
            segments,
            since: query.since,
            until: query.until,
            skip: 0,
            joining: [None, None],
            ready: VecDeque::new(),
            skipped_records: 0,
            follow: None,
            finished: false,
        }
    }

    /// Keeps reading as the log grows, across rotations, until `stop` returns true at the end
    /// of the data (the container exited) and what was written before is read.
    pub fn follow(mut self, stop: impl FnMut() -> bool + Send + 'static) -> LogReader {
        self.follow = Some(Follow {
            stop: Box::new(stop),
            interval: Duration::from_millis(100),
            stopping: false,
            rotated: false,
        });
        self
    }

    /// How often a follower looks for new data (100 ms unless changed).
    pub fn poll_interval(mut self, interval: Duration) -> LogReader {
        if let Some(follow) = self.follow.as_mut() {
            follow.interval = interval;
        }
        self
    }

    /// Records skipped because they were not CRI records.
    pub fn skipped_records(&self) -> u64 {
        self.skipped_records
    }

    /// How many lines a read of the data there now would give (the first pass of `tail`):
    /// the same files, opened once, read to their present length.
    fn count_lines(&self) -> Result<usize, LogError> {
        let mut segments = VecDeque::new();
        for segment in &self.segments {
            let snapshot = segment
                .len()
                .and_then(|length| segment.reopen(Some(length)))
                .map_err(|source| LogError::Read {
                    path: self.path.clone(),
                    source,
                })?;
            segments.push_back(snapshot);
        }
        let query = LogQuery {
            since: self.since,
            until: self.until,
            ..LogQuery::default()
        };
        let counter = LogReader::new(&self.path, segments, &query);
        let mut count = 0;
        for line in counter {
            line?;
            count += 1;
        }
        Ok(count)
    }

    /// Takes one record from the first segment, or handles its end (waiting for more when
    /// following).
    fn step(&mut self) -> Result<(), LogError> {
        let path = self.path.clone();
        let Some(segment) = self.segments.front_mut() else {
            return self.at_end_of_files();
        };
        let read = segment
            .read()
            .map_err(|source| LogError::Read { path, source })?;
        match read {
            Read::Record => {
                let record = std::mem::take(&mut segment.record);
                self.take_record(&record);
                self.segments[0].record = record;
                self.segments[0].record.clear();
            }
            Read::Overlong => self.skipped_records += 1,
            Read::End => {
                let last = self.segments.len() == 1;
                let follow_on = last
                    && self
                        .follow
                        .as_ref()
                        .is_some_and(|f| !f.stopping && !f.rotated);
                if follow_on {
                    return self.wait_for_data();
                }
                // This file is done: what follows its last newline is its last record.
                let mut segment = self.segments.pop_front().expect("a segment was read");
                if segment.is_overlong() {
                    self.skipped_records += 1;
                } else if !segment.record.is_empty() {
                    let record = std::mem::take(&mut segment.record);
                    self.take_record(&record);
                }
                if last
                    && self
                        .follow
                        .as_ref()
                        .is_some_and(|f| f.rotated && !f.stopping)
                {
                    self.follow.as_mut().expect("following").rotated = false;
                    self.open_current()?;
                }
            }
        }
        Ok(())
    }

    /// At the end of the followed file: sees a rotation, asks whether to stop, or waits.
    fn wait_for_data(&mut self) -> Result<(), LogError> {
        let current = self.segments.front().map(|s| s.inode);
        let on_disk = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino()));
        let follow = self.follow.as_mut().expect("following");
        if on_disk.is_some() && on_disk != current {
            // Records written after the rename go to the new file, so the old one is read
            // to its end once more, then left.
            follow.rotated = true;
        } else if (follow.stop)() {
            follow.stopping = true;
        } else {
            std::thread::sleep(follow.interval);
        }
        Ok(())
    }

    /// No file left: a follower waits for FILE to appear (or for `stop`).
    fn at_end_of_files(&mut self) -> Result<(), LogError> {
        match self.follow.as_mut() {
            Some(follow) if !follow.stopping => {
                if self.path.exists() {
                    self.open_current()?;
                } else if (follow.stop)() {
                    follow.stopping = true;
                } else {
                    std::thread::sleep(follow.interval);
                }
            }
            _ => {
                self.finish_joining();
                self.finished = true;
            }
        }
        Ok(())
    }

    fn open_current(&mut self) -> Result<(), LogError> {
        let failed = |source| LogError::Read {
            path: self.path.clone(),
            source,
        };
        match File::open(&self.path) {
            Ok(file) => {
                self.segments
                    .push_back(Segment::new(file, None).map_err(failed)?);
                Ok(())
            }
            // Rotated again, or removed: found on the next look.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(failed(source)),
        }
    }

    fn take_record(&mut self, record: &[u8]) {
        let Ok(parsed) = parse_line(record) else {
            self.skipped_records += 1;
            return;
        };
        let slot = &mut self.joining[match parsed.stream {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }];
        let (time, mut message) = slot.take().unwrap_or_else(|| (parsed.time, Vec::new()));
        message.extend_from_slice(parsed.message);
        if parsed.partial && message.len() < MAX_JOINED_LINE {
            *slot = Some((time, message));
            return;
        }
        self.ready.push_back(LogLine {
            time,
            stream: parsed.stream,
            partial: parsed.partial,
            message,
        });
    }

    /// The end of the log: lines still being joined come out as partial lines.
    fn finish_joining(&mut self) {
        for (index, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            if let Some((time, message)) = self.joining[index].take() {
                self.ready.push_back(LogLine {
                    time,
                    stream,
                    partial: true,
                    message,
                });
            }
        }
        self.ready.make_contiguous().sort_by_key(|line| line.time);
    }

    fn wanted(&self, line: &LogLine) -> bool {
        self.since.is_none_or(|since| line.time >= since)
            && self.until.is_none_or(|until| line.time <= until)
    }
}

impl Iterator for LogReader {
    type Item = Result<LogLine, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            while let Some(line) = self.ready.pop_front() {
                if !self.wanted(&line) {
                    continue;
                }
                if self.skip > 0 {
                    self.skip -= 1;
                    continue;
                }
                return Some(Ok(line));
            }
            if self.finished {
                return None;
            }
            if let Err(error) = self.step() {
                self.finished = true;
                return Some(Err(error));
            }
        }
    }
}

#[cfg(test)]
mod tests;
