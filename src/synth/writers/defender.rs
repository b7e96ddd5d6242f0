//! Microsoft Defender for Endpoint Advanced Hunting records (as streamed to Event Hubs):
//! workstation logons and host firewall blocks.

use serde_json::json;

use super::account_name;
use crate::synth::company::Person;
use crate::synth::fnv1a_64;
use crate::synth::rng::Rng;

/// The company's tenant.
const TENANT: &str = "5f1c0000-0000-4000-8000-00000000c0de";

/// How long after the connection attempt Defender timestamps the firewall's block.
pub const FIREWALL_BLOCK_DELAY_MS: i64 = 10;

/// A logon to `person`'s workstation at `t`, or a failed one (a mistyped password).
pub fn logon(rng: &mut Rng, t: i64, person: &Person, failed: bool) -> String {
    json!({
        "time": ztlens_analytics::time_range::format_ms(t + 2000),
        "tenantId": TENANT,
        "category": "AdvancedHunting-DeviceLogonEvents",
        "operationName": "Publish",
        "properties": {
            "Timestamp": ztlens_analytics::time_range::format_ms(t),
            "DeviceId": person.device_id, "DeviceName": person.device_name,
            "ActionType": if failed { "LogonFailed" } else { "LogonSuccess" },
            "AccountName": account_name(person), "AccountDomain": "corp", "LogonType": "Interactive",
            "FailureReason": if failed { "InvalidUserNameOrPassword" } else { "" },
            "IsLocalAdmin": person.admin, "ReportId": rng.next_u64() % 1_000_000,
        }
    })
    .to_string()
}

/// The host firewall of server `local` refuses a TCP connection from `remote` attempted at `t`
/// (timestamped [`FIREWALL_BLOCK_DELAY_MS`] later).
pub fn firewall_block(
    rng: &mut Rng,
    t: i64,
    (local_ip, local_port): (&str, u16),
    (remote_ip, remote_port): (&str, u16),
) -> String {
    json!({
        "time": ztlens_analytics::time_range::format_ms(t + 3000),
        "tenantId": TENANT,
        "category": "AdvancedHunting-DeviceNetworkEvents",
        "operationName": "Publish",
        "properties": {
            "Timestamp": ztlens_analytics::time_range::format_ms(t + FIREWALL_BLOCK_DELAY_MS),
            "DeviceId": format!("mde{:013x}", fnv1a_64(local_ip) >> 12),
            "ActionType": "FirewallInboundConnectionBlocked",
            "LocalIP": local_ip, "LocalPort": local_port, "RemoteIP": remote_ip, "RemotePort": remote_port,
            "Protocol": "Tcp", "ReportId": rng.next_u64() % 1_000_000,
        }
    })
    .to_string()
}
