//! Frames: encoding, and decoding from a byte stream that arrives in pieces.

use super::AttachError;

/// `[u8 kind][u32 big-endian length]`.
pub const FRAME_HEADER: usize = 5;
/// A larger frame is a broken peer: 1 MiB (the monitor sends at most a pipe read).
pub const MAX_FRAME_PAYLOAD: usize = 1024 * 1024;

const STDIN: u8 = 1;
const STDIN_CLOSED: u8 = 2;
const RESIZE: u8 = 3;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const EXITED: u8 = 4;

/// Monitor → client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    /// The container's process exited with this code (sent at every exit, restarts too);
    /// the monitor closes the connection after it.
    Exited(i32),
}

/// Client → monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Stdin(Vec<u8>),
    /// End of input: the container's stdin is closed (when this client is the one writing it).
    StdinClosed,
    /// The terminal's new size (TIOCSWINSZ on the container's terminal).
    Resize {
        rows: u16,
        cols: u16,
    },
}

/// Appends one frame.
pub fn encode_frame(kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.push(kind);
    // Payloads are bounded by what the sender reads at once, far below 4 GiB.
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

impl Frame {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Frame::Stdout(bytes) => encode_frame(STDOUT, bytes, out),
            Frame::Stderr(bytes) => encode_frame(STDERR, bytes, out),
            Frame::Exited(code) => encode_frame(EXITED, &code.to_be_bytes(), out),
        }
    }

    pub fn decode(kind: u8, payload: Vec<u8>) -> Result<Frame, AttachError> {
        match kind {
            STDOUT => Ok(Frame::Stdout(payload)),
            STDERR => Ok(Frame::Stderr(payload)),
            EXITED => {
                let code: [u8; 4] =
                    payload
                        .as_slice()
                        .try_into()
                        .map_err(|_| AttachError::BadPayload {
                            kind,
                            length: payload.len(),
                        })?;
                Ok(Frame::Exited(i32::from_be_bytes(code)))
            }
            _ => Err(AttachError::UnknownKind { kind }),
        }
    }
}

impl Request {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Request::Stdin(bytes) => encode_frame(STDIN, bytes, out),
            Request::StdinClosed => encode_frame(STDIN_CLOSED, &[], out),
            Request::Resize { rows, cols } => {
                let mut size = [0u8; 4];
                size[..2].copy_from_slice(&rows.to_be_bytes());
                size[2..].copy_from_slice(&cols.to_be_bytes());
                encode_frame(RESIZE, &size, out);
            }
        }
    }

    pub fn decode(kind: u8, payload: Vec<u8>) -> Result<Request, AttachError> {
        match kind {
            STDIN => Ok(Request::Stdin(payload)),
            STDIN_CLOSED => Ok(Request::StdinClosed),
            RESIZE => match payload.as_slice() {
                [r0, r1, c0, c1] => Ok(Request::Resize {
                    rows: u16::from_be_bytes([*r0, *r1]),
                    cols: u16::from_be_bytes([*c0, *c1]),
                }),
                _ => Err(AttachError::BadPayload {
                    kind,
                    length: payload.len(),
                }),
            },
            _ => Err(AttachError::UnknownKind { kind }),
        }
    }
}

/// Bytes received and not yet decoded; hands out whole frames as they complete.
#[derive(Debug, Default)]
pub struct FrameBuffer {
    bytes: Vec<u8>,
}

impl FrameBuffer {
    pub fn extend(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    /// The next whole frame (kind, payload), `None` until one has arrived. A frame announcing
    /// more than [`MAX_FRAME_PAYLOAD`] is refused before its payload is awaited.
    pub fn next_frame(&mut self) -> Result<Option<(u8, Vec<u8>)>, AttachError> {
        let Some(header) = self.bytes.get(..FRAME_HEADER) else {
            return Ok(None);
        };
        let kind = header[0];
        let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
        if length > MAX_FRAME_PAYLOAD {
            return Err(AttachError::TooLarge { length });
        }
        if self.bytes.len() < FRAME_HEADER + length {
            return Ok(None);
        }
        let payload = self.bytes[FRAME_HEADER..FRAME_HEADER + length].to_vec();
        self.bytes.drain(..FRAME_HEADER + length);
        Ok(Some((kind, payload)))
    }

    /// Bytes of an incomplete frame are waiting.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_the_contracts_bytes() {
        let mut out = Vec::new();
        Frame::Stdout(b"hi".to_vec()).encode(&mut out);
        Frame::Stderr(vec![]).encode(&mut out);
        Frame::Exited(137).encode(&mut out);
        assert_eq!(
            out,
            [
                &[1, 0, 0, 0, 2, b'h', b'i'][..],
                &[2, 0, 0, 0, 0],
                &[4, 0, 0, 0, 4, 0, 0, 0, 137]
            ]
            .concat()
        );
        let mut out = Vec::new();
        Request::Stdin(b"x".to_vec()).encode(&mut out);
        Request::StdinClosed.encode(&mut out);
        Request::Resize {
            rows: 40,
            cols: 300,
        }
        .encode(&mut out);
        assert_eq!(
            out,
            [
                &[1, 0, 0, 0, 1, b'x'][..],
                &[2, 0, 0, 0, 0],
                &[3, 0, 0, 0, 4, 0, 40, 1, 44]
            ]
            .concat()
        );
    }

    #[test]
    fn frames_arriving_byte_by_byte_decode_once_whole() {
        let mut out = Vec::new();
        Request::Resize { rows: 24, cols: 80 }.encode(&mut out);
        Request::Stdin(b"abc".to_vec()).encode(&mut out);
        let mut buffer = FrameBuffer::default();
        let mut got = Vec::new();
        for byte in out {
            buffer.extend(&[byte]);
            while let Some((kind, payload)) = buffer.next_frame().unwrap() {
                got.push(Request::decode(kind, payload).unwrap());
            }
        }
        assert_eq!(
            got,
            [
                Request::Resize { rows: 24, cols: 80 },
                Request::Stdin(b"abc".to_vec())
            ]
        );
        assert!(buffer.is_empty());
    }

    #[test]
    fn broken_frames_are_refused() {
        let mut buffer = FrameBuffer::default();
        buffer.extend(&[1, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(
            buffer.next_frame(),
            Err(AttachError::TooLarge { .. })
        ));
        assert!(matches!(
            Request::decode(9, vec![]),
            Err(AttachError::UnknownKind { kind: 9 })
        ));
        assert!(matches!(
            Request::decode(3, vec![1]),
            Err(AttachError::BadPayload { kind: 3, length: 1 })
        ));
        assert!(matches!(
            Frame::decode(4, vec![0; 3]),
            Err(AttachError::BadPayload { kind: 4, length: 3 })
        ));
    }
}
