//! The first record of a `zfs send` stream, read before `zfs receive` ever sees the stream,
//! so that the driver decides from the stream itself what it is willing to receive.
//!
//! Every stream starts with a `dmu_replay_record` of type `DRR_BEGIN` (OpenZFS
//! `include/sys/zfs_ioctl.h`; the same layout in illumos and zfs-fuse), 312 bytes in the
//! sender's byte order:
//!
//! ```text
//! 0    u32  drr_type            0 = DRR_BEGIN
//! 4    u32  drr_payloadlen      bytes that follow the record (a packed nvlist)
//! 8    u64  drr_magic           0x2F5BACBAC (DMU_BACKUP_MAGIC); byte-swapped: other order
//! 16   u64  drr_versioninfo     bits 0-1 header type (1 substream, 2 compound),
//!                               bits 2-31 feature flags
//! 24   u64  drr_creation_time
//! 32   u32  drr_type            objset type (2 = DMU_OST_ZFS, a filesystem; 3 = a zvol)
//! 36   u32  drr_flags
//! 40   u64  drr_toguid          guid of the snapshot the stream makes
//! 48   u64  drr_fromguid        0 for a full stream, else the snapshot it is incremental from
//! 56   [u8; 256] drr_toname     DATASET@SNAPSHOT, NUL-terminated
//! ```
//!
//! A *substream* (plain `zfs send [-i]`) holds one snapshot of one dataset and no properties.
//! A *compound* stream (`zfs send -p`, `-R`, `-I`, `-D`) is a BEGIN whose payload is an nvlist
//! of datasets and their properties (mountpoint, canmount, sharenfs, …) followed by any number
//! of substreams: children, several snapshots. `zfs receive` applies those properties, so the
//! driver receives substreams only (see [`BeginRecord::check_single_snapshot`]).
//!
//! [`parse_begin`] is pure and reads at most [`BEGIN_RECORD_LEN`] bytes, so a fuzz target can
//! call it on any input.

/// Size of a `dmu_replay_record` (the BEGIN record is the whole of it).
pub const BEGIN_RECORD_LEN: usize = 312;

/// `DMU_BACKUP_MAGIC`.
const MAGIC: u64 = 0x2_F5BA_CBAC;
const DRR_BEGIN: u32 = 0;
const DMU_SUBSTREAM: u64 = 1;
const DMU_COMPOUNDSTREAM: u64 = 2;
/// `dmu_objset_type_t`: a filesystem.
const DMU_OST_ZFS: u32 = 2;
const DMU_OST_ZVOL: u32 = 3;
/// `MAXNAMELEN`: the size of `drr_toname`.
const NAME_LEN: usize = 256;
const NAME_AT: usize = 56;

/// Feature flags (`DMU_BACKUP_FEATURE_*`) of streams that are not a whole snapshot as it is:
/// a resumed send (the rest of an interrupted one), a redacted one (blocks left out) and a raw
/// one (encrypted with the sender's key, which comes in the BEGIN payload).
const FEATURE_RESUMING: u32 = 1 << 20;
const FEATURE_REDACTED: u32 = 1 << 21;
const FEATURE_RAW: u32 = 1 << 24;

/// Whether a stream holds one snapshot or a package of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderType {
    /// One snapshot of one dataset, no properties (`zfs send [-i FROM] SNAP`).
    Substream,
    /// Properties, children, several snapshots (`zfs send -p`, `-R`, `-I`, `-D`).
    Compound,
}

/// What the BEGIN record of a stream says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeginRecord {
    /// The sender wrote its numbers big-endian (e.g. SPARC); the fields below are read in
    /// whichever order the magic number showed.
    pub big_endian: bool,
    pub header: HeaderType,
    /// `DMU_BACKUP_FEATURE_*` bits.
    pub features: u32,
    /// Bytes of the BEGIN record's payload (an nvlist).
    pub payload_len: u32,
    /// `dmu_objset_type_t` of what the stream holds.
    pub objset_type: u32,
    pub flags: u32,
    pub to_guid: u64,
    /// 0 for a full stream.
    pub from_guid: u64,
    /// `DATASET@SNAPSHOT` as the sender named it.
    pub to_name: String,
}

