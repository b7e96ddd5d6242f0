//! The lake over the PostgreSQL wire protocol (`[pgwire] listen`), for Grafana's PostgreSQL
//! datasource, BI tools, `psql` and every language's Postgres driver (pgwire crate).
//!
//! - **The same guard and limits as `POST /api/v1/query`**: a statement runs through
//!   [`Engine::run_sql`] (read-only guard, query slots, memory pool, timeout, row cap); the
//!   wire layer never plans SQL itself.
//! - **Authentication with the API's tokens**: the password is a token with the `read` scope
//!   (the user name is free). Without tokens the listener, like the API, only binds to
//!   loopback, and any password is accepted. With `[server.tls]` the listener offers TLS with the
//!   same certificate.
//! - **What clients send besides queries** is answered here: transaction statements, `SET`,
//!   `SHOW`, `DEALLOCATE` as no-ops (the session is read-only), and the catalog queries
//!   Grafana's editor issues (tables, columns, schemas, the server version) from the lake's
//!   schema, with PostgreSQL type names.
//! - **KPIs as SQL**: `SELECT * FROM ztlens_kpi('mfa_outcomes_by_country', '2026-03-01',
//!   '2026-03-08'[, '1d'])` runs the KPI like `GET /api/v1/kpis/{id}`.
//! - Only the simple query protocol is served (what Grafana, `psql` and drivers use for
//!   statements without parameters); the extended protocol answers with an error.
//! - **Clients never talk to the protocol library directly.** A guard in front of it
//!   ([`guard_connection`]) does the TLS negotiation (and refuses plain connections when TLS is
//!   configured, so tokens never cross the network in the clear), caps every message at
//!   [`MAX_MESSAGE_BYTES`] (the library would buffer a 1 GiB message before authentication),
//!   gives the startup [`STARTUP_TIMEOUT`] and a silent client [`IDLE_TIMEOUT`], and answers
//!   with SQLSTATE 53300 past `max_connections`. It relays to the library over loopback.
//!
//! May import `auth`, `tls` and the library crates; never `api` or `commands`.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::array::{
    Array, AsArray, BooleanArray, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array,
    Int64Array, UInt8Array, UInt16Array, UInt32Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use futures::{Sink, stream};
use pgwire::api::ConnectionManager;
use pgwire::api::auth::cleartext::CleartextPasswordAuthStartupHandler;
use pgwire::api::auth::{AuthSource, DefaultServerParameterProvider, LoginInfo, Password};
use pgwire::api::cancel::DefaultCancelHandler;
use pgwire::api::query::SimpleQueryHandler;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::data::DataRow;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use ztlens_analytics::{AnalyticsError, Engine, QueryOutput, TimeRange};
use ztlens_ingest::Table;
use ztlens_ingest::schema::ColumnKind;

use crate::auth::{Scope, Tokens};

/// `[pgwire]`
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PgwireConfig {
    /// Address for PostgreSQL clients, e.g. `127.0.0.1:5432` (port 0 picks a free one); absent:
    /// off. Beyond loopback it needs API tokens, like the API.
    pub listen: Option<String>,
    /// Open connections at most; more are closed when accepted.
    pub max_connections: Option<usize>,
}

/// Connections open at once unless `max_connections` says otherwise.
const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// What `server_version` and `server_version_num` say: the PostgreSQL release whose catalog
/// answers clients get.
const SERVER_VERSION: &str = "16.6";
const SERVER_VERSION_NUM: i64 = 160006;

impl PgwireConfig {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(listen) = &self.listen {
            listen
                .parse::<SocketAddr>()
                .map_err(|_| format!("listen {listen:?} is not an address:port"))?;
        }
        if self.max_connections == Some(0) {
            return Err("max_connections must be above 0".into());
        }
        Ok(())
    }
}

/// The largest protocol message a client may send: a query text at the guard's limit, with
/// room for its encoding.
pub const MAX_MESSAGE_BYTES: usize = 4 * ztlens_analytics::guard::MAX_SQL_BYTES;

/// The largest startup packet (user, database, options).
const MAX_STARTUP_BYTES: usize = 10 * 1024;

/// Time from connecting to the end of the startup packet (and the TLS handshake).
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Time a client may send nothing before its connection is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;

