//! SPDY/3.1 as kubelet's clients speak it (moby/spdystream): `frame` and `headers` are the
//! wire format (pure), `session` runs one upgraded connection (streams opened by the
//! client, answered at once, their data as async readers and writers).
//!
//! Flow control is not done: spdystream neither sends WINDOW_UPDATE nor honours it, so a
//! peer that waited for windows would stall it; a slow reader is paced instead by the
//! bounded queues between the connection and its streams.

mod dictionary;
pub mod frame;
pub mod headers;
pub mod session;

pub use headers::Headers;
pub use session::{RecvStream, SendStream, Session, SessionLimits, Stream};

/// What is wrong with the bytes a peer sent (or a frame this side built).
#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    #[error("a SPDY frame of {0} bytes is larger than allowed")]
    FrameTooLarge(usize),
    #[error("SPDY version {0} is not spoken here (only 3)")]
    Version(u16),
    #[error("SPDY protocol error: {0}")]
    Protocol(&'static str),
    #[error("a SPDY header block is larger than allowed")]
    HeadersTooLarge,
    #[error("SPDY header compression failed: {0}")]
    Compression(&'static str),
}
