//! Zeek conn.log lines (TSV) from the sensor on the corp segment. Zeek sees connections, not
//! policy: a flow the VPC refused is a REJ (TCP) or S0 (UDP) connection here.

use super::vpcflow::VpcRecord;
use crate::synth::rng::Rng;

/// The header block of the Zeek conn.log file.
pub const ZEEK_HEADER: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]";

/// The conn.log line of the flow `flow` seen at `t`; `None` for a record without traffic.
pub fn conn_line(rng: &mut Rng, t: i64, flow: &VpcRecord) -> Option<String> {
    let (Some(src), Some(dst)) = (&flow.src, &flow.dst) else {
        return None;
    };
    let uid = format!("C{:016x}", rng.next_u64());
    let refused = flow.action == Some("REJECT");
    let (proto, state, history) = match (flow.protocol, refused) {
        (6, true) => ("tcp", "REJ", "Sr"),
        (6, false) => ("tcp", "SF", "ShADadFf"),
        (17, true) => ("udp", "S0", "D"),
        (17, false) => ("udp", "SF", "Dd"),
        _ => ("icmp", "OTH", "-"),
    };
    let (orig_bytes, resp_bytes) = if refused {
        (0, 0)
    } else {
        (flow.bytes / 3, flow.bytes - flow.bytes / 3)
    };
    let duration = if refused {
        "0.000412".to_string()
    } else {
        format!("{:.6}", 0.05 + rng.unit() * 30.0)
    };
    Some(format!(
        "{}.{:06}\t{uid}\t{}\t{}\t{}\t{}\t{proto}\t-\t{duration}\t{orig_bytes}\t{resp_bytes}\t{state}\tT\tT\t0\t{history}\t{}\t{}\t{}\t{}\t(empty)",
        t.div_euclid(1000),
        t.rem_euclid(1000) * 1000,
        src.0,
        src.1,
        dst.0,
        dst.1,
        flow.packets,
        flow.packets * 52 + orig_bytes,
        if refused { 1 } else { flow.packets },
        if refused {
            40
        } else {
            flow.packets * 52 + resp_bytes
        },
    ))
}