/// A bound listener, ready to serve.
pub struct PgwireListener {
    listener: tokio::net::TcpListener,
    /// The protocol library's own listener, on loopback, reached only through the guard.
    relay: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    max_connections: usize,
    handlers: Arc<Handlers>,
}

impl PgwireListener {
    /// Bind now (a port in use fails the start), refusing to expose an unauthenticated
    /// listener beyond loopback.
    pub fn bind(
        config: &PgwireConfig,
        listen: &str,
        tokens: Tokens,
        tls: Option<&crate::tls::TlsConfig>,
        engine: Engine,
    ) -> Result<Self, String> {
        let bind = |address: &str| -> Result<tokio::net::TcpListener, String> {
            let std_listener = std::net::TcpListener::bind(address)
                .map_err(|e| format!("pgwire: cannot listen on {address}: {e}"))?;
            std_listener
                .set_nonblocking(true)
                .map_err(|e| e.to_string())?;
            tokio::net::TcpListener::from_std(std_listener).map_err(|e| e.to_string())
        };
        let listener = bind(listen)?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        crate::auth::check_exposure(&tokens, address).map_err(|e| format!("pgwire: {e}"))?;
        let relay = bind("127.0.0.1:0")?;
        let tls = tls
            .map(|t| crate::tls::acceptor(t, &[b"postgresql"]))
            .transpose()?;
        let connections = Arc::new(ConnectionManager::new());
        Ok(Self {
            listener,
            relay,
            tls,
            max_connections: config.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
            handlers: Arc::new(Handlers {
                queries: Arc::new(Queries { engine }),
                tokens: Arc::new(tokens),
                connections,
            }),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serve until `stop`; connections in progress end with the process.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let Ok(relay_address) = self.relay.local_addr() else {
            return;
        };
        let handlers = self.handlers.clone();
        let relay = self.relay;
        let library = tokio::spawn(async move {
            while let Ok((stream, _)) = relay.accept().await {
                let handlers = handlers.clone();
                tokio::spawn(async move {
                    if let Err(e) = pgwire::tokio::process_socket(stream, None, handlers).await {
                        tracing::debug!(error = %e, "PostgreSQL session ended");
                    }
                });
            }
        });
        let slots = Arc::new(tokio::sync::Semaphore::new(self.max_connections));
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                _ = stop.changed() => break,
            };
            let (mut stream, peer) = match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a PostgreSQL connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(1),
                        stream.write_all(&fatal("53300", "too many connections to ztlens")),
                    )
                    .await;
                });
                continue;
            };
            let tls = self.tls.clone();
            tokio::spawn(async move {
                let _slot = slot;
                if let Err(e) = guard_connection(stream, tls, relay_address).await {
                    tracing::debug!(%peer, error = %e, "PostgreSQL connection closed");
                }
            });
        }
        library.abort();
    }
}

