//! The synthetic company: people, service accounts, devices, apps, networks and the places
//! its traffic comes from. Built deterministically from the generator's random stream.

use ztlens_analytics::inventory::{InventoryConfig, PolicyException, ServiceAccount};
use ztlens_analytics::time_range::format_ms;
use ztlens_ingest::site::{AppConfig, SegmentConfig, SiteConfig};

use super::rng::Rng;

/// A place sign-ins come from.
#[derive(Debug, Clone)]
pub struct Place {
    pub country: &'static str,
    pub city: &'static str,
    pub state: &'static str,
    pub lat: f64,
    pub lon: f64,
    pub asn: u32,
    pub as_org: &'static str,
    /// First two octets of the public addresses used there.
    pub prefix: [u8; 2],
    pub is_proxy: bool,
}

pub const OFFICES: [Place; 5] = [
    Place {
        country: "Germany",
        city: "Berlin",
        state: "Land Berlin",
        lat: 52.52,
        lon: 13.405,
        asn: 3320,
        as_org: "deutsche telekom ag",
        prefix: [84, 160],
        is_proxy: false,
    },
    Place {
        country: "United States",
        city: "New York",
        state: "New York",
        lat: 40.7128,
        lon: -74.006,
        asn: 7922,
        as_org: "comcast cable communications",
        prefix: [73, 12],
        is_proxy: false,
    },
    Place {
        country: "India",
        city: "Bengaluru",
        state: "Karnataka",
        lat: 12.9716,
        lon: 77.5946,
        asn: 24560,
        as_org: "bharti airtel",
        prefix: [49, 36],
        is_proxy: false,
    },
    Place {
        country: "Brazil",
        city: "Sao Paulo",
        state: "Sao Paulo",
        lat: -23.5505,
        lon: -46.6333,
        asn: 28573,
        as_org: "claro s.a.",
        prefix: [177, 92],
        is_proxy: false,
    },
    Place {
        country: "Singapore",
        city: "Singapore",
        state: "Singapore",
        lat: 1.3521,
        lon: 103.8198,
        asn: 4773,
        as_org: "singtel",
        prefix: [116, 86],
        is_proxy: false,
    },
];

pub const ATTACK_ORIGINS: [Place; 3] = [
    Place {
        country: "Nigeria",
        city: "Lagos",
        state: "Lagos",
        lat: 6.4541,
        lon: 3.3947,
        asn: 37148,
        as_org: "globacom",
        prefix: [102, 89],
        is_proxy: false,
    },
    Place {
        country: "Russia",
        city: "Moscow",
        state: "Moscow",
        lat: 55.7558,
        lon: 37.6173,
        asn: 12389,
        as_org: "rostelecom",
        prefix: [95, 165],
        is_proxy: false,
    },
    Place {
        country: "Netherlands",
        city: "Amsterdam",
        state: "North Holland",
        lat: 52.3676,
        lon: 4.9041,
        asn: 14061,
        as_org: "digitalocean llc",
        prefix: [188, 166],
        is_proxy: true,
    },
];

#[derive(Debug, Clone)]
pub struct Person {
    pub okta_id: String,
    pub login: String,
    pub display_name: String,
    pub home: usize,
    pub admin: bool,
    pub service: bool,
    pub device_id: String,
    pub device_name: String,
    pub device_managed: bool,
    pub device_os: &'static str,
    /// The factor this person enrolled.
    pub factor: &'static str,
    pub public_ip: String,
    pub internal_ip: String,
}

#[derive(Debug, Clone)]
pub struct App {
    pub okta_id: String,
    pub name: &'static str,
    pub privileged: bool,
    /// Sign-ons to this app are challenged for MFA by policy.
    pub mfa_required: bool,
}

