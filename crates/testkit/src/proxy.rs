//! A recording, fault-injecting HTTP/1.1 reverse proxy, for failures a real
//! registry won't produce on demand: 5xx and 429 answers, connections
//! dropped mid-blob, corrupted bodies, oversized or odd manifests, and
//! redirects to another origin (as registries do to blob storage).
//!
//! Each connection carries one request: the proxy answers with
//! `Connection: close` and asks the upstream for the same, so a response
//! body simply ends at EOF and is relayed as raw bytes. That is what lets a
//! fault keep the upstream's `Content-Length` and still cut the body short.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::http::{
    header, parse_request_head, parse_response_head, read_head, reason_phrase,
    write_headers_closing, RequestHead, ResponseHead,
};
use crate::registry::Registry;

/// How long the proxy waits on a silent client or upstream before giving up
/// on the connection, so a stuck test fails instead of hanging forever.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// A programmed fault. Each matches requests whose target (path and query)
/// contains `path_contains`, applies to the first `times` (at least 1) of
/// them, and is then spent. Faults are tried in the order they were pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer `status` with an empty body instead of forwarding.
    Status {
        /// Substring of the request target to match.
        path_contains: String,
        /// Status to answer with, e.g. 500, 503 or 429.
        status: u16,
        /// How many matching requests get this answer.
        times: usize,
    },
    /// Forward, relay the upstream's head (with its full `Content-Length`),
    /// then close the connection after `after_bytes` body bytes. Only GET
    /// requests match (a HEAD has no body to cut).
    Truncate {
        /// Substring of the request target to match.
        path_contains: String,
        /// Body bytes relayed before the connection is closed.
        after_bytes: usize,
        /// How many matching requests are cut short.
        times: usize,
    },
    /// Answer `status` with this body and `Content-Type` instead of
    /// forwarding.
    ReplaceBody {
        /// Substring of the request target to match.
        path_contains: String,
        /// Status to answer with.
        status: u16,
        /// `Content-Type` of the answer.
        content_type: String,
        /// The answer's body (sent with a matching `Content-Length`).
        body: Vec<u8>,
        /// How many matching requests get this answer.
        times: usize,
    },
    /// Forward, but flip one byte in the middle of the body, so its digest
    /// no longer matches. Only GET requests match.
    CorruptBody {
        /// Substring of the request target to match.
        path_contains: String,
        /// How many matching responses are corrupted.
        times: usize,
    },
    /// Answer `status` (e.g. 307) with `Location: {to}{target}` and an empty
    /// body instead of forwarding: the client is sent to the same path and
    /// query on another origin, as registries send blob downloads to their
    /// storage or a CDN. `to` is a base URL without a trailing path, e.g.
    /// another proxy's [`FaultProxy::base_url`] (another port is another
    /// origin, so a client must not send its credentials there).
    Redirect {
        /// Substring of the request target to match.
        path_contains: String,
        /// Base URL to redirect to, e.g. `http://127.0.0.1:PORT`.
        to: String,
        /// Status to answer with: 301, 302, 303, 307 or 308.
        status: u16,
        /// How many matching requests are redirected.
        times: usize,
    },
    /// Answer 401 with `WWW-Authenticate: {challenge}` and an empty body
    /// instead of forwarding, as a host that wants credentials does (e.g.
    /// `Bearer realm="http://127.0.0.1:PORT/token"` pointing at a collector).
    Challenge {
        /// Substring of the request target to match.
        path_contains: String,
        /// The `WWW-Authenticate` value.
        challenge: String,
        /// How many matching requests get this answer.
        times: usize,
    },
}

impl Fault {
    fn path_contains(&self) -> &str {
        match self {
            Fault::Status { path_contains, .. }
            | Fault::Truncate { path_contains, .. }
            | Fault::ReplaceBody { path_contains, .. }
            | Fault::CorruptBody { path_contains, .. }
            | Fault::Redirect { path_contains, .. }
            | Fault::Challenge { path_contains, .. } => path_contains,
        }
    }