/// An ErrorResponse message of severity FATAL.
fn fatal(code: &str, message: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    for (tag, value) in [
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', code),
        (b'M', message),
    ] {
        fields.push(tag);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut out = vec![b'E'];
    out.extend_from_slice(&((fields.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(&fields);
    out
}

trait ClientStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> ClientStream for T {}

/// One client connection: TLS negotiation (TLS required when configured), the startup packet
/// within [`STARTUP_TIMEOUT`], then every message relayed to the protocol library with its
/// length checked against [`MAX_MESSAGE_BYTES`] and the client's silence against
/// [`IDLE_TIMEOUT`].
async fn guard_connection(
    stream: tokio::net::TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
    relay: SocketAddr,
) -> std::io::Result<()> {
    let started = tokio::time::Instant::now() + STARTUP_TIMEOUT;
    let (mut client, startup) =
        match tokio::time::timeout_at(started, negotiate(stream, tls.as_ref())).await {
            Ok(negotiated) => negotiated?,
            Err(_) => return Ok(()),
        };
    let Some(startup) = startup else {
        return Ok(());
    };
    let mut library = tokio::net::TcpStream::connect(relay).await?;
    library.write_all(&startup).await?;
    let (mut from_library, mut to_library) = library.into_split();
    let (mut from_client, mut to_client) = tokio::io::split(&mut client);
    let upstream = async {
        let mut chunk = vec![0u8; 64 * 1024];
        let mut frames = MessageFrames::default();
        loop {
            let n = match tokio::time::timeout(IDLE_TIMEOUT, from_client.read(&mut chunk)).await {
                Ok(read) => read?,
                Err(_) => return Ok(()),
            };
            if n == 0 {
                return Ok(());
            }
            if !frames.accept(&chunk[..n]) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("a message past {MAX_MESSAGE_BYTES} bytes"),
                ));
            }
            to_library.write_all(&chunk[..n]).await?;
        }
    };
    let downstream = async {
        tokio::io::copy(&mut from_library, &mut to_client).await?;
        to_client.shutdown().await
    };
    let refused = tokio::select! {
        up = upstream => up.err(),
        down = downstream => down.err(),
    };
    if let Some(e) = refused {
        let _ = to_client
            .write_all(&fatal("54000", "the message is too long for ztlens"))
            .await;
        return Err(e);
    }
    Ok(())
}

/// Read startup packets until the StartupMessage (or a CancelRequest), answering SSL and GSS
/// encryption requests: the stream (TLS once negotiated) and that packet, or none when the
/// connection is refused.
async fn negotiate(
    mut stream: tokio::net::TcpStream,
    tls: Option<&tokio_rustls::TlsAcceptor>,
) -> std::io::Result<(Box<dyn ClientStream>, Option<Vec<u8>>)> {
    // A client that starts TLS at once (sslnegotiation=direct) sends a handshake record.
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 1 && first[0] == 0x16 {
        let Some(acceptor) = tls else {
            return Ok((Box::new(stream), None));
        };
        let mut secure = acceptor.accept(stream).await?;
        let packet = startup_after_tls(&mut secure).await?;
        return Ok((Box::new(secure), Some(packet)));
    }
    loop {
        let packet = read_startup_packet(&mut stream).await?;
        match startup_code(&packet) {
            SSL_REQUEST => match tls {
                Some(acceptor) => {
                    stream.write_all(b"S").await?;
                    let mut secure = acceptor.accept(stream).await?;
                    let packet = startup_after_tls(&mut secure).await?;
                    return Ok((Box::new(secure), Some(packet)));
                }
                None => stream.write_all(b"N").await?,
            },
            GSSENC_REQUEST => stream.write_all(b"N").await?,
            // A cancel request holds no credential; libpq sends it unencrypted.
            CANCEL_REQUEST => return Ok((Box::new(stream), Some(packet))),
            _ if tls.is_some() => {
                stream
                    .write_all(&fatal(
                        "28000",
                        "this server requires TLS: connect with sslmode=require or verify-full",
                    ))
                    .await?;
                return Ok((Box::new(stream), None));
            }
            _ => return Ok((Box::new(stream), Some(packet))),
        }
    }
}

/// The StartupMessage inside a TLS session (encryption requests are answered "no").
async fn startup_after_tls<S>(stream: &mut S) -> std::io::Result<Vec<u8>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let packet = read_startup_packet(stream).await?;
        match startup_code(&packet) {
            SSL_REQUEST | GSSENC_REQUEST => stream.write_all(b"N").await?,
            _ => return Ok(packet),
        }
    }
}

const CANCEL_REQUEST: u32 = 80_877_102;

fn startup_code(packet: &[u8]) -> u32 {
    u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]])
}

/// One length-prefixed startup packet (length included), at most [`MAX_STARTUP_BYTES`].
async fn read_startup_packet<S>(stream: &mut S) -> std::io::Result<Vec<u8>>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut length = [0u8; 4];
    stream.read_exact(&mut length).await?;
    let length = u32::from_be_bytes(length) as usize;
    if !(8..=MAX_STARTUP_BYTES).contains(&length) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a startup packet of {length} bytes"),
        ));
    }
    let mut packet = vec![0u8; length];
    packet[..4].copy_from_slice(&(length as u32).to_be_bytes());
    stream.read_exact(&mut packet[4..]).await?;
    Ok(packet)
}

/// Follows the typed messages a client sends (a type byte, then a length that counts itself)
/// without holding them, refusing one longer than [`MAX_MESSAGE_BYTES`].
#[derive(Debug, Default)]
struct MessageFrames {
    header: Vec<u8>,
    remaining: usize,
}