/// A network segment and the hosts in it.
#[derive(Debug, Clone)]
pub struct Segment {
    pub name: &'static str,
    /// Second octet of `10.x.0.0/16`.
    pub octet: u8,
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Company {
    pub people: Vec<Person>,
    pub apps: Vec<App>,
    pub segments: Vec<Segment>,
    pub account_id: String,
}

const FIRST: [&str; 20] = [
    "alice", "bruno", "chen", "divya", "emma", "farid", "grace", "hiro", "ines", "jonas", "kofi",
    "lena", "mateo", "nadia", "omar", "priya", "quinn", "rosa", "sven", "tara",
];
const LAST: [&str; 12] = [
    "archer", "becker", "costa", "diaz", "eriksen", "fischer", "gupta", "hansen", "ito", "jensen",
    "kim", "lopez",
];
const FACTORS: [(&str, u32); 5] = [
    ("OKTA_VERIFY_PUSH", 50),
    ("FIDO_WEBAUTHN", 20),
    ("GOOGLE_AUTHENTICATOR", 15),
    ("SMS", 10),
    ("SIGNED_NONCE", 5),
];

/// The segment pairs the company's network design allows (`[[site.segments]] talks_to`). The
/// corp → dev SSH the network lets through is not among them: the access-path map shows it
/// as unexpected.
pub const TALKS_TO: [(&str, &str); 6] = [
    ("corp", "prod"),
    ("corp", "azure"),
    ("corp", "gcp"),
    ("corp", "external"),
    ("prod", "pci"),
    ("prod", "external"),
];

pub const ADMIN_PORTS: [u16; 5] = [22, 3389, 445, 5985, 5986];
pub const PRIVILEGED_PATHS: [&str; 2] = ["/admin", "/api/admin"];

impl Company {
    pub fn new(rng: &mut Rng) -> Self {
        let segments: Vec<Segment> = [
            ("corp", 10u8, 40usize),
            ("prod", 20, 24),
            ("pci", 30, 8),
            ("dev", 40, 16),
            // Workloads in Azure, behind a network security group.
            ("azure", 50, 12),
            // Workloads in GCP, behind VPC firewall rules that log.
            ("gcp", 60, 12),
        ]
        .into_iter()
        .map(|(name, octet, n)| Segment {
            name,
            octet,
            hosts: (0..n)
                .map(|i| format!("10.{octet}.{}.{}", 1 + i / 200, 10 + i % 200))
                .collect(),
        })
        .collect();
        let mut people = Vec::new();
        for i in 0..60 {
            let first = FIRST[i % FIRST.len()];
            let last = LAST[(i / FIRST.len() + i * 7) % LAST.len()];
            let home = rng.weighted(&[35, 25, 20, 10, 10]);
            let factor = FACTORS[rng.weighted(&FACTORS.map(|f| f.1))].0;
            let place = &OFFICES[home];
            people.push(Person {
                okta_id: format!("00u{:017x}", rng.next_u64() >> 0x10),
                login: format!(
                    "{first}.{last}{}@corp.example",
                    if i >= 20 {
                        (i / 20).to_string()
                    } else {
                        String::new()
                    }
                ),
                display_name: format!("{} {}", capitalize(first), capitalize(last)),
                home,
                admin: i % 12 == 0,
                service: false,
                device_id: format!("guo{:017x}", rng.next_u64() >> 0x10),
                device_name: format!("LT-{:04}", 1000 + i),
                device_managed: rng.chance(0.8),
                device_os: ["MACOS", "WINDOWS", "WINDOWS", "LINUX"][rng.below(4) as usize],
                factor,
                public_ip: format!(
                    "{}.{}.{}.{}",
                    place.prefix[0],
                    place.prefix[1],
                    rng.below(250) + 1,
                    rng.below(250) + 1
                ),
                internal_ip: segments[0].hosts[i % segments[0].hosts.len()].clone(),
            });
        }
        for (j, name) in ["svc-backup", "svc-deploy", "svc-reporting"]
            .iter()
            .enumerate()
        {
            people.push(Person {
                okta_id: format!("00u{:017x}", rng.next_u64() >> 0x10),
                login: format!("{name}@corp.example"),
                display_name: format!("{name} (service)"),
                home: 0,
                admin: j == 1,
                service: true,
                device_id: format!("guo{:017x}", rng.next_u64() >> 0x10),
                device_name: format!("build-{:02}", j + 1),
                device_managed: true,
                device_os: "LINUX",
                factor: "OKTA_VERIFY_PUSH",
                public_ip: String::new(),
                internal_ip: segments[1].hosts[j].clone(),
            });
        }
        let apps = [
            ("AWS Console", true, true),
            ("Okta Admin Console", true, true),
            ("Salesforce", false, true),
            ("Workday", false, false),
            ("Slack", false, false),
            ("Wiki", false, false),
        ]
        .into_iter()
        .map(|(name, privileged, mfa_required)| App {
            okta_id: format!("0oa{:017x}", rng.next_u64() >> 0x10),
            name,
            privileged,
            mfa_required,
        })
        .collect();
        Company {
            people,
            apps,
            segments,
            account_id: "210987654321".into(),
        }
    }

