//! Inventories: what ztlens needs to know that logs do not say — who owns each service account
//! and when its credential was last rotated, and which policy exceptions were granted, to whom,
//! until when.
//!
//! Both come from the `[inventory]` section of `ztlens.toml`, inline or as CSV files (the form
//! CMDB and ticketing exports take), and reach SQL as two read-only tables in every session:
//! - `service_account_inventory(account, account_key, owner, credential_rotated_time,
//!   max_credential_age_days)`;
//! - `policy_exception_inventory(exception_id, owner, user_name, user_key, app, control, reason,
//!   created_time, expires_time)`.
//!
//! Invariants:
//! - an inventory is loaded and checked whole at start-up: a bad row is an error that names the
//!   file and line, never a row silently skipped (a KPI built on half an inventory would read
//!   better than the truth);
//! - `*_key` columns are the lower-case login, the form KPI queries join on;
//! - times are UTC instants; a date alone means midnight UTC;
//! - `max_credential_age_days` is resolved per account (its own value, else the section's
//!   default), so queries never carry a threshold of their own.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Array, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

/// `[inventory]`: service accounts and policy exceptions.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InventoryConfig {
    /// CSV of service accounts with a header row: `account,owner,credential_rotated,
    /// max_credential_age_days` (the last two may be empty). A relative path is read from the
    /// config file's directory.
    pub service_accounts_file: Option<PathBuf>,
    /// Service accounts listed in the config, in addition to the file's.
    #[serde(rename = "service_account", skip_serializing_if = "Vec::is_empty")]
    pub service_accounts: Vec<ServiceAccount>,
    /// Days a service-account credential may live without rotation; an account's own
    /// `max_credential_age_days` takes precedence.
    pub max_credential_age_days: u32,
    /// CSV of policy exceptions with a header row: `id,owner,user,app,control,reason,created,
    /// expires` (`app` and `control` may be empty). A relative path is read from the config
    /// file's directory.
    pub policy_exceptions_file: Option<PathBuf>,
    /// Policy exceptions listed in the config, in addition to the file's.
    #[serde(rename = "policy_exception", skip_serializing_if = "Vec::is_empty")]
    pub policy_exceptions: Vec<PolicyException>,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        Self {
            service_accounts_file: None,
            service_accounts: Vec::new(),
            max_credential_age_days: 90,
            policy_exceptions_file: None,
            policy_exceptions: Vec::new(),
        }
    }
}

/// One non-human identity, as the owning team declares it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccount {
    /// The login as the identity provider reports it (e.g. `svc-deploy@corp.example`).
    pub account: String,
    /// The team or person accountable for it.
    pub owner: String,
    /// When its credential (password, secret, key) was last rotated: RFC 3339 or a date. Empty
    /// when nobody knows, which the hygiene KPI reports as overdue.
    #[serde(default)]
    pub credential_rotated: Option<String>,
    /// Days this account's credential may live (default: the section's).
    #[serde(default)]
    pub max_credential_age_days: Option<u32>,
}

/// One granted exception to an access policy.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PolicyException {
    /// Stable id, e.g. the ticket that granted it.
    pub id: String,
    /// Who asked for it and answers for it.
    pub owner: String,
    /// The login whose access it exempts.
    pub user: String,
    /// The app it covers (identity-provider app name or `site.apps` id); empty: every app.
    #[serde(default)]
    pub app: Option<String>,
    /// The control it waives (e.g. `mfa`, `compliant_device`), for the record.
    #[serde(default)]
    pub control: Option<String>,
    /// Why it was granted.
    pub reason: String,
    /// When it took effect: RFC 3339 or a date.
    pub created: String,
    /// When it ends: RFC 3339 or a date. Access after this instant is "expired but still used".
    pub expires: String,
}

/// An inventory that cannot be used, with where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// The loaded, checked inventories.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    pub service_accounts: Vec<ServiceAccountEntry>,
    pub policy_exceptions: Vec<PolicyExceptionEntry>,
}

/// A service account with its times resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceAccountEntry {
    pub account: String,
    pub owner: String,
    pub credential_rotated_ms: Option<i64>,
    pub max_credential_age_days: u32,
}