impl MessageFrames {
    /// Whether `data`, the next bytes of the stream, keeps every message within the limit.
    fn accept(&mut self, mut data: &[u8]) -> bool {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = self.remaining.min(data.len());
                self.remaining -= n;
                data = &data[n..];
                continue;
            }
            let take = (5 - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.header.len() == 5 {
                let length = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]) as usize;
                if !(4..=MAX_MESSAGE_BYTES + 4).contains(&length) {
                    return false;
                }
                self.remaining = length - 4;
                self.header.clear();
            }
        }
        true
    }
}

struct Handlers {
    queries: Arc<Queries>,
    tokens: Arc<Tokens>,
    /// Sessions by process id and secret key, so a cancel request stops its query.
    connections: Arc<ConnectionManager>,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.queries.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.server_version = SERVER_VERSION.into();
        parameters.is_superuser = false;
        parameters.default_transaction_read_only = true;
        Arc::new(
            CleartextPasswordAuthStartupHandler::new(
                TokenPasswords {
                    tokens: self.tokens.clone(),
                },
                parameters,
            )
            .with_connection_manager(self.connections.clone()),
        )
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        Arc::new(DefaultCancelHandler::new(self.connections.clone()))
    }
}

/// Passwords are API tokens with the `read` scope.
#[derive(Debug)]
struct TokenPasswords {
    tokens: Arc<Tokens>,
}

#[async_trait]
impl AuthSource for TokenPasswords {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        // Only hashes are stored: there is no password to hand out.
        Err(PgWireError::InvalidPassword(
            login.user().unwrap_or_default().to_owned(),
        ))
    }

    async fn verify_password(
        &self,
        login: &LoginInfo,
        presented_password: &[u8],
    ) -> PgWireResult<Option<()>> {
        if !self.tokens.enabled() {
            // No tokens: the listener is on loopback only (checked when it was bound).
            return Ok(None);
        }
        let token = std::str::from_utf8(presented_password).unwrap_or_default();
        match self.tokens.authorize(Some(token.trim()), Scope::Read) {
            Ok(_) => Ok(None),
            Err(_) => Err(PgWireError::InvalidPassword(
                login.user().unwrap_or_default().to_owned(),
            )),
        }
    }
}

struct Queries {
    engine: Engine,
}

#[async_trait]
impl SimpleQueryHandler for Queries {
    async fn do_query<C>(&self, _client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statement = without_comments(query);
        if statement.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        // Answered here only when it is one statement; anything else goes to the guard, which
        // refuses several statements.
        if !statement.contains(';') {
            if let Some(response) = session_statement(&statement) {
                return Ok(vec![response]);
            }
            if let Some(rows) = catalog_query(&statement) {
                return Ok(vec![rows?]);
            }
        }
        let output = match kpi_call(&statement) {
            Some(call) => {
                let (id, range) = call?;
                self.engine
                    .run_kpi(&id, range)
                    .await
                    .map(|(_, output)| output)
                    .map_err(query_error)?
            }
            None => self.engine.run_sql(query).await.map_err(query_error)?,
        };
        if output.truncated {
            // A cut result would be a wrong number on a dashboard.
            return Err(user_error(
                "54000",
                format!(
                    "the result has more than {} rows (query.max_rows); aggregate, filter or add a LIMIT",
                    output.num_rows()
                ),
            ));
        }
        Ok(vec![Response::Query(encode(&output)?)])
    }
}

/// The statement without comments and surrounding whitespace and semicolons (`-- ping`, a
/// driver's health check, is empty).
fn without_comments(query: &str) -> String {
    let mut text = String::with_capacity(query.len());
    let mut rest = query;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r);
        } else {
            let next = rest
                .char_indices()
                .skip(1)
                .find(|(i, _)| rest[*i..].starts_with("--") || rest[*i..].starts_with("/*"))
                .map_or(rest.len(), |(i, _)| i);
            // Comment markers inside quotes are text: leave a quoted statement as it is.
            if rest[..next].contains('\'') || rest[..next].contains('"') {
                text.push_str(rest);
                break;
            }
            text.push_str(&rest[..next]);
            rest = &rest[next..];
        }
    }
    text.trim().trim_matches(';').trim().to_string()
}