    /// The segment an address of the company is in.
    pub fn segment_of(&self, ip: &str) -> Option<&'static str> {
        self.segments
            .iter()
            .find(|s| ip.starts_with(&format!("10.{}.", s.octet)))
            .map(|s| s.name)
    }

    /// The `[site]` configuration that describes this company to ztlens.
    pub fn site_config(&self) -> SiteConfig {
        SiteConfig {
            internal_cidrs: vec!["10.0.0.0/8".into()],
            segments: self
                .segments
                .iter()
                .map(|s| SegmentConfig {
                    name: s.name.into(),
                    cidrs: vec![format!("10.{}.0.0/16", s.octet)],
                    namespaces: Vec::new(),
                    talks_to: TALKS_TO
                        .iter()
                        .filter(|(from, _)| *from == s.name)
                        .map(|(_, to)| to.to_string())
                        .collect(),
                })
                // The Kubernetes cluster's namespaces, placed by name (Hubble flows name them).
                .chain(
                    crate::synth::scenarios::cluster::NAMESPACE_SEGMENTS
                        .iter()
                        .map(|ns| SegmentConfig {
                            name: ns.to_string(),
                            cidrs: Vec::new(),
                            namespaces: vec![ns.to_string()],
                            talks_to: Vec::new(),
                        }),
                )
                .collect(),
            admin_ports: ADMIN_PORTS.to_vec(),
            db_ports: vec![1433, 3306, 5432, 6379],
            web_ports: vec![80, 443, 8080, 8443],
            privileged_apps: self
                .apps
                .iter()
                .filter(|a| a.privileged)
                .map(|a| a.name.to_string())
                .collect(),
            privileged_path_prefixes: PRIVILEGED_PATHS.iter().map(|p| p.to_string()).collect(),
            apps: vec![
                AppConfig {
                    id: "payroll".into(),
                    hosts: vec!["payroll.corp.example".into()],
                    path_prefixes: vec!["/payroll".into()],
                    sensitivity: Some("high".into()),
                    // Payroll runs in Workday; sign-ins to it are sign-ins to payroll.
                    idp_apps: vec!["Workday".into()],
                },
                AppConfig {
                    id: "crm".into(),
                    hosts: vec![],
                    path_prefixes: vec![],
                    sensitivity: Some("high".into()),
                    idp_apps: vec!["Salesforce".into()],
                },
                AppConfig {
                    id: "admin".into(),
                    hosts: vec![],
                    path_prefixes: vec!["/admin".into(), "/api/admin".into()],
                    sensitivity: Some("high".into()),
                    idp_apps: vec![],
                },
                AppConfig {
                    id: "checkout".into(),
                    hosts: vec![crate::synth::scenarios::cluster::CHECKOUT_HOST.into()],
                    path_prefixes: vec![],
                    sensitivity: None,
                    idp_apps: vec![],
                },
                AppConfig {
                    id: "wiki".into(),
                    hosts: vec![],
                    path_prefixes: vec!["/wiki".into()],
                    sensitivity: None,
                    idp_apps: vec!["Wiki".into()],
                },
            ],
            service_account_patterns: vec!["svc-*".into()],
            opa_decisions: Vec::new(),
        }
    }
}

const DAY_MS: i64 = 86_400_000;

/// A service account as the company's inventory lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct InventoriedAccount {
    pub login: String,
    pub owner: &'static str,
    /// When the inventory says its credential was last rotated.
    pub rotated_ms: Option<i64>,
    pub max_credential_age_days: Option<u32>,
}

/// A policy exception the company granted.
#[derive(Debug, Clone, PartialEq)]
pub struct GrantedException {
    pub id: &'static str,
    pub owner: &'static str,
    pub login: String,
    /// The identity-provider app it covers (`None`: every sign-in of the user).
    pub app: Option<&'static str>,
    pub control: &'static str,
    pub reason: &'static str,
    pub created_ms: i64,
    pub expires_ms: i64,
}

/// What the company's CMDB and exception register hold, dated from the start of the generated
/// period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompanyInventory {
    pub accounts: Vec<InventoriedAccount>,
    pub exceptions: Vec<GrantedException>,
}

/// Days an inventoried credential may live unless the account says otherwise.
pub const MAX_CREDENTIAL_AGE_DAYS: u32 = 90;