    fn times_mut(&mut self) -> &mut usize {
        match self {
            Fault::Status { times, .. }
            | Fault::Truncate { times, .. }
            | Fault::ReplaceBody { times, .. }
            | Fault::CorruptBody { times, .. }
            | Fault::Redirect { times, .. }
            | Fault::Challenge { times, .. } => times,
        }
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        let needs_body = matches!(self, Fault::Truncate { .. } | Fault::CorruptBody { .. });
        target.contains(self.path_contains()) && (!needs_body || method == "GET")
    }
}

/// One request the proxy received, in arrival order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `HEAD`, `PUT`, …
    pub method: String,
    /// The path without the query, e.g. `/v2/app/blobs/sha256:…`.
    pub path: String,
    /// The query string without `?`, if any.
    pub query: Option<String>,
    /// The `Range` header, if sent (e.g. `bytes=1024-`).
    pub range: Option<String>,
    /// Whether an `Authorization` header was sent.
    pub authorization: bool,
    /// The status sent to the client, recorded just before its response
    /// head; `None` if no response was sent (e.g. the upstream hung up).
    pub status: Option<u16>,
}

/// State shared by the proxy's threads.
struct Shared {
    upstream: String,
    faults: Mutex<Vec<Fault>>,
    requests: Mutex<RequestLog>,
}

/// Recorded requests. Entries are addressed by a sequence number that
/// survives [`FaultProxy::clear_requests`], so a response finishing after a
/// clear can't set the status of a newer request.
#[derive(Default)]
struct RequestLog {
    /// Sequence number of `entries[0]`.
    first: usize,
    entries: Vec<RecordedRequest>,
}

/// A reverse proxy on `127.0.0.1:<free port>` in front of an upstream
/// registry. Stops accepting on drop.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy forwarding to `upstream` (`127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("fault proxy: binding 127.0.0.1:0");
        let addr = listener.local_addr().expect("fault proxy: local address");
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            faults: Mutex::new(Vec::new()),
            requests: Mutex::new(RequestLog::default()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || accept_loop(&listener, &shared, &stop))
        };
        Self {
            addr,
            shared,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// Starts a proxy in front of `registry`.
    pub fn in_front_of(registry: &Registry) -> Self {
        Self::start(&registry.host())
    }

    /// `127.0.0.1:PORT` of the proxy; use it in image references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`, e.g. the target of another proxy's
    /// [`Fault::Redirect`].
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a fault; it applies to subsequent matching requests.
    pub fn push_fault(&self, mut fault: Fault) {
        assert!(
            *fault.times_mut() > 0,
            "a fault must apply at least once: {fault:?}"
        );
        self.shared
            .faults
            .lock()
            .expect("faults poisoned")
            .push(fault);
    }

    /// Faults not yet spent, to assert a fault was actually hit.
    pub fn pending_faults(&self) -> Vec<Fault> {
        self.shared.faults.lock().expect("faults poisoned").clone()
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        let log = self.shared.requests.lock().expect("requests poisoned");
        log.entries.clone()
    }

    /// Recorded requests whose path contains `path_contains`, e.g.
    /// `"/blobs/"` to see which blobs a pull fetched.
    pub fn requests_to(&self, path_contains: &str) -> Vec<RecordedRequest> {
        let mut requests = self.requests();
        requests.retain(|request| request.path.contains(path_contains));
        requests
    }

    /// Forgets recorded requests, e.g. between a first and second pull.
    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so the thread sees the stop flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(stream) = stream {
            let shared = shared.clone();
            // A thread per connection: simple, and tests open few at once.
            std::thread::spawn(move || {
                let _ = handle_connection(stream, &shared);
            });
        }
    }
}

impl Shared {
    fn record(&self, request: &RequestHead) -> usize {
        let (path, query) = match request.target.split_once('?') {
            Some((path, query)) => (path.to_string(), Some(query.to_string())),
            None => (request.target.clone(), None),
        };
        let mut log = self.requests.lock().expect("requests poisoned");
        log.entries.push(RecordedRequest {
            method: request.method.clone(),
            path,
            query,
            range: header(&request.headers, "range")
                .map(|value| String::from_utf8_lossy(value).into_owned()),
            authorization: header(&request.headers, "authorization").is_some(),
            status: None,
        });
        log.first + log.entries.len() - 1
    }

