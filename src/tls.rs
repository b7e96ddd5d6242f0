//! TLS for the API (`[server.tls]`): rustls with the ring provider, the certificate chain and
//! key read from PEM files and reloaded when either file changes, so a renewed certificate
//! (certbot, cert-manager, a Vault agent) is served without a restart.
//!
//! Invariants: start-up fails on a missing, unreadable or mismatched certificate and key; after
//! that, a reload that fails (a renewal caught half-written) keeps serving the previous pair and
//! logs a warning, and the next change of either file is tried again. Only TLS 1.2 and 1.3 with
//! rustls's safe defaults; ALPN offers `http/1.1` (the server speaks HTTP/1.1).
//!
//! Imports: `config` only.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};

/// `[server.tls]`: serve the API over HTTPS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the server certificate, then its intermediates.
    pub cert_file: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 RSA or SEC1 EC), unencrypted.
    pub key_file: PathBuf,
    /// Seconds between checks of both files for a renewed certificate (0: never reload).
    #[serde(default = "default_reload_interval")]
    pub reload_interval_secs: u64,
}

fn default_reload_interval() -> u64 {
    10
}

impl TlsConfig {
    /// The certificate and key load and belong together.
    pub fn validate(&self) -> Result<(), String> {
        load_certified_key(&provider(), &self.cert_file, &self.key_file).map(|_| ())
    }
}

/// rustls's ring provider. rustls deprecates it because ring has no post-quantum key
/// exchange; the aws-lc-rs provider that has one needs cmake and a much longer build. Switch
/// when rustls's ring support gains it or the build can afford aws-lc-rs.
#[allow(deprecated)]
fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Make [`provider`] the process's default, for the HTTP client of the alert sinks (reqwest is
/// built without a provider of its own). Installing twice is harmless.
pub fn install_default_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = provider().install_default();
    });
}

fn load_certified_key(
    provider: &CryptoProvider,
    cert: &Path,
    key: &Path,
) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("TLS certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "TLS certificate {}: no certificate in the file",
            cert.display()
        ));
    }
    let key_der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("TLS key {}: {e}", key.display()))?;
    CertifiedKey::from_der(chain, key_der, provider).map_err(|e| {
        format!(
            "TLS certificate {} and key {}: {e}",
            cert.display(),
            key.display()
        )
    })
}

/// The certificate being served, swapped when the files change.
#[derive(Debug)]
struct ReloadingCert {
    provider: Arc<CryptoProvider>,
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

/// What identifies a version of a file: modification time and length.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The acceptor for `config` offering `alpn_protocols` (`http/1.1` for the API, `postgresql`
/// for the wire protocol), and (when reloading is on) a task that watches the files for as
/// long as the acceptor lives. Call from within the Tokio runtime.
pub fn acceptor(
    config: &TlsConfig,
    alpn_protocols: &[&[u8]],
) -> Result<tokio_rustls::TlsAcceptor, String> {
    let provider = Arc::new(provider());
    // Stamp before loading, so a change during the load is seen by the first check.
    let mut seen = (stamp(&config.cert_file), stamp(&config.key_file));
    let first = load_certified_key(&provider, &config.cert_file, &config.key_file)?;
    let resolver = Arc::new(ReloadingCert {
        provider: Arc::clone(&provider),
        cert_file: config.cert_file.clone(),
        key_file: config.key_file.clone(),
        current: RwLock::new(Arc::new(first)),
    });
    if config.reload_interval_secs > 0 {
        let watched = Arc::downgrade(&resolver);
        let interval = Duration::from_secs(config.reload_interval_secs);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(resolver) = watched.upgrade() else {
                    break; // the server stopped
                };
                let now = (stamp(&resolver.cert_file), stamp(&resolver.key_file));
                if now == seen {
                    continue;
                }
                // A certificate written before its key fails once, then loads when the key's
                // stamp changes too.
                seen = now;
                match load_certified_key(
                    &resolver.provider,
                    &resolver.cert_file,
                    &resolver.key_file,
                ) {
                    Ok(key) => {
                        *resolver
                            .current
                            .write()
                            .unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
                        tracing::info!(
                            cert = %resolver.cert_file.display(),
                            "TLS certificate reloaded"
                        );
                    }
                    Err(e) => tracing::warn!(
                        error = %e,
                        "TLS certificate reload failed; still serving the previous certificate"
                    ),
                }
            }
        });
    }
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    server.alpn_protocols = alpn_protocols.iter().map(|p| p.to_vec()).collect();
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
}
