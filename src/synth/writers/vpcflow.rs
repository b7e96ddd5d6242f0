//! AWS VPC flow log records, written in either the v2 default layout or a custom v5 layout.
//! Records stay structs until the file writer picks the layout, so the same flow can land in
//! either file.

use crate::synth::fnv1a_64;
use crate::synth::rng::Rng;

/// One VPC flow log record.
#[derive(Debug, Clone)]
pub struct VpcRecord {
    pub interface: String,
    pub src: Option<(String, u16)>,
    pub dst: Option<(String, u16)>,
    pub protocol: u8,
    pub packets: u64,
    pub bytes: u64,
    pub start_s: i64,
    pub action: Option<&'static str>,
    pub status: &'static str,
    pub account: String,
}

/// The custom layout used for the v5 file (as delivered to S3, with its header line).
pub const V5_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id tcp-flags type flow-direction traffic-path";

impl VpcRecord {
    /// A flow from `src` to `dst` starting in second `start_s`, as the destination's interface
    /// logs it; a refused flow carries a few packets, an accepted one up to 200.
    pub fn flow(
        rng: &mut Rng,
        account: String,
        start_s: i64,
        (src, dst): ((String, u16), (String, u16)),
        protocol: u8,
        action: &'static str,
    ) -> Self {
        let mut record = VpcRecord {
            interface: format!("eni-{:017x}", fnv1a_64(&dst.0) >> 4),
            src: Some(src),
            dst: Some(dst),
            protocol,
            packets: 1 + rng.below(if action == "REJECT" { 3 } else { 200 }),
            bytes: 0,
            start_s,
            action: Some(action),
            status: "OK",
            account,
        };
        record.bytes = record.packets * (40 + rng.below(1400));
        record
    }

    /// A record without traffic: `status` NODATA (an idle interface) or SKIPDATA (a capacity
    /// gap).
    pub fn idle(rng: &mut Rng, account: String, start_s: i64, status: &'static str) -> Self {
        VpcRecord {
            interface: format!("eni-{:017x}", rng.next_u64() >> 12),
            src: None,
            dst: None,
            protocol: 0,
            packets: 0,
            bytes: 0,
            start_s,
            action: None,
            status,
            account,
        }
    }

    pub fn v2_line(&self) -> String {
        let dash = || "-".to_string();
        format!(
            "2 {} {} {} {} {} {} {} {} {} {} {} {} {}",
            self.account,
            self.interface,
            self.src.as_ref().map_or_else(dash, |s| s.0.clone()),
            self.dst.as_ref().map_or_else(dash, |d| d.0.clone()),
            self.src.as_ref().map_or_else(dash, |s| s.1.to_string()),
            self.dst.as_ref().map_or_else(dash, |d| d.1.to_string()),
            if self.src.is_some() {
                self.protocol.to_string()
            } else {
                dash()
            },
            if self.src.is_some() {
                self.packets.to_string()
            } else {
                dash()
            },
            if self.src.is_some() {
                self.bytes.to_string()
            } else {
                dash()
            },
            self.start_s,
            self.start_s + 60,
            self.action.unwrap_or("-"),
            self.status
        )
    }

    pub fn v5_line(&self) -> String {
        let v2 = self.v2_line();
        let rest = v2.split_once(' ').map(|(_, r)| r).unwrap_or_default();
        let flags = match (self.protocol, self.action) {
            (6, Some("REJECT")) => "2",
            (6, _) => "19",
            _ => "0",
        };
        format!("5 {rest} vpc-0a1b2c3d4e5f60718 subnet-0a1b2c3d4e5f60718 {flags} IPv4 ingress 1")
    }
}