/// A policy exception with its times resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyExceptionEntry {
    pub id: String,
    pub owner: String,
    pub user: String,
    pub app: Option<String>,
    pub control: Option<String>,
    pub reason: String,
    pub created_ms: i64,
    pub expires_ms: i64,
}

impl InventoryConfig {
    /// Check the section: the inline entries and CSV files load whole.
    pub fn validate(&self) -> Result<(), InventoryError> {
        self.load().map(drop)
    }

    /// Make relative file paths relative to `base` (the config file's directory).
    pub fn resolve_paths(&mut self, base: &Path) {
        for path in [
            &mut self.service_accounts_file,
            &mut self.policy_exceptions_file,
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    /// Read the files and check every entry.
    pub fn load(&self) -> Result<Inventory, InventoryError> {
        let accounts = entries(
            &self.service_accounts,
            "[[inventory.service_account]]",
            self.service_accounts_file.as_deref(),
        )?;
        let exceptions = entries(
            &self.policy_exceptions,
            "[[inventory.policy_exception]]",
            self.policy_exceptions_file.as_deref(),
        )?;

        let mut inventory = Inventory::default();
        let mut seen_accounts = std::collections::HashMap::new();
        for (origin, a) in accounts {
            let invalid = |message: String| InventoryError::Invalid {
                origin: origin.clone(),
                message,
            };
            let account = a.account.trim().to_string();
            if account.is_empty() || a.owner.trim().is_empty() {
                return Err(invalid("`account` and `owner` must not be empty".into()));
            }
            if let Some(first) = seen_accounts.insert(account.to_lowercase(), origin.clone()) {
                return Err(invalid(format!(
                    "service account {account:?} is listed twice (first at {first})"
                )));
            }
            let credential_rotated_ms = a
                .credential_rotated
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| instant(t).map_err(|m| invalid(format!("credential_rotated: {m}"))))
                .transpose()?;
            let max_age = a
                .max_credential_age_days
                .unwrap_or(self.max_credential_age_days);
            if max_age == 0 {
                return Err(invalid("max_credential_age_days must be above 0".into()));
            }
            inventory.service_accounts.push(ServiceAccountEntry {
                account,
                owner: a.owner.trim().to_string(),
                credential_rotated_ms,
                max_credential_age_days: max_age,
            });
        }
        let mut seen_exceptions = std::collections::HashMap::new();
        for (origin, e) in exceptions {
            let invalid = |message: String| InventoryError::Invalid {
                origin: origin.clone(),
                message,
            };
            let id = e.id.trim().to_string();
            if id.is_empty() || e.owner.trim().is_empty() || e.user.trim().is_empty() {
                return Err(invalid("`id`, `owner` and `user` must not be empty".into()));
            }
            if let Some(first) = seen_exceptions.insert(id.clone(), origin.clone()) {
                return Err(invalid(format!(
                    "exception {id:?} is listed twice (first at {first})"
                )));
            }
            let created_ms =
                instant(e.created.trim()).map_err(|m| invalid(format!("created: {m}")))?;
            let expires_ms =
                instant(e.expires.trim()).map_err(|m| invalid(format!("expires: {m}")))?;
            if expires_ms <= created_ms {
                return Err(invalid(format!(
                    "exception {id:?} expires before it is created"
                )));
            }
            let optional = |v: &Option<String>| {
                v.as_deref()
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
            };
            inventory.policy_exceptions.push(PolicyExceptionEntry {
                id,
                owner: e.owner.trim().to_string(),
                user: e.user.trim().to_string(),
                app: optional(&e.app),
                control: optional(&e.control),
                reason: e.reason.trim().to_string(),
                created_ms,
                expires_ms,
            });
        }
        Ok(inventory)
    }
}

/// An instant as inventories write it: RFC 3339 or a date (midnight UTC).
fn instant(text: &str) -> Result<i64, String> {
    crate::time_range::parse_date_or_rfc3339(text)
        .ok_or_else(|| format!("{text:?} is neither RFC 3339 nor a date (YYYY-MM-DD)"))
}

/// Every record of a CSV file with a header row, with `file:line` as its origin.
/// The inline entries of `table` (named by their position) followed by those of the CSV file,
/// each with where it came from, for error messages.
fn entries<T: Clone + serde::de::DeserializeOwned>(
    inline: &[T],
    table: &str,
    file: Option<&Path>,
) -> Result<Vec<(String, T)>, InventoryError> {
    let mut all: Vec<(String, T)> = inline
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("{table} #{}", i + 1), e.clone()))
        .collect();
    if let Some(path) = file {
        all.extend(read_csv::<T>(path)?);
    }
    Ok(all)
}

