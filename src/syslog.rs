//! Syslog listeners (`[[syslog]]`): RFC 5424 and RFC 3164 messages over TCP (octet counting
//! or newline framing) and UDP, for firewalls, VPN concentrators, web servers and identity
//! providers that only speak syslog. Each listener reads one source format (or `auto`); a
//! message's MSG part is the vendor record (`ztlens_ingest::syslog`).
//!
//! Syslog has no acknowledgement and no authentication, so:
//! - a listener on anything but loopback must list the networks it accepts (`allowed_peers`);
//!   other peers are refused and counted;
//! - the queue of messages waiting for the lake is bounded in bytes (`max_queue_bytes`): TCP is
//!   back-pressured (a connection is not read while the queue is full, so the sender buffers),
//!   UDP cannot wait, and a datagram that finds the queue full is counted as dropped
//!   (`ztlens_syslog_dropped_total`);
//! - messages are stored in groups (at most `batch_messages`, or after `batch_millis`) with one
//!   WAL append; what is queued when the process is killed is lost (at most the queue), which
//!   is the protocol's limit — use Kafka or OTLP where that matters;
//! - on shutdown each connection's pending bytes are read and stored for up to
//!   [`SHUTDOWN_DRAIN`]; what cannot be stored by then is counted as dropped, so a backlog
//!   cannot hold the process past its stop timeout.
//!
//! Imports nothing of the binary (`config` and `metrics` import it).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ipnet::IpNet;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use ztlens_ingest::SourceFormat;
use ztlens_ingest::pipeline::{Message, Pipeline, Refusal, WhenBroken};
use ztlens_ingest::record::ErrorKind;
use ztlens_ingest::syslog::{SyslogFrame, SyslogFramer, message_body};

/// Transport of a syslog listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogProtocol {
    Tcp,
    Udp,
}

/// `[[syslog]]`: one listener.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// Address to listen on, e.g. `0.0.0.0:5514` (port 0 picks a free one).
    pub listen: String,
    /// `tcp` (RFC 6587: octet counting or one message per line) or `udp` (one per datagram).
    pub protocol: SyslogProtocol,
    /// Source format of the messages' records (`nginx`, `okta`, … any `--source` name), or
    /// `auto` to recognize each one.
    pub source: String,
    /// Networks (CIDR, e.g. `10.20.0.0/16`, or single addresses) whose messages are accepted.
    /// Empty: loopback only, and the listener must then listen on loopback.
    #[serde(default)]
    pub allowed_peers: Vec<String>,
    /// Largest message (bytes); a longer one is stored as a dead letter with its start.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// TCP connections open at once at most; more are closed when accepted.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds a TCP connection may stay silent before it is closed.
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    /// Messages stored in one append at most.
    #[serde(default = "default_batch_messages")]
    pub batch_messages: usize,
    /// Milliseconds a message waits for others before its group is stored.
    #[serde(default = "default_batch_millis")]
    pub batch_millis: u64,
    /// Bytes of messages waiting to be stored at most (each counted as at least 256); TCP
    /// connections wait while it is full, UDP datagrams are dropped and counted.
    #[serde(default = "default_max_queue_bytes")]
    pub max_queue_bytes: usize,
}

fn default_max_message_bytes() -> usize {
    64 * 1024
}
fn default_max_connections() -> usize {
    256
}
fn default_idle_timeout_secs() -> u64 {
    600
}
fn default_batch_messages() -> usize {
    2000
}
fn default_batch_millis() -> u64 {
    200
}
fn default_max_queue_bytes() -> usize {
    32 * 1024 * 1024
}

