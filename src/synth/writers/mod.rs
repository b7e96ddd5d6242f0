//! Vendor line writers: one module per log format the generator writes.
//!
//! A writer turns what a scenario decided (who, when, which outcome) into the bytes that vendor
//! would log, drawing from the generator's [`Rng`] only what shapes the line (ids, byte counts),
//! in a fixed order so a seed keeps giving the same bytes. Writers may use the company model
//! and each other's types, never the [`Truth`](super::Truth): counting is the scenarios' job.

pub mod alb;
pub mod azure_nsg;
pub mod cloudtrail;
pub mod crowdstrike;
pub mod defender;
pub mod entra;
pub mod envoy;
pub mod gcp_vpc;
pub mod google_workspace;
pub mod guardduty;
pub mod intune;
pub mod k8s;
pub mod kandji;
pub mod nginx;
pub mod okta;
pub mod pingfederate;
pub mod pingone;
pub mod sentinelone;
pub mod vpcflow;
pub mod workspace_one;
pub mod zeek;

use super::company::Person;
use super::rng::Rng;

/// One web request, as the portal's front ends log it.
#[derive(Debug, Clone, Copy)]
pub struct Hit<'a> {
    pub ip: &'a str,
    pub user: Option<&'a str>,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub ua: &'a str,
}

/// Response body size of a web request (a 304 has none).
pub fn body_bytes(rng: &mut Rng, status: u16) -> u64 {
    if status == 304 {
        0
    } else {
        200 + rng.below(20_000)
    }
}

/// The login before the `@`: how endpoint agents, AWS and web logs name a user.
pub fn account_name(person: &Person) -> &str {
    person.login.split('@').next().unwrap_or("user")
}

/// The operating system name of a person's device, as identity providers and MDM report it.
pub fn os_name(person: &Person) -> &'static str {
    match person.device_os {
        "MACOS" => "Mac OS X",
        "WINDOWS" => "Windows 10",
        _ => "Linux",
    }
}

/// The browser (or, for service accounts, SDK) user agent of a person's device.
pub fn user_agent(person: &Person) -> String {
    if person.service {
        return "okta-sdk-python/2.9.2".to_string();
    }
    match person.device_os {
        "MACOS" => "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15".into(),
        "WINDOWS" => "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36".into(),
        _ => "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0".into(),
    }
}
