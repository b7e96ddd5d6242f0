//! API tokens: who may call what.
//!
//! A token is `ztl_` and 64 hex digits (32 random bytes). The configuration holds only its
//! SHA-256 (`[[server.tokens]]`, name, scopes, `sha256`), so a leaked config file leaks no
//! credential; a presented token is hashed and compared with every configured hash in constant
//! time. Scopes: `ingest` (push records), `read` (KPIs, evidence, SQL, status, metrics) and
//! `admin` (everything). Without any token configured the API is open, and the server refuses
//! to listen anywhere but on loopback ([`check_exposure`]).
//!
//! Imports nothing else of the binary: `config` holds the `[[server.tokens]]` it checks, the HTTP
//! layer applies it per request.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Push records to `/api/v1/ingest/{source}`.
    Ingest,
    /// Read KPIs, evidence, the scorecard, status and metrics, and run read-only SQL.
    Read,
    /// Everything.
    Admin,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        })
    }
}

/// `[[server.tokens]]`: one API token, stored as its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it (shown in logs instead of the token).
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// SHA-256 of the token, 64 lower-case hex digits (`ztlens token` prints it).
    pub sha256: String,
    /// Requests per second this token may send, instead of `server.rate_limit_per_second`
    /// (0: unlimited, for a trusted collector). The burst scales with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_second: Option<u32>,
}

/// The configured tokens, ready to check requests against.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<([u8; 32], Vec<Scope>, String)>,
}

/// Why a request is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No token, or one that matches no configured hash.
    Unauthenticated,
    /// A valid token without the scope the route needs.
    Forbidden,
}

impl Tokens {
    /// Check and load `[[server.tokens]]`.
    pub fn new(configs: &[TokenConfig]) -> Result<Self, String> {
        let mut entries = Vec::with_capacity(configs.len());
        for (i, token) in configs.iter().enumerate() {
            let what = format!("token {} ({:?})", i + 1, token.name);
            if token.name.trim().is_empty() {
                return Err(format!("{what}: name is empty"));
            }
            if configs[..i].iter().any(|t| t.name == token.name) {
                return Err(format!("{what}: the name is used twice"));
            }
            if token.scopes.is_empty() {
                return Err(format!("{what}: no scopes (ingest, read, admin)"));
            }
            let hash = parse_hash(&token.sha256).ok_or_else(|| {
                format!("{what}: sha256 must be 64 hex digits (`ztlens token` prints it)")
            })?;
            entries.push((hash, token.scopes.clone(), token.name.clone()));
        }
        Ok(Self { entries })
    }

    /// Whether any token is configured (authentication is on).
    pub fn enabled(&self) -> bool {
        !self.entries.is_empty()
    }

    /// Who presents `token`, if it grants `needed`. Every configured hash is compared, in
    /// constant time, whichever matches.
    pub fn authorize(&self, token: Option<&str>, needed: Scope) -> Result<&str, Denied> {
        let token = token.ok_or(Denied::Unauthenticated)?;
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found: Option<&(_, Vec<Scope>, String)> = None;
        for entry in &self.entries {
            if bool::from(entry.0.ct_eq(&presented)) {
                found = Some(entry);
            }
        }
        let (_, scopes, name) = found.ok_or(Denied::Unauthenticated)?;
        if scopes.contains(&Scope::Admin) || scopes.contains(&needed) {
            Ok(name)
        } else {
            Err(Denied::Forbidden)
        }
    }
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A new random token and its SHA-256 (hex), for `ztlens token`.
pub fn new_token() -> Result<(String, String), String> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| format!("no random source: {e}"))?;
    let token = format!("ztl_{}", hex(&secret));
    let hash = hex(&Sha256::digest(token.as_bytes()));
    Ok((token, hash))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Refuse to serve an open API beyond this machine: without tokens, only loopback addresses.
pub fn check_exposure(tokens: &Tokens, address: SocketAddr) -> Result<(), String> {
    if tokens.enabled() || address.ip().is_loopback() {
        return Ok(());
    }
    Err(format!(
        "refusing to listen on {address} without API tokens: anyone who can reach it could read \
         the lake and push data. Add [[server.tokens]] (`ztlens token --scope admin` prints one) \
         or listen on 127.0.0.1"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str, scopes: &[Scope], token: &str) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            scopes: scopes.to_vec(),
            sha256: hex(&Sha256::digest(token.as_bytes())),
            rate_limit_per_second: None,
        }
    }

    #[test]
    fn tokens_grant_their_scopes_and_admin_grants_all() {
        let tokens = Tokens::new(&[
            config("grafana", &[Scope::Read], "r"),
            config("shipper", &[Scope::Ingest], "i"),
            config("ops", &[Scope::Admin], "a"),
        ])
        .unwrap();
        assert_eq!(tokens.authorize(Some("r"), Scope::Read), Ok("grafana"));
        assert_eq!(
            tokens.authorize(Some("r"), Scope::Ingest),
            Err(Denied::Forbidden)
        );
        assert_eq!(tokens.authorize(Some("i"), Scope::Ingest), Ok("shipper"));
        assert_eq!(
            tokens.authorize(Some("i"), Scope::Read),
            Err(Denied::Forbidden)
        );
        assert_eq!(tokens.authorize(Some("a"), Scope::Ingest), Ok("ops"));
        assert_eq!(tokens.authorize(Some("a"), Scope::Admin), Ok("ops"));
        assert_eq!(
            tokens.authorize(Some("x"), Scope::Read),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(
            tokens.authorize(None, Scope::Read),
            Err(Denied::Unauthenticated)
        );
    }

    #[test]
    fn bad_token_configs_say_what_is_wrong() {
        let good = config("a", &[Scope::Read], "t");
        for (bad, says) in [
            (
                TokenConfig {
                    sha256: "xyz".into(),
                    rate_limit_per_second: None,
                    ..good.clone()
                },
                "64 hex",
            ),
            (
                TokenConfig {
                    scopes: vec![],
                    ..good.clone()
                },
                "no scopes",
            ),
            (
                TokenConfig {
                    name: " ".into(),
                    ..good.clone()
                },
                "name is empty",
            ),
        ] {
            let error = Tokens::new(&[bad]).unwrap_err();
            assert!(error.contains(says), "{error}");
        }
        assert!(
            Tokens::new(&[good.clone(), good])
                .unwrap_err()
                .contains("twice")
        );
    }

    #[test]
    fn new_tokens_are_random_and_hash_to_what_they_print() {
        let (token, hash) = new_token().unwrap();
        let (other, _) = new_token().unwrap();
        assert_ne!(token, other);
        assert!(token.starts_with("ztl_") && token.len() == 68, "{token}");
        let tokens = Tokens::new(&[TokenConfig {
            name: "t".into(),
            scopes: vec![Scope::Read],
            sha256: hash,
            rate_limit_per_second: None,
        }])
        .unwrap();
        assert!(tokens.authorize(Some(&token), Scope::Read).is_ok());
    }

    #[test]
    fn an_open_api_listens_on_loopback_only() {
        let open = Tokens::default();
        assert!(check_exposure(&open, "127.0.0.1:8080".parse().unwrap()).is_ok());
        assert!(check_exposure(&open, "[::1]:8080".parse().unwrap()).is_ok());
        let error = check_exposure(&open, "0.0.0.0:8080".parse().unwrap()).unwrap_err();
        assert!(error.contains("without API tokens"), "{error}");
        let closed = Tokens::new(&[config("a", &[Scope::Admin], "t")]).unwrap();
        assert!(check_exposure(&closed, "0.0.0.0:8080".parse().unwrap()).is_ok());
    }
}
