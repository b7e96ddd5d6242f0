//! Site knowledge that logs lack: internal networks and segments, port classes, privileged and
//! sensitive applications, service-account name patterns, how to read OPA policy decisions.
//!
//! [`SiteConfig`] is the user-facing configuration (`[site]` in `ztlens.toml`); [`Site`] is its
//! compiled form that parsers consult on every record. Compilation validates everything once at
//! start-up (bad CIDRs, empty names), so the per-record lookups cannot fail.
//!
//! Segment lookup is first-match in configuration order; an internal address in no segment is
//! `internal`, an address outside the internal CIDRs is `external`. Records that name a
//! Kubernetes namespace (Cilium Hubble flows) are placed by `segments[].namespaces` first.

use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// `[site]`: what ztlens needs to know about your network and applications.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SiteConfig {
    /// Address ranges that belong to your organisation. Flows with both ends inside are lateral (east-west).
    pub internal_cidrs: Vec<String>,
    /// Named network segments; the first segment whose CIDRs contain an address (or whose
    /// namespace patterns match a Kubernetes namespace) names it.
    pub segments: Vec<SegmentConfig>,
    /// Destination ports of remote administration (SSH, RDP, WinRM, SMB, RPC, telnet, VNC).
    pub admin_ports: Vec<u16>,
    /// Destination ports of databases and data stores.
    pub db_ports: Vec<u16>,
    /// Destination ports of web services.
    pub web_ports: Vec<u16>,
    /// Identity-provider application names that grant privileged access (compared case-insensitively).
    pub privileged_apps: Vec<String>,
    /// URL path prefixes of privileged functions in your web applications.
    pub privileged_path_prefixes: Vec<String>,
    /// Web applications, recognised by host name or path prefix, with their sensitivity.
    pub apps: Vec<AppConfig>,
    /// Glob patterns (`*` wildcard, case-insensitive) of service-account login names.
    pub service_account_patterns: Vec<String>,
    /// How to read allow or deny from OPA decisions whose result has no shape ztlens knows,
    /// per decision path.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub opa_decisions: Vec<OpaRuleConfig>,
}

/// One named network segment.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SegmentConfig {
    /// Segment name used in KPIs (keep it short and stable: it becomes a metric label).
    pub name: String,
    /// CIDRs of the segment.
    #[serde(default)]
    pub cidrs: Vec<String>,
    /// Kubernetes namespaces of the segment: glob patterns (`*` wildcard, case-insensitive)
    /// such as `payments` or `prod-*`. Matched before CIDRs for records that name a namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Segments this one is meant to reach (`external`: addresses outside the internal
    /// CIDRs; its own segment is implied). When set, the access-path map marks allowed flows
    /// from this segment to any other as unexpected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub talks_to: Vec<String>,
}

/// One web application.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// Application id used in KPIs.
    pub id: String,
    /// Host names (virtual hosts) serving the app.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// URL path prefixes serving the app (used when the log has no host).
    #[serde(default)]
    pub path_prefixes: Vec<String>,
    /// Sensitivity label, e.g. `high`; apps with a sensitivity are "sensitive apps".
    #[serde(default)]
    pub sensitivity: Option<String>,
    /// Names of the app at the identity provider (Okta app label, Entra `appDisplayName`,
    /// case-insensitive), so sign-ins to it are tagged with this app.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub idp_apps: Vec<String>,
}

/// One `[[site.opa_decisions]]` entry: where the decisions under a policy path state allow or
/// deny. Set exactly one of `allow` and `deny`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OpaRuleConfig {
    /// Decision path prefix such as `envoy/authz` (a leading `/` is ignored; whole segments
    /// match, so it covers `envoy/authz/allow` but not `envoy/authzx`; empty covers every
    /// path). The longest matching prefix wins.
    pub path_prefix: String,
    /// Dotted path from the decision event to a boolean that is true when the request is
    /// allowed, e.g. `result.allowed` (a number segment indexes an array).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<String>,
    /// Dotted path from the decision event to what denies when it is non-empty (a set, an
    /// object, a string) or true, e.g. `result.deny`; empty or false allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<String>,
    /// The OPA answering under this path runs in dry-run mode (the Envoy plugin's `dry-run`,
    /// an admission webhook in audit): every request went through, and its decision is what
    /// it would have done. ztlens stores allow as the enforced decision and the decision read
    /// as `zt_would_be_decision`. With `observe`, `allow` and `deny` may both be left out (the
    /// built-in result shapes are read).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observe: bool,
}