impl SyslogConfig {
    pub fn validate(&self) -> Result<(), String> {
        let address: SocketAddr = self
            .listen
            .parse()
            .map_err(|_| format!("listen {:?} is not an address:port", self.listen))?;
        self.source_format()?;
        let peers = self.peers()?;
        if peers.is_empty() && !address.ip().is_loopback() {
            return Err(format!(
                "{}: syslog has no authentication; list the networks that may send in allowed_peers, or listen on loopback",
                self.listen
            ));
        }
        if self.max_message_bytes == 0 || self.max_message_bytes > 16 * 1024 * 1024 {
            return Err("max_message_bytes must be between 1 and 16 MiB".into());
        }
        if self.max_connections == 0
            || self.idle_timeout_secs == 0
            || self.batch_messages == 0
            || self.batch_millis == 0
        {
            return Err(
                "max_connections, idle_timeout_secs, batch_messages and batch_millis must be above 0"
                    .into(),
            );
        }
        if self.max_queue_bytes < self.max_message_bytes || self.max_queue_bytes > u32::MAX as usize
        {
            return Err(format!(
                "max_queue_bytes must be between max_message_bytes and {}",
                u32::MAX
            ));
        }
        Ok(())
    }

    fn source_format(&self) -> Result<SourceFormat, String> {
        self.source.parse().map_err(|e| format!("source: {e}"))
    }

    fn peers(&self) -> Result<Vec<IpNet>, String> {
        self.allowed_peers
            .iter()
            .map(|p| {
                p.parse::<IpNet>()
                    .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("allowed_peers: {p:?} is not an address or CIDR network"))
            })
            .collect()
    }
}

/// Syslog metrics, per listener (`tcp://` or `udp://` and its bound address).
#[derive(Clone)]
pub struct SyslogMetrics {
    messages: IntCounterVec,
    dropped: IntCounterVec,
    refused: IntCounterVec,
    connections: IntGaugeVec,
}

impl SyslogMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let connections = IntGaugeVec::new(
            Opts::new(
                "ztlens_syslog_connections",
                "Open TCP connections per syslog listener.",
            ),
            &["listener"],
        )?;
        registry.register(Box::new(connections.clone()))?;
        Ok(Self {
            messages: counter(
                "ztlens_syslog_messages_total",
                "Syslog messages received per listener; all are stored (rows or dead letters) but those counted in ztlens_syslog_dropped_total.",
                &["listener"],
            )?,
            dropped: counter(
                "ztlens_syslog_dropped_total",
                "Syslog messages received but not stored, per listener and reason: udp_queue_full, shutdown (not stored within the drain time), store_failed (the lake refused them for five minutes), dead_letter_budget (unreadable, after the day's dead-letter budget was spent).",
                &["listener", "reason"],
            )?,
            refused: counter(
                "ztlens_syslog_refused_total",
                "Syslog connections and datagrams refused per listener and reason: peer (not in allowed_peers), connection_limit, framing (an octet count far past max_message_bytes; the connection is closed).",
                &["listener", "reason"],
            )?,
            connections,
        })
    }
}

/// How long a stopping listener keeps reading what its connections already sent and storing it.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// How long a group of messages is retried before it is dropped (and counted).
const GIVE_UP_AFTER: Duration = Duration::from_secs(300);

/// Bytes a queued message is counted as at least: its structures cost that much however short
/// it is.
const MESSAGE_OVERHEAD: usize = 256;

/// A bound listener, ready to run.
pub struct SyslogListener {
    config: SyslogConfig,
    source: SourceFormat,
    peers: Vec<IpNet>,
    socket: Socket,
}

enum Socket {
    Tcp(tokio::net::TcpListener),
    Udp(tokio::net::UdpSocket),
}

/// A message waiting to be stored, with its share of the queue's bytes.
type Queued = (Message, OwnedSemaphorePermit);

impl SyslogListener {
    /// Bind the listener's socket now, so a port in use fails the start.
    pub fn bind(config: &SyslogConfig) -> Result<Self, String> {
        config.validate()?;
        let bind_error =
            |e: std::io::Error| format!("syslog: cannot listen on {}: {e}", config.listen);
        let socket = match config.protocol {
            SyslogProtocol::Tcp => {
                let listener = std::net::TcpListener::bind(&config.listen).map_err(bind_error)?;
                listener.set_nonblocking(true).map_err(bind_error)?;
                Socket::Tcp(tokio::net::TcpListener::from_std(listener).map_err(bind_error)?)
            }
            SyslogProtocol::Udp => {
                let socket = std::net::UdpSocket::bind(&config.listen).map_err(bind_error)?;
                socket.set_nonblocking(true).map_err(bind_error)?;
                Socket::Udp(tokio::net::UdpSocket::from_std(socket).map_err(bind_error)?)
            }
        };
        Ok(Self {
            source: config.source_format()?,
            peers: config.peers()?,
            config: config.clone(),
            socket,
        })
    }

