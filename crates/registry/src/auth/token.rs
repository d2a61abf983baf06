//! Docker's token protocol: trade credentials (or nothing) for a short-lived bearer token.

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::{RegistryError, Result};

/// Tokens are refused beyond this size; real ones are a few KiB.
const MAX_TOKEN_RESPONSE: usize = 1024 * 1024;
/// The protocol's default lifetime when the service does not say.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// Renew a little early so a token does not expire in flight.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
/// The longest a token is trusted, whatever the service claims: `expires_in` is the
/// service's word (up to `u64::MAX` seconds), and a token kept past its real end only costs
/// a refused request and a new token, while an unbounded one overflows the clock.
const MAX_LIFETIME: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub value: String,
    pub expires: Instant,
}

impl Token {
    pub fn is_fresh(&self) -> bool {
        Instant::now() < self.expires
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// Asks `realm` for a token. `basic` is an already-encoded `Basic …` header value, passed
/// only when the caller decided the realm may see the credentials.
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    realm: &str,
    service: Option<&str>,
    scope: Option<&str>,
    basic: Option<&str>,
) -> Result<Token> {
    let fail = |reason: String| RegistryError::Token {
        realm: realm.to_string(),
        reason,
        denied: false,
    };
    let mut url = url::Url::parse(realm).map_err(|e| fail(format!("invalid realm URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(fail("realm is not an http(s) URL".into()));
    }
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = service {
            query.append_pair("service", service);
        }
        if let Some(scope) = scope {
            query.append_pair("scope", scope);
        }
    }
    let mut request = http.get(url);
    if let Some(basic) = basic {
        request = request.header(reqwest::header::AUTHORIZATION, basic);
    }
    let mut response = request
        .send()
        .await
        .map_err(|e| fail(format!("request failed: {e}")))?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(RegistryError::Token {
            realm: realm.to_string(),
            reason: format!(
                "{status}: the credentials were refused; check them with `imageadm login`"
            ),
            denied: true,
        });
    }
    if !status.is_success() {
        return Err(fail(format!("answered {status}")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| fail(format!("reading the answer: {e}")))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_TOKEN_RESPONSE {
            return Err(fail("answer larger than 1 MiB".into()));
        }
    }
    let parsed: TokenResponse =
        serde_json::from_slice(&body).map_err(|e| fail(format!("invalid JSON: {e}")))?;
    let value = parsed
        .token
        .or(parsed.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| fail("answer has no token".into()))?;
    Ok(Token {
        value,
        expires: expiry(Instant::now(), parsed.expires_in),
    })
}

/// When a token got at `now` with the service's `expires_in` is to be renewed: a little
/// before it ends, its lifetime bounded below (to be usable at all) and above (by
/// [`MAX_LIFETIME`]).
fn expiry(now: Instant, expires_in: Option<u64>) -> Instant {
    let lifetime = expires_in
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LIFETIME)
        .clamp(EXPIRY_MARGIN * 2, MAX_LIFETIME);
    // Cannot fail with the lifetime bounded; `now` (renew at once) if a clock ever says so.
    now.checked_add(lifetime - EXPIRY_MARGIN).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_bounded_whatever_the_service_claims() {
        let now = Instant::now();
        let lives = |expires_in| expiry(now, expires_in) - now;
        assert_eq!(lives(Some(300)), Duration::from_secs(290));
        assert_eq!(lives(None), DEFAULT_LIFETIME - EXPIRY_MARGIN);
        assert_eq!(lives(Some(0)), EXPIRY_MARGIN);
        for huge in [
            u64::MAX,
            u64::MAX - 1,
            1 << 63,
            u64::MAX / 1000,
            10 * 365 * 86400,
        ] {
            assert_eq!(lives(Some(huge)), MAX_LIFETIME - EXPIRY_MARGIN, "{huge}");
        }
    }
}