impl Default for SiteConfig {
    fn default() -> Self {
        Self {
            internal_cidrs: vec![
                "10.0.0.0/8".into(),
                "172.16.0.0/12".into(),
                "192.168.0.0/16".into(),
            ],
            segments: Vec::new(),
            admin_ports: vec![22, 23, 135, 139, 445, 3389, 5900, 5985, 5986],
            db_ports: vec![1433, 1521, 3306, 5432, 6379, 9042, 9200, 27017],
            web_ports: vec![80, 443, 8080, 8443],
            privileged_apps: Vec::new(),
            privileged_path_prefixes: vec!["/admin".into()],
            apps: Vec::new(),
            service_account_patterns: vec!["svc-*".into(), "svc_*".into()],
            opa_decisions: Vec::new(),
        }
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SiteError {
    #[error("invalid CIDR {0:?}: expected ADDRESS/PREFIX such as 10.0.0.0/8")]
    InvalidCidr(String),
    #[error("segment names must not be empty")]
    EmptySegmentName,
    #[error("segment {0:?}: namespace patterns must not be empty")]
    EmptyNamespacePattern(String),
    #[error("segment {segment:?}: talks_to names {target:?}, which is no segment (nor external)")]
    UnknownTalksTo { segment: String, target: String },
    #[error("app ids must not be empty")]
    EmptyAppId,
    #[error(
        "opa_decisions entry {0:?}: set exactly one of allow and deny (or neither, with observe = true)"
    )]
    OpaRuleSelectors(String),
    #[error(
        "opa_decisions entry {path:?}: {selector:?} is not a dotted path starting with `result` \
         (such as result.allowed)"
    )]
    OpaRuleSelector { path: String, selector: String },
}

impl SiteConfig {
    /// Check the section: every CIDR parses, every segment and app has a name, no namespace
    /// pattern is empty.
    pub fn validate(&self) -> Result<(), SiteError> {
        Site::new(self).map(drop)
    }
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: u128,
    mask: u128,
    is_v4: bool,
}

impl FromStr for Cidr {
    type Err = SiteError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || SiteError::InvalidCidr(text.to_string());
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let ip = IpAddr::from_str(addr.trim()).map_err(|_| bad())?;
        let (bits, is_v4, max) = match ip {
            IpAddr::V4(v4) => (u32::from(v4) as u128, true, 32u32),
            IpAddr::V6(v6) => (u128::from(v6), false, 128u32),
        };
        let prefix: u32 = match prefix {
            Some(p) => p.trim().parse().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        let host_bits = max - prefix;
        let full = if is_v4 { u32::MAX as u128 } else { u128::MAX };
        let mask = if host_bits >= 128 {
            0
        } else {
            (full >> host_bits) << host_bits
        } & full;
        Ok(Cidr {
            network: bits & mask,
            mask,
            is_v4,
        })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) if self.is_v4 => (u32::from(v4) as u128) & self.mask == self.network,
            IpAddr::V6(v6) if !self.is_v4 => u128::from(v6) & self.mask == self.network,
            _ => false,
        }
    }
}

/// Where an address sits in the site's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement<'s> {
    External,
    Internal { segment: &'s str },
}

impl<'s> Placement<'s> {
    pub fn is_internal(self) -> bool {
        matches!(self, Placement::Internal { .. })
    }

    pub fn segment(self) -> &'s str {
        match self {
            Placement::External => "external",
            Placement::Internal { segment } => segment,
        }
    }
}

/// Port class of a destination port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortClass {
    Admin,
    Db,
    Web,
    Other,
}

impl PortClass {
    pub fn as_str(self) -> &'static str {
        match self {
            PortClass::Admin => "admin",
            PortClass::Db => "db",
            PortClass::Web => "web",
            PortClass::Other => "other",
        }
    }
}

/// A matched web application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppMatch<'s> {
    pub id: &'s str,
    pub sensitivity: Option<&'s str>,
}

#[derive(Debug, Clone)]
struct CompiledApp {
    id: String,
    hosts: Vec<String>,
    path_prefixes: Vec<String>,
    sensitivity: Option<String>,
    idp_apps: Vec<String>,
}

