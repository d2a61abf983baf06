//! The attach protocol over `MONDIR/attach`: frames `[u8 kind][u32 BE length][payload]`
//! both ways. A client sends [`Request`]s (stdin bytes, stdin closed, terminal size); the
//! monitor sends [`Frame`]s (stdout, stderr, exited).

mod client;
mod frame;

pub use client::Client;
pub use frame::{encode_frame, Frame, FrameBuffer, Request, FRAME_HEADER, MAX_FRAME_PAYLOAD};

use std::path::PathBuf;

/// An attach connection that failed, or a peer that broke the protocol.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("cannot connect to the monitor's attach socket {path}: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the attach connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("an attach frame of {length} bytes is larger than the {MAX_FRAME_PAYLOAD} allowed")]
    TooLarge { length: usize },
    #[error("an attach frame of kind {kind} is not one this side accepts")]
    UnknownKind { kind: u8 },
    #[error("an attach frame of kind {kind} has {length} bytes, which is not its size")]
    BadPayload { kind: u8, length: usize },
}
