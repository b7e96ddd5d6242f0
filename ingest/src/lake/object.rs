//! The lake on object storage: `[lake] url = "s3://bucket/prefix"`.
//!
//! Only the Parquet files move to the bucket, under the same relative paths as a local lake
//! ([`layout`]); the write-ahead log, dead letters and alert state stay in `data_dir` on the
//! node's own disk, so an acknowledgement keeps meaning "durable in the local WAL".
//!
//! Invariants:
//! - an object is complete when it has its key: a file is uploaded in one PUT, or as a
//!   multipart upload that becomes visible only when it completes; nothing is ever written under
//!   a temporary name;
//! - a WAL segment is deleted only after every row in it is in an uploaded object (the writer
//!   calls [`ObjectLake::put_parquet`] before it drops the WAL), so a crash between the upload
//!   and the WAL deletion re-uploads the rows under a new name: duplicates that share
//!   `metadata_uid`, counted once by KPIs and removed by compaction — never a loss;
//! - each store instance has its own connection pool, driven by the runtime that uses it: the
//!   writer thread, maintenance and the query engine each call [`ObjectLake::from_config`].
//!
//! Imports [`super::layout`], [`super::LakeConfig`] and [`crate::schema`] only.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use super::{LakeConfig, LakeError, layout};
use crate::schema::Table;

/// Where the lake's Parquet files live, parsed from `[lake] url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeUrl {
    /// `data_dir` on the local disk (no `url`).
    Local,
    /// Another local directory (`file:///path`): the Parquet files there, the rest in `data_dir`.
    Directory(std::path::PathBuf),
    /// An S3 (or S3-compatible) bucket and a key prefix without surrounding slashes.
    S3 { bucket: String, prefix: String },
}

impl LakeUrl {
    /// Parse `[lake] url`: `file://…` or `s3://bucket[/prefix]`.
    pub fn parse(url: Option<&str>) -> Result<Self, LakeError> {
        let Some(raw) = url.map(str::trim).filter(|u| !u.is_empty()) else {
            return Ok(Self::Local);
        };
        let invalid = |why: &str| LakeError::Failed(format!("lake.url {raw:?}: {why}"));
        let parsed = url::Url::parse(raw).map_err(|e| invalid(&e.to_string()))?;
        match parsed.scheme() {
            "file" => {
                if parsed
                    .host_str()
                    .is_some_and(|h| !h.is_empty() && h != "localhost")
                {
                    return Err(invalid("a file:// location is local: file:///path"));
                }
                let path = parsed
                    .to_file_path()
                    .map_err(|()| invalid("not an absolute local path"))?;
                Ok(Self::Directory(path))
            }
            "s3" | "s3a" => {
                let bucket = parsed
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| invalid("names no bucket"))?
                    .to_string();
                if parsed.query().is_some() || parsed.fragment().is_some() {
                    return Err(invalid(
                        "a query or fragment is not part of a lake location",
                    ));
                }
                // `s3://KEY:SECRET@bucket` is an old habit that would put a secret in the
                // config and in every message naming the location; a port is no bucket's.
                if !parsed.username().is_empty()
                    || parsed.password().is_some()
                    || parsed.port().is_some()
                {
                    return Err(LakeError::Failed(
                        "lake.url: credentials or a port in an s3:// location are not supported (credentials come from the AWS environment; an endpoint goes in lake.s3_endpoint)".into(),
                    ));
                }
                // The URL parser resolves `a/../b`; a location that says it is refused instead.
                if raw
                    .split('/')
                    .any(|segment| segment == "." || segment == "..")
                {
                    return Err(invalid("the prefix may not hold . or .. segments"));
                }
                let prefix = parsed.path().trim_matches('/').to_string();
                let safe = |s: &str| {
                    !s.is_empty()
                        && s != "."
                        && s != ".."
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.=".contains(c))
                };
                if !prefix.is_empty() && !prefix.split('/').all(safe) {
                    return Err(invalid(
                        "the prefix may hold letters, digits and - _ . = between slashes",
                    ));
                }
                Ok(Self::S3 { bucket, prefix })
            }
            other => Err(invalid(&format!(
                "scheme {other}:// is not supported (file:// or s3://)"
            ))),
        }
    }
}

/// A lake in a bucket: the store, and where the lake starts in it.
#[derive(Debug, Clone)]
pub struct ObjectLake {
    store: Arc<dyn ObjectStore>,
    /// `s3://bucket/`: the URL the store is registered under for queries.
    bucket_url: url::Url,
    /// Key prefix of the lake, without surrounding slashes ("" for the bucket's root).
    prefix: String,
}