    /// The bound address (the port when `listen` asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match &self.socket {
            Socket::Tcp(l) => l.local_addr(),
            Socket::Udp(s) => s.local_addr(),
        }
    }

    /// Receive until `stop`, then store what is queued (within [`SHUTDOWN_DRAIN`]) and return.
    pub async fn run(
        self,
        pipeline: Pipeline,
        metrics: SyslogMetrics,
        stop: watch::Receiver<bool>,
    ) {
        let protocol = match self.config.protocol {
            SyslogProtocol::Tcp => "tcp",
            SyslogProtocol::Udp => "udp",
        };
        let address = self
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| self.config.listen.clone());
        let label = format!("{protocol}://{address}");
        // The queue is bounded by the semaphore's bytes, not by the channel.
        let (queue, queued) = mpsc::unbounded_channel::<Queued>();
        let room = Arc::new(Semaphore::new(self.config.max_queue_bytes));
        let storing = tokio::spawn(store_batches(
            queued,
            pipeline,
            self.config.batch_messages,
            Duration::from_millis(self.config.batch_millis),
            label.clone(),
            metrics.clone(),
            stop.clone(),
        ));
        let receiver = Receiver {
            label,
            source: self.source,
            peers: Arc::new(self.peers),
            max_message_bytes: self.config.max_message_bytes,
            metrics,
            sequence: Arc::new(AtomicU64::new(0)),
            origin_prefix: format!("syslog:{}", chrono::Utc::now().timestamp_millis()),
            room,
            max_queue_bytes: self.config.max_queue_bytes,
        };
        match self.socket {
            Socket::Tcp(listener) => {
                receiver
                    .run_tcp(
                        listener,
                        queue,
                        self.config.max_connections,
                        Duration::from_secs(self.config.idle_timeout_secs),
                        stop,
                    )
                    .await
            }
            Socket::Udp(socket) => receiver.run_udp(socket, queue, stop).await,
        }
        // Every sender is gone once the connections ended: the last groups are stored.
        let _ = storing.await;
    }
}

#[derive(Clone)]
struct Receiver {
    label: String,
    source: SourceFormat,
    peers: Arc<Vec<IpNet>>,
    max_message_bytes: usize,
    metrics: SyslogMetrics,
    sequence: Arc<AtomicU64>,
    origin_prefix: String,
    /// The queue's free bytes.
    room: Arc<Semaphore>,
    max_queue_bytes: usize,
}

