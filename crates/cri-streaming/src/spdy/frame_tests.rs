use bytes::BytesMut;

use super::*;
use crate::spdy::headers::parse_block;

fn decode_all(bytes: &[u8]) -> Result<Vec<Frame>, SpdyError> {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::from(bytes);
    let mut frames = Vec::new();
    while let Some(frame) = decoder.decode(&mut buf)? {
        frames.push(frame);
    }
    assert!(buf.is_empty(), "left over: {buf:?}");
    Ok(frames)
}

#[test]
fn data_frames_are_bytes_on_the_wire() {
    let mut out = Vec::new();
    let frame = Frame::Data {
        stream_id: 5,
        flags: FLAG_FIN,
        data: Bytes::from_static(b"hi"),
    };
    Encoder::new().encode(&frame, &mut out).unwrap();
    assert_eq!(out, [0, 0, 0, 5, 1, 0, 0, 2, b'h', b'i']);
    assert_eq!(decode_all(&out).unwrap(), vec![frame]);
}

#[test]
fn control_frames_without_headers_are_bytes_on_the_wire() {
    let mut out = Vec::new();
    let mut encoder = Encoder::new();
    encoder.encode(&Frame::Ping { id: 7 }, &mut out).unwrap();
    assert_eq!(out, [0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 7]);
    out.clear();
    encoder
        .encode(
            &Frame::RstStream {
                stream_id: 3,
                status: RST_CANCEL,
            },
            &mut out,
        )
        .unwrap();
    assert_eq!(out, [0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 3, 0, 0, 0, 5]);
    out.clear();
    encoder
        .encode(
            &Frame::GoAway {
                last_good_stream_id: 9,
                status: 0,
            },
            &mut out,
        )
        .unwrap();
    assert_eq!(out, [0x80, 3, 0, 7, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0, 0]);
    // WINDOW_UPDATE and SETTINGS as a client sends them are read (and then ignored).
    let window = [0x80, 3, 0, 9, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0x10, 0];
    let settings = [
        0x80, 3, 0, 4, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 7, 0, 1, 0, 0,
    ];
    let frames = decode_all(&[&window[..], &settings[..]].concat()).unwrap();
    assert_eq!(
        frames,
        vec![
            Frame::WindowUpdate {
                stream_id: 1,
                delta: 4096
            },
            Frame::Settings
        ]
    );
}

#[test]
fn header_blocks_share_one_zlib_stream_with_the_dictionary() {
    let mut encoder = Encoder::new();
    let mut out = Vec::new();
    let first = Frame::SynStream {
        stream_id: 1,
        associated_to: 0,
        priority: 0,
        flags: 0,
        headers: Headers::default().with("streamType", "error"),
    };
    let second = Frame::SynStream {
        stream_id: 3,
        associated_to: 0,
        priority: 0,
        flags: FLAG_FIN,
        headers: Headers::default()
            .with("streamtype", "data")
            .with("port", "80")
            .with("requestid", "0"),
    };
    encoder.encode(&first, &mut out).unwrap();
    let first_len = out.len();
    encoder.encode(&second, &mut out).unwrap();
    // Control bit, version 3, type 1; the zlib header (0x78) names a dictionary (FDICT).
    assert_eq!(&out[..4], &[0x80, 3, 0, 1]);
    assert_eq!(out[18], 0x78);
    assert_ne!(out[19] & 0x20, 0, "FDICT set");
    // The second block continues the stream: no zlib header of its own.
    assert_ne!(out[first_len + 18], 0x78);
    let frames = decode_all(&out).unwrap();
    let Frame::SynStream { headers, .. } = &frames[0] else {
        panic!("{frames:?}")
    };
    assert_eq!(headers.get("streamtype"), Some("error"));
    assert_eq!(frames[1], second);
    assert!(frames[1].fin());
    // A decoder that missed the first frame cannot read the second.
    let mut fresh = Decoder::new();
    let mut rest = BytesMut::from(&out[first_len..]);
    assert!(fresh.decode(&mut rest).is_err());
}

#[test]
fn a_reply_with_no_headers_round_trips() {
    let mut out = Vec::new();
    let reply = Frame::SynReply {
        stream_id: 1,
        flags: 0,
        headers: Headers::default(),
    };
    Encoder::new().encode(&reply, &mut out).unwrap();
    assert_eq!(&out[..4], &[0x80, 3, 0, 2]);
    assert_eq!(decode_all(&out).unwrap(), vec![reply]);
}

