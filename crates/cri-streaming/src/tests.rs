//! The server end to end over TCP, with a client built from this crate's own frame codec
//! speaking as client-go does, and a runtime that echoes.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::spdy::frame::{Decoder, Encoder, Frame, FLAG_FIN};
use crate::spdy::Headers;

/// Exec: `echo` writes its stdin to stdout and `exit N` returns N; attach writes "attached";
/// port-forward echoes the stream.
struct Echo;

impl StreamingRuntime for Echo {
    async fn exec(&self, request: ExecRequest, mut streams: Streams) -> Result<i32, RuntimeError> {
        match request.cmd[0].as_str() {
            "echo" => {
                let mut input = Vec::new();
                if let Some(stdin) = streams.stdin.as_mut() {
                    stdin
                        .read_to_end(&mut input)
                        .await
                        .map_err(|e| RuntimeError(e.to_string()))?;
                }
                if let Some(stdout) = streams.stdout.as_mut() {
                    stdout
                        .write_all(&input)
                        .await
                        .map_err(|e| RuntimeError(e.to_string()))?;
                }
                if let Some(stderr) = streams.stderr.as_mut() {
                    stderr
                        .write_all(b"err")
                        .await
                        .map_err(|e| RuntimeError(e.to_string()))?;
                }
                Ok(0)
            }
            "size" => {
                let size = streams.resize.as_mut().unwrap().recv().await.unwrap();
                let text = format!("{}x{}", size.width, size.height);
                streams
                    .stdout
                    .as_mut()
                    .unwrap()
                    .write_all(text.as_bytes())
                    .await
                    .unwrap();
                Ok(0)
            }
            "exit" => Ok(request.cmd[1].parse().unwrap()),
            _ => Err(RuntimeError("no such command".into())),
        }
    }

    async fn attach(
        &self,
        _request: AttachRequest,
        mut streams: Streams,
    ) -> Result<(), RuntimeError> {
        streams
            .stdout
            .as_mut()
            .unwrap()
            .write_all(b"attached")
            .await
            .unwrap();
        Ok(())
    }

    async fn port_forward(
        &self,
        _pod: String,
        port: u16,
        mut stream: PortStream,
    ) -> Result<(), RuntimeError> {
        if port != 80 {
            return Err(RuntimeError("connection refused".into()));
        }
        let mut input = Vec::new();
        stream.read_to_end(&mut input).await.unwrap();
        stream.write_all(&input).await.unwrap();
        stream.shutdown().await.unwrap();
        Ok(())
    }
}

struct Client {
    tcp: TcpStream,
    encoder: Encoder,
    decoder: Decoder,
    buf: BytesMut,
    next_id: u32,
}

impl Client {
    /// Upgrades `url` offering `protocols`; the status line and headers of the answer.
    async fn connect(url: &str, protocols: &[&str]) -> (String, Option<Client>) {
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        let mut tcp = TcpStream::connect(host).await.unwrap();
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nContent-Length: 0\r\n"
        );
        for p in protocols {
            request.push_str(&format!("X-Stream-Protocol-Version: {p}\r\n"));
        }
        request.push_str("\r\n");
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut buf = BytesMut::new();
        let end = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            if tcp.read_buf(&mut buf).await.unwrap() == 0 {
                break buf.len();
            }
        };
        let head = String::from_utf8_lossy(&buf.split_to(end)).to_string();
        if !head.starts_with("HTTP/1.1 101") {
            return (head, None);
        }
        let client = Client {
            tcp,
            encoder: Encoder::new(),
            decoder: Decoder::new(),
            buf,
            next_id: 1,
        };
        (head, Some(client))
    }

    async fn send(&mut self, frame: Frame) {
        let mut out = Vec::new();
        self.encoder.encode(&frame, &mut out).unwrap();
        self.tcp.write_all(&out).await.unwrap();
    }

    /// Opens a stream and waits for its reply.
    async fn open(&mut self, headers: Headers, fin: bool) -> u32 {
        let id = self.next_id;
        self.next_id += 2;
        let flags = if fin { FLAG_FIN } else { 0 };
        self.send(Frame::SynStream {
            stream_id: id,
            associated_to: 0,
            priority: 0,
            flags,
            headers,
        })
        .await;
        match self.next().await {
            Some(Frame::SynReply { stream_id, .. }) => assert_eq!(stream_id, id),
            other => panic!("{other:?}"),
        }
        id
    }

    async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).unwrap() {
                return Some(frame);
            }
            if self.tcp.read_buf(&mut self.buf).await.unwrap_or(0) == 0 {
                return None;
            }
        }
    }

    /// Everything each stream carries until the server's GOAWAY.
    async fn collect(&mut self) -> std::collections::HashMap<u32, (Vec<u8>, bool)> {
        let mut got = std::collections::HashMap::<u32, (Vec<u8>, bool)>::new();
        while let Some(frame) = self.next().await {
            match frame {
                Frame::Data {
                    stream_id,
                    flags,
                    data,
                } => {
                    let entry = got.entry(stream_id).or_default();
                    entry.0.extend_from_slice(&data);
                    entry.1 |= flags & FLAG_FIN != 0;
                }
                Frame::GoAway { .. } => break,
                other => panic!("{other:?}"),
            }
        }
        got
    }
}