/// Transaction, `SET`, `SHOW` and prepared-statement housekeeping: no-ops on a read-only
/// session, answered with the tags clients wait for.
fn session_statement(statement: &str) -> Option<Response> {
    let lower = statement.to_ascii_lowercase();
    let first = lower.split_whitespace().next().unwrap_or_default();
    Some(match first {
        "begin" | "start" => Response::TransactionStart(Tag::new("BEGIN")),
        "commit" | "end" => Response::TransactionEnd(Tag::new("COMMIT")),
        "rollback" | "abort" => Response::TransactionEnd(Tag::new("ROLLBACK")),
        "set" => Response::Execution(Tag::new("SET")),
        "reset" => Response::Execution(Tag::new("RESET")),
        "deallocate" => Response::Execution(Tag::new("DEALLOCATE")),
        "discard" => Response::Execution(Tag::new("DISCARD ALL")),
        "show" if lower.split_whitespace().count() == 2 => {
            let name = lower
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .trim_matches('"')
                .to_string();
            let value = match name.as_str() {
                "server_version" => SERVER_VERSION.to_string(),
                "server_version_num" => SERVER_VERSION_NUM.to_string(),
                "transaction_read_only" | "default_transaction_read_only" => "on".into(),
                "search_path" => "public".into(),
                "timezone" => "Etc/UTC".into(),
                "datestyle" => "ISO, YMD".into(),
                "client_encoding" | "server_encoding" => "UTF8".into(),
                "standard_conforming_strings" => "on".into(),
                "transaction_isolation" | "default_transaction_isolation" => {
                    "read committed".into()
                }
                _ => {
                    return Some(Response::Error(Box::new(ErrorInfo::new(
                        "ERROR".into(),
                        "42704".into(),
                        format!("unrecognized configuration parameter \"{name}\""),
                    ))));
                }
            };
            return Some(text_rows(&[name.as_str()], vec![vec![Some(value)]]));
        }
        _ => return None,
    })
}

/// A result of text columns.
fn text_rows(columns: &[&str], rows: Vec<Vec<Option<String>>>) -> Response {
    let fields: Arc<Vec<FieldInfo>> = Arc::new(
        columns
            .iter()
            .map(|c| FieldInfo::new((*c).to_string(), None, None, Type::TEXT, FieldFormat::Text))
            .collect(),
    );
    let mut encoder = DataRowEncoder::new(fields.clone());
    let data: Vec<PgWireResult<DataRow>> = rows
        .into_iter()
        .map(|row| {
            for value in &row {
                encoder.encode_field(value)?;
            }
            Ok(encoder.take_row())
        })
        .collect();
    Response::Query(QueryResponse::new(fields, stream::iter(data)))
}

/// The tables clients can query: the lake's classes and the dead letters.
fn lake_tables() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let mut tables: Vec<(&'static str, Vec<(&'static str, &'static str)>)> = Table::ALL
        .iter()
        .map(|t| {
            (
                t.name(),
                t.columns()
                    .iter()
                    .map(|c| (c.name, pg_type_name(c.kind)))
                    .collect(),
            )
        })
        .collect();
    tables.push((
        "dead_letters",
        vec![
            ("time", "timestamp with time zone"),
            ("source", "text"),
            ("origin", "text"),
            ("kind", "text"),
            ("reason", "text"),
            ("raw_len", "bigint"),
        ],
    ));
    tables.sort_by_key(|(name, _)| *name);
    tables
}

fn pg_type_name(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Ts => "timestamp with time zone",
        ColumnKind::Str => "text",
        ColumnKind::I32 => "integer",
        ColumnKind::I64 => "bigint",
        ColumnKind::F64 => "double precision",
        ColumnKind::Bool => "boolean",
        ColumnKind::StrList => "ARRAY",
    }
}

