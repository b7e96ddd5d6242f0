//! Network scenarios: flows between the company's segments and to the internet, as the VPC
//! flow log and (on the corp segment) the Zeek sensor record them, and the lateral scan.

use crate::synth::Generator;
use crate::synth::company::{ADMIN_PORTS, ATTACK_ORIGINS};
use crate::synth::truth::{AdminFlow, AllowedFlow};
use crate::synth::writers::vpcflow::VpcRecord;
use crate::synth::writers::{azure_nsg, gcp_vpc, zeek};

impl Generator {
    /// One flow at `t`, as the enforcement point in front of its destination records it (the
    /// Azure segment's NSG, else the VPC flow log), and the corp sensor when it touches the
    /// corp segment; `segments` are the source's and destination's, `None` outside.
    pub(super) fn flow(
        &mut self,
        t: i64,
        src: (String, u16),
        dst: (String, u16),
        protocol: u8,
        action: &'static str,
        segments: (Option<&str>, Option<&str>),
    ) {
        let start_s = t.div_euclid(1000);
        self.port_counter += 1;
        let account = self.company.account_id.clone();
        let mut record = VpcRecord::flow(
            &mut self.rng,
            account,
            start_s,
            (src, dst),
            protocol,
            action,
        );
        let refused = action == "REJECT";
        let cloud = record
            .dst
            .as_ref()
            .and_then(|(ip, _)| self.company.segment_of(ip));
        // The records the enforcement point in front of the destination writes for this flow,
        // each with its time and whether it states the decision: the VPC flow log one per flow;
        // the Azure NSG the flow's begin (the decision) and, when allowed, its end (traffic
        // only); GCP the firewall's decision and, when allowed, the destination VM's flow
        // record (no decision).
        let (format, lines, records): (&'static str, Vec<String>, Vec<(i64, bool)>) = match cloud {
            Some("azure") => {
                let duration_s = if refused {
                    0
                } else {
                    1 + self.rng.below(30) as i64
                };
                let (line, times) = azure_nsg::record(&record, duration_s, segments.0.is_none());
                // The begin tuple states the decision; the end tuple reports traffic only.
                let records = times
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| (t, i == 0))
                    .collect();
                ("azure_nsg", vec![line], records)
            }
            Some("gcp") => {
                let insert_id = format!("{:014x}", self.rng.next_u64() >> 8);
                let mut lines = vec![gcp_vpc::firewall_entry(&record, t, &insert_id)];
                let mut records = vec![(t, true)];
                if !refused {
                    let duration_ms = 500 + self.rng.below(20_000) as i64;
                    let insert_id = format!("{:014x}", self.rng.next_u64() >> 8);
                    lines.push(gcp_vpc::flow_entry(&record, t, duration_ms, &insert_id));
                    records.push((t, false));
                }
                ("gcp_vpc", lines, records)
            }
            _ => {
                while !self.vpc_seen.is_new(start_s, &record.v2_line()) {
                    record.bytes += 1;
                }
                ("vpcflow", Vec::new(), vec![(start_s * 1000, true)])
            }
        };
        if refused && let (Some(s), Some(d)) = segments {
            let port = record.dst.as_ref().map(|d| d.1).unwrap_or(0);
            let entry = self
                .truth
                .lateral
                .entry((s.to_string(), d.to_string()))
                .or_default();
            entry[0] += 1;
            if protocol == 6 && ADMIN_PORTS.contains(&port) {
                entry[1] += 1;
            }
        }
        let port = record.dst.as_ref().map(|d| d.1).unwrap_or(0);
        let admin = match segments {
            (Some(s), Some(d)) if protocol == 6 && ADMIN_PORTS.contains(&port) => Some((s, d)),
            _ => None,
        };
        if let Some((s, d)) = admin {
            // One decision per flow, however many records carry it.
            let entry = self
                .truth
                .lateral_attempts
                .entry((s.to_string(), d.to_string()))
                .or_default();
            entry[if refused { 0 } else { 1 }] += 1;
            for &(time_ms, decides) in &records {
                self.admin_flow(&record, s, time_ms, decides && !refused);
            }
        }
        // Allowed flows between segments, once per record stating the decision, for the
        // policy what-if.
        if !refused && let (Some(s), Some(d)) = segments {
            let port = record.dst.as_ref().map(|d| d.1).unwrap_or(0);
            let src = record.src.as_ref().map(|s| s.0.clone()).unwrap_or_default();
            for &(time_ms, decides) in &records {
                if decides {
                    self.truth.allowed_flows.push(AllowedFlow {
                        segment_src: s.to_string(),
                        segment_dst: d.to_string(),
                        src: src.clone(),
                        port,
                        time_ms,
                    });
                }
            }
        }
        // The Zeek sensor on the corp segment sees every flow that touches it: a refused TCP
        // connection is a REJ there, failed without a policy decision.
        if segments.0 == Some("corp") || segments.1 == Some("corp") {
            if let Some(line) = zeek::conn_line(&mut self.rng, t, &record) {
                self.emit_once("zeek", line);
            }
            if let Some((s, d)) = admin {
                if refused {
                    self.truth
                        .lateral_attempts
                        .entry((s.to_string(), d.to_string()))
                        .or_default()[2] += 1;
                }
                self.admin_flow(&record, s, t, false);
            }
        }
        if format != "vpcflow" {
            for _ in &records {
                self.count_event(format);
            }
            for line in lines {
                if self.maybe_duplicate(format) {
                    self.out.lines(format).push(line.clone());
                }
                self.out.lines(format).push(line);
            }
            return;
        }
        self.count_event("vpcflow");
        if self.maybe_duplicate("vpcflow") {
            self.out.vpc.push(record.clone());
        }
        self.out.vpc.push(record);
    }

    /// Keep a sensor's record of an admin-port lateral flow for the scan truth.
    fn admin_flow(&mut self, record: &VpcRecord, segment_src: &str, time_ms: i64, allowed: bool) {
        let (Some(src), Some(dst)) = (&record.src, &record.dst) else {
            return;
        };
        self.truth.admin_flows.push(AdminFlow {
            src: src.0.clone(),
            segment_src: segment_src.to_string(),
            dst: dst.0.clone(),
            time_ms,
            allowed,
        });
    }

    /// A client port: each flow gets the next one.
    pub(super) fn ephemeral(&self) -> u16 {
        32768 + (self.port_counter % 28000) as u16
    }

    /// A random host of segment `segment` (0 corp, 1 prod, 2 pci, 3 dev) and the segment's
    /// name.
    pub(super) fn host(&mut self, segment: usize) -> (String, &'static str) {
        let seg = &self.company.segments[segment];
        let host = seg.hosts[self.rng.below(seg.hosts.len() as u64) as usize].clone();
        (host, seg.name)
    }

    pub(in crate::synth) fn network_flow(&mut self) {
        let t = self.clock_ms;
        // segments: 0 corp, 1 prod, 2 pci, 3 dev
        match self
            .rng
            .weighted(&[30, 15, 10, 8, 8, 5, 4, 8, 6, 3, 8, 3, 3, 2, 6, 3, 3, 2, 3])
        {
            0 => {
                let ((s, sn), (d, dn)) = (self.host(0), self.host(1));
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, 443), 6, "ACCEPT", (Some(sn), Some(dn)));
            }
            1 => {
                let ((s, sn), (d, dn)) = (self.host(1), self.host(2));
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, 5432), 6, "ACCEPT", (Some(sn), Some(dn)));
            }
            2 => {
                let ((s, sn), (d, dn)) = (self.host(0), self.host(3));
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, 22), 6, "ACCEPT", (Some(sn), Some(dn)));
            }
            3 => {
                let ((s, sn), (d, dn)) = (self.host(0), self.host(1));
                let port = *self.rng.pick(&[22u16, 3389]);
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, port), 6, "REJECT", (Some(sn), Some(dn)));
            }
            4 => {
                let ((s, sn), (d, dn)) = (self.host(3), self.host(2));
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, 445), 6, "REJECT", (Some(sn), Some(dn)));
            }
            5 => {
                let ((s, sn), (d, dn)) = (self.host(0), self.host(2));
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, 5432), 6, "REJECT", (Some(sn), Some(dn)));
            }
            6 => {
                // DNS between segments over UDP, refused: lateral but not an admin port.
                let ((s, sn), (d, dn)) = (self.host(3), self.host(1));
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, 53), 17, "REJECT", (Some(sn), Some(dn)));
            }
            7 => {
                // A scanner on the internet knocks on SSH: refused, but not lateral.
                let origin = ATTACK_ORIGINS[self.rng.below(3) as usize].clone();
                let src = self.address_in(&origin);
                let (d, _) = self.host(1);
                let p = self.ephemeral();
                self.flow(t, (src, p), (d, 22), 6, "REJECT", (None, None));
            }
            8 => {
                let (s, _) = self.host(1);
                let p = self.ephemeral();
                let dst = format!(
                    "52.94.{}.{}",
                    self.rng.below(250) + 1,
                    self.rng.below(250) + 1
                );
                self.flow(t, (s, p), (dst, 443), 6, "ACCEPT", (None, None));
            }
            9 => {
                let ((s, sn), (d, dn)) = (self.host(2), self.host(2));
                self.flow(t, (s, 0), (d, 0), 1, "ACCEPT", (Some(sn), Some(dn)));
            }
            10 => {
                // Azure: the corp network reaches the apps over HTTPS.
                let ((s, sn), (d, dn)) = (self.host(0), self.host(4));
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, 443), 6, "ACCEPT", (Some(sn), Some(dn)));
            }
            11 => {
                // Azure: dev hosts may not administer Azure workloads.
                let ((s, sn), (d, dn)) = (self.host(3), self.host(4));
                let port = *self.rng.pick(&[22u16, 3389]);
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, port), 6, "REJECT", (Some(sn), Some(dn)));
            }
            12 => {
                // Azure: the internet knocks on RDP and meets the NSG's default deny.
                let origin = ATTACK_ORIGINS[self.rng.below(3) as usize].clone();
                let src = self.address_in(&origin);
                let (d, _) = self.host(4);
                let p = self.ephemeral();
                self.flow(t, (src, p), (d, 3389), 6, "REJECT", (None, None));
            }
            13 => {
                // Azure: corp administrators reach the workloads over SSH, allowed.
                let ((s, sn), (d, dn)) = (self.host(0), self.host(4));
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, 22), 6, "ACCEPT", (Some(sn), Some(dn)));
            }
            14 => {
                // GCP: the corp network reaches the apps over HTTPS.
                let ((s, sn), (d, dn)) = (self.host(0), self.host(5));
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, 443), 6, "ACCEPT", (Some(sn), Some(dn)));
            }
            15 => {
                // GCP: dev hosts may not administer GCP workloads.
                let ((s, sn), (d, dn)) = (self.host(3), self.host(5));
                let port = *self.rng.pick(&[22u16, 3389]);
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, port), 6, "REJECT", (Some(sn), Some(dn)));
            }
            16 => {
                // GCP: the internet knocks on SSH and meets a deny rule.
                let origin = ATTACK_ORIGINS[self.rng.below(3) as usize].clone();
                let src = self.address_in(&origin);
                let (d, _) = self.host(5);
                let p = self.ephemeral();
                self.flow(t, (src, p), (d, 22), 6, "REJECT", (None, None));
            }
            17 => {
                // GCP: corp administrators reach the workloads over SSH, allowed.
                let ((s, sn), (d, dn)) = (self.host(0), self.host(5));
                let p = self.ephemeral();
                self.flow(t, (s, p), (d, 22), 6, "ACCEPT", (Some(sn), Some(dn)));
            }
            _ => {
                // An interface with nothing to report, or a capacity gap.
                let status = if self.rng.chance(0.7) {
                    "NODATA"
                } else {
                    "SKIPDATA"
                };
                let account = self.company.account_id.clone();
                let record = VpcRecord::idle(&mut self.rng, account, t.div_euclid(1000), status);
                self.count_event("vpcflow");
                self.out.vpc.push(record);
            }
        }
    }

    pub(in crate::synth) fn lateral_scan(&mut self) {
        let (src, sn) = self.host(0);
        let mut t = self.clock_ms;
        for _ in 0..(8 + self.rng.below(12)) {
            let (d, dn) = self.host(1);
            for port in [22u16, 445, 3389] {
                let p = self.ephemeral();
                self.flow(
                    t,
                    (src.clone(), p),
                    (d.clone(), port),
                    6,
                    "REJECT",
                    (Some(sn), Some(dn)),
                );
            }
            t += 1000;
        }
    }
}