/// How to read an OPA decision: a dotted path from the decision event (`result.allowed`).
/// At most one is set (exactly one unless `observe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpaRule {
    /// A boolean: true allows, false denies.
    pub allow: Option<String>,
    /// A set, object, string or boolean: non-empty (or true) denies, empty (or false) allows.
    pub deny: Option<String>,
    /// Decisions under the path come from an OPA in dry-run mode (see
    /// [`OpaRuleConfig::observe`]).
    pub observe: bool,
}

/// Compiled site configuration; cheap to consult per record.
#[derive(Debug, Clone)]
pub struct Site {
    internal: Vec<Cidr>,
    segments: Vec<(String, Vec<Cidr>)>,
    /// Segment name and its namespace patterns (lower-cased), in configuration order.
    namespace_segments: Vec<(String, Vec<String>)>,
    admin_ports: Vec<u16>,
    db_ports: Vec<u16>,
    web_ports: Vec<u16>,
    privileged_apps: Vec<String>,
    privileged_path_prefixes: Vec<String>,
    apps: Vec<CompiledApp>,
    service_account_patterns: Vec<String>,
    /// `(path prefix, rule)`, longest prefix first.
    opa_rules: Vec<(String, OpaRule)>,
}

impl Default for Site {
    fn default() -> Self {
        Site::new(&SiteConfig::default()).expect("default site config is valid")
    }
}

fn parse_cidrs(list: &[String]) -> Result<Vec<Cidr>, SiteError> {
    list.iter().map(|c| c.parse()).collect()
}

/// A checked `opa_decisions` selector: `result` or `result.<segment>…`, no empty segment.
fn opa_selector(path: &str, selector: &str) -> Result<String, SiteError> {
    let selector = selector.trim();
    let rooted = selector == "result" || selector.starts_with("result.");
    if !rooted || selector.split('.').any(str::is_empty) {
        return Err(SiteError::OpaRuleSelector {
            path: path.to_string(),
            selector: selector.to_string(),
        });
    }
    Ok(selector.to_string())
}

/// Compile `opa_decisions`: check each entry and order them longest prefix first (a stable
/// sort: equal prefixes keep configuration order, and the first of them wins).
fn compile_opa_rules(entries: &[OpaRuleConfig]) -> Result<Vec<(String, OpaRule)>, SiteError> {
    let mut rules = entries
        .iter()
        .map(|e| {
            let prefix = e.path_prefix.trim().trim_matches('/').to_string();
            let rule = match (&e.allow, &e.deny) {
                (Some(allow), None) => OpaRule {
                    allow: Some(opa_selector(&e.path_prefix, allow)?),
                    deny: None,
                    observe: e.observe,
                },
                (None, Some(deny)) => OpaRule {
                    allow: None,
                    deny: Some(opa_selector(&e.path_prefix, deny)?),
                    observe: e.observe,
                },
                (None, None) if e.observe => OpaRule {
                    allow: None,
                    deny: None,
                    observe: true,
                },
                _ => return Err(SiteError::OpaRuleSelectors(e.path_prefix.clone())),
            };
            Ok((prefix, rule))
        })
        .collect::<Result<Vec<_>, _>>()?;
    rules.sort_by_key(|rule| std::cmp::Reverse(rule.0.len()));
    Ok(rules)
}