impl ObjectLake {
    /// A new store for `config`'s bucket, or `None` for a local lake. Credentials come from the
    /// standard AWS chain: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, then
    /// the static keys of the shared credentials file's profile (`AWS_PROFILE`, else `default`),
    /// then web identity, the ECS task role and instance metadata; they are never logged.
    pub fn from_config(config: &LakeConfig) -> Result<Option<Self>, LakeError> {
        let LakeUrl::S3 { bucket, prefix } = LakeUrl::parse(config.url.as_deref())? else {
            return Ok(None);
        };
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&bucket);
        let env = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
        if env("AWS_ACCESS_KEY_ID").is_none()
            && let Some(profile) = SharedProfile::load(&env)?
        {
            builder = builder
                .with_access_key_id(profile.access_key_id)
                .with_secret_access_key(profile.secret_access_key);
            if let Some(token) = profile.session_token {
                builder = builder.with_token(token);
            }
            if config.s3_region.is_none()
                && env("AWS_REGION").is_none()
                && env("AWS_DEFAULT_REGION").is_none()
                && let Some(region) = profile.region
            {
                builder = builder.with_region(region);
            }
        }
        if let Some(endpoint) = &config.s3_endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &config.s3_region {
            builder = builder.with_region(region);
        }
        if config.s3_allow_http {
            builder = builder.with_allow_http(true);
        }
        let store = builder
            .build()
            .map_err(|e| LakeError::Failed(format!("lake.url s3://{bucket}: {e}")))?;
        let bucket_url = url::Url::parse(&format!("s3://{bucket}/"))
            .map_err(|e| LakeError::Failed(format!("lake.url s3://{bucket}: {e}")))?;
        Ok(Some(Self {
            store: Arc::new(store),
            bucket_url,
            prefix,
        }))
    }

    /// The store, for registering with a query engine.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// `s3://bucket/`.
    pub fn bucket_url(&self) -> &url::Url {
        &self.bucket_url
    }

    /// `s3://bucket/prefix/<table>/`: the table's location for a listing table.
    pub fn table_url(&self, table: Table) -> String {
        format!("{}{}/", self.bucket_url, self.key(table.name()))
    }

    /// The key of a path relative to the lake's root (`/`-separated).
    pub fn key(&self, relative: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(relative)
        } else {
            ObjectPath::from(format!("{}/{relative}", self.prefix))
        }
    }

    /// The key of one data file of a partition.
    pub(crate) fn data_file_key(&self, table: Table, hour_index: i64, name: &str) -> ObjectPath {
        let dir = layout::partition_dir(std::path::Path::new(""), table, hour_index);
        self.key(&format!("{}/{name}", relative(&dir)))
    }

    /// Upload `batches` as one Parquet object; returns the rows written. Large files go up as a
    /// multipart upload, which S3 makes visible only once it completes.
    pub(crate) async fn put_parquet(
        &self,
        key: &ObjectPath,
        schema: &SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<usize, LakeError> {
        let sink = BufWriter::new(self.store.clone(), key.clone());
        let mut writer = AsyncArrowWriter::try_new(
            sink,
            schema.clone(),
            Some(super::writer::parquet_properties(schema, batches)?),
        )?;
        let mut rows = 0;
        for batch in batches {
            rows += batch.num_rows();
            writer.write(batch).await?;
        }
        // Nothing appears under the key before this completes; a multipart upload that fails
        // part-way stays invisible (and is billed until the bucket's lifecycle rule aborts it).
        writer.close().await?;
        Ok(rows)
    }

    /// Names of the "directories" (common prefixes) directly under `relative`.
    pub(crate) async fn list_dirs(&self, relative: &str) -> Result<Vec<String>, LakeError> {
        let listed = self
            .store
            .list_with_delimiter(Some(&self.key(relative)))
            .await
            .map_err(object_error)?;
        let mut names: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every complete data file anywhere under `relative` (a recursive listing, paginated).
    pub(crate) async fn list_data_files_under(
        &self,
        relative: &str,
    ) -> Result<Vec<ObjectMeta>, LakeError> {
        let files: Vec<ObjectMeta> = self
            .store
            .list(Some(&self.key(relative)))
            .try_filter(|o| {
                let data = o
                    .location
                    .filename()
                    .is_some_and(|n| layout::is_data_file(std::path::Path::new(n)));
                futures::future::ready(data)
            })
            .try_collect()
            .await
            .map_err(object_error)?;
        Ok(files)
    }

    /// Every batch of one Parquet object.
    pub(crate) async fn read_parquet(
        &self,
        key: &ObjectPath,
    ) -> Result<Vec<RecordBatch>, LakeError> {
        let bytes = self
            .store
            .get(key)
            .await
            .map_err(object_error)?
            .bytes()
            .await
            .map_err(object_error)?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?
            .with_batch_size(64 * 1024)
            .build()?;
        Ok(reader.collect::<Result<Vec<_>, _>>()?)
    }

    /// Delete one object (absent is fine).
    pub(crate) async fn delete(&self, key: &ObjectPath) -> Result<(), LakeError> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(object_error(e)),
        }
    }

    /// Delete every object under `relative`; returns how many.
    pub(crate) async fn delete_prefix(&self, relative: &str) -> Result<usize, LakeError> {
        let keys: Vec<ObjectPath> = self
            .store
            .list(Some(&self.key(relative)))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(object_error)?;
        for key in &keys {
            self.delete(key).await?;
        }
        Ok(keys.len())
    }
}