fn kind(kind: &str) -> Headers {
    Headers::default().with("streamType", kind)
}

async fn server() -> StreamingServer {
    StreamingServer::start(Config::default(), Echo)
        .await
        .unwrap()
}

const V4: &str = "v4.channel.k8s.io";

#[tokio::test]
async fn exec_carries_stdin_stdout_stderr_and_the_status() {
    let server = server().await;
    assert!(server.address().ip().is_loopback());
    let request = ExecRequest {
        container_id: "c".into(),
        cmd: vec!["echo".into()],
        stdin: true,
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let url = server.get_exec(&request).unwrap().url;
    assert!(
        url.starts_with(&format!("http://{}/exec/", server.address())),
        "{url}"
    );
    let (head, client) =
        Client::connect(&url, &["v5.channel.k8s.io", V4, "v3.channel.k8s.io"]).await;
    assert!(
        head.to_ascii_lowercase()
            .contains("x-stream-protocol-version: v4.channel.k8s.io"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase().contains("upgrade: spdy/3.1"),
        "{head}"
    );
    let mut client = client.unwrap();
    let error = client.open(kind("error"), false).await;
    let stdin = client.open(kind("stdin"), false).await;
    let stdout = client.open(kind("stdout"), false).await;
    let stderr = client.open(kind("stderr"), false).await;
    client
        .send(Frame::Data {
            stream_id: stdin,
            flags: 0,
            data: Bytes::from_static(b"hello "),
        })
        .await;
    client
        .send(Frame::Data {
            stream_id: stdin,
            flags: FLAG_FIN,
            data: Bytes::from_static(b"world\n"),
        })
        .await;
    let got = client.collect().await;
    assert_eq!(got[&stdout], (b"hello world\n".to_vec(), true));
    assert_eq!(got[&stderr], (b"err".to_vec(), true));
    assert_eq!(
        got[&error],
        (br#"{"metadata":{},"status":"Success"}"#.to_vec(), true)
    );
    // The token was used: a second connection to the URL is refused.
    let (head, again) = Client::connect(&url, &[V4]).await;
    assert!(
        again.is_none() && head.starts_with("HTTP/1.1 404"),
        "{head}"
    );
}

#[tokio::test]
async fn exec_reports_exit_codes_and_errors() {
    let server = server().await;
    for (cmd, expected) in [
        (
            vec!["exit", "3"],
            r#""reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}"#,
        ),
        (
            vec!["nothing"],
            r#""message":"no such command","reason":"InternalError""#,
        ),
    ] {
        let request = ExecRequest {
            container_id: "c".into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            stdout: true,
            ..Default::default()
        };
        let url = server.get_exec(&request).unwrap().url;
        let mut client = Client::connect(&url, &[V4]).await.1.unwrap();
        let error = client.open(kind("error"), false).await;
        let stdout = client.open(kind("stdout"), false).await;
        let got = client.collect().await;
        let status = String::from_utf8(got[&error].0.clone()).unwrap();
        assert!(status.contains(expected), "{status}");
        assert_eq!(got[&stdout], (Vec::new(), true));
    }
}

#[tokio::test]
async fn a_terminal_gets_its_size_and_attach_its_output() {
    let server = server().await;
    let request = ExecRequest {
        container_id: "c".into(),
        cmd: vec!["size".into()],
        stdout: true,
        tty: true,
        ..Default::default()
    };
    let url = server.get_exec(&request).unwrap().url;
    let mut client = Client::connect(&url, &[V4]).await.1.unwrap();
    let _error = client.open(kind("error"), false).await;
    let stdout = client.open(kind("stdout"), false).await;
    let resize = client.open(kind("resize"), false).await;
    client
        .send(Frame::Data {
            stream_id: resize,
            flags: 0,
            data: Bytes::from_static(b"{\"Width\":100,\"Height\":40}\n"),
        })
        .await;
    let got = client.collect().await;
    assert_eq!(got[&stdout].0, b"100x40");

    let attach = AttachRequest {
        container_id: "c".into(),
        stdout: true,
        ..Default::default()
    };
    let url = server.get_attach(&attach).unwrap().url;
    assert!(url.contains("/attach/"));
    let mut client = Client::connect(&url, &["v3.channel.k8s.io"])
        .await
        .1
        .unwrap();
    let error = client.open(kind("error"), false).await;
    let stdout = client.open(kind("stdout"), false).await;
    let got = client.collect().await;
    assert_eq!(got[&stdout], (b"attached".to_vec(), true));
    // v3: nothing on the error stream on success.
    assert_eq!(got[&error], (Vec::new(), true));
}

#[tokio::test]
async fn port_forward_pairs_streams_and_reports_failures() {
    let server = server().await;
    let url = server
        .get_port_forward(&PortForwardRequest {
            pod_sandbox_id: "p".into(),
            port: vec![],
        })
        .unwrap()
        .url;
    let mut client = Client::connect(&url, &["portforward.k8s.io"])
        .await
        .1
        .unwrap();
    let pair = |kind: &str, port: &str, id: &str| {
        Headers::default()
            .with("streamType", kind)
            .with("port", port)
            .with("requestID", id)
    };
    let error = client.open(pair("error", "80", "0"), true).await;
    let data = client.open(pair("data", "80", "0"), false).await;
    let bad_error = client.open(pair("error", "81", "1"), true).await;
    let bad_data = client.open(pair("data", "81", "1"), false).await;
    client
        .send(Frame::Data {
            stream_id: data,
            flags: FLAG_FIN,
            data: Bytes::from_static(b"GET /"),
        })
        .await;
    let mut got = std::collections::HashMap::<u32, (Vec<u8>, bool)>::new();
    while got.values().filter(|(_, fin)| *fin).count() < 4 {
        match client.next().await.unwrap() {
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                let entry = got.entry(stream_id).or_default();
                entry.0.extend_from_slice(&data);
                entry.1 |= flags & FLAG_FIN != 0;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got[&data], (b"GET /".to_vec(), true));
    assert_eq!(got[&error], (Vec::new(), true));
    assert_eq!(got[&bad_data], (Vec::new(), true));
    assert_eq!(
        String::from_utf8(got[&bad_error].0.clone()).unwrap(),
        "error forwarding port 81 to pod p: connection refused"
    );
}

#[tokio::test]
async fn requests_are_checked_and_bad_upgrades_refused() {
    let server = server().await;
    let bad = ExecRequest {
        container_id: "c".into(),
        cmd: vec!["x".into()],
        stderr: true,
        tty: true,
        ..Default::default()
    };
    assert!(matches!(
        server.get_exec(&bad),
        Err(RequestError::InvalidArgument(_))
    ));
    let none = ExecRequest {
        container_id: "c".into(),
        cmd: vec!["x".into()],
        ..Default::default()
    };
    assert!(matches!(
        server.get_exec(&none),
        Err(RequestError::InvalidArgument(_))
    ));
    let no_cmd = ExecRequest {
        container_id: "c".into(),
        stdout: true,
        ..Default::default()
    };
    assert!(server.get_exec(&no_cmd).is_err());
    assert!(server
        .get_port_forward(&PortForwardRequest::default())
        .is_err());
    let ok = ExecRequest {
        container_id: "c".into(),
        cmd: vec!["x".into()],
        stdout: true,
        ..Default::default()
    };
    // Only versions this server speaks.
    let url = server.get_exec(&ok).unwrap().url;
    let (head, client) = Client::connect(&url, &["channel.k8s.io"]).await;
    assert!(
        client.is_none() && head.starts_with("HTTP/1.1 403"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("x-accepted-stream-protocol-versions: v4.channel.k8s.io"),
        "{head}"
    );
    // A token for exec does not open attach.
    let url = server
        .get_exec(&ok)
        .unwrap()
        .url
        .replace("/exec/", "/attach/");
    let (head, _) = Client::connect(&url, &[V4]).await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}
