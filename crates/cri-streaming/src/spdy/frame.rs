//! SPDY/3.1 frames as bytes and back (draft 3.1, section 2.2): pure, no I/O. A [`Decoder`]
//! holds the connection's inbound header decompressor, an [`Encoder`] its outbound
//! compressor; both are one zlib stream per direction for the whole connection, so frames
//! must be decoded and encoded in the order they travel.
//!
//! Hostile input is bounded: a frame's length field is checked against [`MAX_FRAME_LEN`]
//! before anything is buffered, a header block inflates to at most [`MAX_HEADER_BLOCK`]
//! bytes and holds at most [`MAX_HEADERS`] names.

use bytes::{Buf, Bytes, BytesMut};

use super::headers::{HeaderDecoder, HeaderEncoder, Headers};
use super::SpdyError;

/// The protocol version in every control frame.
pub const VERSION: u16 = 3;
/// The largest frame payload accepted. Go's clients copy through 32 KiB buffers and
/// send one data frame per write; kubelet's server takes up to SPDY's 16 MiB, which no
/// client sends and which would let one connection make the server buffer that much.
pub const MAX_FRAME_LEN: usize = 1 << 20;
/// The largest inflated header block accepted (the clients send a few short headers).
pub const MAX_HEADER_BLOCK: usize = 64 << 10;
/// The most header names in one block.
pub const MAX_HEADERS: usize = 64;
/// A data frame this server sends carries at most this much.
pub const MAX_DATA_CHUNK: usize = 32 << 10;

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_SETTINGS: u16 = 4;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
const TYPE_WINDOW_UPDATE: u16 = 9;

/// FIN on a data or control frame.
pub const FLAG_FIN: u8 = 0x01;
/// UNIDIRECTIONAL on a SYN_STREAM.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;

/// RST_STREAM status codes this server sends.
pub const RST_PROTOCOL_ERROR: u32 = 1;
pub const RST_REFUSED_STREAM: u32 = 3;
pub const RST_CANCEL: u32 = 5;

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    SynStream {
        stream_id: u32,
        associated_to: u32,
        priority: u8,
        flags: u8,
        headers: Headers,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    /// Its entries are not kept: this server has no setting a client may change.
    Settings,
    Ping {
        id: u32,
    },
    GoAway {
        last_good_stream_id: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        headers: Headers,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        flags: u8,
        data: Bytes,
    },
    /// A control frame of a type SPDY/3.1 does not define: ignored, as the draft says.
    Unknown {
        frame_type: u16,
    },
}

impl Frame {
    pub fn fin(&self) -> bool {
        match self {
            Frame::SynStream { flags, .. }
            | Frame::SynReply { flags, .. }
            | Frame::Headers { flags, .. }
            | Frame::Data { flags, .. } => flags & FLAG_FIN != 0,
            _ => false,
        }
    }
}

/// Reads frames off the inbound byte stream.
#[derive(Default)]
pub struct Decoder {
    headers: HeaderDecoder,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// The next whole frame at the front of `buf`, which is then consumed; `None` while
    /// `buf` holds only part of one (nothing consumed).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, SpdyError> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let first = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let flags = buf[4];
        let length = u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize;
        if length > MAX_FRAME_LEN {
            return Err(SpdyError::FrameTooLarge(length));
        }
        if buf.len() < 8 + length {
            return Ok(None);
        }
        buf.advance(8);
        let payload = buf.split_to(length).freeze();
        if first & 0x8000_0000 == 0 {
            let stream_id = first & 0x7fff_ffff;
            if stream_id == 0 {
                return Err(SpdyError::Protocol("a data frame on stream 0"));
            }
            return Ok(Some(Frame::Data {
                stream_id,
                flags,
                data: payload,
            }));
        }
        let version = ((first >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(SpdyError::Version(version));
        }
        self.control((first & 0xffff) as u16, flags, payload)
            .map(Some)
    }

