use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;

/// The client's end of a session: frames in and out through our own codec.
struct Peer {
    io: DuplexStream,
    encoder: Encoder,
    decoder: Decoder,
    buf: BytesMut,
}

impl Peer {
    async fn send(&mut self, frame: Frame) {
        let mut out = Vec::new();
        self.encoder.encode(&frame, &mut out).unwrap();
        self.io.write_all(&out).await.unwrap();
    }

    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).unwrap() {
                return Some(frame);
            }
            if self.io.read_buf(&mut self.buf).await.unwrap() == 0 {
                return None;
            }
        }
    }
}

fn start(limits: SessionLimits) -> (Session, Peer) {
    let (server, client) = tokio::io::duplex(1 << 20);
    let session = Session::start(server, limits);
    let peer = Peer {
        io: client,
        encoder: Encoder::new(),
        decoder: Decoder::new(),
        buf: BytesMut::new(),
    };
    (session, peer)
}

fn syn(stream_id: u32, kind: &str, flags: u8) -> Frame {
    Frame::SynStream {
        stream_id,
        associated_to: 0,
        priority: 0,
        flags,
        headers: Headers::default().with("streamtype", kind),
    }
}

#[tokio::test]
async fn streams_are_answered_and_carry_data_both_ways() {
    let (mut session, mut peer) = start(SessionLimits::default());
    peer.send(syn(1, "stdin", 0)).await;
    assert_eq!(
        peer.next().await,
        Some(Frame::SynReply {
            stream_id: 1,
            flags: 0,
            headers: Headers::default()
        })
    );
    let mut stream = session.accept().await.unwrap();
    assert_eq!(stream.headers.get("streamtype"), Some("stdin"));
    peer.send(Frame::Data {
        stream_id: 1,
        flags: 0,
        data: Bytes::from_static(b"abc"),
    })
    .await;
    peer.send(Frame::Data {
        stream_id: 1,
        flags: FLAG_FIN,
        data: Bytes::from_static(b"def"),
    })
    .await;
    let mut got = Vec::new();
    stream.recv.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"abcdef");
    stream.send.write_all(b"out").await.unwrap();
    stream.send.shutdown().await.unwrap();
    assert_eq!(
        peer.next().await,
        Some(Frame::Data {
            stream_id: 1,
            flags: 0,
            data: Bytes::from_static(b"out")
        })
    );
    assert_eq!(
        peer.next().await,
        Some(Frame::Data {
            stream_id: 1,
            flags: FLAG_FIN,
            data: Bytes::new()
        })
    );
    // Pings from the client come back with their id.
    peer.send(Frame::Ping { id: 5 }).await;
    assert_eq!(peer.next().await, Some(Frame::Ping { id: 5 }));
    // finish: GOAWAY, then the write side ends.
    let finishing = tokio::spawn(session.finish(Duration::from_secs(5)));
    assert!(matches!(peer.next().await, Some(Frame::GoAway { .. })));
    assert_eq!(peer.next().await, None);
    drop(peer);
    finishing.await.unwrap();
}

#[tokio::test]
async fn streams_past_the_limit_are_refused_and_ids_must_rise() {
    let limits = SessionLimits {
        max_streams: 1,
        ..Default::default()
    };
    let (mut session, mut peer) = start(limits);
    peer.send(syn(1, "a", 0)).await;
    assert!(matches!(
        peer.next().await,
        Some(Frame::SynReply { stream_id: 1, .. })
    ));
    let _kept = session.accept().await.unwrap();
    peer.send(syn(3, "b", 0)).await;
    assert_eq!(
        peer.next().await,
        Some(Frame::RstStream {
            stream_id: 3,
            status: RST_REFUSED_STREAM
        })
    );
    // A stream id going backwards is a protocol error: reset, GOAWAY, connection over.
    peer.send(syn(1, "c", 0)).await;
    assert_eq!(
        peer.next().await,
        Some(Frame::RstStream {
            stream_id: 1,
            status: RST_PROTOCOL_ERROR
        })
    );
    assert!(matches!(
        peer.next().await,
        Some(Frame::GoAway { status: 1, .. })
    ));
    session.closed().cancelled().await;
}

#[tokio::test]
async fn a_stream_opened_with_fin_reads_empty_and_the_end_of_the_connection_ends_streams() {
    let (mut session, mut peer) = start(SessionLimits::default());
    peer.send(syn(1, "error", FLAG_FIN)).await;
    let mut stream = session.accept().await.unwrap();
    let mut got = Vec::new();
    stream.recv.read_to_end(&mut got).await.unwrap();
    assert!(got.is_empty());
    peer.send(syn(3, "stdin", 0)).await;
    let mut open = session.accept().await.unwrap();
    drop(peer);
    let mut got = Vec::new();
    open.recv.read_to_end(&mut got).await.unwrap();
    session.closed().cancelled().await;
    assert!(session.accept().await.is_none());
}