    fn clear_requests(&self) {
        let mut log = self.requests.lock().expect("requests poisoned");
        log.first += log.entries.len();
        log.entries.clear();
    }

    fn set_status(&self, sequence: usize, status: u16) {
        let mut log = self.requests.lock().expect("requests poisoned");
        // Nothing to do if clear_requests() dropped the entry meanwhile.
        if let Some(position) = sequence.checked_sub(log.first) {
            if let Some(request) = log.entries.get_mut(position) {
                request.status = Some(status);
            }
        }
    }

    /// Spends one use of the first fault matching this request.
    fn take_fault(&self, method: &str, target: &str) -> Option<Fault> {
        let mut faults = self.faults.lock().expect("faults poisoned");
        let position = faults
            .iter()
            .position(|fault| fault.matches(method, target))?;
        let fault = faults[position].clone();
        let times = faults[position].times_mut();
        *times = times.saturating_sub(1);
        if *times == 0 {
            faults.remove(position);
        }
        Some(fault)
    }
}

fn handle_connection(client: TcpStream, shared: &Shared) -> io::Result<()> {
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    client.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut reader = BufReader::new(client.try_clone()?);
    if is_tls_handshake(&mut reader)? {
        // Clients told to skip TLS verification (skopeo's --tls-verify=false)
        // try HTTPS first. Answer in plain HTTP at once, as the registry's Go
        // server does, so they fall back to HTTP instead of waiting ~10 s
        // for a TLS handshake that never comes.
        (&client).write_all(b"HTTP/1.0 400 Bad Request\r\n\r\nThis proxy speaks plain HTTP.\n")?;
        return client.shutdown(Shutdown::Both);
    }
    let Some(raw_head) = read_head(&mut reader)? else {
        return Ok(()); // connected and closed without a request
    };
    let request = parse_request_head(&raw_head)?;
    let exchange = Exchange {
        client: &client,
        sequence: shared.record(&request),
        request,
        shared,
    };
    let fault = shared.take_fault(&exchange.request.method, &exchange.request.target);
    let result = match fault {
        Some(Fault::Status { status, .. }) => {
            drain_in_background(reader, None);
            exchange.respond(status, "", &[])
        }
        Some(Fault::ReplaceBody {
            status,
            content_type,
            body,
            ..
        }) => {
            drain_in_background(reader, None);
            exchange.respond(status, &content_type, &body)
        }
        Some(Fault::Redirect { to, status, .. }) => {
            drain_in_background(reader, None);
            let location = redirect_location(&to, &exchange.request.target);
            exchange.respond_with(status, &[("Location", &location)], "", &[])
        }
        Some(Fault::Challenge { challenge, .. }) => {
            drain_in_background(reader, None);
            exchange.respond_with(401, &[("WWW-Authenticate", &challenge)], "", &[])
        }
        body_fault => exchange.forward(reader, body_fault.as_ref()),
    };
    // Half-close: the client sees EOF, and the drain thread keeps reading
    // whatever it still sends, so closing never turns into a reset that
    // could destroy the response before the client reads it.
    let _ = client.shutdown(Shutdown::Write);
    result
}

/// Whether the connection starts with a TLS handshake record.
fn is_tls_handshake(reader: &mut BufReader<TcpStream>) -> io::Result<bool> {
    const TLS_HANDSHAKE_RECORD: u8 = 0x16;
    Ok(reader.fill_buf()?.first() == Some(&TLS_HANDSHAKE_RECORD))
}

/// One request being answered on a client connection.
struct Exchange<'a> {
    client: &'a TcpStream,
    request: RequestHead,
    shared: &'a Shared,
    /// Sequence number of this request in the shared log.
    sequence: usize,
}

