//! One SPDY connection after the HTTP upgrade: a reader task (frames in, streams out, pings
//! answered), a writer task (frames out through the one header compressor) and the streams
//! between them. The client opens every stream; this side answers each with SYN_REPLY at
//! once (spdystream's client waits for it) and hands it to whoever [`Session::accept`]s.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, PollSender};

use super::frame::{
    Decoder, Encoder, Frame, FLAG_FIN, MAX_DATA_CHUNK, RST_CANCEL, RST_PROTOCOL_ERROR,
    RST_REFUSED_STREAM,
};
use super::Headers;

/// Bounds on what one client may hold open.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Streams open at once (a further one is refused with RST_STREAM).
    pub max_streams: usize,
    /// A connection with nothing read for this long is closed (kubelet: 4 hours).
    pub idle_timeout: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            max_streams: 128,
            idle_timeout: Duration::from_secs(4 * 3600),
        }
    }
}

/// Data chunks queued per stream before the connection's reader waits for the stream's.
const STREAM_QUEUE: usize = 16;
/// Frames queued for the writer.
const OUT_QUEUE: usize = 64;
/// The writer sends what it has once this much is batched.
const WRITE_BATCH: usize = 64 << 10;

pub(crate) enum Out {
    Frame(Frame),
    /// Flush, shut the write side down, stop.
    Shutdown,
}

/// A stream the client opened: its headers, what it sends, and the way back.
pub struct Stream {
    pub id: u32,
    pub headers: Headers,
    pub recv: RecvStream,
    pub send: SendStream,
}

/// A running connection.
pub struct Session {
    incoming: mpsc::Receiver<Stream>,
    out: mpsc::Sender<Out>,
    closed: CancellationToken,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Session {
    /// Starts the reader and writer on `io` (the upgraded connection).
    pub fn start<IO>(io: IO, limits: SessionLimits) -> Session
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (rd, wr) = tokio::io::split(io);
        let (out_tx, out_rx) = mpsc::channel(OUT_QUEUE);
        let (in_tx, in_rx) = mpsc::channel(limits.max_streams.max(1));
        let closed = CancellationToken::new();
        let writer = tokio::spawn(write_loop(wr, out_rx));
        let reader = tokio::spawn(read_loop(rd, out_tx.clone(), in_tx, closed.clone(), limits));
        Session {
            incoming: in_rx,
            out: out_tx,
            closed,
            reader,
            writer,
        }
    }

    /// The next stream the client opens; `None` once the connection is gone.
    pub async fn accept(&mut self) -> Option<Stream> {
        self.incoming.recv().await
    }

    /// Cancelled when the client's side of the connection ends (closed, broken or idle).
    pub fn closed(&self) -> CancellationToken {
        self.closed.clone()
    }