impl BeginRecord {
    /// The snapshot's own name (after the `@`), which `zfs receive` gives the received one.
    pub fn snapshot(&self) -> &str {
        self.to_name
            .split_once('@')
            .map_or("", |(_, snapshot)| snapshot)
    }

    /// Accepts a plain stream of one filesystem snapshot that is full when `from_guid` is
    /// `None` and incremental from exactly the snapshot of guid `from_guid` otherwise; refuses
    /// anything that could carry properties, children or more snapshots, or that is not the
    /// whole of a snapshot.
    pub fn check_single_snapshot(&self, from_guid: Option<u64>) -> Result<(), StreamError> {
        if self.header == HeaderType::Compound {
            return Err(StreamError::Compound {
                name: self.to_name.clone(),
            });
        }
        if self.objset_type != DMU_OST_ZFS {
            return Err(StreamError::NotFilesystem {
                objset_type: self.objset_type,
            });
        }
        let partial = self.features & (FEATURE_RESUMING | FEATURE_REDACTED | FEATURE_RAW);
        if partial != 0 {
            return Err(StreamError::Partial { features: partial });
        }
        if self.payload_len != 0 {
            return Err(StreamError::Payload {
                len: self.payload_len,
            });
        }
        if self.snapshot().is_empty() {
            return Err(StreamError::NoSnapshot {
                name: self.to_name.clone(),
            });
        }
        match (from_guid, self.from_guid) {
            (None, 0) => Ok(()),
            (None, found) => Err(StreamError::UnexpectedIncremental { from_guid: found }),
            (Some(expected), 0) => Err(StreamError::UnexpectedFull { expected }),
            (Some(expected), found) if found != expected => {
                Err(StreamError::WrongOrigin { found, expected })
            }
            (Some(_), _) => Ok(()),
        }
    }
}

/// Why a stream is not received.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("not a zfs send stream: it ends after {len} bytes, before its first record ({BEGIN_RECORD_LEN} bytes) is whole")]
    Short { len: usize },
    #[error("not a zfs send stream (bad magic number {magic:#x})")]
    BadMagic { magic: u64 },
    #[error("not a zfs send stream: its first record is of type {record_type}, not BEGIN")]
    NotBegin { record_type: u32 },
    #[error("not a zfs send stream: unknown header type {value} (1 plain, 2 compound)")]
    UnknownHeader { value: u64 },
    #[error("not a zfs send stream: the snapshot name in its first record is {0}")]
    BadName(&'static str),
    #[error(
        "{name} is sent as a compound stream (zfs send -p, -R, -I or -D), which can carry \
         properties (mountpoint, canmount, sharenfs, …), child datasets and several snapshots; \
         only a plain stream of one snapshot (zfs send [-i]) is received"
    )]
    Compound { name: String },
    #[error("the stream holds a {} (objset type {objset_type}), not a filesystem", objset_kind(*.objset_type))]
    NotFilesystem { objset_type: u32 },
    #[error("the stream is not a whole snapshot (a resumed, redacted or raw send: feature flags {features:#x})")]
    Partial { features: u32 },
    #[error("the stream's first record carries a {len}-byte payload, which only resumed, redacted and raw sends have")]
    Payload { len: u32 },
    #[error("the stream's first record names no snapshot ({name:?})")]
    NoSnapshot { name: String },
    #[error("the stream is incremental (from the snapshot of guid {from_guid}), but no origin was named")]
    UnexpectedIncremental { from_guid: u64 },
    #[error("the stream is a full one, but it should be incremental from the origin's snapshot (guid {expected})")]
    UnexpectedFull { expected: u64 },
    #[error("the stream is incremental from the snapshot of guid {found}, not from the origin's (guid {expected})")]
    WrongOrigin { found: u64, expected: u64 },
}

