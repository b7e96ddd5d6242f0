//! Malformed input never panics, always yields a dead letter with a reason, and never stops
//! the rest of the input from loading.

use std::sync::Arc;

use proptest::prelude::*;
use ztlens_ingest::parsers::{okta, vpcflow};
use ztlens_ingest::{ErrorKind, Format, Site, decode_bytes};

const MAX_RECORD: usize = 1024 * 1024;

fn decode(format: Format, input: &[u8]) -> (usize, Vec<(String, String)>) {
    let (decoded, stats) = decode_bytes(
        format,
        Arc::new(Site::default()),
        input,
        "test",
        0,
        MAX_RECORD,
    );
    let rows = decoded.rows();
    assert_eq!(stats.total_rows() as usize, rows);
    (
        rows,
        decoded
            .dead_letters
            .iter()
            .map(|d| (d.kind.clone(), d.reason.clone()))
            .collect(),
    )
}

const OKTA_OK: &str = r#"{"uuid":"u-1","published":"2026-01-01T00:00:00Z","eventType":"user.session.start","outcome":{"result":"SUCCESS"}}"#;
const VPC_OK: &str = "2 123 eni-1 10.0.0.1 10.0.0.2 1000 22 6 1 60 1767225600 1767225660 REJECT OK";
const NGINX_OK: &str =
    r#"10.0.0.1 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "ua""#;

const ENTRA_OK: &str = r#"{"time":"2026-01-01T00:00:00Z","category":"SignInLogs","properties":{"id":"s-1","createdDateTime":"2026-01-01T00:00:00Z","userPrincipalName":"a@b.example","status":{"errorCode":0}}}"#;

const ZEEK_OK: &str = "1767225600.5\tCabc1\t10.0.0.1\t50000\t10.0.0.2\t22\ttcp\tssh\t1.5\t100\t200\tSF\tT\tT\t0\tShAdDaFf\t5\t300\t4\t400\t(empty)";

const ENVOY_OK: &str = r#"[2026-01-01T00:00:00.000Z] "GET /a HTTP/1.1" 403 UAEX 0 0 1 - "-" "curl/8" "r-1" "app.example" "-""#;
const ALB_OK: &str = r#"https 2026-01-01T00:00:00.000000Z app/lb/1 10.0.0.1:5000 10.0.1.1:80 0.001 0.002 0.000 200 200 10 20 "GET https://app.example:443/ HTTP/1.1" "ua" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1 "Root=1-1" "app.example" "-" 1 2026-01-01T00:00:00.000000Z "authenticate,forward" "-" "-" "10.0.1.1:80" "200" "-" "-""#;

const CLOUDTRAIL_OK: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","userName":"a"},"eventTime":"2026-01-01T00:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","sourceIPAddress":"10.0.0.1","responseElements":{"ConsoleLogin":"Success"},"eventID":"ct-1"}"#;
const CROWDSTRIKE_OK: &str = r#"{"event_simpleName":"UserLogonFailed2","aid":"a1","id":"cs-1","timestamp":"1767225600000","UserName":"bob","LogonType":"10","RemoteAddressIP4":"203.0.113.9"}"#;

const DEFENDER_OK: &str = r#"{"time":"2026-01-01T00:00:00Z","category":"AdvancedHunting-DeviceLogonEvents","properties":{"Timestamp":"2026-01-01T00:00:00Z","DeviceId":"d1","ActionType":"LogonFailed","AccountName":"bob","LogonType":"Network","RemoteIP":"10.0.0.9"}}"#;
const INTUNE_OK: &str = r#"{"id":"m1","deviceName":"LT-1","complianceState":"noncompliant","lastSyncDateTime":"2026-01-01T00:00:00Z"}"#;

const JAMF_OK: &str = r#"{"id":"1","general":{"name":"mac-1","lastContactTime":"2026-01-01T00:00:00Z","remoteManagement":{"managed":true}}}"#;