impl Receiver {
    fn allowed(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(peer),
            v4 => v4,
        };
        if self.peers.is_empty() {
            return peer.is_loopback();
        }
        self.peers.iter().any(|net| net.contains(&peer))
    }

    fn refuse(&self, reason: &str) {
        self.metrics
            .refused
            .with_label_values(&[&self.label, reason])
            .inc();
    }

    fn drop_messages(&self, reason: &str, n: u64) {
        self.metrics
            .dropped
            .with_label_values(&[&self.label, reason])
            .inc_by(n);
    }

    fn message(&self, frame: SyslogFrame, peer: SocketAddr) -> Message {
        self.metrics
            .messages
            .with_label_values(&[&self.label])
            .inc();
        let n = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        let origin = format!("{}-{n}:{}", self.origin_prefix, peer.ip());
        match frame {
            SyslogFrame::Message(message) => Message {
                source: self.source,
                payload: message_body(&message),
                origin,
                refusal: None,
            },
            SyslogFrame::Oversized { head, total_len } => Message {
                source: self.source,
                refusal: Some(Refusal {
                    kind: ErrorKind::Oversized,
                    reason: format!(
                        "the syslog message of {total_len} bytes exceeds max_message_bytes ({}); its start is kept",
                        self.max_message_bytes
                    ),
                    raw_len: total_len,
                }),
                payload: head,
                origin,
            },
        }
    }

    /// The queue's bytes a message takes.
    fn cost(&self, message: &Message) -> u32 {
        (message.payload.len() + message.origin.len())
            .max(MESSAGE_OVERHEAD)
            .min(self.max_queue_bytes) as u32
    }

    async fn run_tcp(
        &self,
        listener: tokio::net::TcpListener,
        queue: mpsc::UnboundedSender<Queued>,
        max_connections: usize,
        idle_timeout: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let slots = Arc::new(Semaphore::new(max_connections));
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stop.changed() => break,
            };
            let (stream, peer) = match accepted {
                Ok(connection) => connection,
                Err(e) => {
                    tracing::warn!(listener = %self.label, error = %e, "accepting a syslog connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if !self.allowed(peer.ip()) {
                self.refuse("peer");
                tracing::debug!(listener = %self.label, %peer, "syslog peer not in allowed_peers");
                continue;
            }
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                self.refuse("connection_limit");
                continue;
            };
            let receiver = self.clone();
            let queue = queue.clone();
            let stop = stop.clone();
            connections.spawn(async move {
                let _slot = slot;
                let gauge = receiver
                    .metrics
                    .connections
                    .with_label_values(&[&receiver.label]);
                gauge.inc();
                receiver
                    .read_connection(stream, peer, queue, idle_timeout, stop)
                    .await;
                gauge.dec();
            });
            // Reap finished connections so the set does not grow.
            while connections.try_join_next().is_some() {}
        }
        drop(queue);
        while connections.join_next().await.is_some() {}
    }

    async fn read_connection(
        &self,
        mut stream: tokio::net::TcpStream,
        peer: SocketAddr,
        queue: mpsc::UnboundedSender<Queued>,
        idle_timeout: Duration,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut framer = SyslogFramer::new(self.max_message_bytes);
        let mut chunk = vec![0u8; 64 * 1024];
        let mut frames = Vec::new();
        let mut pending: VecDeque<Message> = VecDeque::new();
        let mut stopping = false;
        loop {
            let read = tokio::select! {
                read = tokio::time::timeout(idle_timeout, stream.read(&mut chunk)) => read,
                _ = stop.changed() => {
                    stopping = true;
                    break;
                }
            };
            match read {
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => framer.push(&chunk[..n], &mut frames),
                Ok(Err(e)) => {
                    tracing::debug!(listener = %self.label, %peer, error = %e, "syslog connection failed");
                    break;
                }
                Err(_) => {
                    tracing::debug!(listener = %self.label, %peer, "syslog connection idle; closed");
                    break;
                }
            }
            pending.extend(frames.drain(..).map(|f| self.message(f, peer)));
            if framer.is_broken() {
                self.refuse("framing");
                tracing::warn!(listener = %self.label, %peer, "syslog octet count far past max_message_bytes; connection closed");
                break;
            }
            // Waiting here is the back-pressure: the socket is not read while the queue is full.
            if !self.enqueue(&mut pending, &queue, &mut stop).await {
                stopping = true;
                break;
            }
        }
        let deadline = tokio::time::Instant::now() + SHUTDOWN_DRAIN;
        if stopping {
            // What the peer already sent is read and stored, for a bounded time.
            while !framer.is_broken() && tokio::time::Instant::now() < deadline {
                match stream.try_read(&mut chunk) {
                    Ok(n) if n > 0 => framer.push(&chunk[..n], &mut frames),
                    _ => break,
                }
            }
        }
        framer.finish(&mut frames);
        pending.extend(frames.drain(..).map(|f| self.message(f, peer)));
        if !stopping {
            let mut stop = stop.clone();
            self.enqueue(&mut pending, &queue, &mut stop).await;
        }
        self.enqueue_until(&mut pending, peer, &queue, deadline)
            .await;
    }

    /// Queue `pending` from the front, waiting for room; false when the listener stops first
    /// (what is left stays in `pending`).
    async fn enqueue(
        &self,
        pending: &mut VecDeque<Message>,
        queue: &mpsc::UnboundedSender<Queued>,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        while let Some(message) = pending.front() {
            let cost = self.cost(message);
            let permit = tokio::select! {
                permit = self.room.clone().acquire_many_owned(cost) => permit,
                _ = stop.changed() => return false,
            };
            let (Ok(permit), Some(message)) = (permit, pending.pop_front()) else {
                return false;
            };
            if queue.send((message, permit)).is_err() {
                return false;
            }
        }
        true
    }

    /// Queue `pending` until `deadline`; what is left is counted as dropped at shutdown.
    async fn enqueue_until(
        &self,
        pending: &mut VecDeque<Message>,
        peer: SocketAddr,
        queue: &mpsc::UnboundedSender<Queued>,
        deadline: tokio::time::Instant,
    ) {
        while let Some(message) = pending.front() {
            let cost = self.cost(message);
            let permit =
                tokio::time::timeout_at(deadline, self.room.clone().acquire_many_owned(cost)).await;
            let sent = match (permit, pending.pop_front()) {
                (Ok(Ok(permit)), Some(message)) => queue.send((message, permit)).is_ok(),
                _ => false,
            };
            if !sent {
                let rest = 1 + pending.len() as u64;
                pending.clear();
                self.drop_messages("shutdown", rest);
                tracing::warn!(listener = %self.label, %peer, messages = rest, "syslog messages not stored before shutdown");
                return;
            }
        }
    }

    async fn run_udp(
        &self,
        socket: tokio::net::UdpSocket,
        queue: mpsc::UnboundedSender<Queued>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut datagram = vec![0u8; 65_536];
        loop {
            let received = tokio::select! {
                received = socket.recv_from(&mut datagram) => received,
                _ = stop.changed() => break,
            };
            let (n, peer) = match received {
                Ok(received) => received,
                Err(e) => {
                    tracing::debug!(listener = %self.label, error = %e, "receiving a syslog datagram failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            if !self.allowed(peer.ip()) {
                self.refuse("peer");
                continue;
            }
            // A datagram is one message; some senders pack several, one per line.
            for line in datagram[..n]
                .split(|b| *b == b'\n')
                .map(<[u8]>::trim_ascii)
                .filter(|l| !l.is_empty())
            {
                let frame = if line.len() > self.max_message_bytes {
                    SyslogFrame::Oversized {
                        head: line[..self.max_message_bytes].to_vec(),
                        total_len: line.len(),
                    }
                } else {
                    SyslogFrame::Message(line.to_vec())
                };
                let message = self.message(frame, peer);
                let queued = self
                    .room
                    .clone()
                    .try_acquire_many_owned(self.cost(&message))
                    .ok()
                    .and_then(|permit| queue.send((message, permit)).ok());
                if queued.is_none() {
                    self.drop_messages("udp_queue_full", 1);
                }
            }
        }
    }
}

/// Store queued messages in groups until every sender is gone. A group the lake cannot take
/// now (back-pressure, a failing disk) is retried, holding the queue (and so the TCP senders)
/// until it is stored; after [`GIVE_UP_AFTER`] of failures — [`SHUTDOWN_DRAIN`] once the
/// listener is stopping — it is counted as dropped and logged as an error.
async fn store_batches(
    mut queued: mpsc::UnboundedReceiver<Queued>,
    pipeline: Pipeline,
    batch_messages: usize,
    linger: Duration,
    label: String,
    metrics: SyslogMetrics,
    stop: watch::Receiver<bool>,
) {
    let mut warned_budget: Option<tokio::time::Instant> = None;
    loop {
        let Some(first) = queued.recv().await else {
            return;
        };
        let mut batch = Vec::with_capacity(batch_messages);
        let mut permits = Vec::with_capacity(batch_messages);
        let (message, permit) = first;
        batch.push(message);
        permits.push(permit);
        let deadline = tokio::time::Instant::now() + linger;
        while batch.len() < batch_messages {
            match tokio::time::timeout_at(deadline, queued.recv()).await {
                Ok(Some((message, permit))) => {
                    batch.push(message);
                    permits.push(permit);
                }
                Ok(None) | Err(_) => break,
            }
        }
        let batch = Arc::new(batch);
        let failing_since = tokio::time::Instant::now();
        let mut backoff = Duration::from_millis(50);
        loop {
            match pipeline
                .ingest_messages(batch.clone(), WhenBroken::Store)
                .await
            {
                Ok(receipt) => {
                    if receipt.dead_letters_not_kept > 0 {
                        metrics
                            .dropped
                            .with_label_values(&[&label, "dead_letter_budget"])
                            .inc_by(receipt.dead_letters_not_kept);
                        if warned_budget.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                            warned_budget = Some(tokio::time::Instant::now());
                            tracing::warn!(listener = %label, "unreadable syslog messages are not kept: today's dead-letter budget is spent (counted in ztlens_syslog_dropped_total)");
                        }
                    }
                    break;
                }
                Err(e) => {
                    let give_up = if *stop.borrow() {
                        SHUTDOWN_DRAIN
                    } else {
                        GIVE_UP_AFTER
                    };
                    if failing_since.elapsed() >= give_up {
                        tracing::error!(listener = %label, error = %e, messages = batch.len(), "syslog messages could not be stored; dropped");
                        metrics
                            .dropped
                            .with_label_values(&[&label, "store_failed"])
                            .inc_by(batch.len() as u64);
                        break;
                    }
                    tracing::warn!(listener = %label, error = %e, retry_in = ?backoff, "storing syslog messages failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
        // The queue's bytes are free once the group is stored (or given up).
        drop(permits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(listen: &str, peers: &[&str]) -> SyslogConfig {
        SyslogConfig {
            listen: listen.into(),
            protocol: SyslogProtocol::Udp,
            source: "nginx".into(),
            allowed_peers: peers.iter().map(|p| p.to_string()).collect(),
            max_message_bytes: default_max_message_bytes(),
            max_connections: default_max_connections(),
            idle_timeout_secs: default_idle_timeout_secs(),
            batch_messages: default_batch_messages(),
            batch_millis: default_batch_millis(),
            max_queue_bytes: default_max_queue_bytes(),
        }
    }

    #[test]
    fn an_exposed_listener_must_name_its_peers() {
        assert!(listener("127.0.0.1:5514", &[]).validate().is_ok());
        let open = listener("0.0.0.0:5514", &[]).validate().unwrap_err();
        assert!(open.contains("allowed_peers"), "{open}");
        assert!(
            listener("0.0.0.0:5514", &["10.0.0.0/8", "192.0.2.7"])
                .validate()
                .is_ok()
        );
        let bad = listener("0.0.0.0:5514", &["10.0.0.0/33"])
            .validate()
            .unwrap_err();
        assert!(bad.contains("10.0.0.0/33"), "{bad}");
        let mut unknown = listener("127.0.0.1:5514", &[]);
        unknown.source = "salesforce".into();
        assert!(unknown.validate().is_err());
        assert!(listener("localhost", &[]).validate().is_err());
    }

    #[test]
    fn peers_are_matched_by_network_and_mapped_addresses_count_as_ipv4() {
        let receiver = |peers: &[&str]| Receiver {
            label: "l".into(),
            source: SourceFormat::Auto,
            peers: Arc::new(listener("0.0.0.0:1", peers).peers().unwrap()),
            max_message_bytes: 10,
            metrics: SyslogMetrics::new(&Registry::new()).unwrap(),
            sequence: Arc::new(AtomicU64::new(0)),
            origin_prefix: "syslog:0".into(),
            room: Arc::new(Semaphore::new(1)),
            max_queue_bytes: 1,
        };
        let lan = receiver(&["10.20.0.0/16"]);
        assert!(lan.allowed("10.20.3.4".parse().unwrap()));
        assert!(lan.allowed("::ffff:10.20.3.4".parse().unwrap()));
        assert!(!lan.allowed("10.21.0.1".parse().unwrap()));
        assert!(!lan.allowed("127.0.0.1".parse().unwrap()));
        let local = receiver(&[]);
        assert!(local.allowed("127.0.0.1".parse().unwrap()));
        assert!(local.allowed("::1".parse().unwrap()));
        assert!(!local.allowed("10.0.0.1".parse().unwrap()));
    }
}