/// The static keys (and region) of a profile of the AWS shared credentials and config files.
#[derive(Debug, PartialEq)]
struct SharedProfile {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    region: Option<String>,
}

impl SharedProfile {
    /// The profile `AWS_PROFILE` names (else `default`) from `AWS_SHARED_CREDENTIALS_FILE`
    /// (else `~/.aws/credentials`), its region from `AWS_CONFIG_FILE` (else `~/.aws/config`).
    /// `None` when there is no such file or, for `default`, no such profile; an error when a
    /// profile named by `AWS_PROFILE` is missing or has no static keys (SSO and assume-role
    /// profiles are not resolved: use a role of the machine, or export the keys).
    fn load(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, LakeError> {
        let named = env("AWS_PROFILE");
        let profile = named.clone().unwrap_or_else(|| "default".to_string());
        let home = env("HOME").map(std::path::PathBuf::from);
        let file = |var: &str, name: &str| {
            env(var)
                .map(std::path::PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".aws").join(name)))
        };
        let read = |path: Option<std::path::PathBuf>| -> Result<Option<configparser::ini::Ini>, LakeError> {
            let Some(path) = path else { return Ok(None) };
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(LakeError::Io { path, source: e }),
            };
            let mut ini = configparser::ini::Ini::new_cs();
            ini.read(text).map_err(|e| {
                LakeError::Failed(format!("AWS shared file {}: {e}", path.display()))
            })?;
            Ok(Some(ini))
        };
        let credentials = read(file("AWS_SHARED_CREDENTIALS_FILE", "credentials"))?;
        let keys = credentials.as_ref().and_then(|ini| {
            Some((
                ini.get(&profile, "aws_access_key_id")?,
                ini.get(&profile, "aws_secret_access_key")?,
                ini.get(&profile, "aws_session_token"),
            ))
        });
        let Some((access_key_id, secret_access_key, session_token)) = keys else {
            return match named {
                Some(name) => Err(LakeError::Failed(format!(
                    "AWS_PROFILE={name}: no aws_access_key_id and aws_secret_access_key for it in the shared credentials file (SSO and assume-role profiles are not resolved; use a role of the machine or export the keys)"
                ))),
                None => Ok(None),
            };
        };
        let config = read(file("AWS_CONFIG_FILE", "config"))?;
        let section = if profile == "default" {
            profile.clone()
        } else {
            format!("profile {profile}")
        };
        let region = config.and_then(|ini| ini.get(&section, "region"));
        Ok(Some(Self {
            access_key_id,
            secret_access_key,
            session_token,
            region,
        }))
    }
}

/// A local relative path as a `/`-separated key part.
fn relative(path: &std::path::Path) -> String {
    path.components()
        .filter_map(|c| c.as_os_str().to_str())
        .collect::<Vec<_>>()
        .join("/")
}

fn object_error(e: object_store::Error) -> LakeError {
    LakeError::Failed(format!("object store: {e}"))
}

/// An [`ObjectLake`] for code that is not async (the writer thread, maintenance, a writer opened
/// during startup): its requests run on a runtime of its own, one worker thread, which also
/// drives the store's pooled connections between calls. Usable from any thread, async or not.
pub(crate) struct ObjectIo {
    lake: ObjectLake,
    runtime: Option<tokio::runtime::Runtime>,
}

impl ObjectIo {
    pub(crate) fn new(lake: ObjectLake) -> Result<Self, LakeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ztlens-lake-io")
            .enable_all()
            .build()
            .map_err(|e| LakeError::Failed(format!("object store runtime: {e}")))?;
        Ok(Self {
            lake,
            runtime: Some(runtime),
        })
    }

    pub(crate) fn lake(&self) -> &ObjectLake {
        &self.lake
    }

    /// Run `work` on the I/O runtime and wait for its result.
    pub(crate) fn run<T, F>(&self, work: impl FnOnce(ObjectLake) -> F) -> Result<T, LakeError>
    where
        F: Future<Output = Result<T, LakeError>> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let future = work(self.lake.clone());
        self.runtime
            .as_ref()
            .expect("present until drop")
            .spawn(async move {
                let _ = tx.send(future.await);
            });
        rx.recv()
            .map_err(|_| LakeError::Failed("object store request was cancelled".into()))?
    }
}