const AZURE_NSG_OK: &str = r#"{"time":"2026-01-01T00:01:00Z","category":"NetworkSecurityGroupFlowEvent","resourceId":"/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG","properties":{"Version":2,"flows":[{"rule":"DefaultRule_DenyAllInBound","flows":[{"mac":"000D3A000001","flowTuples":["1767225600,203.0.113.9,10.0.0.4,40000,3389,T,I,D,B,,,,"]}]}]}}"#;
const GUARDDUTY_OK: &str = r#"{"schemaVersion":"2.0","accountId":"111122223333","region":"us-east-1","id":"f1","arn":"arn:aws:guardduty:us-east-1:111122223333:detector/d1/finding/f1","type":"Recon:EC2/Portscan","severity":2,"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z","resource":{"resourceType":"Instance","instanceDetails":{"instanceId":"i-1"}},"service":{"archived":false,"count":1}}"#;
const SENTINELONE_OK: &str = r#"{"id":"s1-1","activityType":27,"createdAt":"2026-01-01T00:00:00Z","primaryDescription":"The management user a@b.example logged in to the management console with IP Address 198.51.100.1.","data":{"username":"a@b.example"}}"#;
const KANDJI_OK: &str = r#"{"device_id":"d-1","device_name":"mac-1","platform":"Mac","blueprint_id":"b-1","mdm_enabled":true,"agent_installed":true,"last_check_in":"2026-01-01T00:00:00Z"}"#;
const WS1_OK: &str = r#"{"Id":{"Value":1},"Udid":"u-1","LastSeen":"2026-01-01T00:00:00.000","EnrollmentStatus":"Enrolled","ComplianceStatus":"Compliant","Platform":"WinRT"}"#;
const HUBBLE_OK: &str = r#"{"flow":{"time":"2026-03-02T08:00:00Z","uuid":"u-1","verdict":"FORWARDED","IP":{"source":"10.244.1.15","destination":"10.244.2.23","ipVersion":"IPv4"},"l4":{"TCP":{"source_port":48312,"destination_port":5432}},"event_type":{"type":5}},"node_name":"prod-eu/worker-2","time":"2026-03-02T08:00:00Z"}"#;
const LINKERD_OK: &str = r#"{"client.addr":"10.0.0.1:50000","client.id":"web.app.serviceaccount.identity.linkerd.cluster.local","host":"api.example:8080","method":"GET","status":403,"timestamp":"2026-01-01T00:00:00Z","total_ns":"1000000","uri":"/admin","version":"HTTP/2.0"}"#;
const GOOGLE_WORKSPACE_OK: &str = r#"{"kind":"admin#reports#activity","id":{"time":"2026-03-02T08:14:05.221Z","uniqueQualifier":"-6123498012347710452","applicationName":"login","customerId":"C01abc2de"},"actor":{"callerType":"USER","email":"alice@example.com","profileId":"100000000000000000001"},"ipAddress":"198.51.100.23","events":[{"type":"login","name":"login_success","parameters":[{"name":"login_type","value":"google_password"},{"name":"login_challenge_method","multiValue":["password","google_prompt"]}]}]}"#;
const PINGONE_OK: &str = r#"{"id":"a1000000-0000-4000-8000-000000000001","recordedAt":"2026-03-02T11:00:02.100Z","correlationId":"c1","actors":{"client":{"id":"app1","name":"Expense App","type":"CLIENT"},"user":{"id":"u1","name":"alice@example.com","type":"USER"}},"action":{"type":"USER.ACCESS_ALLOWED","description":"User Access Allowed"},"resources":[{"type":"USER","id":"u1","name":"alice@example.com"}],"result":{"status":"SUCCESS"}}"#;
const PINGFEDERATE_OK: &str = "2026-03-02 09:15:21,660| tid:k3Qw9ZxB2vYt7LmNaP4sQe1rT0u| AUTHN_ATTEMPT| alice| 198.51.100.23 | | ac_client| | pf.example.com| IdP| success| HTMLFormPCV| | 188 ";
const OPA_OK: &str = r#"{"decision_id":"d-1","path":"httpapi/authz/allow","input":{"method":"GET","path":"/a","user":"alice"},"result":true,"timestamp":"2026-01-01T00:00:00Z"}"#;
const K8S_AUDIT_OK: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a-1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"list","user":{"username":"alice@corp.example"},"sourceIPs":["10.0.0.1"],"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-01-01T00:00:00.000000Z","stageTimestamp":"2026-01-01T00:00:00.010000Z","annotations":{"authorization.k8s.io/decision":"allow"}}"#;
const K8S_POLICY_OK: &str = r#"{"level":"info","ts":1767225600.5,"logger":"controller","msg":"you must provide labels","process":"audit","audit_id":"2026-01-01T00:00:00Z","event_type":"violation_audited","constraint_kind":"K8sRequiredLabels","constraint_name":"ns-owner","constraint_action":"deny","resource_group":"","resource_kind":"Namespace","resource_namespace":"","resource_name":"payments"}"#;
const GCP_VPC_OK: &str = r#"{"insertId":"i1","logName":"projects/p/logs/compute.googleapis.com%2Ffirewall","timestamp":"2026-01-01T00:00:00Z","jsonPayload":{"connection":{"src_ip":"203.0.113.9","src_port":40000,"dest_ip":"10.0.0.4","dest_port":22,"protocol":6},"disposition":"DENIED","rule_details":{"reference":"network:v/firewall:deny-ssh","direction":"INGRESS"}}}"#;

