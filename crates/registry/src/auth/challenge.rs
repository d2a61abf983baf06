//! `WWW-Authenticate` challenges, as registries send them.

/// What a registry asks for when it answers 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// HTTP Basic: send the user name and password with every request.
    Basic,
    /// A token from `realm`, for `service` and `scope` (docker's token protocol).
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Picks the challenge to answer from a header value: Bearer over Basic, as docker does.
/// Returns `None` when the header has neither or does not parse.
pub fn parse(header: &str) -> Option<Challenge> {
    let challenges = http_auth::parse_challenges(header).ok()?;
    let param = |c: &http_auth::ChallengeRef, name: &str| {
        c.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_unescaped())
    };
    let bearer = challenges
        .iter()
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"));
    if let Some(c) = bearer {
        return Some(Challenge::Bearer {
            realm: param(c, "realm").filter(|r| !r.is_empty())?,
            service: param(c, "service"),
            scope: param(c, "scope"),
        });
    }
    challenges
        .iter()
        .any(|c| c.scheme.eq_ignore_ascii_case("basic"))
        .then_some(Challenge::Basic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_with_quoted_params() {
        let c = parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull".into()),
            })
        );
    }

    #[test]
    fn basic_and_preference_for_bearer() {
        assert_eq!(
            parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        let both = r#"Basic realm="x", Bearer realm="https://t/token""#;
        assert!(matches!(parse(both), Some(Challenge::Bearer { .. })));
    }

    #[test]
    fn garbage_and_realmless_bearer_are_refused() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("Negotiate"), None);
        assert_eq!(parse(r#"Bearer service="x""#), None);
        assert_eq!(parse(r#"Bearer realm="unterminated"#), None);
    }
}
