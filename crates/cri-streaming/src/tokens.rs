//! Single-use tokens for the URLs Exec, Attach and PortForward answer with: random, kept
//! with the request they stand for until used once or until they expire (kubelet: one
//! minute), and bounded in number so a client cannot fill the server's memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use k8s_cri::v1::{AttachRequest, ExecRequest, PortForwardRequest};

use crate::RequestError;

/// What a token stands for.
#[derive(Debug, Clone)]
pub(crate) enum Pending {
    Exec(ExecRequest),
    Attach(AttachRequest),
    PortForward(PortForwardRequest),
}

impl Pending {
    /// The URL path segment of its kind.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Pending::Exec(_) => "exec",
            Pending::Attach(_) => "attach",
            Pending::PortForward(_) => "portforward",
        }
    }
}

pub(crate) struct TokenCache {
    entries: Mutex<HashMap<String, (Instant, Pending)>>,
    ttl: Duration,
    max: usize,
}

/// 16 random bytes: 128 bits no client guesses.
const TOKEN_BYTES: usize = 16;

impl TokenCache {
    pub(crate) fn new(ttl: Duration, max: usize) -> TokenCache {
        TokenCache {
            entries: Mutex::new(HashMap::new()),
            ttl,
            max,
        }
    }

    pub(crate) fn insert(&self, pending: Pending) -> Result<String, RequestError> {
        let token = new_token()?;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        entries.retain(|_, (expires, _)| *expires > now);
        if entries.len() >= self.max {
            return Err(RequestError::Unavailable(format!(
                "{} streaming requests are waiting for their clients already",
                entries.len()
            )));
        }
        entries.insert(token.clone(), (now + self.ttl, pending));
        Ok(token)
    }

    /// The request `token` stands for, once: the token is gone afterwards, used or expired.
    pub(crate) fn take(&self, token: &str) -> Option<Pending> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (expires, pending) = entries.remove(token)?;
        (expires > Instant::now()).then_some(pending)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

fn new_token() -> Result<String, RequestError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    let mut filled = 0;
    while filled < TOKEN_BYTES {
        match rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                return Err(RequestError::Unavailable(format!(
                    "no random bytes for a streaming token: {e}"
                )))
            }
        }
    }
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec() -> Pending {
        Pending::Exec(ExecRequest {
            container_id: "c".into(),
            cmd: vec!["true".into()],
            stdout: true,
            ..Default::default()
        })
    }

    #[test]
    fn a_token_is_used_once() {
        let cache = TokenCache::new(Duration::from_secs(60), 10);
        let token = cache.insert(exec()).unwrap();
        assert_eq!(token.len(), 22);
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(matches!(cache.take(&token), Some(Pending::Exec(_))));
        assert!(cache.take(&token).is_none());
        assert!(cache.take("never-given").is_none());
    }

    #[test]
    fn tokens_differ_and_expire() {
        let cache = TokenCache::new(Duration::from_millis(20), 10);
        let a = cache.insert(exec()).unwrap();
        let b = cache.insert(exec()).unwrap();
        assert_ne!(a, b);
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.take(&a).is_none());
        // Expired entries are dropped at the next insert.
        cache.insert(exec()).unwrap();
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = TokenCache::new(Duration::from_secs(60), 2);
        cache.insert(exec()).unwrap();
        cache.insert(exec()).unwrap();
        assert!(matches!(
            cache.insert(exec()),
            Err(RequestError::Unavailable(_))
        ));
    }
}