impl StreamError {
    /// Whether the input is no zfs stream at all (as opposed to one that is refused).
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            StreamError::Short { .. }
                | StreamError::BadMagic { .. }
                | StreamError::NotBegin { .. }
                | StreamError::UnknownHeader { .. }
                | StreamError::BadName(_)
        )
    }
}

fn objset_kind(objset_type: u32) -> &'static str {
    match objset_type {
        DMU_OST_ZVOL => "volume",
        _ => "dataset of another kind",
    }
}

/// Parses the BEGIN record at the start of `bytes` (only the first [`BEGIN_RECORD_LEN`] bytes
/// are looked at).
pub fn parse_begin(bytes: &[u8]) -> Result<BeginRecord, StreamError> {
    let Some(record) = bytes.get(..BEGIN_RECORD_LEN) else {
        return Err(StreamError::Short { len: bytes.len() });
    };
    let le_magic = u64_at(record, 8, false);
    let big_endian = if le_magic == MAGIC {
        false
    } else if le_magic.swap_bytes() == MAGIC {
        true
    } else {
        return Err(StreamError::BadMagic { magic: le_magic });
    };
    let u32_at = |at: usize| u32_at(record, at, big_endian);
    let u64_at = |at: usize| u64_at(record, at, big_endian);
    let record_type = u32_at(0);
    if record_type != DRR_BEGIN {
        return Err(StreamError::NotBegin { record_type });
    }
    let versioninfo = u64_at(16);
    let header = match versioninfo & 0b11 {
        DMU_SUBSTREAM => HeaderType::Substream,
        DMU_COMPOUNDSTREAM => HeaderType::Compound,
        value => return Err(StreamError::UnknownHeader { value }),
    };
    let name = &record[NAME_AT..NAME_AT + NAME_LEN];
    let Some(end) = name.iter().position(|&b| b == 0) else {
        return Err(StreamError::BadName("not NUL-terminated"));
    };
    let to_name = std::str::from_utf8(&name[..end])
        .map_err(|_| StreamError::BadName("not UTF-8"))?
        .to_string();
    Ok(BeginRecord {
        big_endian,
        header,
        // Bits 2-31 of drr_versioninfo: 30 bits, so the cast keeps them all.
        features: ((versioninfo >> 2) & 0x3fff_ffff) as u32,
        payload_len: u32_at(4),
        objset_type: u32_at(32),
        flags: u32_at(36),
        to_guid: u64_at(40),
        from_guid: u64_at(48),
        to_name,
    })
}

fn u32_at(record: &[u8], at: usize, big_endian: bool) -> u32 {
    let mut raw = [0u8; 4];
    raw.copy_from_slice(&record[at..at + 4]);
    if big_endian {
        u32::from_be_bytes(raw)
    } else {
        u32::from_le_bytes(raw)
    }
}