impl Exchange<'_> {
    /// Notes the status in the log before the client can see it, so a test
    /// that has read the response always finds the status recorded.
    fn record_status(&self, status: u16) {
        self.shared.set_status(self.sequence, status);
    }

    /// Sends a synthesized response.
    fn respond(&self, status: u16, content_type: &str, body: &[u8]) -> io::Result<()> {
        self.respond_with(status, &[], content_type, body)
    }

    /// Sends a synthesized response with extra headers.
    fn respond_with(
        &self,
        status: u16,
        headers: &[(&str, &str)],
        content_type: &str,
        body: &[u8],
    ) -> io::Result<()> {
        let mut out = Vec::new();
        write!(out, "HTTP/1.1 {status} {}\r\n", reason_phrase(status))?;
        for (name, value) in headers {
            write!(out, "{name}: {value}\r\n")?;
        }
        if !content_type.is_empty() {
            write!(out, "Content-Type: {content_type}\r\n")?;
        }
        write!(out, "Content-Length: {}\r\n", body.len())?;
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        if self.request.method != "HEAD" {
            out.extend_from_slice(body);
        }
        self.record_status(status);
        let mut client = self.client;
        client.write_all(&out)
    }

    /// Relays the request upstream and the response back, applying a body
    /// fault if given.
    fn forward(
        &self,
        client_reader: BufReader<TcpStream>,
        fault: Option<&Fault>,
    ) -> io::Result<()> {
        let upstream = match TcpStream::connect(&self.shared.upstream) {
            Ok(upstream) => upstream,
            Err(err) => {
                drain_in_background(client_reader, None);
                self.respond(502, "", &[])?;
                return Err(err);
            }
        };
        upstream.set_read_timeout(Some(IO_TIMEOUT))?;
        upstream.set_write_timeout(Some(IO_TIMEOUT))?;
        send_request_head(&upstream, &self.request)?;
        // The request body (if any, in whatever framing) streams on its own.
        drain_in_background(client_reader, Some(upstream.try_clone()?));
        let mut upstream_reader = BufReader::new(upstream);
        let head = read_final_response_head(self.client, &mut upstream_reader)?;
        self.record_status(head.status);
        send_response_head(self.client, &head)?;
        relay_body(self.client, &mut upstream_reader, fault)
    }
}

/// Where a [`Fault::Redirect`] sends a request: the same target on `to`.
fn redirect_location(to: &str, target: &str) -> String {
    format!("{}{target}", to.trim_end_matches('/'))
}

fn send_request_head(mut upstream: &TcpStream, request: &RequestHead) -> io::Result<()> {
    let mut out = Vec::new();
    write!(out, "{} {} HTTP/1.1\r\n", request.method, request.target)?;
    // Host is relayed unchanged, so the registry builds Location URLs that
    // point back at the proxy.
    write_headers_closing(&mut out, &request.headers)?;
    upstream.write_all(&out)
}

/// Reads the upstream's final response head, relaying any 1xx interim
/// heads (e.g. `100 Continue`) to the client on the way.
fn read_final_response_head(
    mut client: &TcpStream,
    upstream: &mut BufReader<TcpStream>,
) -> io::Result<ResponseHead> {
    loop {
        let raw = read_head(upstream)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "upstream closed without a response",
            )
        })?;
        let head = parse_response_head(&raw)?;
        if !(100..200).contains(&head.status) {
            return Ok(head);
        }
        client.write_all(&raw)?;
    }
}

fn send_response_head(mut client: &TcpStream, head: &ResponseHead) -> io::Result<()> {
    let mut out = Vec::new();
    write!(out, "HTTP/1.1 {} {}\r\n", head.status, head.reason)?;
    write_headers_closing(&mut out, &head.headers)?;
    client.write_all(&out)
}

/// Relays the body (everything until the upstream closes), truncating or
/// corrupting it if the fault says so.
fn relay_body(
    mut client: &TcpStream,
    upstream: &mut BufReader<TcpStream>,
    fault: Option<&Fault>,
) -> io::Result<()> {
    match fault {
        Some(Fault::Truncate { after_bytes, .. }) => {
            io::copy(&mut upstream.take(*after_bytes as u64), &mut client)?;
        }
        Some(Fault::CorruptBody { .. }) => {
            let mut body = Vec::new();
            upstream.read_to_end(&mut body)?;
            let middle = body.len() / 2;
            if let Some(byte) = body.get_mut(middle) {
                *byte ^= 0xff;
            }
            client.write_all(&body)?;
        }
        _ => {
            io::copy(upstream, &mut client)?;
        }
    }
    Ok(())
}

