//! Who may read the pages. The token (random, printed in the start-up URL) must
//! come with every request, in the query (`?token=`) or in the cookie that a
//! request carrying it sets; `--no-token` drops it. The Host header must be an
//! IP address or `localhost`: a page on another site that points its own name
//! at this machine (DNS rebinding) sends that name, so its requests are refused
//! even without a token.

use std::net::IpAddr;

/// The cookie that carries the token after the first request.
pub const COOKIE: &str = "ablate_token";

/// What a request may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Served; `set_cookie` when the token came in the query.
    Allow { set_cookie: bool },
    /// The Host header names something other than an address or localhost.
    BadHost,
    /// No token, or a wrong one.
    NoToken,
}

#[derive(Debug, Clone)]
pub struct Guard {
    token: Option<String>,
}

impl Guard {
    pub fn new(token: Option<String>) -> Guard {
        Guard { token }
    }

    /// A fresh token: 128 random bits as hex.
    pub fn random_token() -> Result<String, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Judges a request by its Host header, query string and Cookie header.
    pub fn check(&self, host: Option<&str>, query: Option<&str>, cookie: Option<&str>) -> Verdict {
        if !host.is_some_and(host_allowed) {
            return Verdict::BadHost;
        }
        let Some(token) = &self.token else {
            return Verdict::Allow { set_cookie: false };
        };
        let from_query = query.and_then(|q| pair(q.split('&'), "token"));
        if from_query.is_some_and(|t| same(t, token)) {
            return Verdict::Allow { set_cookie: true };
        }
        let from_cookie = cookie.and_then(|c| pair(c.split(';'), COOKIE));
        if from_cookie.is_some_and(|t| same(t, token)) {
            return Verdict::Allow { set_cookie: false };
        }
        Verdict::NoToken
    }
}

/// `localhost` or an IP literal, with or without a port.
fn host_allowed(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((v6, port)) if port.is_empty() || is_port(port) => v6,
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
            None => host,
        },
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok()
}

fn is_port(s: &str) -> bool {
    s.strip_prefix(':')
        .unwrap_or(s)
        .parse::<u16>()
        .is_ok_and(|p| p > 0)
}

/// The value of `key` among `key=value` items.
fn pair<'a>(items: impl Iterator<Item = &'a str>, key: &str) -> Option<&'a str> {
    items
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// Equality whose time does not depend on where the two first differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const T: &str = "00112233445566778899aabbccddeeff";

    fn guard() -> Guard {
        Guard::new(Some(T.to_string()))
    }

    #[test]
    fn hosts_must_be_addresses_or_localhost() {
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "[::1]",
            "10.0.0.7:80",
            "127.0.0.1",
        ] {
            assert!(host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "evil.example",
            "127.0.0.1.nip.io:8080",
            "[::1",
            "[::1]x",
            "localhost:",
            "localhost:0",
            "localhost:99999",
            "",
        ] {
            assert!(!host_allowed(bad), "{bad}");
        }
        let g = Guard::new(None);
        assert_eq!(
            g.check(Some("evil.example:8080"), None, None),
            Verdict::BadHost
        );
        assert_eq!(g.check(None, None, None), Verdict::BadHost);
    }

    #[test]
    fn the_token_comes_in_the_query_or_the_cookie() {
        let g = guard();
        let h = Some("127.0.0.1:8080");
        assert_eq!(g.check(h, None, None), Verdict::NoToken);
        assert_eq!(
            g.check(h, Some(&format!("a=1&token={T}")), None),
            Verdict::Allow { set_cookie: true }
        );
        assert_eq!(
            g.check(h, Some("token=00112233445566778899aabbccddeefe"), None),
            Verdict::NoToken
        );
        assert_eq!(g.check(h, Some("token="), None), Verdict::NoToken);
        assert_eq!(
            g.check(h, None, Some(&format!("x=y; {COOKIE}={T}"))),
            Verdict::Allow { set_cookie: false }
        );
        assert_eq!(
            g.check(h, None, Some(&format!("{COOKIE}={T}0"))),
            Verdict::NoToken
        );
        // A good token never excuses a foreign Host.
        assert_eq!(
            g.check(Some("evil.example"), Some(&format!("token={T}")), None),
            Verdict::BadHost
        );
        assert_eq!(
            Guard::new(None).check(h, None, None),
            Verdict::Allow { set_cookie: false }
        );
    }

    #[test]
    fn tokens_are_fresh_hex() {
        let (a, b) = (
            Guard::random_token().unwrap(),
            Guard::random_token().unwrap(),
        );
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