impl Drop for ObjectIo {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which an async caller may not do.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lake_urls() {
        assert_eq!(LakeUrl::parse(None).unwrap(), LakeUrl::Local);
        assert_eq!(LakeUrl::parse(Some("")).unwrap(), LakeUrl::Local);
        assert_eq!(
            LakeUrl::parse(Some("file:///var/lib/ztlens")).unwrap(),
            LakeUrl::Directory("/var/lib/ztlens".into())
        );
        assert!(LakeUrl::parse(Some("file://host/x")).is_err());
        assert_eq!(
            LakeUrl::parse(Some("s3://lake/")).unwrap(),
            LakeUrl::S3 {
                bucket: "lake".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            LakeUrl::parse(Some("s3://lake/ztlens/prod")).unwrap(),
            LakeUrl::S3 {
                bucket: "lake".into(),
                prefix: "ztlens/prod".into()
            }
        );
        for bad in [
            "gs://lake",
            "s3://",
            "s3://lake/a/../b",
            "s3://lake/a b",
            "s3://lake/x?y=1",
            "s3://AKIA:secret@lake/x",
            "s3://lake:9000/x",
            "not a url",
        ] {
            assert!(LakeUrl::parse(Some(bad)).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn shared_profiles() {
        let dir = tempfile::tempdir().unwrap();
        let credentials = dir.path().join("credentials");
        let config = dir.path().join("config");
        std::fs::write(
            &credentials,
            "[default]\naws_access_key_id = AKIDEFAULT\naws_secret_access_key = s1\n\n\
             [Lake]\naws_access_key_id=AKILAKE\naws_secret_access_key=s2\naws_session_token=t2\n\n\
             [sso]\nsso_start_url = https://example.awsapps.com/start\n",
        )
        .unwrap();
        std::fs::write(
            &config,
            "[default]\nregion = eu-west-1\n[profile Lake]\nregion = us-west-2\n",
        )
        .unwrap();
        let files = [
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                credentials.display().to_string(),
            ),
            ("AWS_CONFIG_FILE", config.display().to_string()),
        ];
        let with = |extra: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = files
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
                .collect();
            SharedProfile::load(&move |key: &str| {
                vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
            })
        };
        assert_eq!(
            with(&[]).unwrap(),
            Some(SharedProfile {
                access_key_id: "AKIDEFAULT".into(),
                secret_access_key: "s1".into(),
                session_token: None,
                region: Some("eu-west-1".into()),
            })
        );
        assert_eq!(
            with(&[("AWS_PROFILE", "Lake")]).unwrap(),
            Some(SharedProfile {
                access_key_id: "AKILAKE".into(),
                secret_access_key: "s2".into(),
                session_token: Some("t2".into()),
                region: Some("us-west-2".into()),
            })
        );
        // Profile names are case-sensitive; a named profile without static keys is an error.
        assert!(with(&[("AWS_PROFILE", "lake")]).is_err());
        let sso = with(&[("AWS_PROFILE", "sso")]).unwrap_err().to_string();
        assert!(sso.contains("SSO"), "{sso}");
        // No files at all: nothing from them, no error.
        let none = SharedProfile::load(&|key: &str| {
            (key == "HOME").then(|| dir.path().join("nowhere").display().to_string())
        });
        assert_eq!(none.unwrap(), None);
    }

    #[test]
    fn bucket_settings_are_checked() {
        let s3 = |endpoint: &str, allow_http: bool| LakeConfig {
            url: Some("s3://lake/zt".into()),
            s3_endpoint: Some(endpoint.into()),
            s3_allow_http: allow_http,
            ..LakeConfig::default()
        };
        assert!(s3("https://s3.example.com", false).validate().is_ok());
        assert!(s3("http://127.0.0.1:9000", true).validate().is_ok());
        let plain = s3("http://127.0.0.1:9000", false).validate().unwrap_err();
        assert!(plain.to_string().contains("s3_allow_http"), "{plain}");
        assert!(s3("ftp://x", true).validate().is_err());
        let without_bucket = LakeConfig {
            s3_region: Some("eu-west-1".into()),
            ..LakeConfig::default()
        };
        assert!(without_bucket.validate().is_err());
    }

    #[test]
    fn keys_keep_the_local_layout() {
        let config = LakeConfig {
            url: Some("s3://lake/zt".into()),
            s3_region: Some("us-east-1".into()),
            ..LakeConfig::default()
        };
        let lake = ObjectLake::from_config(&config).unwrap().unwrap();
        let hour = 1_772_438_400_000 / 3_600_000;
        assert_eq!(
            lake.data_file_key(Table::Authentication, hour, "w-1.parquet")
                .as_ref(),
            "zt/authentication/date=2026-03-02/hour=08/w-1.parquet"
        );
        assert_eq!(
            lake.table_url(Table::Authentication),
            "s3://lake/zt/authentication/"
        );
    }
}