/// The catalog queries Grafana's PostgreSQL editor sends (and their simpler forms), answered
/// from the lake's schema: DataFusion cannot run them (`current_setting`, `generate_series`
/// over the search path, `parse_ident`), and they need PostgreSQL type names.
fn catalog_query(statement: &str) -> Option<PgWireResult<Response>> {
    let lower = statement.to_ascii_lowercase();
    if !lower.starts_with("select") {
        return None;
    }
    if lower.contains("current_setting('server_version_num')") {
        let column = if lower.contains(" as version") {
            "version"
        } else {
            "current_setting"
        };
        let value = if lower.contains("/100") {
            (SERVER_VERSION_NUM / 100).to_string()
        } else {
            SERVER_VERSION_NUM.to_string()
        };
        return Some(Ok(text_rows(&[column], vec![vec![Some(value)]])));
    }
    if lower.contains("version()")
        && lower.trim_start().starts_with("select")
        && !lower.contains(" from ")
    {
        return Some(Ok(text_rows(
            &["version"],
            vec![vec![Some(format!(
                "PostgreSQL {SERVER_VERSION} (ztlens {})",
                env!("CARGO_PKG_VERSION")
            ))]],
        )));
    }
    if lower.contains("from pg_extension") {
        return Some(Ok(text_rows(&["extversion"], Vec::new())));
    }
    if lower.contains("information_schema.schemata") {
        let column = if lower.contains("as \"name\"") {
            "name"
        } else {
            "schema_name"
        };
        return Some(Ok(text_rows(&[column], vec![vec![Some("public".into())]])));
    }
    if lower.contains("information_schema.columns") {
        let table = quoted_after(&lower, "table_name) = '")
            .or_else(|| quoted_after(&lower, "table_name = '"))
            .or_else(|| {
                quoted_after(&lower, "parse_ident('").map(|t| {
                    t.rsplit('.')
                        .next()
                        .unwrap_or_default()
                        .trim_matches('"')
                        .to_string()
                })
            });
        let tables = lake_tables();
        let columns = table
            .and_then(|t| tables.iter().find(|(name, _)| *name == t))
            .map(|(_, columns)| columns.clone())
            .unwrap_or_default();
        let (name_column, type_column) = if lower.contains("as \"column\"") {
            ("column", "type")
        } else {
            ("column_name", "data_type")
        };
        return Some(Ok(text_rows(
            &[name_column, type_column],
            columns
                .into_iter()
                .map(|(c, t)| vec![Some(c.to_string()), Some(t.to_string())])
                .collect(),
        )));
    }
    if lower.contains("information_schema.tables") {
        let column = if lower.contains("as \"table\"") {
            "table"
        } else {
            "table_name"
        };
        return Some(Ok(text_rows(
            &[column],
            lake_tables()
                .into_iter()
                .map(|(name, _)| vec![Some(name.to_string())])
                .collect(),
        )));
    }
    None
}

/// The text between `marker` and the next `'`.
fn quoted_after(text: &str, marker: &str) -> Option<String> {
    let start = text.find(marker)? + marker.len();
    let end = text[start..].find('\'')?;
    Some(text[start..start + end].to_string())
}

/// `SELECT * FROM ztlens_kpi('id', 'from', 'to'[, 'step'])` (without comments): the KPI and
/// its range.
fn kpi_call(statement: &str) -> Option<PgWireResult<(String, TimeRange)>> {
    let lower = statement.to_ascii_lowercase();
    let rest = lower.strip_prefix("select")?.trim_start();
    let rest = rest.strip_prefix('*')?.trim_start();
    let rest = rest.strip_prefix("from")?.trim_start();
    let rest = rest.strip_prefix("ztlens_kpi")?.trim_start();
    let open = statement.len() - rest.len();
    let args = statement[open..]
        .trim()
        .strip_prefix('(')
        .and_then(|a| a.strip_suffix(')'));
    let parsed = args.and_then(|args| {
        args.split(',')
            .map(|a| {
                a.trim()
                    .strip_prefix('\'')
                    .and_then(|a| a.strip_suffix('\''))
                    .map(str::to_string)
            })
            .collect::<Option<Vec<String>>>()
    });
    let usage = || {
        user_error(
            "42601",
            "use SELECT * FROM ztlens_kpi('<kpi id>', '<from>', '<to>'[, '<step>']) with quoted arguments"
                .into(),
        )
    };
    let Some(args) = parsed.filter(|a| (3..=4).contains(&a.len())) else {
        return Some(Err(usage()));
    };
    let now = chrono::Utc::now().timestamp_millis();
    Some(
        TimeRange::parse(
            Some(&args[1]),
            Some(&args[2]),
            args.get(3).map(String::as_str),
            now,
        )
        .map(|range| (args[0].clone(), range))
        .map_err(query_error),
    )
}

fn user_error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message,
    )))
}

