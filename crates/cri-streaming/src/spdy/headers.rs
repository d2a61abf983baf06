//! SPDY/3 header blocks: `count(32)` then `len(32) name len(32) value` pairs, names in
//! lower case, several values of one name joined by NUL; the whole block deflated as part
//! of the connection's one zlib stream (primed with [`DICTIONARY`], flushed with
//! `Z_SYNC_FLUSH` after each block so each frame carries all its bytes).

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::dictionary::DICTIONARY;
use super::frame::{MAX_HEADERS, MAX_HEADER_BLOCK};
use super::SpdyError;

/// A frame's headers in the order they came: lower-case names, one entry per value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// The first value of `name` (lower case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn with(mut self, name: &str, value: &str) -> Headers {
        self.0.push((name.to_ascii_lowercase(), value.to_string()));
        self
    }
}

/// The inbound half: one inflater for the connection.
pub struct HeaderDecoder {
    inflate: Decompress,
}

impl Default for HeaderDecoder {
    fn default() -> Self {
        HeaderDecoder {
            inflate: Decompress::new(true),
        }
    }
}

impl HeaderDecoder {
    /// Inflates and parses one block.
    pub fn decode(&mut self, compressed: &[u8]) -> Result<Headers, SpdyError> {
        let block = self.inflate(compressed)?;
        parse_block(&block)
    }

    fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::with_capacity(1024);
        loop {
            if out.len() == out.capacity() {
                if out.len() >= MAX_HEADER_BLOCK {
                    return Err(SpdyError::HeadersTooLarge);
                }
                out.reserve((out.len()).min(MAX_HEADER_BLOCK - out.len()).max(1024));
            }
            let before = self.inflate.total_in();
            let produced = out.len();
            let result = self
                .inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            let used = (self.inflate.total_in() - before) as usize;
            input = &input[used..];
            let stuck = used == 0 && out.len() == produced && out.len() < out.capacity();
            match result {
                Ok(Status::StreamEnd) => {
                    return Err(SpdyError::Protocol("the header zlib stream ended"))
                }
                Ok(_) => {
                    if input.is_empty() && out.len() < out.capacity() {
                        break;
                    }
                    if stuck {
                        return Err(SpdyError::Compression(
                            "a header block that does not inflate",
                        ));
                    }
                }
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(DICTIONARY)
                        .map_err(|_| SpdyError::Compression("the header dictionary"))?;
                }
                Err(_) => return Err(SpdyError::Compression("inflating a header block")),
            }
        }
        if out.len() > MAX_HEADER_BLOCK {
            return Err(SpdyError::HeadersTooLarge);
        }
        Ok(out)
    }
}

/// The outbound half: one deflater for the connection.
pub struct HeaderEncoder {
    deflate: Compress,
}

impl HeaderEncoder {
    pub fn new() -> HeaderEncoder {
        let mut deflate = Compress::new(Compression::default(), true);
        // A fresh deflater always takes a dictionary; the result is its checksum.
        let _ = deflate.set_dictionary(DICTIONARY);
        HeaderEncoder { deflate }
    }

    pub fn encode(&mut self, headers: &Headers) -> Result<Vec<u8>, SpdyError> {
        let block = build_block(headers)?;
        let mut out = Vec::with_capacity(block.len() + 64);
        let mut input = &block[..];
        loop {
            if out.len() == out.capacity() {
                out.reserve(256);
            }
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .map_err(|_| SpdyError::Compression("deflating a header block"))?;
            input = &input[(self.deflate.total_in() - before) as usize..];
            // Done when all input is in and the flush fit (space was left over).
            if input.is_empty() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

impl Default for HeaderEncoder {
    fn default() -> Self {
        HeaderEncoder::new()
    }
}

/// Values of one name are joined by NUL, in first-seen order of names.
fn build_block(headers: &Headers) -> Result<Vec<u8>, SpdyError> {
    let mut names: Vec<(&str, Vec<&str>)> = Vec::new();
    for (name, value) in &headers.0 {
        match names.iter_mut().find(|(n, _)| n == name) {
            Some((_, values)) => values.push(value),
            None => names.push((name, vec![value])),
        }
    }
    if names.len() > MAX_HEADERS {
        return Err(SpdyError::HeadersTooLarge);
    }
    let mut block = Vec::new();
    block.extend_from_slice(&(names.len() as u32).to_be_bytes());
    for (name, values) in names {
        let value = values.join("\0");
        block.extend_from_slice(&(name.len() as u32).to_be_bytes());
        block.extend_from_slice(name.to_ascii_lowercase().as_bytes());
        block.extend_from_slice(&(value.len() as u32).to_be_bytes());
        block.extend_from_slice(value.as_bytes());
    }
    if block.len() > MAX_HEADER_BLOCK {
        return Err(SpdyError::HeadersTooLarge);
    }
    Ok(block)
}

/// Parses an inflated block. Names are lower-cased (Go's framer does the same while
/// reporting an error; lower-casing is kinder and changes nothing for the names used here).
pub fn parse_block(mut block: &[u8]) -> Result<Headers, SpdyError> {
    let count = take_u32(&mut block)? as usize;
    if count > MAX_HEADERS {
        return Err(SpdyError::HeadersTooLarge);
    }
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let name = take_string(&mut block)?;
        if name.is_empty() {
            return Err(SpdyError::Protocol("an empty header name"));
        }
        let value = take_string(&mut block)?;
        let name = name.to_ascii_lowercase();
        for part in value.split('\0') {
            headers.push((name.clone(), part.to_string()));
        }
    }
    if !block.is_empty() {
        return Err(SpdyError::Protocol("bytes after the header block"));
    }
    Ok(Headers(headers))
}

fn take_u32(block: &mut &[u8]) -> Result<u32, SpdyError> {
    let Some((word, rest)) = block.split_first_chunk::<4>() else {
        return Err(SpdyError::Protocol("a truncated header block"));
    };
    *block = rest;
    Ok(u32::from_be_bytes(*word))
}

fn take_string(block: &mut &[u8]) -> Result<String, SpdyError> {
    let len = take_u32(block)? as usize;
    if len > block.len() {
        return Err(SpdyError::Protocol("a header longer than its block"));
    }
    let (bytes, rest) = block.split_at(len);
    *block = rest;
    String::from_utf8(bytes.to_vec()).map_err(|_| SpdyError::Protocol("a header that is not UTF-8"))
}
