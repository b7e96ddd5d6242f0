//! The normalized schema: one Arrow table per OCSF class.
//!
//! Each table is declared once with [`define_table!`]; the declaration produces
//! - the Arrow schema (`<Table>Builder::schema()`),
//! - a borrowed row struct that parsers fill (`AuthenticationRow<'a>` …),
//! - a column-builder struct that appends rows straight into Arrow arrays,
//! - the column list with its documentation ([`ColumnSpec`]), from which `docs/schema.md` is
//!   checked so code and documentation cannot disagree.
//!
//! Invariants every table keeps:
//! - `time` is never null: a record without an event time is a parse error, not a row;
//! - `class_uid`, `category_uid`, `type_uid` (`class_uid * 100 + activity_id`) and
//!   `metadata_version` are filled by the builder, never by a parser;
//! - `metadata_uid` is never null: it is the de-duplication key (vendor event id, or a
//!   content hash where the vendor has none);
//! - nested OCSF paths are flattened with `_`; lists are `List<Utf8>` only.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;

/// OCSF version whose semantics the schema follows.
pub const OCSF_VERSION: &str = "1.5.0";

/// Column type vocabulary used by every table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// `Timestamp(Millisecond, "UTC")`.
    Ts,
    /// `Utf8`.
    Str,
    /// `Int32`.
    I32,
    /// `Int64`.
    I64,
    /// `Float64`.
    F64,
    /// `Boolean`.
    Bool,
    /// `List<Utf8>`.
    StrList,
}

impl ColumnKind {
    /// The Arrow data type of this kind.
    pub fn data_type(self) -> DataType {
        match self {
            ColumnKind::Ts => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            ColumnKind::Str => DataType::Utf8,
            ColumnKind::I32 => DataType::Int32,
            ColumnKind::I64 => DataType::Int64,
            ColumnKind::F64 => DataType::Float64,
            ColumnKind::Bool => DataType::Boolean,
            ColumnKind::StrList => {
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
            }
        }
    }

    /// The name used in `docs/schema.md`.
    pub fn doc_name(self) -> &'static str {
        match self {
            ColumnKind::Ts => "timestamp",
            ColumnKind::Str => "string",
            ColumnKind::I32 => "int32",
            ColumnKind::I64 => "int64",
            ColumnKind::F64 => "float64",
            ColumnKind::Bool => "bool",
            ColumnKind::StrList => "list<string>",
        }
    }
}

/// One documented column.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub kind: ColumnKind,
    pub doc: &'static str,
}

/// The normalized tables: six OCSF classes, and `base_event` for the events of a known source
/// that no class maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Authentication,
    NetworkActivity,
    HttpActivity,
    DeviceState,
    DetectionFinding,
    AccountChange,
    BaseEvent,
}

impl Table {
    pub const ALL: [Table; 7] = [
        Table::Authentication,
        Table::NetworkActivity,
        Table::HttpActivity,
        Table::DeviceState,
        Table::DetectionFinding,
        Table::AccountChange,
        Table::BaseEvent,
    ];

    /// Table name in the lake and in SQL.
    pub fn name(self) -> &'static str {
        match self {
            Table::Authentication => "authentication",
            Table::NetworkActivity => "network_activity",
            Table::HttpActivity => "http_activity",
            Table::DeviceState => "device_state",
            Table::DetectionFinding => "detection_finding",
            Table::AccountChange => "account_change",
            Table::BaseEvent => "base_event",
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// OCSF class uid written to `class_uid`.
    pub fn class_uid(self) -> i32 {
        match self {
            Table::Authentication => 3002,
            Table::NetworkActivity => 4001,
            Table::HttpActivity => 4002,
            Table::DeviceState => 5001,
            Table::DetectionFinding => 2004,
            Table::AccountChange => 3001,
            Table::BaseEvent => 0,
        }
    }

    /// OCSF category uid written to `category_uid`.
    pub fn category_uid(self) -> i32 {
        self.class_uid() / 1000
    }

    /// Arrow schema (common columns first, then the table's own).
    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Authentication => AuthenticationBuilder::schema(),
            Table::NetworkActivity => NetworkActivityBuilder::schema(),
            Table::HttpActivity => HttpActivityBuilder::schema(),
            Table::DeviceState => DeviceStateBuilder::schema(),
            Table::DetectionFinding => DetectionFindingBuilder::schema(),
            Table::AccountChange => AccountChangeBuilder::schema(),
            Table::BaseEvent => BaseEventBuilder::schema(),
        }
    }

    /// Every column of the table with its documentation, in schema order.
    pub fn columns(self) -> Vec<ColumnSpec> {
        let own = match self {
            Table::Authentication => AuthenticationRow::COLUMNS,
            Table::NetworkActivity => NetworkActivityRow::COLUMNS,
            Table::HttpActivity => HttpActivityRow::COLUMNS,
            Table::DeviceState => DeviceStateRow::COLUMNS,
            Table::DetectionFinding => DetectionFindingRow::COLUMNS,
            Table::AccountChange => AccountChangeRow::COLUMNS,
            Table::BaseEvent => BaseEventRow::COLUMNS,
        };
        Common::COLUMNS.iter().chain(own).copied().collect()
    }

    /// One-line description used in the documentation.
    pub fn description(self) -> &'static str {
        match self {
            Table::Authentication => {
                "OCSF Authentication (3002): sign-ins, MFA steps and access decisions from identity providers and host logons."
            }
            Table::NetworkActivity => {
                "OCSF Network Activity (4001): flow records and connections, with lateral-movement tags from the site config."
            }
            Table::HttpActivity => {
                "OCSF HTTP Activity (4002): application access logs, with app, sensitivity and privileged-path tags."
            }
            Table::DeviceState => {
                "OCSF Device Inventory / Config State (5001/5019): device management, compliance and agent health snapshots."
            }
            Table::DetectionFinding => {
                "OCSF Detection Finding (2004): EDR alerts and ztlens's own detections."
            }
            Table::AccountChange => {
                "OCSF Account Change (3001): containment and hygiene actions (suspend, session revoke, credential rotation)."
            }
            Table::BaseEvent => {
                "OCSF Base Event (0): events of a known source that no class above maps (an Okta event type, a Falcon process event, a CloudTrail API call), with the vendor event type, actor, target and the record itself; never dead letters."
            }
        }
    }
}