fn read_csv<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<Vec<(String, T)>, InventoryError> {
    let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let at = |line: u64| format!("{}:{line}", path.display());
    let invalid = |line: u64, e: &csv::Error| InventoryError::Invalid {
        origin: at(line),
        message: csv_message(e),
    };
    let headers = reader.headers().map_err(|e| invalid(1, &e))?.clone();
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| invalid(e.position().map_or(0, |p| p.line()), &e))?;
        let line = record.position().map_or(0, |p| p.line());
        let value = record
            .deserialize::<T>(Some(&headers))
            .map_err(|e| invalid(line, &e))?;
        out.push((at(line), value));
    }
    Ok(out)
}

fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err.to_string(),
        _ => e.to_string(),
    }
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn timestamps(values: impl IntoIterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(
        TimestampMillisecondArray::from(values.into_iter().collect::<Vec<_>>())
            .with_timezone("UTC"),
    )
}

fn strings<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from(values.into_iter().collect::<Vec<_>>()))
}

impl Inventory {
    /// `service_account_inventory` as one record batch.
    pub fn service_accounts_batch(&self) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("account", DataType::Utf8, false),
            Field::new("account_key", DataType::Utf8, false),
            Field::new("owner", DataType::Utf8, false),
            Field::new("credential_rotated_time", ts_type(), true),
            Field::new("max_credential_age_days", DataType::Int32, false),
        ]));
        let a = &self.service_accounts;
        let keys: Vec<String> = a.iter().map(|e| e.account.to_lowercase()).collect();
        RecordBatch::try_new(
            schema,
            vec![
                strings(a.iter().map(|e| Some(e.account.as_str()))),
                strings(keys.iter().map(|k| Some(k.as_str()))),
                strings(a.iter().map(|e| Some(e.owner.as_str()))),
                timestamps(a.iter().map(|e| e.credential_rotated_ms)),
                Arc::new(Int32Array::from(
                    a.iter()
                        .map(|e| i32::try_from(e.max_credential_age_days).unwrap_or(i32::MAX))
                        .collect::<Vec<_>>(),
                )),
            ],
        )
        .expect("columns match the schema")
    }

    /// `policy_exception_inventory` as one record batch.
    pub fn policy_exceptions_batch(&self) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("exception_id", DataType::Utf8, false),
            Field::new("owner", DataType::Utf8, false),
            Field::new("user_name", DataType::Utf8, false),
            Field::new("user_key", DataType::Utf8, false),
            Field::new("app", DataType::Utf8, true),
            Field::new("control", DataType::Utf8, true),
            Field::new("reason", DataType::Utf8, false),
            Field::new("created_time", ts_type(), false),
            Field::new("expires_time", ts_type(), false),
        ]));
        let e = &self.policy_exceptions;
        let keys: Vec<String> = e.iter().map(|x| x.user.to_lowercase()).collect();
        RecordBatch::try_new(
            schema,
            vec![
                strings(e.iter().map(|x| Some(x.id.as_str()))),
                strings(e.iter().map(|x| Some(x.owner.as_str()))),
                strings(e.iter().map(|x| Some(x.user.as_str()))),
                strings(keys.iter().map(|k| Some(k.as_str()))),
                strings(e.iter().map(|x| x.app.as_deref())),
                strings(e.iter().map(|x| x.control.as_deref())),
                strings(e.iter().map(|x| Some(x.reason.as_str()))),
                timestamps(e.iter().map(|x| Some(x.created_ms))),
                timestamps(e.iter().map(|x| Some(x.expires_ms))),
            ],
        )
        .expect("columns match the schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn files_and_inline_entries_load_together() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "accounts.csv",
            "account,owner,credential_rotated,max_credential_age_days\n\
             # a comment line\n\
             svc-Deploy@corp.example, platform ,2026-01-15,\n\
             svc-backup@corp.example,storage,,30\n",
        );
        write(
            dir.path(),
            "exceptions.csv",
            "id,owner,user,app,control,reason,created,expires\n\
             EX-1,finance,ana@corp.example,Workday,mfa,\"legacy client, no MFA\",2026-01-01,2026-02-01T12:00:00Z\n\
             EX-2,it,bo@corp.example,,,travel,2026-01-01,2026-06-01\n",
        );
        let mut config: InventoryConfig = toml::from_str(
            "service_accounts_file = \"accounts.csv\"\n\
             policy_exceptions_file = \"exceptions.csv\"\n\
             max_credential_age_days = 60\n\
             [[service_account]]\naccount = \"svc-ci@corp.example\"\nowner = \"dev\"\n",
        )
        .unwrap();
        config.resolve_paths(dir.path());
        let inventory = config.load().unwrap();
        assert_eq!(
            inventory.service_accounts,
            vec![
                ServiceAccountEntry {
                    account: "svc-ci@corp.example".into(),
                    owner: "dev".into(),
                    credential_rotated_ms: None,
                    max_credential_age_days: 60,
                },
                ServiceAccountEntry {
                    account: "svc-Deploy@corp.example".into(),
                    owner: "platform".into(),
                    credential_rotated_ms: Some(1_768_435_200_000),
                    max_credential_age_days: 60,
                },
                ServiceAccountEntry {
                    account: "svc-backup@corp.example".into(),
                    owner: "storage".into(),
                    credential_rotated_ms: None,
                    max_credential_age_days: 30,
                },
            ]
        );
        assert_eq!(
            inventory.policy_exceptions[0],
            PolicyExceptionEntry {
                id: "EX-1".into(),
                owner: "finance".into(),
                user: "ana@corp.example".into(),
                app: Some("Workday".into()),
                control: Some("mfa".into()),
                reason: "legacy client, no MFA".into(),
                created_ms: 1_767_225_600_000,
                expires_ms: 1_769_947_200_000,
            }
        );
        assert_eq!(inventory.policy_exceptions[1].app, None);
        let batch = inventory.service_accounts_batch();
        assert_eq!(batch.num_rows(), 3);
        let keys = batch
            .column_by_name("account_key")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(keys.value(1), "svc-deploy@corp.example");
        assert_eq!(inventory.policy_exceptions_batch().num_rows(), 2);
    }

    #[test]
    fn bad_rows_are_errors_that_say_where() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                "id,owner,user,app,control,reason,created,expires\nEX-1,o,u,,,r,2026-01-01,soon\n",
                "exceptions.csv:2: expires:",
            ),
            (
                "id,owner,user,app,control,reason,created,expires\nEX-1,o,u,,,r,2026-02-01,2026-01-01\n",
                "expires before it is created",
            ),
            (
                "id,owner,user,app,control,reason,created,expires\nEX-1,o,u,,,r,2026-01-01,2026-02-01\nEX-1,o,u,,,r,2026-01-01,2026-02-01\n",
                "exceptions.csv:3: exception \"EX-1\" is listed twice",
            ),
            (
                "id,owner,user,app,control,reason,created,expires,colour\nEX-1,o,u,,,r,2026-01-01,2026-02-01,red\n",
                "colour",
            ),
            ("id,owner,user\nEX-1,o,u\n", "missing field"),
        ];
        for (text, expected) in cases {
            let path = write(dir.path(), "exceptions.csv", text);
            let config = InventoryConfig {
                policy_exceptions_file: Some(path),
                ..InventoryConfig::default()
            };
            let err = config.load().unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
        let config = InventoryConfig {
            service_accounts_file: Some(dir.path().join("absent.csv")),
            ..InventoryConfig::default()
        };
        assert!(
            config
                .load()
                .unwrap_err()
                .to_string()
                .contains("absent.csv")
        );
        let config = InventoryConfig {
            service_accounts: vec![ServiceAccount {
                account: "svc-a".into(),
                owner: "x".into(),
                credential_rotated: Some("last spring".into()),
                max_credential_age_days: None,
            }],
            ..InventoryConfig::default()
        };
        let err = config.load().unwrap_err().to_string();
        assert!(
            err.contains("[[inventory.service_account]] #1") && err.contains("last spring"),
            "{err}"
        );
    }
}
