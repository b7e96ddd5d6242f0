//! Splitting space-separated log lines whose fields may be `"quoted"` (with `\"` escapes) or
//! `[bracketed]`, as Envoy's and AWS load balancers' access logs write them.

use std::borrow::Cow;

use crate::record::{ErrorKind, ParseError};

/// One field of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token<'a> {
    Bare(&'a str),
    Quoted(Cow<'a, str>),
    Bracketed(&'a str),
}

impl<'a> Token<'a> {
    /// The field's text; `-` and empty fields are `None`.
    pub(crate) fn value(&self) -> Option<Cow<'a, str>> {
        let text: Cow<'a, str> = match self {
            Token::Bare(t) | Token::Bracketed(t) => Cow::Borrowed(t),
            Token::Quoted(t) => t.clone(),
        };
        (!text.is_empty() && text != "-").then_some(text)
    }

    /// The raw text, even when it is `-`.
    pub(crate) fn text(&self) -> &str {
        match self {
            Token::Bare(t) | Token::Bracketed(t) => t,
            Token::Quoted(t) => t,
        }
    }
}

/// Split `line` into fields separated by runs of spaces.
pub(crate) fn split(line: &str) -> Result<Vec<Token<'_>>, ParseError> {
    let mut tokens = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' => i += 1,
            b'"' => {
                let start = i + 1;
                let mut j = start;
                let mut escaped = false;
                loop {
                    match bytes.get(j) {
                        None => {
                            return Err(ParseError::new(
                                ErrorKind::Truncated,
                                format!("unterminated quoted field at byte {i}"),
                            ));
                        }
                        Some(b'\\') => {
                            escaped = true;
                            j += 2;
                        }
                        Some(b'"') => break,
                        Some(_) => j += 1,
                    }
                }
                let inner = line.get(start..j.min(bytes.len())).unwrap_or("");
                tokens.push(Token::Quoted(if escaped {
                    Cow::Owned(inner.replace("\\\"", "\"").replace("\\\\", "\\"))
                } else {
                    Cow::Borrowed(inner)
                }));
                i = j + 1;
            }
            b'[' => {
                let end = line[i..].find(']').ok_or_else(|| {
                    ParseError::new(
                        ErrorKind::Truncated,
                        format!("unterminated [bracketed] field at byte {i}"),
                    )
                })?;
                if bytes.get(i + end + 1) == Some(&b':') {
                    // `[v6]:port` is one address with its port, not a bracketed field.
                    let stop = line[i + end..]
                        .find([' ', '\t'])
                        .map_or(line.len(), |e| i + end + e);
                    tokens.push(Token::Bare(&line[i..stop]));
                    i = stop;
                } else {
                    tokens.push(Token::Bracketed(&line[i + 1..i + end]));
                    i += end + 1;
                }
            }
            _ => {
                let end = line[i..].find([' ', '\t']).map_or(line.len(), |e| i + e);
                tokens.push(Token::Bare(&line[i..end]));
                i = end;
            }
        }
    }
    Ok(tokens)
}

/// `host:port`, `[v6]:port` or a bare address → (address, port); port 0 is no port. A URL
/// scheme is dropped: Envoy's `%UPSTREAM_HOST%` is a URL for TCP connections (`tcp://10.0.2.1:80`).
pub(crate) fn host_port(text: &str) -> (Option<std::net::IpAddr>, Option<i32>) {
    let text = text.split_once("://").map_or(text, |(_, rest)| rest);
    if let Ok(ip) = text.parse() {
        return (Some(ip), None);
    }
    if let Ok(addr) = text.parse::<std::net::SocketAddr>() {
        return (Some(addr.ip()), super::port_number(i64::from(addr.port())));
    }
    match text.rsplit_once(':') {
        Some((host, port)) => (
            host.parse().ok(),
            port.parse::<i64>().ok().and_then(super::port_number),
        ),
        None => (None, None),
    }
}

/// `address:port` of a field that always has a port (ALB `client:port`): the port is after the
/// last colon, so an IPv6 address written without brackets (`2001:db8::1:443`) is not read as
/// one longer address without a port.
pub(crate) fn address_then_port(text: &str) -> (Option<std::net::IpAddr>, Option<i32>) {
    if let Some((host, port)) = text.rsplit_once(':')
        && let Ok(port) = port.parse::<u16>()
    {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = host.parse() {
            return (Some(ip), super::port_number(i64::from(port)));
        }
    }
    host_port(text)
}

/// Split `path?query` into the path and a non-empty query.
pub(crate) fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((p, q)) => (p, Some(q).filter(|q| !q.is_empty())),
        None => (target, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_each_kind() {
        let tokens =
            split(r#"[2019-04-08T16:50:12.533Z] "GET /a\"b HTTP/1.1" 200  -  "x y""#).unwrap();
        assert_eq!(
            tokens,
            vec![
                Token::Bracketed("2019-04-08T16:50:12.533Z"),
                Token::Quoted(Cow::Owned("GET /a\"b HTTP/1.1".into())),
                Token::Bare("200"),
                Token::Bare("-"),
                Token::Quoted(Cow::Borrowed("x y")),
            ]
        );
        assert_eq!(tokens[3].value(), None);
        assert!(split(r#"a "unterminated"#).is_err());
        assert!(split("[no end").is_err());
        // A trailing backslash inside quotes does not read past the end.
        assert!(split("\"abc\\").is_err());
        // An IPv6 address with its port is one field, a bracketed field is another.
        assert_eq!(
            split("[2001:db8::1]:443 [x y] -").unwrap(),
            vec![
                Token::Bare("[2001:db8::1]:443"),
                Token::Bracketed("x y"),
                Token::Bare("-"),
            ]
        );
    }

    #[test]
    fn addresses() {
        assert_eq!(
            host_port("10.0.0.1:443"),
            (Some("10.0.0.1".parse().unwrap()), Some(443))
        );
        assert_eq!(
            host_port("[2a02:cf40::4e36]:5000"),
            (Some("2a02:cf40::4e36".parse().unwrap()), Some(5000))
        );
        assert_eq!(host_port("2001:db8::1").1, None);
        assert_eq!(host_port("-"), (None, None));
        assert_eq!(host_port("10.0.0.1:0").1, None);
        assert_eq!(
            host_port("tcp://10.0.2.1:80"),
            (Some("10.0.2.1".parse().unwrap()), Some(80))
        );
        assert_eq!(host_port("unix:///var/run/envoy.sock").0, None);
        let v6 = Some("2001:db8::1".parse().unwrap());
        assert_eq!(address_then_port("2001:db8::1:443"), (v6, Some(443)));
        assert_eq!(address_then_port("[2001:db8::1]:443"), (v6, Some(443)));
        assert_eq!(
            address_then_port("10.0.0.1:80"),
            (Some("10.0.0.1".parse().unwrap()), Some(80))
        );
    }
}