/// An engine error as a PostgreSQL error with its SQLSTATE.
fn query_error(e: AnalyticsError) -> PgWireError {
    let code = match &e {
        AnalyticsError::Rejected(_) => "42501",
        AnalyticsError::InvalidQuery(_) => "42601",
        AnalyticsError::InvalidParameter(_) | AnalyticsError::InvalidPolicy(_) => "22023",
        AnalyticsError::UnknownKpi(_) => "42P01",
        AnalyticsError::Timeout(_) => "57014",
        AnalyticsError::ResourcesExhausted(_) | AnalyticsError::QueryTooLarge(_) => "53200",
        AnalyticsError::InvalidDefinition { .. } | AnalyticsError::Internal(_) => "XX000",
    };
    user_error(code, e.public_message())
}

/// A query's rows in the PostgreSQL text format: numbers, booleans and times as their types,
/// anything else (lists, structs) as text.
fn encode(output: &QueryOutput) -> PgWireResult<QueryResponse> {
    let schema: Arc<Schema> = match (&output.schema, output.batches.first()) {
        (Some(schema), _) => schema.clone(),
        (None, Some(batch)) => batch.schema(),
        (None, None) => Arc::new(Schema::empty()),
    };
    let fields: Arc<Vec<FieldInfo>> = Arc::new(
        schema
            .fields()
            .iter()
            .map(|f| {
                FieldInfo::new(
                    f.name().clone(),
                    None,
                    None,
                    pg_type(f.data_type()),
                    FieldFormat::Text,
                )
            })
            .collect(),
    );
    let mut rows: Vec<PgWireResult<DataRow>> = Vec::with_capacity(output.num_rows());
    let mut encoder = DataRowEncoder::new(fields.clone());
    for batch in &output.batches {
        encode_batch(batch, &mut encoder, &mut rows)?;
    }
    Ok(QueryResponse::new(fields, stream::iter(rows)))
}

fn pg_type(data_type: &DataType) -> Type {
    match data_type {
        DataType::Boolean => Type::BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 => Type::INT8,
        DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        _ => Type::TEXT,
    }
}

fn encode_batch(
    batch: &RecordBatch,
    encoder: &mut DataRowEncoder,
    rows: &mut Vec<PgWireResult<DataRow>>,
) -> PgWireResult<()> {
    let to_pg = |e: datafusion::arrow::error::ArrowError| user_error("XX000", e.to_string());
    // Columns read as they are sent: times as UTC instants, the rest as their text.
    let columns: Vec<Arc<dyn Array>> = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Timestamp(_, tz) => {
                cast(c, &DataType::Timestamp(TimeUnit::Microsecond, tz.clone())).map_err(to_pg)
            }
            DataType::Date64 => cast(c, &DataType::Date32).map_err(to_pg),
            t if pg_type(t) == Type::TEXT && !matches!(t, DataType::Utf8) => {
                cast(c, &DataType::Utf8).map_err(to_pg)
            }
            _ => Ok(c.clone()),
        })
        .collect::<PgWireResult<_>>()?;
    for row in 0..batch.num_rows() {
        for column in &columns {
            encode_value(encoder, column.as_ref(), row)?;
        }
        rows.push(Ok(encoder.take_row()));
    }
    Ok(())
}