#[test]
fn partial_frames_wait_for_more_bytes() {
    let mut out = Vec::new();
    Encoder::new()
        .encode(
            &Frame::Data {
                stream_id: 1,
                flags: 0,
                data: Bytes::from_static(b"abc"),
            },
            &mut out,
        )
        .unwrap();
    let mut decoder = Decoder::new();
    for cut in 0..out.len() {
        let mut buf = BytesMut::from(&out[..cut]);
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        assert_eq!(buf.len(), cut, "nothing consumed");
    }
}

#[test]
fn hostile_frames_are_refused() {
    // A length field past the cap is refused before the payload arrives.
    let huge = [0, 0, 0, 1, 0, 0xff, 0xff, 0xff];
    assert!(matches!(
        decode_all(&huge),
        Err(SpdyError::FrameTooLarge(_))
    ));
    // Another SPDY version.
    assert!(matches!(
        decode_all(&[0x80, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1]),
        Err(SpdyError::Version(2))
    ));
    // A data frame for stream 0, a control frame shorter than its fields.
    assert!(decode_all(&[0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    assert!(decode_all(&[0x80, 3, 0, 3, 0, 0, 0, 2, 0, 1]).is_err());
    // A SETTINGS frame whose count does not match its length.
    assert!(decode_all(&[0x80, 3, 0, 4, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]).is_err());
    // A header block that is not zlib at all.
    let mut garbage = vec![0x80, 3, 0, 1, 0, 0, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0];
    garbage.extend_from_slice(&[1, 2, 3, 4]);
    assert!(decode_all(&garbage).is_err());
    // Unknown control types are skipped, as the draft says.
    assert_eq!(
        decode_all(&[0x80, 3, 0, 0x20, 0, 0, 0, 1, 9]).unwrap(),
        vec![Frame::Unknown { frame_type: 0x20 }]
    );
}

#[test]
fn header_blocks_are_bounded() {
    // More names than allowed.
    let mut block = ((MAX_HEADERS + 1) as u32).to_be_bytes().to_vec();
    for i in 0..=MAX_HEADERS {
        let name = format!("h{i}");
        block.extend_from_slice(&(name.len() as u32).to_be_bytes());
        block.extend_from_slice(name.as_bytes());
        block.extend_from_slice(&0u32.to_be_bytes());
    }
    assert!(matches!(
        parse_block(&block),
        Err(SpdyError::HeadersTooLarge)
    ));
    // A name longer than the block, a truncated count, bytes after the pairs.
    assert!(parse_block(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]).is_err());
    assert!(parse_block(&[0, 0]).is_err());
    assert!(parse_block(&[0, 0, 0, 0, 1]).is_err());
    // NUL separates several values of one name.
    let two = [0, 0, 0, 1, 0, 0, 0, 1, b'a', 0, 0, 0, 3, b'x', 0, b'y'];
    let headers = parse_block(&two).unwrap();
    assert_eq!(
        headers.0,
        vec![("a".into(), "x".into()), ("a".into(), "y".into())]
    );
    // A block that inflates past the cap (a zip bomb of zeros) is refused.
    let mut bomb_block = 1u32.to_be_bytes().to_vec();
    bomb_block.extend_from_slice(&1u32.to_be_bytes());
    bomb_block.push(b'a');
    bomb_block.extend_from_slice(&((MAX_HEADER_BLOCK as u32) * 2).to_be_bytes());
    bomb_block.extend(std::iter::repeat_n(b'z', MAX_HEADER_BLOCK * 2));
    let mut deflate = flate2::Compress::new(flate2::Compression::best(), true);
    deflate
        .set_dictionary(crate::spdy::dictionary::DICTIONARY)
        .unwrap();
    let mut compressed = Vec::with_capacity(MAX_HEADER_BLOCK);
    deflate
        .compress_vec(&bomb_block, &mut compressed, flate2::FlushCompress::Sync)
        .unwrap();
    assert!(compressed.len() < 4096, "{}", compressed.len());
    let mut frame = vec![0x80, 3, 0, 2];
    frame.extend_from_slice(&((4 + compressed.len()) as u32).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 1]);
    frame.extend_from_slice(&compressed);
    assert!(matches!(
        decode_all(&frame),
        Err(SpdyError::HeadersTooLarge)
    ));
}
