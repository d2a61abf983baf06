//! Minimal HTTP/1.1 head handling shared by the fault proxy and the registry
//! readiness probe. Bodies are never parsed here: the proxy relays them as
//! raw bytes, which is what lets it truncate or corrupt them on purpose.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest request or response head accepted; registries send small heads.
const MAX_HEAD: usize = 64 * 1024;
/// Most headers a head may carry.
const MAX_HEADERS: usize = 128;

/// A parsed request line and headers.
#[derive(Debug, Clone)]
pub(crate) struct RequestHead {
    pub method: String,
    /// The request target as sent: path plus optional `?query`.
    pub target: String,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// A parsed status line and headers.
#[derive(Debug, Clone)]
pub(crate) struct ResponseHead {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Looks up a header by case-insensitive name.
pub(crate) fn header<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_slice())
}

/// Like [`header`], as (lossy) text.
pub(crate) fn header_str(headers: &[(String, Vec<u8>)], name: &str) -> Option<String> {
    header(headers, name).map(|value| String::from_utf8_lossy(value).into_owned())
}

/// Reads one HTTP head (up to and including the blank line). Returns
/// `Ok(None)` on a clean EOF before any byte, so an idle keep-alive close is
/// not an error. Bytes after the head stay buffered in `reader`.
pub(crate) fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    loop {
        let read = reader.read_until(b'\n', &mut head)?;
        if read == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "EOF inside HTTP head",
                ))
            };
        }
        if head.ends_with(b"\r\n\r\n") || head == b"\r\n" {
            return Ok(Some(head));
        }
        if head.len() > MAX_HEAD {
            return Err(invalid("HTTP head too large"));
        }
    }
}

pub(crate) fn parse_request_head(raw: &[u8]) -> io::Result<RequestHead> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(raw) {
        Ok(httparse::Status::Complete(_)) => Ok(RequestHead {
            method: request.method.unwrap_or_default().to_string(),
            target: request.path.unwrap_or_default().to_string(),
            headers: owned_headers(request.headers),
        }),
        Ok(httparse::Status::Partial) => Err(invalid("partial request head")),
        Err(err) => Err(invalid(&format!("bad request head: {err}"))),
    }
}

pub(crate) fn parse_response_head(raw: &[u8]) -> io::Result<ResponseHead> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(raw) {
        Ok(httparse::Status::Complete(_)) => Ok(ResponseHead {
            status: response.code.unwrap_or_default(),
            reason: response.reason.unwrap_or_default().to_string(),
            headers: owned_headers(response.headers),
        }),
        Ok(httparse::Status::Partial) => Err(invalid("partial response head")),
        Err(err) => Err(invalid(&format!("bad response head: {err}"))),
    }
}

fn owned_headers(headers: &[httparse::Header<'_>]) -> Vec<(String, Vec<u8>)> {
    headers
        .iter()
        .map(|h| (h.name.to_string(), h.value.to_vec()))
        .collect()
}

/// Hop-by-hop headers the proxy must not relay: it sets its own
/// `Connection: close` on both sides.
pub(crate) fn is_hop_by_hop(name: &str) -> bool {
    ["connection", "keep-alive", "proxy-connection"]
        .iter()
        .any(|hop| name.eq_ignore_ascii_case(hop))
}

/// Writes headers (minus hop-by-hop ones) followed by `Connection: close`
/// and the blank line that ends the head.
pub(crate) fn write_headers_closing(
    out: &mut impl Write,
    headers: &[(String, Vec<u8>)],
) -> io::Result<()> {
    for (name, value) in headers.iter().filter(|(name, _)| !is_hop_by_hop(name)) {
        out.write_all(name.as_bytes())?;
        out.write_all(b": ")?;
        out.write_all(value)?;
        out.write_all(b"\r\n")?;
    }
    out.write_all(b"Connection: close\r\n\r\n")
}

/// A canonical reason phrase, so synthesized responses look ordinary.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Injected Fault",
    }
}

/// Sends `GET path` to `host` and returns the response head. Used to probe
/// whether a freshly started registry is up (and is ours).
pub(crate) fn get_head(host: &str, path: &str, timeout: Duration) -> io::Result<ResponseHead> {
    let stream = connect(host, timeout)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    (&stream).write_all(request.as_bytes())?;
    let mut reader = BufReader::new(&stream);
    let head = read_head(&mut reader)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no response"))?;
    parse_response_head(&head)
}

/// Sends `PUT path` with `body` of `content_type` to `host` and returns the response head:
/// for documents a client would not send (a manifest whose descriptors lie), which the
/// registry stores as long as the blobs they name exist.
pub(crate) fn put(
    host: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
    timeout: Duration,
) -> io::Result<ResponseHead> {
    let stream = connect(host, timeout)?;
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    (&stream).write_all(head.as_bytes())?;
    (&stream).write_all(body)?;
    let mut reader = BufReader::new(&stream);
    let head = read_head(&mut reader)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no response"))?;
    parse_response_head(&head)
}

/// Connects to `host` with every step bounded by `timeout`, the connect included: a SYN
/// that gets no answer (a full backlog, a firewall rule sending the port elsewhere) would
/// otherwise block for minutes while the kernel retransmits.
fn connect(host: &str, timeout: Duration) -> io::Result<TcpStream> {
    let address = host
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| invalid(&format!("{host} names no address")))?;
    let stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    Ok(stream)
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_head_and_leaves_body_buffered() {
        let raw = b"GET /v2/?a=b HTTP/1.1\r\nHost: x\r\nRange: bytes=5-\r\n\r\nBODY";
        let mut reader = BufReader::new(&raw[..]);
        let head = read_head(&mut reader).expect("read").expect("a head");
        let parsed = parse_request_head(&head).expect("parse");
        assert_eq!(parsed.method, "GET");
        assert_eq!(parsed.target, "/v2/?a=b");
        assert_eq!(
            header_str(&parsed.headers, "range").as_deref(),
            Some("bytes=5-")
        );
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut reader, &mut rest).expect("rest");
        assert_eq!(rest, "BODY");
    }

    #[test]
    fn clean_eof_is_not_an_error() {
        let mut reader = BufReader::new(&b""[..]);
        assert!(read_head(&mut reader).expect("read").is_none());
    }

    #[test]
    fn drops_hop_by_hop_headers() {
        let headers = vec![
            ("Connection".to_string(), b"keep-alive".to_vec()),
            ("Content-Length".to_string(), b"3".to_vec()),
        ];
        let mut out = Vec::new();
        write_headers_closing(&mut out, &headers).expect("write");
        assert_eq!(out, b"Content-Length: 3\r\nConnection: close\r\n\r\n");
    }
}