fn encode_value(encoder: &mut DataRowEncoder, column: &dyn Array, row: usize) -> PgWireResult<()> {
    macro_rules! value {
        ($array:ty, $convert:expr) => {{
            let array = column
                .as_any()
                .downcast_ref::<$array>()
                .expect("cast to the type pg_type names");
            let value = (!array.is_null(row)).then(|| $convert(array.value(row)));
            encoder.encode_field(&value)
        }};
    }
    if column.is_null(row) && column.data_type() == &DataType::Null {
        return encoder.encode_field(&None::<String>);
    }
    match column.data_type() {
        DataType::Boolean => value!(BooleanArray, |v: bool| v),
        DataType::Int8 => value!(Int8Array, |v: i8| v as i16),
        DataType::Int16 => value!(Int16Array, |v: i16| v),
        DataType::UInt8 => value!(UInt8Array, |v: u8| v as i16),
        DataType::Int32 => value!(Int32Array, |v: i32| v),
        DataType::UInt16 => value!(UInt16Array, |v: u16| v as i32),
        DataType::Int64 => value!(Int64Array, |v: i64| v),
        DataType::UInt32 => value!(UInt32Array, |v: u32| v as i64),
        DataType::Float32 => value!(Float32Array, |v: f32| v),
        DataType::Float64 => value!(Float64Array, |v: f64| v),
        DataType::Timestamp(_, tz) => {
            let array =
                column.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
            let instant = (!array.is_null(row))
                .then(|| chrono::DateTime::from_timestamp_micros(array.value(row)))
                .flatten();
            if tz.is_some() {
                encoder.encode_field(&instant)
            } else {
                encoder.encode_field(&instant.map(|i| i.naive_utc()))
            }
        }
        DataType::Date32 => {
            let array = column.as_primitive::<datafusion::arrow::datatypes::Date32Type>();
            // Days since 1970 to days since year 1 (checked: the far ends do not fit).
            let date = (!array.is_null(row))
                .then(|| array.value(row).checked_add(719_163))
                .flatten()
                .and_then(chrono::NaiveDate::from_num_days_from_ce_opt);
            encoder.encode_field(&date)
        }
        _ => {
            let array = column.as_string::<i32>();
            let value = (!array.is_null(row)).then(|| array.value(row).to_string());
            encoder.encode_field(&value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_health_checks_are_empty_and_quotes_are_kept() {
        assert_eq!(without_comments("-- ping"), "");
        assert_eq!(without_comments(" ; "), "");
        assert_eq!(without_comments("/* x */ SELECT 1; -- y"), "SELECT 1");
        assert_eq!(
            without_comments("SELECT '--not a comment'"),
            "SELECT '--not a comment'"
        );
    }

    /// Regression: a 1 GiB Query message was buffered before authentication. The guard follows
    /// message boundaries however the bytes are cut and refuses a length past the limit.
    #[test]
    fn messages_past_the_limit_are_refused_wherever_the_stream_is_cut() {
        let message = |kind: u8, body: usize| {
            let mut m = vec![kind];
            m.extend_from_slice(&((body + 4) as u32).to_be_bytes());
            m.extend(std::iter::repeat_n(b'x', body));
            m
        };
        let fine = [
            message(b'p', 10),
            message(b'Q', MAX_MESSAGE_BYTES),
            message(b'X', 0),
        ]
        .concat();
        for cut in [1, 3, 5, 7, 4096, fine.len()] {
            let mut frames = MessageFrames::default();
            assert!(fine.chunks(cut).all(|c| frames.accept(c)), "cut {cut}");
        }
        let mut frames = MessageFrames::default();
        assert!(frames.accept(&message(b'p', 3)));
        assert!(!frames.accept(&[b'Q', 0x3f, 0xff, 0xff, 0xfd]));
        let mut frames = MessageFrames::default();
        assert!(
            !frames.accept(&[b'p', 0, 0, 0, 3]),
            "a length below its own size"
        );
        assert_eq!(fatal("53300", "x")[0], b'E');
    }

    #[test]
    fn kpi_calls_name_the_kpi_and_range() {
        let (id, range) = kpi_call(&without_comments(
            "SELECT * FROM ztlens_kpi('mfa_outcomes_by_country', '2026-03-01', '2026-03-08', '1d');",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(id, "mfa_outcomes_by_country");
        assert_eq!(range.step_ms(), Some(86_400_000));
        assert!(kpi_call("SELECT * FROM ztlens_kpi(1, 2)").unwrap().is_err());
        assert!(kpi_call("SELECT * FROM authentication").is_none());
    }

    #[test]
    fn grafanas_catalog_queries_are_answered_from_the_lake_schema() {
        let tables = r#"SELECT CASE WHEN quote_ident(table_schema) IN (SELECT CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END FROM generate_series(array_lower(string_to_array(current_setting('search_path'),','),1), array_upper(string_to_array(current_setting('search_path'),','),1)) as i, string_to_array(current_setting('search_path'),',') s) THEN quote_ident(table_name) ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS "table" FROM information_schema.tables WHERE quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog') ORDER BY 1"#;
        assert!(matches!(
            catalog_query(tables),
            Some(Ok(Response::Query(_)))
        ));
        let columns = r#"SELECT quote_ident(column_name) AS "column", data_type AS "type" FROM information_schema.columns WHERE quote_ident(table_name) = 'authentication'"#;
        assert!(matches!(
            catalog_query(columns),
            Some(Ok(Response::Query(_)))
        ));
        assert!(catalog_query("SELECT 1").is_none());
        assert_eq!(
            quoted_after(&columns.to_ascii_lowercase(), "table_name) = '"),
            Some("authentication".into())
        );
    }
}