/// The Markdown table of a table's columns, as `docs/schema.md` shows it.
pub fn columns_markdown(table: Table) -> String {
    let mut out = String::from("| column | type | meaning |\n|---|---|---|\n");
    for c in table.columns() {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            c.name,
            c.kind.doc_name(),
            c.doc.trim().replace('|', "\\|")
        ));
    }
    out
}

impl serde::Serialize for Table {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

// ---------------------------------------------------------------------------------------------
// Per-kind helpers used by the table macro.

macro_rules! row_type {
    ($lt:lifetime, Ts) => { Option<i64> };
    ($lt:lifetime, Str) => { Option<Cow<$lt, str>> };
    ($lt:lifetime, I32) => { Option<i32> };
    ($lt:lifetime, I64) => { Option<i64> };
    ($lt:lifetime, F64) => { Option<f64> };
    ($lt:lifetime, Bool) => { Option<bool> };
    ($lt:lifetime, StrList) => { Vec<Cow<$lt, str>> };
}

macro_rules! builder_type {
    (Ts) => { TimestampMillisecondBuilder };
    (Str) => { StringBuilder };
    (I32) => { Int32Builder };
    (I64) => { Int64Builder };
    (F64) => { Float64Builder };
    (Bool) => { BooleanBuilder };
    (StrList) => { ListBuilder<StringBuilder> };
}

macro_rules! new_builder {
    (Ts, $cap:expr) => {
        TimestampMillisecondBuilder::with_capacity($cap).with_timezone("UTC")
    };
    (Str, $cap:expr) => {
        StringBuilder::with_capacity($cap, $cap * 16)
    };
    (I32, $cap:expr) => {
        Int32Builder::with_capacity($cap)
    };
    (I64, $cap:expr) => {
        Int64Builder::with_capacity($cap)
    };
    (F64, $cap:expr) => {
        Float64Builder::with_capacity($cap)
    };
    (Bool, $cap:expr) => {
        BooleanBuilder::with_capacity($cap)
    };
    (StrList, $cap:expr) => {
        ListBuilder::with_capacity(StringBuilder::new(), $cap)
    };
}

macro_rules! append_value {
    (Str, $b:expr, $v:expr) => {
        $b.append_option($v.as_deref())
    };
    (StrList, $b:expr, $v:expr) => {{
        if $v.is_empty() {
            $b.append_null();
        } else {
            for item in $v.iter() {
                $b.values().append_value(item);
            }
            $b.append(true);
        }
    }};
    ($kind:ident, $b:expr, $v:expr) => {
        $b.append_option($v)
    };
}

/// Declares a column group: its row struct, builder struct and documented column list.
macro_rules! define_columns {
    (
        $(#[$meta:meta])*
        $Row:ident, $Builder:ident {
            $( $(#[doc = $doc:literal])+ $col:ident : $kind:ident, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $Row<'a> {
            $( $(#[doc = $doc])+ pub $col: row_type!('a, $kind), )*
        }

        impl $Row<'_> {
            /// The columns of this group, in schema order.
            pub const COLUMNS: &'static [ColumnSpec] = &[
                $( ColumnSpec {
                    name: stringify!($col),
                    kind: ColumnKind::$kind,
                    doc: concat!($($doc),+),
                }, )*
            ];

            /// Copy every borrowed string so the row outlives its input.
            pub fn into_owned(self) -> $Row<'static> {
                $Row {
                    $( $col: define_columns!(@own $kind, self.$col), )*
                }
            }
        }

        /// Arrow column builders for one column group.
        #[derive(Debug)]
        pub struct $Builder {
            $( $col: builder_type!($kind), )*
        }

        impl $Builder {
            pub fn with_capacity(capacity: usize) -> Self {
                Self { $( $col: new_builder!($kind, capacity), )* }
            }

            pub fn append(&mut self, row: &$Row<'_>) {
                $( append_value!($kind, self.$col, row.$col); )*
            }

            pub fn finish_into(&mut self, columns: &mut Vec<ArrayRef>) {
                $( columns.push(Arc::new(self.$col.finish()) as ArrayRef); )*
            }
        }
    };
    (@own Str, $v:expr) => { $v.map(|s| Cow::Owned(s.into_owned())) };
    (@own StrList, $v:expr) => { $v.into_iter().map(|s| Cow::Owned(s.into_owned())).collect() };
    (@own $kind:ident, $v:expr) => { $v };
}

define_columns! {
    /// Columns every table carries (OCSF base event plus ztlens provenance).
    Common, CommonBuilder {
        /// Event time (UTC, millisecond precision) as stated by the source.
        time: Ts,
        /// OCSF class id of the table (filled by ztlens).
        class_uid: I32,
        /// OCSF category id (filled by ztlens).
        category_uid: I32,
        /// OCSF activity id within the class (e.g. 1 Logon, 6 Traffic).
        activity_id: I32,
        /// OCSF activity name.
        activity_name: Str,
        /// OCSF type id: class_uid * 100 + activity_id (filled by ztlens).
        type_uid: I32,
        /// OCSF severity id (0 Unknown, 1 Informational … 6 Fatal).
        severity_id: I32,
        /// OCSF status id: 1 Success, 2 Failure, 99 Other (e.g. a challenge), 0 Unknown.
        status_id: I32,
        /// Vendor status or result code (e.g. Entra errorCode, VPC log-status, HTTP status).
        status_code: Str,
        /// Vendor reason for the status.
        status_detail: Str,
        /// Human-readable event message.
        message: Str,
        /// Vendor event id, or a content hash where the vendor has none; the de-duplication key.
        metadata_uid: Str,
        /// Vendor correlation or transaction id.
        metadata_correlation_uid: Str,
        /// Vendor event type (e.g. Okta eventType).
        metadata_event_code: Str,
        /// Vendor log name or category.
        metadata_log_name: Str,
        /// Parser that produced the row (okta, vpcflow, nginx …).
        metadata_product_name: Str,
        /// Vendor of the product.
        metadata_product_vendor_name: Str,
        /// OCSF version the row follows (filled by ztlens).
        metadata_version: Str,
        /// Tenant or organisation id at the vendor.
        metadata_tenant_uid: Str,
        /// Time ztlens processed the record (UTC).
        metadata_processed_time: Ts,
        /// Cloud provider (e.g. AWS).
        cloud_provider: Str,
        /// Cloud account id.
        cloud_account_uid: Str,
        /// Cloud region.
        cloud_region: Str,
        /// Where the record came from: `file:<path>:<line>`, `http:<request>:<n>` or `kafka:<topic>/<partition>/<offset>`.
        raw_ref: Str,
        /// JSON object of vendor fields the schema does not hold, so nothing the vendor said is lost.
        unmapped: Str,
    }
}

// ---------------------------------------------------------------------------------------------

macro_rules! define_table {
    (
        $table:ident, $Row:ident, $Own:ident, $OwnBuilder:ident, $Builder:ident {
            $($body:tt)*
        }
    ) => {
        define_columns! {
            /// Table-specific columns (see [`Table::columns`] for the full list).
            $Own, $OwnBuilder { $($body)* }
        }

        /// One row of the table: the common columns plus the table's own.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct $Row<'a> {
            pub common: Common<'a>,
            pub own: $Own<'a>,
        }

        impl $Row<'_> {
            pub const COLUMNS: &'static [ColumnSpec] = $Own::COLUMNS;

            pub fn into_owned(self) -> $Row<'static> {
                $Row { common: self.common.into_owned(), own: self.own.into_owned() }
            }
        }

        /// Appends rows of the table into Arrow column builders.
        #[derive(Debug)]
        pub struct $Builder {
            common: CommonBuilder,
            own: $OwnBuilder,
            rows: usize,
            processed_time: i64,
        }

        impl $Builder {
            pub fn new(processed_time: i64) -> Self {
                Self {
                    common: CommonBuilder::with_capacity(256),
                    own: $OwnBuilder::with_capacity(256),
                    rows: 0,
                    processed_time,
                }
            }

            pub fn schema() -> SchemaRef {
                static SCHEMA: LazyLock<SchemaRef> =
                    LazyLock::new(|| build_schema(&Table::$table.columns()));
                SCHEMA.clone()
            }

            /// Append one row; fills the columns ztlens owns (class, type, version, processed time).
            pub fn append(&mut self, row: &mut $Row<'_>) {
                fill_owned_columns(&mut row.common, Table::$table, self.processed_time);
                self.common.append(&row.common);
                self.own.append(&row.own);
                self.rows += 1;
            }

            pub fn len(&self) -> usize {
                self.rows
            }

            pub fn is_empty(&self) -> bool {
                self.rows == 0
            }

            /// Take the rows appended so far as one batch; the builder is empty afterwards.
            pub fn finish(&mut self) -> RecordBatch {
                let mut columns = Vec::with_capacity(Table::$table.columns().len());
                self.common.finish_into(&mut columns);
                self.own.finish_into(&mut columns);
                self.rows = 0;
                RecordBatch::try_new(Self::schema(), columns)
                    .expect("builders follow the declared schema")
            }
        }
    };
}