    /// Ends the connection: GOAWAY, everything queued written, the write side shut down,
    /// then up to `grace` for the client to close its side (closing a socket with unread
    /// input resets it, and a reset can cost the client the last bytes it was sent).
    pub async fn finish(mut self, grace: Duration) {
        let _ = self
            .out
            .send(Out::Frame(Frame::GoAway {
                last_good_stream_id: 0,
                status: 0,
            }))
            .await;
        let _ = self.out.send(Out::Shutdown).await;
        let _ = (&mut self.writer).await;
        self.incoming.close();
        if tokio::time::timeout(grace, &mut self.reader).await.is_err() {
            self.reader.abort();
        }
        self.closed.cancel();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.reader.abort();
        self.closed.cancel();
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(mut wr: W, mut rx: mpsc::Receiver<Out>) {
    let mut encoder = Encoder::new();
    let mut buf = Vec::with_capacity(WRITE_BATCH);
    let mut shutdown = false;
    while let Some(item) = rx.recv().await {
        let mut next = Some(item);
        while let Some(item) = next.take() {
            match item {
                Out::Frame(frame) => {
                    if let Err(e) = encoder.encode(&frame, &mut buf) {
                        tracing::warn!("streaming: a frame was not sent: {e}");
                    }
                }
                Out::Shutdown => shutdown = true,
            }
            if !shutdown && buf.len() < WRITE_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if wr.write_all(&buf).await.is_err() || wr.flush().await.is_err() {
            return;
        }
        buf.clear();
        if shutdown {
            break;
        }
    }
    let _ = wr.shutdown().await;
}

struct Reader {
    out: mpsc::Sender<Out>,
    incoming: mpsc::Sender<Stream>,
    streams: HashMap<u32, mpsc::Sender<Bytes>>,
    last_id: u32,
    going_away: bool,
    limits: SessionLimits,
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut rd: R,
    out: mpsc::Sender<Out>,
    incoming: mpsc::Sender<Stream>,
    closed: CancellationToken,
    limits: SessionLimits,
) {
    let mut reader = Reader {
        out,
        incoming,
        streams: HashMap::new(),
        last_id: 0,
        going_away: false,
        limits,
    };
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::with_capacity(64 << 10);
    'connection: loop {
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    if let Err(e) = reader.handle(frame).await {
                        tracing::debug!("streaming: closing a connection: {e}");
                        break 'connection;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!("streaming: closing a connection: {e}");
                    reader.go_away(1).await;
                    break 'connection;
                }
            }
        }
        buf.reserve(16 << 10);
        match tokio::time::timeout(limits.idle_timeout, rd.read_buf(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
    }
    // The streams' senders go with `reader`: their readers see the end of input.
    drop(reader);
    closed.cancel();
}

impl Reader {
    async fn send(&self, frame: Frame) {
        let _ = self.out.send(Out::Frame(frame)).await;
    }

    async fn go_away(&self, status: u32) {
        self.send(Frame::GoAway {
            last_good_stream_id: self.last_id,
            status,
        })
        .await;
    }

    async fn handle(&mut self, frame: Frame) -> Result<(), super::SpdyError> {
        let fin = frame.fin();
        match frame {
            Frame::SynStream {
                stream_id, headers, ..
            } => {
                // Client streams are odd and rise (draft 3.1, 2.3.2).
                if stream_id % 2 == 0 || stream_id <= self.last_id {
                    self.send(Frame::RstStream {
                        stream_id,
                        status: RST_PROTOCOL_ERROR,
                    })
                    .await;
                    self.go_away(1).await;
                    return Err(super::SpdyError::Protocol("a stream id out of order"));
                }
                self.last_id = stream_id;
                self.streams.retain(|_, tx| !tx.is_closed());
                if self.going_away || self.streams.len() >= self.limits.max_streams {
                    self.send(Frame::RstStream {
                        stream_id,
                        status: RST_REFUSED_STREAM,
                    })
                    .await;
                    return Ok(());
                }
                let (tx, rx) = mpsc::channel(STREAM_QUEUE);
                if !fin {
                    self.streams.insert(stream_id, tx);
                }
                self.send(Frame::SynReply {
                    stream_id,
                    flags: 0,
                    headers: Headers::default(),
                })
                .await;
                let stream = Stream {
                    id: stream_id,
                    headers,
                    recv: RecvStream {
                        rx,
                        pending: Bytes::new(),
                    },
                    send: SendStream::new(stream_id, self.out.clone()),
                };
                if self.incoming.send(stream).await.is_err() {
                    self.streams.remove(&stream_id);
                    self.send(Frame::RstStream {
                        stream_id,
                        status: RST_CANCEL,
                    })
                    .await;
                }
            }
            Frame::Data {
                stream_id, data, ..
            } => {
                if let Some(tx) = self.streams.get(&stream_id) {
                    // A stream whose reader is gone takes its data nowhere.
                    if !data.is_empty() && tx.send(data).await.is_err() {
                        self.streams.remove(&stream_id);
                    }
                }
                if fin {
                    self.streams.remove(&stream_id);
                }
            }
            Frame::RstStream { stream_id, .. } => {
                self.streams.remove(&stream_id);
            }
            Frame::Headers { stream_id, .. } if fin => {
                self.streams.remove(&stream_id);
            }
            // Odd ids are the client's pings, answered with the same id; even ones would
            // answer pings of ours, and this side sends none.
            Frame::Ping { id } if id % 2 == 1 => self.send(Frame::Ping { id }).await,
            Frame::GoAway { .. } => self.going_away = true,
            _ => {}
        }
        Ok(())
    }
}

/// What the client sends on a stream; ends at its FIN, a reset or the connection's end.
pub struct RecvStream {
    rx: mpsc::Receiver<Bytes>,
    pending: Bytes,
}

impl RecvStream {
    /// A stream with nothing in it (for tests and for streams the client did not open).
    pub fn empty() -> RecvStream {
        let (_, rx) = mpsc::channel(1);
        RecvStream {
            rx,
            pending: Bytes::new(),
        }
    }

    /// The next chunk as it came; `None` at the end.
    pub async fn chunk(&mut self) -> Option<Bytes> {
        if !self.pending.is_empty() {
            return Some(std::mem::take(&mut self.pending));
        }
        self.rx.recv().await
    }
}

impl AsyncRead for RecvStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.remaining());
                buf.put_slice(&self.pending[..n]);
                self.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            match ready!(self.rx.poll_recv(cx)) {
                Some(chunk) => self.pending = chunk,
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}

/// The way back to the client on one stream: data frames, and FIN at shutdown.
pub struct SendStream {
    id: u32,
    out: mpsc::Sender<Out>,
    tx: PollSender<Out>,
    finished: bool,
}

impl SendStream {
    fn new(id: u32, out: mpsc::Sender<Out>) -> SendStream {
        SendStream {
            id,
            tx: PollSender::new(out.clone()),
            out,
            finished: false,
        }
    }

    /// Another handle on the same stream: the server keeps one to send the stream's FIN
    /// after the runtime, which got the first, is done (a second FIN is harmless: the
    /// client ignores frames for a finished stream).
    pub(crate) fn another_handle(&self) -> SendStream {
        SendStream::new(self.id, self.out.clone())
    }

    pub fn id(&self) -> u32 {
        self.id
    }
}

fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the streaming connection is closed",
    )
}

impl AsyncWrite for SendStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.finished {
            return Poll::Ready(Err(gone()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(self.tx.poll_reserve(cx)).map_err(|_| gone())?;
        let n = buf.len().min(MAX_DATA_CHUNK);
        let frame = Frame::Data {
            stream_id: self.id,
            flags: 0,
            data: Bytes::copy_from_slice(&buf[..n]),
        };
        self.tx.send_item(Out::Frame(frame)).map_err(|_| gone())?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// FIN: nothing more on this stream from this side (sent once).
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.finished {
            return Poll::Ready(Ok(()));
        }
        ready!(self.tx.poll_reserve(cx)).map_err(|_| gone())?;
        let frame = Frame::Data {
            stream_id: self.id,
            flags: FLAG_FIN,
            data: Bytes::new(),
        };
        self.tx.send_item(Out::Frame(frame)).map_err(|_| gone())?;
        self.finished = true;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
