//! Entry points for the fuzz targets (`fuzz/`) and, over the committed corpus, for this
//! crate's tests: the parser of the zfs send stream header that decides whether a stream is
//! ever handed to `zfs receive`. A check panics when a property the driver relies on does not
//! hold; a stream that is merely refused is not a failure. Not a stable API.

use crate::zfs::stream::{parse_begin, HeaderType, BEGIN_RECORD_LEN};

/// The first bytes of a stream, as `ZfsDriver::receive_into` reads them: whatever the bytes,
/// the parser answers from the first record alone, and a record it lets through to
/// `zfs receive` is a plain stream of one filesystem snapshot with no payload, full or from
/// exactly the origin asked for.
pub fn check_stream_header(data: &[u8]) {
    let parsed = parse_begin(data);
    if let Some(first) = data.get(..BEGIN_RECORD_LEN) {
        assert_eq!(parsed, parse_begin(first), "only the first record decides");
    }
    let Ok(record) = parsed else { return };
    if record.check_single_snapshot(None).is_ok() {
        assert_eq!(record.header, HeaderType::Substream, "{record:?}");
        assert_eq!(record.payload_len, 0, "{record:?}");
        assert_eq!(record.from_guid, 0, "a full stream: {record:?}");
        assert!(!record.snapshot().is_empty(), "{record:?}");
    }
    for origin in [1, record.from_guid, record.from_guid.wrapping_add(1)] {
        if origin != 0 && record.check_single_snapshot(Some(origin)).is_ok() {
            assert_eq!(record.header, HeaderType::Substream, "{record:?}");
            assert_eq!(record.from_guid, origin, "from another origin: {record:?}");
        }
    }
}