fn u64_at(record: &[u8], at: usize, big_endian: bool) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&record[at..at + 8]);
    if big_endian {
        u64::from_be_bytes(raw)
    } else {
        u64::from_le_bytes(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The first 312 bytes of streams written by zfs-fuse 0.7.0 from one dataset `zexp/src`
    // (snapshots @one, @two; mountpoint, canmount, sharenfs and a user property set; a child
    // dataset): `zfs send zexp/src@two`, `-p`, `-R`, `-i @one`, `-I @one`.
    const PLAIN: &[u8] = include_bytes!("testdata/zfs-fuse-plain.begin");
    const PROPS: &[u8] = include_bytes!("testdata/zfs-fuse-p.begin");
    const REPLICATE: &[u8] = include_bytes!("testdata/zfs-fuse-R.begin");
    const INCREMENTAL: &[u8] = include_bytes!("testdata/zfs-fuse-i.begin");
    const INTERMEDIATE: &[u8] = include_bytes!("testdata/zfs-fuse-I.begin");
    /// `zfs get -Hp guid zexp/src@two` there.
    const TWO: u64 = 12788674074369299631;

    #[test]
    fn plain_streams_of_zfs_fuse() {
        let full = parse_begin(PLAIN).unwrap();
        assert_eq!(full.header, HeaderType::Substream);
        assert!(!full.big_endian);
        assert_eq!(full.to_name, "zexp/src@two");
        assert_eq!(full.snapshot(), "two");
        assert_eq!(full.to_guid, TWO);
        assert_eq!(full.from_guid, 0);
        assert_eq!(full.objset_type, DMU_OST_ZFS);
        assert_eq!(full.payload_len, 0);
        full.check_single_snapshot(None).unwrap();

        let incremental = parse_begin(INCREMENTAL).unwrap();
        assert_eq!(incremental.header, HeaderType::Substream);
        assert_eq!(incremental.to_guid, TWO);
        assert_ne!(incremental.from_guid, 0);
        incremental
            .check_single_snapshot(Some(incremental.from_guid))
            .unwrap();
    }

    #[test]
    fn compound_streams_of_zfs_fuse_are_refused() {
        for (what, bytes) in [("-p", PROPS), ("-R", REPLICATE), ("-I", INTERMEDIATE)] {
            let begin = parse_begin(bytes).unwrap();
            assert_eq!(begin.header, HeaderType::Compound, "{what}");
            assert_eq!(begin.to_name, "zexp/src@two", "{what}");
            let err = begin.check_single_snapshot(None).unwrap_err();
            assert!(matches!(err, StreamError::Compound { .. }), "{what}: {err}");
            assert!(!err.is_malformed());
            assert!(err.to_string().contains("compound"), "{err}");
            // Refused whatever the origin expected.
            assert!(begin.check_single_snapshot(Some(begin.from_guid)).is_err());
        }
        // -p and -R carry the property nvlist as the BEGIN record's payload.
        assert!(parse_begin(PROPS).unwrap().payload_len > 0);
        assert!(parse_begin(REPLICATE).unwrap().payload_len > 0);
    }

    #[test]
    fn full_or_incremental_as_expected() {
        let full = parse_begin(PLAIN).unwrap();
        assert_eq!(
            full.check_single_snapshot(Some(7)),
            Err(StreamError::UnexpectedFull { expected: 7 })
        );
        let incremental = parse_begin(INCREMENTAL).unwrap();
        let from = incremental.from_guid;
        assert_eq!(
            incremental.check_single_snapshot(None),
            Err(StreamError::UnexpectedIncremental { from_guid: from })
        );
        assert_eq!(
            incremental.check_single_snapshot(Some(from ^ 1)),
            Err(StreamError::WrongOrigin {
                found: from,
                expected: from ^ 1
            })
        );
    }

    /// The plain record with one field replaced (little-endian, as zfs-fuse wrote it).
    fn patched(at: usize, value: &[u8]) -> Vec<u8> {
        let mut bytes = PLAIN.to_vec();
        bytes[at..at + value.len()].copy_from_slice(value);
        bytes
    }

    #[test]
    fn what_a_plain_stream_must_not_be() {
        let cases: Vec<(Vec<u8>, StreamError)> = vec![
            (
                patched(32, &DMU_OST_ZVOL.to_le_bytes()),
                StreamError::NotFilesystem {
                    objset_type: DMU_OST_ZVOL,
                },
            ),
            (
                patched(
                    16,
                    &(DMU_SUBSTREAM | (u64::from(FEATURE_RAW) << 2)).to_le_bytes(),
                ),
                StreamError::Partial {
                    features: FEATURE_RAW,
                },
            ),
            (
                patched(
                    16,
                    &(DMU_SUBSTREAM | (u64::from(FEATURE_RESUMING | FEATURE_REDACTED) << 2))
                        .to_le_bytes(),
                ),
                StreamError::Partial {
                    features: FEATURE_RESUMING | FEATURE_REDACTED,
                },
            ),
            (
                patched(4, &40u32.to_le_bytes()),
                StreamError::Payload { len: 40 },
            ),
            (
                patched(NAME_AT, b"zexp/src\0\0\0\0"),
                StreamError::NoSnapshot {
                    name: "zexp/src".into(),
                },
            ),
            (
                patched(NAME_AT, b"zexp/src@\0\0\0"),
                StreamError::NoSnapshot {
                    name: "zexp/src@".into(),
                },
            ),
        ];
        for (bytes, expected) in cases {
            let begin = parse_begin(&bytes).unwrap();
            assert_eq!(begin.check_single_snapshot(None), Err(expected.clone()));
            assert!(!expected.is_malformed());
        }
        // Other feature flags (embedded data, lz4, large blocks, …) are zfs receive's business.
        let embedded = patched(16, &(DMU_SUBSTREAM | (1u64 << 16 << 2)).to_le_bytes());
        let begin = parse_begin(&embedded).unwrap();
        assert_eq!(begin.features, 1 << 16);
        begin.check_single_snapshot(None).unwrap();
    }

    #[test]
    fn big_endian_senders_are_read_in_their_order() {
        let mut bytes = vec![0u8; BEGIN_RECORD_LEN];
        bytes[8..16].copy_from_slice(&MAGIC.to_be_bytes());
        bytes[16..24].copy_from_slice(&DMU_SUBSTREAM.to_be_bytes());
        bytes[32..36].copy_from_slice(&DMU_OST_ZFS.to_be_bytes());
        bytes[40..48].copy_from_slice(&TWO.to_be_bytes());
        bytes[48..56].copy_from_slice(&5u64.to_be_bytes());
        bytes[NAME_AT..NAME_AT + 6].copy_from_slice(b"z/a@b\0");
        let begin = parse_begin(&bytes).unwrap();
        assert!(begin.big_endian);
        assert_eq!(begin.header, HeaderType::Substream);
        assert_eq!(begin.to_guid, TWO);
        assert_eq!(begin.from_guid, 5);
        assert_eq!(begin.snapshot(), "b");
        begin.check_single_snapshot(Some(5)).unwrap();
    }

    #[test]
    fn what_is_no_stream_at_all() {
        assert_eq!(parse_begin(&[]), Err(StreamError::Short { len: 0 }));
        assert_eq!(
            parse_begin(&PLAIN[..311]),
            Err(StreamError::Short { len: 311 })
        );
        let text = b"this is not a zfs stream at all\n".repeat(20);
        let err = parse_begin(&text).unwrap_err();
        assert!(matches!(err, StreamError::BadMagic { .. }), "{err}");
        assert!(err.to_string().contains("magic"));
        assert!(err.is_malformed());
        assert_eq!(
            parse_begin(&patched(0, &1u32.to_le_bytes())),
            Err(StreamError::NotBegin { record_type: 1 })
        );
        for bad in [0u64, 3] {
            assert_eq!(
                parse_begin(&patched(16, &bad.to_le_bytes())),
                Err(StreamError::UnknownHeader { value: bad })
            );
        }
        let unterminated = patched(NAME_AT, &[b'a'; NAME_LEN]);
        assert_eq!(
            parse_begin(&unterminated),
            Err(StreamError::BadName("not NUL-terminated"))
        );
        assert_eq!(
            parse_begin(&patched(NAME_AT, b"z@\xff\0")),
            Err(StreamError::BadName("not UTF-8"))
        );
        // Only the record is read: what follows it does not matter.
        let mut longer = PLAIN.to_vec();
        longer.extend([0xff; 1000]);
        assert_eq!(parse_begin(&longer), parse_begin(PLAIN));
    }
}