/// One valid record of `format`; a format added to the registry without one fails here.
fn good(format: Format) -> &'static str {
    match format.name() {
        "okta" => OKTA_OK,
        "vpcflow" => VPC_OK,
        "nginx" => NGINX_OK,
        "entra" => ENTRA_OK,
        "zeek" => ZEEK_OK,
        "envoy" => ENVOY_OK,
        "alb" => ALB_OK,
        "cloudtrail" => CLOUDTRAIL_OK,
        "crowdstrike" => CROWDSTRIKE_OK,
        "defender" => DEFENDER_OK,
        "intune" => INTUNE_OK,
        "jamf" => JAMF_OK,
        "azure_nsg" => AZURE_NSG_OK,
        "gcp_vpc" => GCP_VPC_OK,
        "k8s_audit" => K8S_AUDIT_OK,
        "k8s_policy" => K8S_POLICY_OK,
        "opa" => OPA_OK,
        "pingfederate" => PINGFEDERATE_OK,
        "pingone" => PINGONE_OK,
        "google_workspace" => GOOGLE_WORKSPACE_OK,
        "linkerd" => LINKERD_OK,
        "hubble" => HUBBLE_OK,
        "workspace_one" => WS1_OK,
        "kandji" => KANDJI_OK,
        "guardduty" => GUARDDUTY_OK,
        "sentinelone" => SENTINELONE_OK,
        other => panic!("malformed.rs has no valid record of {other}"),
    }
}

#[test]
fn a_ten_megabyte_line_is_dead_lettered_and_the_rest_loads() {
    for &format in Format::ALL {
        let huge = "x".repeat(10 * 1024 * 1024);
        let input = format!("{}\n{huge}\n{}\n", good(format), good(format));
        let (rows, dead) = decode(format, input.as_bytes());
        assert_eq!(rows, 2, "{format}");
        assert_eq!(dead.len(), 1, "{format}: {dead:?}");
        assert_eq!(dead[0].0, ErrorKind::Oversized.as_str());
        assert!(dead[0].1.contains("10485760 bytes"), "{}", dead[0].1);
    }
}

#[test]
fn ten_megabyte_json_record_in_an_array_is_dead_lettered() {
    let huge = format!(
        r#"{{"uuid":"u-2","pad":"{}"}}"#,
        "y".repeat(10 * 1024 * 1024)
    );
    let input = format!("[{OKTA_OK},\n{huge},\n{OKTA_OK}]");
    let (rows, dead) = decode(okta::FORMAT, input.as_bytes());
    assert_eq!(rows, 2);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, "oversized");
}

#[test]
fn truncated_json_wrong_field_counts_and_binary_garbage() {
    let okta = format!("{OKTA_OK}\n{}\n{OKTA_OK}\n", &OKTA_OK[..40]);
    let (rows, dead) = decode(okta::FORMAT, okta.as_bytes());
    assert_eq!((rows, dead.len()), (2, 1));
    assert_eq!(dead[0].0, "truncated");

    let vpc = format!("{VPC_OK}\n2 123 eni-1 10.0.0.1\n{VPC_OK}\n");
    let (rows, dead) = decode(vpcflow::FORMAT, vpc.as_bytes());
    assert_eq!((rows, dead.len()), (2, 1));
    assert_eq!(dead[0].0, "field_count");

    for &format in Format::ALL {
        let mut input = format!("{}\n", good(format)).into_bytes();
        input.extend_from_slice(&[0xff, 0xfe, 0x00, 0x01, 0x9c, b'\n']);
        input.extend_from_slice(format!("{}\n", good(format)).as_bytes());
        let (rows, dead) = decode(format, &input);
        assert_eq!((rows, dead.len()), (2, 1), "{format}: {dead:?}");
    }
}