impl Site {
    pub fn new(config: &SiteConfig) -> Result<Self, SiteError> {
        let segments = config
            .segments
            .iter()
            .map(|s| {
                if s.name.trim().is_empty() {
                    return Err(SiteError::EmptySegmentName);
                }
                Ok((s.name.clone(), parse_cidrs(&s.cidrs)?))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for segment in &config.segments {
            for target in &segment.talks_to {
                if target != "external" && !config.segments.iter().any(|s| &s.name == target) {
                    return Err(SiteError::UnknownTalksTo {
                        segment: segment.name.clone(),
                        target: target.clone(),
                    });
                }
            }
        }
        let namespace_segments = config
            .segments
            .iter()
            .filter(|s| !s.namespaces.is_empty())
            .map(|s| {
                let patterns = s
                    .namespaces
                    .iter()
                    .map(|p| {
                        let p = p.trim();
                        if p.is_empty() {
                            return Err(SiteError::EmptyNamespacePattern(s.name.clone()));
                        }
                        Ok(p.to_lowercase())
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((s.name.clone(), patterns))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let apps = config
            .apps
            .iter()
            .map(|a| {
                if a.id.trim().is_empty() {
                    return Err(SiteError::EmptyAppId);
                }
                Ok(CompiledApp {
                    id: a.id.clone(),
                    hosts: a.hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
                    path_prefixes: a.path_prefixes.clone(),
                    sensitivity: a.sensitivity.clone(),
                    idp_apps: a.idp_apps.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Site {
            internal: parse_cidrs(&config.internal_cidrs)?,
            segments,
            namespace_segments,
            admin_ports: config.admin_ports.clone(),
            db_ports: config.db_ports.clone(),
            web_ports: config.web_ports.clone(),
            privileged_apps: config
                .privileged_apps
                .iter()
                .map(|a| a.to_lowercase())
                .collect(),
            privileged_path_prefixes: config.privileged_path_prefixes.clone(),
            apps,
            service_account_patterns: config
                .service_account_patterns
                .iter()
                .map(|p| p.to_lowercase())
                .collect(),
            opa_rules: compile_opa_rules(&config.opa_decisions)?,
        })
    }

    /// Where `ip` sits: external, or internal with its segment name.
    pub fn place(&self, ip: IpAddr) -> Placement<'_> {
        let in_segment = self
            .segments
            .iter()
            .find(|(_, cidrs)| cidrs.iter().any(|c| c.contains(ip)));
        if let Some((name, _)) = in_segment {
            return Placement::Internal { segment: name };
        }
        if self.internal.iter().any(|c| c.contains(ip)) {
            Placement::Internal {
                segment: "internal",
            }
        } else {
            Placement::External
        }
    }

    /// The segment whose namespace patterns match a Kubernetes namespace (first match in
    /// configuration order). A namespace in no segment is for the caller to place (a pod is
    /// inside the cluster whatever its address).
    pub fn namespace_segment(&self, namespace: &str) -> Option<&str> {
        if self.namespace_segments.is_empty() || namespace.is_empty() {
            return None;
        }
        let namespace = namespace.to_lowercase();
        self.namespace_segments
            .iter()
            .find(|(_, patterns)| patterns.iter().any(|p| glob_match(p, &namespace)))
            .map(|(name, _)| name.as_str())
    }

    pub fn port_class(&self, port: u16) -> PortClass {
        if self.admin_ports.contains(&port) {
            PortClass::Admin
        } else if self.db_ports.contains(&port) {
            PortClass::Db
        } else if self.web_ports.contains(&port) {
            PortClass::Web
        } else {
            PortClass::Other
        }
    }

    /// The identity-provider app grants privileged access.
    pub fn is_privileged_app(&self, app_name: &str) -> bool {
        !self.privileged_apps.is_empty()
            && self
                .privileged_apps
                .iter()
                .any(|p| p.eq_ignore_ascii_case(app_name))
    }

    /// The privileged path prefix `path` falls under, if any.
    pub fn privileged_prefix(&self, path: &str) -> Option<&str> {
        self.privileged_path_prefixes
            .iter()
            .find(|p| path_has_prefix(path, p))
            .map(String::as_str)
    }

    /// The configured application an identity-provider app name belongs to.
    pub fn match_idp_app(&self, app_name: &str) -> Option<AppMatch<'_>> {
        self.apps
            .iter()
            .find(|a| a.idp_apps.iter().any(|n| n.eq_ignore_ascii_case(app_name)))
            .map(|a| AppMatch {
                id: &a.id,
                sensitivity: a.sensitivity.as_deref(),
            })
    }

    /// The configured web application serving `host` / `path`; host matches win.
    pub fn match_app(&self, host: Option<&str>, path: Option<&str>) -> Option<AppMatch<'_>> {
        let by_host = host.and_then(|h| {
            let h = h.split(':').next().unwrap_or(h);
            self.apps
                .iter()
                .find(|a| a.hosts.iter().any(|ah| ah.eq_ignore_ascii_case(h)))
        });
        let app = by_host.or_else(|| {
            path.and_then(|p| {
                self.apps
                    .iter()
                    .find(|a| a.path_prefixes.iter().any(|pre| path_has_prefix(p, pre)))
            })
        })?;
        Some(AppMatch {
            id: &app.id,
            sensitivity: app.sensitivity.as_deref(),
        })
    }

    /// How to read the OPA decisions of `path` (a leading `/` ignored): the `opa_decisions`
    /// entry with the longest path prefix that covers it, by whole segments.
    pub fn opa_rule(&self, path: &str) -> Option<&OpaRule> {
        let path = path.trim_start_matches('/');
        self.opa_rules
            .iter()
            .find(|(prefix, _)| {
                prefix.is_empty()
                    || path
                        .strip_prefix(prefix.as_str())
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
            .map(|(_, rule)| rule)
    }

    /// The login name looks like a service account.
    pub fn is_service_account(&self, login: &str) -> bool {
        let login = login.to_lowercase();
        self.service_account_patterns
            .iter()
            .any(|p| glob_match(p, &login))
    }
}

/// `/admin` matches `/admin`, `/admin/x` and `/admin?x`, not `/administrator`.
fn path_has_prefix(path: &str, prefix: &str) -> bool {
    if prefix.ends_with('/') {
        return path.starts_with(prefix);
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'),
        None => false,
    }
}

/// Glob with `*` only, on already lower-cased text.
fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_contains() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains(ip("10.1.255.3")));
        assert!(!c.contains(ip("10.2.0.1")));
        assert!(!c.contains(ip("::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8::1")));
        let host: Cidr = "192.168.1.7".parse().unwrap();
        assert!(host.contains(ip("192.168.1.7")) && !host.contains(ip("192.168.1.8")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("banana/8".parse::<Cidr>().is_err());
    }

    #[test]
    fn placement_and_ports() {
        let config = SiteConfig {
            segments: vec![SegmentConfig {
                name: "prod".into(),
                cidrs: vec!["10.1.0.0/16".into()],
                namespaces: Vec::new(),
                talks_to: Vec::new(),
            }],
            ..SiteConfig::default()
        };
        let site = Site::new(&config).unwrap();
        assert_eq!(
            site.place(ip("10.1.2.3")),
            Placement::Internal { segment: "prod" }
        );
        assert_eq!(
            site.place(ip("10.9.2.3")),
            Placement::Internal {
                segment: "internal"
            }
        );
        assert_eq!(site.place(ip("8.8.8.8")), Placement::External);
        assert_eq!(site.port_class(3389), PortClass::Admin);
        assert_eq!(site.port_class(5432), PortClass::Db);
        assert_eq!(site.port_class(443), PortClass::Web);
        assert_eq!(site.port_class(12345), PortClass::Other);
    }

    #[test]
    fn paths_apps_and_service_accounts() {
        let config = SiteConfig {
            apps: vec![AppConfig {
                id: "payroll".into(),
                hosts: vec!["payroll.corp.example".into()],
                path_prefixes: vec!["/payroll".into()],
                sensitivity: Some("high".into()),
                idp_apps: vec!["Workday".into()],
            }],
            privileged_apps: vec!["AWS Console".into()],
            ..SiteConfig::default()
        };
        let site = Site::new(&config).unwrap();
        assert_eq!(site.privileged_prefix("/admin/users"), Some("/admin"));
        assert_eq!(site.privileged_prefix("/administrator"), None);
        assert_eq!(
            site.match_app(Some("PAYROLL.corp.example:443"), Some("/"))
                .unwrap()
                .id,
            "payroll"
        );
        assert_eq!(
            site.match_app(None, Some("/payroll/run"))
                .unwrap()
                .sensitivity,
            Some("high")
        );
        assert!(site.match_app(None, Some("/shop")).is_none());
        assert_eq!(
            site.match_idp_app("WORKDAY"),
            Some(AppMatch {
                id: "payroll",
                sensitivity: Some("high")
            })
        );
        assert_eq!(site.match_idp_app("Slack"), None);
        assert!(site.is_privileged_app("aws console"));
        assert!(site.is_service_account("SVC-backup@corp.example"));
        assert!(!site.is_service_account("alice@corp.example"));
        assert!(glob_match("*@svc.*", "x@svc.corp"));
    }

    #[test]
    fn namespace_segments() {
        let config: SiteConfig = serde_json::from_str(
            r#"{"segments": [
                {"name": "payments", "namespaces": ["payments", "Payments-*"]},
                {"name": "pods", "cidrs": ["10.244.0.0/16"], "namespaces": ["*-system"]}
            ]}"#,
        )
        .unwrap();
        let site = Site::new(&config).unwrap();
        assert_eq!(site.namespace_segment("payments"), Some("payments"));
        assert_eq!(site.namespace_segment("payments-eu"), Some("payments"));
        assert_eq!(site.namespace_segment("PAYMENTS"), Some("payments"));
        assert_eq!(site.namespace_segment("kube-system"), Some("pods"));
        assert_eq!(site.namespace_segment("web"), None);
        assert_eq!(site.namespace_segment(""), None);
        // A namespace-only segment places no address; its CIDR siblings still do.
        assert_eq!(
            site.place(ip("10.244.1.5")),
            Placement::Internal { segment: "pods" }
        );
        assert_eq!(
            Site::default().namespace_segment("payments"),
            None,
            "no namespace segments by default"
        );
        let empty = SiteConfig {
            segments: vec![SegmentConfig {
                name: "web".into(),
                cidrs: Vec::new(),
                namespaces: vec![" ".into()],
                talks_to: Vec::new(),
            }],
            ..SiteConfig::default()
        };
        assert_eq!(
            Site::new(&empty).unwrap_err(),
            SiteError::EmptyNamespacePattern("web".into())
        );
    }

    #[test]
    fn talks_to_names_segments_or_external() {
        let segment = |name: &str, talks_to: &[&str]| SegmentConfig {
            name: name.into(),
            cidrs: Vec::new(),
            namespaces: Vec::new(),
            talks_to: talks_to.iter().map(|t| t.to_string()).collect(),
        };
        let good = SiteConfig {
            segments: vec![segment("corp", &["prod", "external"]), segment("prod", &[])],
            ..SiteConfig::default()
        };
        assert!(good.validate().is_ok());
        let bad = SiteConfig {
            segments: vec![segment("corp", &["prd"]), segment("prod", &[])],
            ..SiteConfig::default()
        };
        assert_eq!(
            bad.validate().unwrap_err(),
            SiteError::UnknownTalksTo {
                segment: "corp".into(),
                target: "prd".into()
            }
        );
    }

    #[test]
    fn opa_rules_longest_prefix_wins() {
        let entry = |prefix: &str, allow: Option<&str>, deny: Option<&str>| OpaRuleConfig {
            path_prefix: prefix.into(),
            allow: allow.map(str::to_string),
            deny: deny.map(str::to_string),
            observe: false,
        };
        let config = SiteConfig {
            opa_decisions: vec![
                entry("envoy", None, Some("result.deny")),
                entry("/envoy/authz/", Some("result.allowed"), None),
                entry("envoy/authz", Some("result.ok"), None),
            ],
            ..SiteConfig::default()
        };
        let site = Site::new(&config).unwrap();
        let allow = |path: &str| site.opa_rule(path).and_then(|r| r.allow.as_deref());
        assert_eq!(allow("envoy/authz/allow"), Some("result.allowed"));
        assert_eq!(allow("/envoy/authz"), Some("result.allowed"));
        assert_eq!(
            site.opa_rule("envoy/authzx")
                .and_then(|r| r.deny.as_deref()),
            Some("result.deny")
        );
        assert_eq!(site.opa_rule("kafka/authz/allow"), None);
        assert_eq!(Site::default().opa_rule("envoy/authz/allow"), None);
        // An empty prefix covers every path.
        let catch_all = SiteConfig {
            opa_decisions: vec![entry("", Some("result.permit"), None)],
            ..SiteConfig::default()
        };
        assert!(Site::new(&catch_all).unwrap().opa_rule("x/y").is_some());
        // Exactly one selector, rooted at `result`, without empty segments.
        for (allow, deny) in [
            (None, None),
            (Some("result.a"), Some("result.b")),
            (Some("input.method"), None),
            (Some("results.allowed"), None),
            (None, Some("result..deny")),
        ] {
            let config = SiteConfig {
                opa_decisions: vec![entry("envoy", allow, deny)],
                ..SiteConfig::default()
            };
            assert!(Site::new(&config).is_err(), "{allow:?} {deny:?}");
        }
        let parsed: SiteConfig = serde_json::from_str(
            r#"{"opa_decisions": [{"path_prefix": "payments/authz", "allow": "result.permit"}]}"#,
        )
        .unwrap();
        assert_eq!(parsed.opa_decisions.len(), 1);
        assert!(
            serde_json::from_str::<SiteConfig>(
                r#"{"opa_decisions": [{"path": "x", "allow": "result"}]}"#
            )
            .is_err()
        );
    }

    #[test]
    fn invalid_config_is_rejected() {
        let config = SiteConfig {
            internal_cidrs: vec!["10.0.0/8x".into()],
            ..SiteConfig::default()
        };
        assert!(matches!(Site::new(&config), Err(SiteError::InvalidCidr(_))));
    }
}