fn fill_owned_columns(common: &mut Common<'_>, table: Table, processed_time: i64) {
    common.class_uid = Some(table.class_uid());
    common.category_uid = Some(table.category_uid());
    let activity = common.activity_id.unwrap_or(0);
    common.type_uid = Some(table.class_uid() * 100 + activity);
    common.metadata_version = Some(Cow::Borrowed(OCSF_VERSION));
    if common.metadata_processed_time.is_none() {
        common.metadata_processed_time = Some(processed_time);
    }
}

fn build_schema(columns: &[ColumnSpec]) -> SchemaRef {
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| {
            let nullable = !matches!(c.name, "time" | "metadata_uid");
            Field::new(c.name, c.kind.data_type(), nullable)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

define_table! {
    Authentication, AuthenticationRow, AuthenticationColumns, AuthenticationColumnsBuilder, AuthenticationBuilder {
        /// Account id at the identity provider.
        user_uid: Str,
        /// Account display name.
        user_name: Str,
        /// Login name / email (Okta alternateId, Entra UPN).
        user_email_addr: Str,
        /// Account domain.
        user_domain: Str,
        /// OCSF user type: 1 User, 2 Admin, 3 System, 4 Service.
        user_type_id: I32,
        /// The account holds a privileged role (from the identity snapshot or site config).
        user_is_privileged: Bool,
        /// Id of the actor when it differs from the user (impersonation, admin action).
        actor_user_uid: Str,
        /// Client IP address.
        src_endpoint_ip: Str,
        /// Client port.
        src_endpoint_port: I32,
        /// Client country as an ISO 3166-1 alpha-2 code (`DE`), whether the vendor writes a code, an alpha-3 code or an English name; a spelling not in the table is kept as given.
        src_endpoint_location_country: Str,
        /// Client region or state.
        src_endpoint_location_region: Str,
        /// Client city.
        src_endpoint_location_city: Str,
        /// Client latitude.
        src_endpoint_location_lat: F64,
        /// Client longitude.
        src_endpoint_location_long: F64,
        /// Autonomous system number of the client IP.
        src_endpoint_as_number: I64,
        /// Autonomous system organisation of the client IP.
        src_endpoint_as_name: Str,
        /// ISP of the client IP.
        src_endpoint_isp: Str,
        /// DNS domain of the client IP.
        src_endpoint_domain: Str,
        /// The vendor flagged the client IP as a proxy or anonymizer.
        src_endpoint_is_proxy: Bool,
        /// Proxies and hops the request passed through (Okta request.ipChain).
        src_endpoint_intermediate_ips: StrList,
        /// Raw user agent.
        http_request_user_agent: Str,
        /// Operating system from the user agent.
        ua_os: Str,
        /// Browser from the user agent.
        ua_browser: Str,
        /// Device id at the vendor.
        device_uid: Str,
        /// Device name.
        device_name: Str,
        /// Device operating system.
        device_os_name: Str,
        /// Device type as the vendor states it (Computer, Mobile …).
        device_type: Str,
        /// OCSF device type id.
        device_type_id: I32,
        /// Device is managed (MDM / domain joined).
        device_is_managed: Bool,
        /// Device is compliant with policy.
        device_is_compliant: Bool,
        /// Device is trusted (registered / known).
        device_is_trusted: Bool,
        /// Target application name.
        service_name: Str,
        /// Target application id.
        service_uid: Str,
        /// Resource the token is for.
        dst_endpoint_svc_name: Str,
        /// Session id.
        session_uid: Str,
        /// Session issuer.
        session_issuer: Str,
        /// The event is an MFA step (a factor was verified or refused).
        is_mfa: Bool,
        /// Vendor name of the deciding factor (e.g. OKTA_VERIFY_PUSH).
        auth_factor: Str,
        /// OCSF factor type id: 1 SMS, 2 Security Question, 3 Phone Call, 4 Biometric, 5 Push, 6 Hardware Token, 7 OTP, 8 Email, 9 U2F, 10 WebAuthn, 11 Password, 99 Other.
        auth_factor_type_id: I32,
        /// Factor provider (e.g. OKTA, GOOGLE).
        auth_factor_provider: Str,
        /// Every factor the event mentions, by vendor name.
        auth_factors: StrList,
        /// OCSF auth protocol id: 1 NTLM, 2 Kerberos, 4 OpenID, 5 SAML, 6 OAuth 2.0, 99 Other.
        auth_protocol_id: I32,
        /// Auth protocol as the vendor states it.
        auth_protocol: Str,
        /// OCSF logon type id (2 Interactive, 3 Network, 10 Remote Interactive …).
        logon_type_id: I32,
        /// The logon came from another host.
        is_remote: Bool,
        /// A person signed in interactively (as opposed to a token refresh or service).
        is_interactive: Bool,
        /// OCSF risk level id: 0 Info, 1 Low, 2 Medium, 3 High, 4 Critical.
        risk_level_id: I32,
        /// Risk level as the vendor states it.
        risk_level: Str,
        /// OCSF action id: 1 Allowed, 2 Denied.
        action_id: I32,
        /// OCSF disposition id: 1 Allowed, 2 Blocked, 23 Challenge, 26 Unauthorized …
        disposition_id: I32,
        /// Matched access policy or rule name.
        policy_name: Str,
        /// Matched access policy or rule id.
        policy_uid: Str,
        /// Access decision taxonomy: allow, challenge_mfa, mfa_failed, mfa_denied, deny_policy, deny_device_posture, deny_app_not_approved, deny_credentials, deny_risk, locked_out, account_disabled, reauth_required, other.
        zt_decision: Str,
        /// Controls the policy required (mfa, compliant_device …).
        zt_required_controls: StrList,
        /// Conditional-access status (Entra: success, failure, notApplied).
        zt_ca_status: Str,
        /// Sign-in category: interactive, non_interactive, service_principal, managed_identity.
        zt_signin_category: Str,
        /// Behaviours the vendor flagged (New Geo-Location, Velocity …).
        zt_behaviors: StrList,
        /// The target app is privileged (site config `privileged_apps`).
        zt_privileged_target: Bool,
        /// Site application the target app is (site config `apps` with an `idp_apps` name).
        zt_app_id: Str,
        /// Sensitivity of that application (site config), e.g. high.
        zt_app_sensitivity: Str,
        /// The sign-in is protected by MFA: a factor was verified in it, or earlier in the session as the source states (Entra `authenticationRequirement` multiFactorAuthentication, CloudTrail `MFAUsed`); false when the source states a single factor; null when it does not say (Okta SSO events: see the session).
        zt_mfa_satisfied: Bool,
        /// Observe mode: the decision the policies running in report-only, audit or dry-run mode would have made, in the `zt_decision` taxonomy (the most restrictive when several apply); null when no such policy evaluated the request. `zt_decision` keeps what was enforced.
        zt_would_be_decision: Str,
        /// The observe-mode policy that produced `zt_would_be_decision` (Entra report-only policy, Okta ThreatInsight in log mode, OPA dry-run decision path, Kubernetes admission policy in audit mode).
        zt_would_be_policy: Str,
    }
}

define_table! {
    NetworkActivity, NetworkActivityRow, NetworkActivityColumns, NetworkActivityColumnsBuilder, NetworkActivityBuilder {
        /// Source IP address (the original packet source when the record names one).
        src_endpoint_ip: Str,
        /// Source port.
        src_endpoint_port: I32,
        /// Destination IP address (the original packet destination when the record names one).
        dst_endpoint_ip: Str,
        /// Destination port.
        dst_endpoint_port: I32,
        /// AWS service of the source (pkt-src-aws-service).
        src_endpoint_svc_name: Str,
        /// AWS service of the destination (pkt-dst-aws-service).
        dst_endpoint_svc_name: Str,
        /// Addresses seen between the endpoints (NAT / load balancer interface addresses).
        src_endpoint_intermediate_ips: StrList,
        /// IANA protocol number.
        connection_info_protocol_num: I32,
        /// Protocol name (tcp, udp, icmp …).
        connection_info_protocol_name: Str,
        /// IP version id: 4 IPv4, 6 IPv6.
        connection_info_protocol_ver_id: I32,
        /// Direction id: 0 Unknown, 1 Inbound, 2 Outbound, 3 Lateral, 4 Local.
        connection_info_direction_id: I32,
        /// OCSF boundary id (from AWS traffic-path: value + 3).
        connection_info_boundary_id: I32,
        /// Bitwise OR of TCP flags seen in the aggregation window.
        connection_info_tcp_flags: I32,
        /// Connection state history (Zeek history).
        connection_info_flag_history: Str,
        /// Community ID flow hash.
        connection_info_community_uid: Str,
        /// Bytes received by the source.
        traffic_bytes_in: I64,
        /// Bytes sent by the source.
        traffic_bytes_out: I64,
        /// Bytes in both directions (or direction-less, as VPC flow logs report).
        traffic_bytes: I64,
        /// Packets received by the source.
        traffic_packets_in: I64,
        /// Packets sent by the source.
        traffic_packets_out: I64,
        /// Packets in both directions (or direction-less).
        traffic_packets: I64,
        /// Start of the flow or aggregation window.
        start_time: Ts,
        /// End of the flow or aggregation window.
        end_time: Ts,
        /// Duration in milliseconds.
        duration: I64,
        /// OCSF action id: 1 Allowed, 2 Denied.
        action_id: I32,
        /// OCSF disposition id: 1 Allowed, 2 Blocked.
        disposition_id: I32,
        /// Application protocol (Zeek service).
        app_name: Str,
        /// Device (host / sensor) id.
        device_uid: Str,
        /// Cloud instance id.
        device_instance_uid: Str,
        /// Network interface id.
        device_interface_uid: Str,
        /// VPC id.
        device_vpc_uid: Str,
        /// Subnet id.
        device_subnet_uid: Str,
        /// Availability zone id.
        cloud_zone: Str,
        /// Network segment of the source (site config), `external` outside internal CIDRs.
        zt_segment_src: Str,
        /// Network segment of the destination (site config), `external` outside internal CIDRs.
        zt_segment_dst: Str,
        /// Both endpoints are internal (east-west traffic).
        zt_is_lateral: Bool,
        /// Destination port class from the site config: admin, db, web, other.
        zt_port_class: Str,
    }
}

define_table! {
    HttpActivity, HttpActivityRow, HttpActivityColumns, HttpActivityColumnsBuilder, HttpActivityBuilder {
        /// HTTP method.
        http_request_http_method: Str,
        /// Request host (virtual host).
        http_request_url_hostname: Str,
        /// Request path (without query string).
        http_request_url_path: Str,
        /// Query string (without `?`).
        http_request_url_query_string: Str,
        /// HTTP version (e.g. HTTP/1.1).
        http_request_version: Str,
        /// User agent.
        http_request_user_agent: Str,
        /// Referrer.
        http_request_referrer: Str,
        /// X-Forwarded-For header.
        http_request_x_forwarded_for: Str,
        /// Request size in bytes.
        http_request_length: I64,
        /// Response status code.
        http_response_code: I32,
        /// Response body size in bytes.
        http_response_length: I64,
        /// Response latency in milliseconds.
        http_response_latency: I64,
        /// Client IP address.
        src_endpoint_ip: Str,
        /// Client port.
        src_endpoint_port: I32,
        /// Server or upstream IP address.
        dst_endpoint_ip: Str,
        /// Server or upstream port.
        dst_endpoint_port: I32,
        /// Authenticated user name.
        user_name: Str,
        /// TLS protocol version.
        tls_version: Str,
        /// TLS cipher.
        tls_cipher: Str,
        /// OCSF action id: 1 Allowed, 2 Denied.
        action_id: I32,
        /// OCSF disposition id: 1 Allowed, 2 Blocked (403), 26 Unauthorized (401).
        disposition_id: I32,
        /// Application id from the site config (matched by host or path prefix).
        zt_app_id: Str,
        /// Application sensitivity from the site config (e.g. high).
        zt_app_sensitivity: Str,
        /// The request passed through identity-provider authentication (ALB authenticate, Envoy ext_authz).
        zt_idp_authenticated: Bool,
        /// Authorization result from the proxy or platform (ext_authz_denied, rbac_denied, authz_denied, admission_denied, l7_policy_denied …).
        zt_authz_result: Str,
        /// The access decision in the `authentication.zt_decision` taxonomy, where the source is a policy engine that states one (OPA, Kubernetes admission).
        zt_decision: Str,
        /// The policy or rule that decided (OPA decision path, Gatekeeper constraint, Kyverno policy/rule, Kubernetes RBAC).
        policy_name: Str,
        /// Workload identity of the client as the mesh or platform authenticated it (Linkerd mTLS identity, Kubernetes service account).
        zt_client_identity: Str,
        /// The client connection was mutually authenticated with TLS (service mesh mTLS).
        zt_mtls: Bool,
        /// The request targets a privileged path or app (site config).
        zt_privileged_target: Bool,
        /// The privileged path prefix the request matched (site config), or a built-in Kubernetes API label (`k8s:secrets`, `k8s:pods/exec`, `k8s:rbac` …): a bounded label.
        zt_privileged_prefix: Str,
        /// Observe mode: the decision the policies running in report-only, audit or dry-run mode would have made, in the `zt_decision` taxonomy (the most restrictive when several apply); null when no such policy evaluated the request. `zt_decision` keeps what was enforced.
        zt_would_be_decision: Str,
        /// The observe-mode policy that produced `zt_would_be_decision` (Entra report-only policy, Okta ThreatInsight in log mode, OPA dry-run decision path, Kubernetes admission policy in audit mode).
        zt_would_be_policy: Str,
    }
}

define_table! {
    DeviceState, DeviceStateRow, DeviceStateColumns, DeviceStateColumnsBuilder, DeviceStateBuilder {
        /// Device id at the vendor.
        device_uid: Str,
        /// Alternative device id (Entra device id).
        device_uid_alt: Str,
        /// Host name.
        device_hostname: Str,
        /// Operating system.
        device_os_name: Str,
        /// Operating system version.
        device_os_version: Str,
        /// OCSF device type id.
        device_type_id: I32,
        /// Device type as the vendor states it.
        device_type: Str,
        /// Device is managed.
        device_is_managed: Bool,
        /// Device is compliant.
        device_is_compliant: Bool,
        /// Device is trusted.
        device_is_trusted: Bool,
        /// OCSF risk level id of the device.
        device_risk_level_id: I32,
        /// Last time the device checked in.
        device_last_seen_time: Ts,
        /// Device groups and tags.
        device_groups: StrList,
        /// Owner (user principal name).
        device_owner_uid: Str,
        /// Security agent name.
        agent_name: Str,
        /// Security agent version.
        agent_version: Str,
        /// Security agent health.
        agent_health: Str,
        /// OCSF security level id: 1 Secure, 2 At Risk, 3 Compromised.
        security_level_id: I32,
        /// Previous security level id (state changes).
        prev_security_level_id: I32,
        /// Compliance state (compliant, noncompliant, inGracePeriod, unknown …).
        zt_compliance_state: Str,
        /// Previous compliance state (state changes).
        zt_prev_compliance_state: Str,
        /// End of the compliance grace period.
        zt_grace_until: Ts,
    }
}

define_table! {
    DetectionFinding, DetectionFindingRow, DetectionFindingColumns, DetectionFindingColumnsBuilder, DetectionFindingBuilder {
        /// Finding id.
        finding_info_uid: Str,
        /// Finding title.
        finding_info_title: Str,
        /// Finding description.
        finding_info_desc: Str,
        /// Rule or analytic id.
        finding_info_analytic_uid: Str,
        /// Rule or analytic name.
        finding_info_analytic_name: Str,
        /// Analytic type: rule, behavioral, statistical.
        finding_info_analytic_type: Str,
        /// Finding types.
        finding_info_types: StrList,
        /// Time the finding was created.
        finding_info_created_time: Ts,
        /// First evidence time.
        finding_info_first_seen_time: Ts,
        /// Last evidence time.
        finding_info_last_seen_time: Ts,
        /// Number of related events.
        finding_info_related_events_count: I64,
        /// metadata_uid of the evidence events.
        evidences_uids: StrList,
        /// MITRE ATT&CK technique ids.
        attacks_technique_uids: StrList,
        /// Risk score.
        risk_score: I32,
        /// OCSF confidence id.
        confidence_id: I32,
        /// The finding is an alert.
        is_alert: Bool,
        /// Affected device id.
        device_uid: Str,
        /// Affected host name.
        device_hostname: Str,
        /// Affected user id.
        user_uid: Str,
        /// Affected user name.
        user_name: Str,
        /// Related source IP.
        src_endpoint_ip: Str,
        /// Last modification (status change) time.
        modified_time: Ts,
        /// De-duplication key (rule id + group key).
        zt_dedup_key: Str,
    }
}

define_table! {
    AccountChange, AccountChangeRow, AccountChangeColumns, AccountChangeColumnsBuilder, AccountChangeBuilder {
        /// Account id the change applies to.
        user_uid: Str,
        /// Account name.
        user_name: Str,
        /// Login name / email.
        user_email_addr: Str,
        /// OCSF user type id.
        user_type_id: I32,
        /// Id of the actor who made the change.
        actor_user_uid: Str,
        /// Name of the actor who made the change.
        actor_user_name: Str,
        /// Actor IP address.
        src_endpoint_ip: Str,
        /// Device the change applies to (host containment).
        device_uid: Str,
        /// Host name the change applies to.
        device_hostname: Str,
        /// Session id revoked.
        session_uid: Str,
        /// Change type: session_revoke, suspend, password_reset, mfa_reset, credential_rotation, host_contain, role_grant, role_revoke …
        zt_change_type: Str,
        /// Finding the change responds to, when known.
        zt_related_finding_uid: Str,
    }
}

define_table! {
    BaseEvent, BaseEventRow, BaseEventColumns, BaseEventColumnsBuilder, BaseEventBuilder {
        /// Id of the actor (user, service principal, process owner) at the vendor.
        actor_user_uid: Str,
        /// Actor name.
        actor_user_name: Str,
        /// Actor login name / e-mail, when it is one.
        actor_user_email_addr: Str,
        /// OCSF user type id of the actor: 1 User, 2 Admin, 3 System, 4 Service.
        actor_user_type_id: I32,
        /// Address the event came from.
        src_endpoint_ip: Str,
        /// Device the event is about (EDR and MDM events).
        device_uid: Str,
        /// Host name of that device.
        device_hostname: Str,
        /// Kind of thing acted on (User, AppInstance, file, domain, an AWS resource type …).
        zt_target_type: Str,
        /// Id of the thing acted on.
        zt_target_uid: Str,
        /// Name of the thing acted on.
        zt_target_name: Str,
        /// The record as received (UTF-8, at most its first 64 KiB), for replay once a class maps it.
        raw_data: Str,
        /// Length of the record in bytes; larger than `raw_data` when it was cut.
        raw_data_size: I64,
    }
}

/// Most distinct vendor event types [`TableBuilders`] tallies between two takes; the rest are
/// counted as `other` (the type is attacker-controlled text: memory stays bounded).
pub const MAX_TALLIED_EVENT_TYPES: usize = 256;

/// Longest event type tallied under its own name.
pub const MAX_TALLIED_EVENT_TYPE_BYTES: usize = 128;

/// Column builders for every table: what a parser appends into.
#[derive(Debug)]
pub struct TableBuilders {
    pub authentication: AuthenticationBuilder,
    pub network_activity: NetworkActivityBuilder,
    pub http_activity: HttpActivityBuilder,
    pub device_state: DeviceStateBuilder,
    pub detection_finding: DetectionFindingBuilder,
    pub account_change: AccountChangeBuilder,
    /// Append with [`TableBuilders::append_base_event`], which tallies the event type.
    base_event: BaseEventBuilder,
    /// Base events appended per vendor event type since the last [`Self::take_base_event_types`].
    base_event_types: std::collections::BTreeMap<String, u64>,
}

impl TableBuilders {
    /// Append an event of a known source that no class maps: activity 99 (Other) named after
    /// the vendor event type, which is also `metadata_event_code`, and the record kept in
    /// `raw_data` (its first 64 KiB, cut at a character boundary).
    pub fn append_base_event(
        &mut self,
        row: &mut BaseEventRow<'_>,
        event_type: &str,
        record: &[u8],
    ) {
        const RAW_KEPT: usize = 64 * 1024;
        // Parsers have checked the record is text; a stray invalid byte is replaced, not fatal.
        let record = String::from_utf8_lossy(record);
        let mut keep = record.len().min(RAW_KEPT);
        while !record.is_char_boundary(keep) {
            keep -= 1;
        }
        row.common.activity_id = Some(99);
        row.common.activity_name = Some(Cow::Owned(event_type.to_string()));
        row.common.metadata_event_code = Some(Cow::Owned(event_type.to_string()));
        row.own.raw_data = Some(Cow::Owned(record[..keep].to_string()));
        row.own.raw_data_size = Some(record.len() as i64);
        // What `unmapped` would repeat is in `raw_data`, unless the record was cut.
        if keep == record.len() {
            row.common.unmapped = None;
        }
        self.base_event.append(row);
        let tallied = self.base_event_types.len();
        // Long names (the type is the feed's text) are tallied as `other`: memory stays bounded.
        let key = if event_type.len() <= MAX_TALLIED_EVENT_TYPE_BYTES {
            event_type
        } else {
            "other"
        };
        match self.base_event_types.get_mut(key) {
            Some(n) => *n += 1,
            None if tallied < MAX_TALLIED_EVENT_TYPES => {
                self.base_event_types.insert(key.to_string(), 1);
            }
            None => *self.base_event_types.entry("other".into()).or_insert(0) += 1,
        }
    }

    /// The base events appended per event type since the last call.
    pub fn take_base_event_types(&mut self) -> std::collections::BTreeMap<String, u64> {
        std::mem::take(&mut self.base_event_types)
    }

    /// Rows appended to one table so far.
    pub fn len_of(&self, table: Table) -> usize {
        match table {
            Table::Authentication => self.authentication.len(),
            Table::NetworkActivity => self.network_activity.len(),
            Table::HttpActivity => self.http_activity.len(),
            Table::DeviceState => self.device_state.len(),
            Table::DetectionFinding => self.detection_finding.len(),
            Table::AccountChange => self.account_change.len(),
            Table::BaseEvent => self.base_event.len(),
        }
    }

    pub fn new(processed_time: i64) -> Self {
        Self {
            authentication: AuthenticationBuilder::new(processed_time),
            network_activity: NetworkActivityBuilder::new(processed_time),
            http_activity: HttpActivityBuilder::new(processed_time),
            device_state: DeviceStateBuilder::new(processed_time),
            detection_finding: DetectionFindingBuilder::new(processed_time),
            account_change: AccountChangeBuilder::new(processed_time),
            base_event: BaseEventBuilder::new(processed_time),
            base_event_types: Default::default(),
        }
    }

    /// When ztlens processes these rows (`metadata_processed_time`): the only time an event
    /// that states none has (an Envoy `json_format` without `%START_TIME%`).
    pub fn processed_time(&self) -> i64 {
        self.http_activity.processed_time
    }

    /// Rows appended across all tables.
    pub fn len(&self) -> usize {
        Table::ALL.iter().map(|t| self.len_of(*t)).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Take the non-empty tables as batches; the builders are empty afterwards.
    pub fn finish(&mut self) -> Vec<(Table, RecordBatch)> {
        let mut out = Vec::new();
        if !self.authentication.is_empty() {
            out.push((Table::Authentication, self.authentication.finish()));
        }
        if !self.network_activity.is_empty() {
            out.push((Table::NetworkActivity, self.network_activity.finish()));
        }
        if !self.http_activity.is_empty() {
            out.push((Table::HttpActivity, self.http_activity.finish()));
        }
        if !self.device_state.is_empty() {
            out.push((Table::DeviceState, self.device_state.finish()));
        }
        if !self.detection_finding.is_empty() {
            out.push((Table::DetectionFinding, self.detection_finding.finish()));
        }
        if !self.account_change.is_empty() {
            out.push((Table::AccountChange, self.account_change.finish()));
        }
        // Last, so the other tables' batches keep their order.
        if !self.base_event.is_empty() {
            out.push((Table::BaseEvent, self.base_event.finish()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_common_columns_first_and_unique_names() {
        for table in Table::ALL {
            let columns = table.columns();
            assert_eq!(columns[0].name, "time");
            let mut names: Vec<_> = columns.iter().map(|c| c.name).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "duplicate column in {table}");
            assert_eq!(table.schema().fields().len(), columns.len());
        }
    }

    #[test]
    fn base_events_keep_their_record_and_tally_types_within_bounds() {
        let mut builders = TableBuilders::new(0);
        let row = |unmapped: &str| BaseEventRow {
            common: Common {
                time: Some(1),
                metadata_uid: Some("u".into()),
                unmapped: Some(Cow::Owned(unmapped.to_string())),
                ..Common::default()
            },
            ..BaseEventRow::default()
        };
        // A record kept whole makes `unmapped` redundant; a cut one keeps it.
        builders.append_base_event(&mut row("{\"a\":1}"), "t.short", b"{\"a\":1}");
        let big = format!("{{\"x\":\"{}é\"}}", "y".repeat(70 * 1024));
        builders.append_base_event(&mut row("{\"b\":2}"), &"L".repeat(200), big.as_bytes());
        let types = builders.take_base_event_types();
        assert_eq!(
            types.into_iter().collect::<Vec<_>>(),
            [("other".to_string(), 1), ("t.short".to_string(), 1)]
        );
        let batch = builders.base_event.finish();
        let text = |name: &str, i: usize| {
            use datafusion::arrow::array::{Array, AsArray};
            let col = batch.column_by_name(name).unwrap().as_string::<i32>();
            col.is_valid(i).then(|| col.value(i).to_string())
        };
        assert_eq!(text("unmapped", 0), None);
        assert_eq!(text("unmapped", 1).as_deref(), Some("{\"b\":2}"));
        assert_eq!(text("raw_data", 1).map(|r| r.len()), Some(64 * 1024));
    }

    #[test]
    fn builder_fills_owned_columns() {
        let mut builder = NetworkActivityBuilder::new(42);
        let mut row = NetworkActivityRow::default();
        row.common.time = Some(1_000);
        row.common.activity_id = Some(6);
        row.common.metadata_uid = Some("x".into());
        row.own.src_endpoint_intermediate_ips = vec!["10.0.0.1".into()];
        builder.append(&mut row);
        let batch = builder.finish();
        assert_eq!(batch.num_rows(), 1);
        let type_uid = batch
            .column_by_name("type_uid")
            .unwrap()
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int32Array>()
            .unwrap()
            .value(0);
        assert_eq!(type_uid, 400106);
        assert!(builder.is_empty());
    }
}