impl Company {
    /// The inventory for a period starting at `start_ms`: every service account but
    /// svc-reporting (an unowned account the logs reveal), plus a retired one that no longer
    /// signs in; and four exceptions — one expiring mid-period, one open throughout, one
    /// expired before the period, one granted mid-period.
    pub fn inventory(&self, start_ms: i64) -> CompanyInventory {
        let login = |i: usize| self.people[i].login.clone();
        let service = |name: &str| format!("{name}@corp.example");
        CompanyInventory {
            accounts: vec![
                InventoriedAccount {
                    login: service("svc-backup"),
                    owner: "storage-team",
                    rotated_ms: Some(start_ms - 45 * DAY_MS),
                    max_credential_age_days: Some(30),
                },
                InventoriedAccount {
                    // Overdue by the inventory, rotated during the period (the log says so).
                    login: service("svc-deploy"),
                    owner: "platform-team",
                    rotated_ms: Some(start_ms - 200 * DAY_MS),
                    max_credential_age_days: None,
                },
                InventoriedAccount {
                    login: service("svc-legacy-ftp"),
                    owner: "it-ops",
                    rotated_ms: Some(start_ms - 400 * DAY_MS),
                    max_credential_age_days: None,
                },
            ],
            exceptions: vec![
                GrantedException {
                    id: "EX-1001",
                    owner: "finance",
                    login: login(3),
                    app: Some("Workday"),
                    control: "mfa",
                    reason: "shared payroll kiosk without an authenticator",
                    created_ms: start_ms - 60 * DAY_MS,
                    expires_ms: start_ms + DAY_MS / 2,
                },
                GrantedException {
                    id: "EX-1002",
                    owner: "sales",
                    login: login(4),
                    app: Some("Salesforce"),
                    control: "compliant_device",
                    reason: "trade-fair laptop, enrolment pending",
                    created_ms: start_ms - 10 * DAY_MS,
                    expires_ms: start_ms + 30 * DAY_MS,
                },
                GrantedException {
                    id: "EX-1003",
                    owner: "it-ops",
                    login: login(6),
                    app: None,
                    control: "mfa",
                    reason: "phone replacement",
                    created_ms: start_ms - 90 * DAY_MS,
                    expires_ms: start_ms - 5 * DAY_MS,
                },
                GrantedException {
                    id: "EX-1004",
                    owner: "finance",
                    login: login(8),
                    app: Some("Workday"),
                    control: "mfa",
                    reason: "year-end close from a contractor device",
                    created_ms: start_ms + DAY_MS / 4,
                    expires_ms: start_ms + 60 * DAY_MS,
                },
            ],
        }
    }
}

impl CompanyInventory {
    /// The inventory as `[inventory]` entries in the config.
    pub fn config(&self) -> InventoryConfig {
        InventoryConfig {
            service_accounts: self
                .accounts
                .iter()
                .map(|a| ServiceAccount {
                    account: a.login.clone(),
                    owner: a.owner.into(),
                    credential_rotated: a.rotated_ms.map(format_ms),
                    max_credential_age_days: a.max_credential_age_days,
                })
                .collect(),
            policy_exceptions: self
                .exceptions
                .iter()
                .map(|e| PolicyException {
                    id: e.id.into(),
                    owner: e.owner.into(),
                    user: e.login.clone(),
                    app: e.app.map(str::to_string),
                    control: Some(e.control.into()),
                    reason: e.reason.into(),
                    created: format_ms(e.created_ms),
                    expires: format_ms(e.expires_ms),
                })
                .collect(),
            ..InventoryConfig::default()
        }
    }

    /// The service accounts as the CSV export `[inventory] service_accounts_file` reads.
    pub fn service_accounts_csv(&self) -> String {
        let mut out = String::from("account,owner,credential_rotated,max_credential_age_days\n");
        for a in &self.accounts {
            out.push_str(&format!(
                "{},{},{},{}\n",
                a.login,
                a.owner,
                a.rotated_ms.map(format_ms).unwrap_or_default(),
                a.max_credential_age_days
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            ));
        }
        out
    }

    /// The exceptions as the CSV export `[inventory] policy_exceptions_file` reads.
    pub fn exceptions_csv(&self) -> String {
        let mut out = String::from("id,owner,user,app,control,reason,created,expires\n");
        for e in &self.exceptions {
            out.push_str(&format!(
                "{},{},{},{},{},\"{}\",{},{}\n",
                e.id,
                e.owner,
                e.login,
                e.app.unwrap_or_default(),
                e.control,
                e.reason,
                format_ms(e.created_ms),
                format_ms(e.expires_ms)
            ));
        }
        out
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}