/// Reads the rest of the client's request (a body, or nothing) on a
/// separate thread, relaying it to `upstream` if given. It stops when the
/// client closes or goes quiet for [`IO_TIMEOUT`].
fn drain_in_background(mut client: BufReader<TcpStream>, mut upstream: Option<TcpStream>) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 64 * 1024];
        while let Ok(read @ 1..) = client.read(&mut buffer) {
            if let Some(stream) = upstream.as_mut() {
                if stream.write_all(&buffer[..read]).is_err() {
                    // Upstream is done with us; keep discarding so the
                    // client's socket never resets.
                    upstream = None;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(faults: Vec<Fault>) -> Shared {
        Shared {
            upstream: String::new(),
            faults: Mutex::new(faults),
            requests: Mutex::new(RequestLog::default()),
        }
    }

    #[test]
    fn a_status_never_lands_on_a_request_recorded_after_a_clear() {
        let shared = shared(Vec::new());
        let head = parse_request_head(b"GET /v2/?x=1 HTTP/1.1\r\nRange: bytes=3-\r\n\r\n")
            .expect("a request head");
        let old = shared.record(&head);
        shared.clear_requests();
        let new = shared.record(&head);
        shared.set_status(old, 500);
        shared.set_status(new, 200);
        let log = shared.requests.lock().expect("log");
        assert_eq!(log.entries.len(), 1);
        assert_eq!(log.entries[0].status, Some(200));
        assert_eq!(log.entries[0].query.as_deref(), Some("x=1"));
        assert_eq!(log.entries[0].range.as_deref(), Some("bytes=3-"));
    }

    #[test]
    fn faults_match_by_path_and_are_spent() {
        let shared = shared(vec![
            Fault::CorruptBody {
                path_contains: "/blobs/".into(),
                times: 1,
            },
            Fault::Status {
                path_contains: "/manifests/".into(),
                status: 503,
                times: 2,
            },
        ]);
        assert_eq!(shared.take_fault("GET", "/v2/a/tags/list"), None);
        // Body faults ignore HEAD requests.
        assert_eq!(shared.take_fault("HEAD", "/v2/a/blobs/sha256:1"), None);
        assert!(matches!(
            shared.take_fault("GET", "/v2/a/blobs/sha256:1"),
            Some(Fault::CorruptBody { .. })
        ));
        assert_eq!(shared.take_fault("GET", "/v2/a/blobs/sha256:1"), None);
        for _ in 0..2 {
            assert!(matches!(
                shared.take_fault("HEAD", "/v2/a/manifests/1"),
                Some(Fault::Status { status: 503, .. })
            ));
        }
        assert_eq!(shared.take_fault("HEAD", "/v2/a/manifests/1"), None);
    }

    #[test]
    fn redirects_match_any_method_and_keep_the_target() {
        let redirect = Fault::Redirect {
            path_contains: "/blobs/".into(),
            to: "http://127.0.0.1:9/".into(),
            status: 307,
            times: 2,
        };
        let shared = shared(vec![redirect]);
        for method in ["HEAD", "GET"] {
            assert!(matches!(
                shared.take_fault(method, "/v2/a/blobs/sha256:1"),
                Some(Fault::Redirect { status: 307, .. })
            ));
        }
        assert_eq!(shared.take_fault("GET", "/v2/a/blobs/sha256:1"), None);
        assert_eq!(
            redirect_location("http://127.0.0.1:9/", "/v2/a/blobs/sha256:1?x=1"),
            "http://127.0.0.1:9/v2/a/blobs/sha256:1?x=1"
        );
        assert_eq!(
            redirect_location("http://127.0.0.1:9", "/v2/"),
            "http://127.0.0.1:9/v2/"
        );
    }
}