#[test]
fn a_json_array_truncated_at_the_end_keeps_its_complete_elements() {
    let input = format!("[{OKTA_OK},{OKTA_OK},{}", &OKTA_OK[..30]);
    let (rows, dead) = decode(okta::FORMAT, input.as_bytes());
    assert_eq!(rows, 2);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, "truncated");
}

#[test]
fn deeply_nested_json_is_refused_without_overflowing_the_stack() {
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let input = format!("{{\"uuid\":\"u\",\"x\":{deep}}}\n{OKTA_OK}\n");
    let (rows, dead) = decode(okta::FORMAT, input.as_bytes());
    assert_eq!(rows, 1);
    assert_eq!(dead.len(), 1);
}

/// A header line is read, not stored: neither a row nor a dead letter, it is counted apart, so
/// records = rows + dead letters.
#[test]
fn header_lines_are_counted_apart_from_records() {
    let header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
    let input = format!("{header}\n{VPC_OK}\nnot a record\n");
    let (_, stats) = decode_bytes(
        vpcflow::FORMAT,
        Arc::new(Site::default()),
        input.as_bytes(),
        "test",
        0,
        MAX_RECORD,
    );
    assert_eq!((stats.records, stats.header_lines), (2, 1));
    assert_eq!(
        stats.total_rows() + stats.total_dead_letters(),
        stats.records
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_every_record_is_accounted_for(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        format_index in 0usize..3,
    ) {
        let format = Format::ALL[format_index];
        let (decoded, stats) = decode_bytes(format, Arc::new(Site::default()), &bytes, "fuzz", 0, 256);
        prop_assert_eq!(stats.total_rows() as usize, decoded.rows());
        prop_assert_eq!(stats.total_dead_letters() as usize, decoded.dead_letters.len());
        prop_assert_eq!(stats.total_rows() + stats.total_dead_letters(), stats.records);
    }

    #[test]
    fn mutated_valid_records_never_panic(
        cut in 0usize..200,
        flip in 0usize..200,
        byte in any::<u8>(),
        format_index in 0usize..3,
    ) {
        let format = Format::ALL[format_index];
        let mut record = good(format).as_bytes().to_vec();
        let at = flip % record.len();
        record[at] = byte;
        record.truncate(cut.max(1).min(record.len()));
        let _ = decode_bytes(format, Arc::new(Site::default()), &record, "fuzz", 0, 1 << 20);
    }
}

/// Found in review: numbers at the edge of i64 in an Envoy TCP entry overflowed `time +
/// duration` and `bytes_sent + bytes_received` (a panic with overflow checks on), and without
/// `start_time` any JSON object — `{}`, another vendor's event — became an entry stamped now.
#[test]
fn envoy_entries_with_absurd_numbers_or_no_envoy_fields_are_dead_letters() {
    let envoy = Format::from_name("envoy").unwrap();
    let input = concat!(
        r#"{"start_time":"2026-01-01T00:00:00Z","duration":"9223372036854775807","bytes_sent":"1"}"#,
        "\n",
        r#"{"start_time":"2026-01-01T00:00:00Z","bytes_sent":"9223372036854775807","bytes_received":"9223372036854775807","upstream_host":"10.0.0.2:80"}"#,
        "\n",
        "{}\n",
        r#"{"uuid":"u-1","eventType":"user.session.start"}"#,
        "\n",
    );
    let (rows, dead) = decode(envoy, input.as_bytes());
    assert_eq!(rows, 1, "{dead:?}");
    let kinds: Vec<&str> = dead.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["invalid_field", "missing_field", "missing_field"],
        "{dead:?}"
    );
}

/// Found in review: an Envoy `json_format` with a `message` key was taken for a container
/// wrapper around a text line and refused.
#[test]
fn envoy_json_with_a_message_key_is_read_as_json() {
    let envoy = Format::from_name("envoy").unwrap();
    let input = concat!(
        r#"{"method":"GET","path":"/a","response_code":"200","message":"hello","start_time":"2026-01-01T00:00:00Z"}"#,
        "\n",
        r#"{"method":"GET","path":"/b","response_code":"404","message":"not a text line"}"#,
        "\n",
        r#"{"message":"not a text line either","stream":"stdout"}"#,
        "\n",
    );
    let (rows, dead) = decode(envoy, input.as_bytes());
    assert_eq!(rows, 2, "{dead:?}");
    assert_eq!(dead.len(), 1, "{dead:?}");
}