    fn control(&mut self, frame_type: u16, flags: u8, mut p: Bytes) -> Result<Frame, SpdyError> {
        let need = |p: &Bytes, n: usize| {
            if p.len() < n {
                Err(SpdyError::Protocol(
                    "a control frame shorter than its fields",
                ))
            } else {
                Ok(())
            }
        };
        Ok(match frame_type {
            TYPE_SYN_STREAM => {
                need(&p, 10)?;
                let stream_id = p.get_u32() & 0x7fff_ffff;
                let associated_to = p.get_u32() & 0x7fff_ffff;
                let priority = p.get_u8() >> 5;
                let _slot = p.get_u8();
                nonzero(stream_id)?;
                Frame::SynStream {
                    stream_id,
                    associated_to,
                    priority,
                    flags,
                    headers: self.headers.decode(&p)?,
                }
            }
            TYPE_SYN_REPLY | TYPE_HEADERS => {
                need(&p, 4)?;
                let stream_id = p.get_u32() & 0x7fff_ffff;
                nonzero(stream_id)?;
                let headers = self.headers.decode(&p)?;
                if frame_type == TYPE_SYN_REPLY {
                    Frame::SynReply {
                        stream_id,
                        flags,
                        headers,
                    }
                } else {
                    Frame::Headers {
                        stream_id,
                        flags,
                        headers,
                    }
                }
            }
            TYPE_RST_STREAM => {
                need(&p, 8)?;
                let stream_id = p.get_u32() & 0x7fff_ffff;
                Frame::RstStream {
                    stream_id,
                    status: p.get_u32(),
                }
            }
            TYPE_SETTINGS => {
                need(&p, 4)?;
                let count = p.get_u32() as usize;
                if count.checked_mul(8) != Some(p.len()) {
                    return Err(SpdyError::Protocol("a SETTINGS frame of the wrong length"));
                }
                Frame::Settings
            }
            TYPE_PING => {
                need(&p, 4)?;
                Frame::Ping { id: p.get_u32() }
            }
            TYPE_GOAWAY => {
                need(&p, 8)?;
                Frame::GoAway {
                    last_good_stream_id: p.get_u32() & 0x7fff_ffff,
                    status: p.get_u32(),
                }
            }
            TYPE_WINDOW_UPDATE => {
                need(&p, 8)?;
                Frame::WindowUpdate {
                    stream_id: p.get_u32() & 0x7fff_ffff,
                    delta: p.get_u32() & 0x7fff_ffff,
                }
            }
            other => Frame::Unknown { frame_type: other },
        })
    }
}

fn nonzero(stream_id: u32) -> Result<(), SpdyError> {
    if stream_id == 0 {
        Err(SpdyError::Protocol("a stream frame for stream 0"))
    } else {
        Ok(())
    }
}

/// Writes frames for the outbound byte stream.
pub struct Encoder {
    headers: HeaderEncoder,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder {
    pub fn new() -> Encoder {
        Encoder {
            headers: HeaderEncoder::new(),
        }
    }

    /// Appends `frame` to `out`. Data frames longer than [`MAX_FRAME_LEN`] are a caller's
    /// bug and refused.
    pub fn encode(&mut self, frame: &Frame, out: &mut Vec<u8>) -> Result<(), SpdyError> {
        match frame {
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                if data.len() > MAX_FRAME_LEN {
                    return Err(SpdyError::FrameTooLarge(data.len()));
                }
                out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                length_word(out, *flags, data.len());
                out.extend_from_slice(data);
            }
            Frame::SynStream {
                stream_id,
                associated_to,
                priority,
                flags,
                headers,
            } => {
                let block = self.headers.encode(headers)?;
                control_header(out, TYPE_SYN_STREAM, *flags, 10 + block.len());
                out.extend_from_slice(&stream_id.to_be_bytes());
                out.extend_from_slice(&associated_to.to_be_bytes());
                out.push(priority << 5);
                out.push(0);
                out.extend_from_slice(&block);
            }
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            }
            | Frame::Headers {
                stream_id,
                flags,
                headers,
            } => {
                let kind = if matches!(frame, Frame::SynReply { .. }) {
                    TYPE_SYN_REPLY
                } else {
                    TYPE_HEADERS
                };
                let block = self.headers.encode(headers)?;
                control_header(out, kind, *flags, 4 + block.len());
                out.extend_from_slice(&stream_id.to_be_bytes());
                out.extend_from_slice(&block);
            }
            Frame::RstStream { stream_id, status } => {
                control_header(out, TYPE_RST_STREAM, 0, 8);
                out.extend_from_slice(&stream_id.to_be_bytes());
                out.extend_from_slice(&status.to_be_bytes());
            }
            Frame::Settings => {
                control_header(out, TYPE_SETTINGS, 0, 4);
                out.extend_from_slice(&0u32.to_be_bytes());
            }
            Frame::Ping { id } => {
                control_header(out, TYPE_PING, 0, 4);
                out.extend_from_slice(&id.to_be_bytes());
            }
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => {
                control_header(out, TYPE_GOAWAY, 0, 8);
                out.extend_from_slice(&last_good_stream_id.to_be_bytes());
                out.extend_from_slice(&status.to_be_bytes());
            }
            Frame::WindowUpdate { stream_id, delta } => {
                control_header(out, TYPE_WINDOW_UPDATE, 0, 8);
                out.extend_from_slice(&stream_id.to_be_bytes());
                out.extend_from_slice(&delta.to_be_bytes());
            }
            Frame::Unknown { .. } => {
                return Err(SpdyError::Protocol("an unknown frame cannot be sent"));
            }
        }
        Ok(())
    }
}

fn control_header(out: &mut Vec<u8>, frame_type: u16, flags: u8, length: usize) {
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&frame_type.to_be_bytes());
    length_word(out, flags, length);
}

/// `flags(8) length(24)`; lengths are bounded by [`MAX_FRAME_LEN`] or by a header block's
/// cap, both far below 2^24.
fn length_word(out: &mut Vec<u8>, flags: u8, length: usize) {
    out.extend_from_slice(&((u32::from(flags) << 24) | (length as u32 & 0xff_ffff)).to_be_bytes());
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
