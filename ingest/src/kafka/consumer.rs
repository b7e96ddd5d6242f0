//! The consumer thread: poll, batch, dispatch, track, commit, pause — and the rebalance
//! callbacks, which librdkafka runs on this same thread from inside `poll`.
//!
//! Every mutation of the offset tracker happens on the consumer thread (the [`Mutex`] in
//! [`Context`] only gives the callbacks interior mutability). The lock is never held across a
//! librdkafka call that may invoke a callback.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message as _;
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};

use super::offsets::{BatchId, OffsetTracker, Run, TrackerError};
use super::worker::{Completion, Message, WorkBatch, WorkerShared, run_worker};
use super::{
    KafkaConfig, KafkaError, KafkaMetrics, KafkaState, KafkaStatus, PartitionStatus, SharedStatus,
    StartFrom,
};
use crate::parsers::SourceFormat;
use crate::pipeline::Pipeline;

/// A partition: (index into the topic list, partition number).
type Key = (u32, i32);

/// A running Kafka source. Stop it with [`KafkaSource::stop`] and wait with
/// [`KafkaSource::join`] (blocking: call it off the async runtime).
pub struct KafkaSource {
    stop: Arc<AtomicBool>,
    status: SharedStatus,
    consumer_thread: Option<JoinHandle<()>>,
}

impl KafkaSource {
    /// Create the consumer, subscribe, and start the consumer and worker threads.
    pub fn start(
        config: &KafkaConfig,
        pipeline: Pipeline,
        metrics: Option<Arc<KafkaMetrics>>,
    ) -> Result<Self, KafkaError> {
        let topics = Arc::new(config.resolve_topics()?);
        let names: Vec<String> = topics.iter().map(|(n, _)| n.clone()).collect();
        if let Some(m) = &metrics {
            m.touch(&names);
        }
        let status: SharedStatus = Arc::new(Mutex::new(KafkaStatus {
            state: KafkaState::Starting,
            group_id: config.group_id.clone(),
            topics: names.clone(),
            ..KafkaStatus::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let context = Context {
            topics: topics.clone(),
            topic_index: names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i as u32))
                .collect(),
            inner: Mutex::new(Inner::default()),
            done: Mutex::new(done_rx),
            drain_timeout: Duration::from_millis(config.drain_timeout_ms),
            metrics: metrics.clone(),
            status: status.clone(),
        };
        let consumer: BaseConsumer<Context> = client_config(config).create_with_context(context)?;
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        consumer.subscribe(&refs)?;

        let dead_letter_topic = match &config.dead_letter_topic {
            Some(topic) => {
                let mut producer_config = ClientConfig::new();
                producer_config.set("bootstrap.servers", &config.bootstrap_servers);
                for (k, v) in &config.properties {
                    // Consumer-only properties would make the producer refuse to start.
                    if !k.starts_with("session.")
                        && !k.starts_with("max.poll")
                        && !k.starts_with("partition.assignment")
                        && !k.starts_with("queued.")
                        && !k.starts_with("fetch.")
                        && !k.starts_with("auto.offset")
                    {
                        producer_config.set(k, v);
                    }
                }
                Some((producer_config.create()?, topic.clone()))
            }
            None => None,
        };
        let shared = Arc::new(WorkerShared {
            pipeline,
            topics,
            metrics,
            dead_letter_topic,
            stop: stop.clone(),
        });
        let workers = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (work_tx, work_rx) = std::sync::mpsc::channel::<WorkBatch>();
        let work_rx = Arc::new(Mutex::new(work_rx));
        let mut worker_threads = Vec::with_capacity(workers);
        for i in 0..workers {
            let (shared, work_rx, done_tx) = (shared.clone(), work_rx.clone(), done_tx.clone());
            worker_threads.push(
                std::thread::Builder::new()
                    .name(format!("kafka-parse-{i}"))
                    .spawn(move || run_worker(shared, work_rx, done_tx))
                    .expect("spawn parse worker"),
            );
        }
        drop(done_tx);
        let settings = LoopSettings {
            batch_messages: config.batch_messages,
            batch_wait: Duration::from_millis(config.batch_wait_ms),
            commit_interval: Duration::from_millis(config.commit_interval_ms),
            max_in_flight_bytes: config.max_in_flight_bytes,
        };
        let loop_stop = stop.clone();
        let loop_status = status.clone();
        let consumer_thread = std::thread::Builder::new()
            .name("kafka-consumer".into())
            .spawn(move || {
                consume_loop(&consumer, &work_tx, &loop_stop, settings);
                drop(work_tx);
                for w in worker_threads {
                    let _ = w.join();
                }
                // Dropping the consumer leaves the group (the revoke callback commits again,
                // which finds nothing new).
                drop(consumer);
                loop_status.lock().expect("not poisoned").state = KafkaState::Stopped;
            })
            .expect("spawn consumer thread");
        Ok(Self {
            stop,
            status,
            consumer_thread: Some(consumer_thread),
        })
    }

    pub fn status(&self) -> SharedStatus {
        self.status.clone()
    }

    /// Ask the source to drain, commit and leave the group.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Wait until the source has stopped (blocking).
    pub fn join(mut self) {
        if let Some(t) = self.consumer_thread.take() {
            let _ = t.join();
        }
    }

    /// Whether the consumer thread is still running.
    pub fn is_running(&self) -> bool {
        self.consumer_thread
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }
}

impl Drop for KafkaSource {
    fn drop(&mut self) {
        self.stop();
        if let Some(t) = self.consumer_thread.take() {
            let _ = t.join();
        }
    }
}

fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &config.bootstrap_servers)
        .set("group.id", &config.group_id)
        .set(
            "auto.offset.reset",
            match config.start_from {
                StartFrom::Earliest => "earliest",
                StartFrom::Latest => "latest",
            },
        )
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set(
            "statistics.interval.ms",
            config.statistics_interval_ms.to_string(),
        )
        // librdkafka's prefetch queue counts against the memory budget too.
        .set(
            "queued.max.messages.kbytes",
            (config.max_in_flight_bytes / 1024 / 2)
                .clamp(1024, 2_097_151)
                .to_string(),
        )
        // When that queue is full, librdkafka waits this long before fetching the partition
        // again (default 1 s): with parse workers emptying the queue in well under a second the
        // default left the consumer idle (measured, docs/performance.md).
        .set("fetch.queue.backoff.ms", "20")
        .set_log_level(RDKafkaLogLevel::Warning);
    for (k, v) in &config.properties {
        c.set(k, v);
    }
    // The delivery guarantee: offsets are committed by ztlens only, and only when durable.
    c.set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    c
}

#[derive(Clone, Copy)]
struct LoopSettings {
    batch_messages: usize,
    batch_wait: Duration,
    commit_interval: Duration,
    max_in_flight_bytes: usize,
}

#[derive(Default)]
struct Inner {
    tracker: OffsetTracker<Key>,
    pending: Vec<Message>,
    pending_bytes: usize,
    pending_since: Option<Instant>,
    in_flight: HashMap<BatchId, Vec<Key>>,
    in_flight_bytes: usize,
    paused: bool,
}

impl Inner {
    fn total_bytes(&self) -> usize {
        self.in_flight_bytes + self.pending_bytes
    }
}

struct Context {
    topics: Arc<Vec<(String, SourceFormat)>>,
    topic_index: HashMap<String, u32>,
    inner: Mutex<Inner>,
    done: Mutex<Receiver<Completion>>,
    drain_timeout: Duration,
    metrics: Option<Arc<KafkaMetrics>>,
    status: SharedStatus,
}

impl Context {
    fn key_of(&self, topic: &str, partition: i32) -> Option<Key> {
        self.topic_index.get(topic).map(|&i| (i, partition))
    }

    fn topic_name(&self, key: Key) -> &str {
        &self.topics[key.0 as usize].0
    }

    fn set_state(&self, state: KafkaState) {
        self.status.lock().expect("not poisoned").state = state;
    }

    fn record_error(&self, message: String) {
        self.status.lock().expect("not poisoned").last_error = Some(message);
    }

    /// Take completions; with `wait`, block up to that long for the first one. Returns false
    /// once every worker is gone (nothing more can complete).
    fn drain_completions(&self, wait: Option<Duration>) -> bool {
        let done = self.done.lock().expect("not poisoned");
        let mut connected = true;
        let mut first = match wait {
            Some(w) => match done.recv_timeout(w) {
                Ok(c) => Some(c),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    connected = false;
                    None
                }
            },
            None => None,
        };
        let mut inner = self.inner.lock().expect("not poisoned");
        let mut messages = 0;
        let mut dead_letters = 0;
        loop {
            let completion = match first.take() {
                Some(c) => c,
                None => match done.try_recv() {
                    Ok(c) => c,
                    Err(_) => break,
                },
            };
            inner.in_flight.remove(&completion.id);
            inner.in_flight_bytes -= completion.bytes;
            if completion.durable {
                inner.tracker.complete(completion.id);
            } else {
                inner.tracker.abandon(completion.id);
            }
            messages += completion.messages;
            dead_letters += completion.dead_letters;
        }
        let bytes = inner.total_bytes();
        drop(inner);
        if let Some(m) = &self.metrics {
            m.in_flight_bytes.set(bytes as i64);
        }
        let mut status = self.status.lock().expect("not poisoned");
        status.messages += messages;
        status.dead_letters += dead_letters;
        status.in_flight_bytes = bytes;
        connected
    }

    /// Wait until no batch touching `keys` is in flight, or the drain timeout passes.
    fn wait_for(&self, keys: &BTreeSet<Key>) -> bool {
        let deadline = Instant::now() + self.drain_timeout;
        loop {
            let busy = {
                let inner = self.inner.lock().expect("not poisoned");
                inner
                    .in_flight
                    .values()
                    .any(|members| members.iter().any(|k| keys.contains(k)))
            };
            if !busy {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if !self.drain_completions(Some(left.min(Duration::from_millis(50)))) {
                return false;
            }
        }
    }

    /// Commit the durable positions (of `only` partitions, when given), synchronously.
    fn commit(&self, consumer: &BaseConsumer<Context>, only: Option<&[(Key, i64)]>) {
        let positions: Vec<(Key, i64)> = match only {
            Some(list) => list.to_vec(),
            None => self.inner.lock().expect("not poisoned").tracker.to_commit(),
        };
        if positions.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in &positions {
            let _ = tpl.add_partition_offset(
                &self.topics[*topic as usize].0,
                *partition,
                Offset::Offset(*offset),
            );
        }
        let started = Instant::now();
        let result = consumer.commit(&tpl, CommitMode::Sync);
        if let Some(m) = &self.metrics {
            m.commit_seconds.observe(started.elapsed().as_secs_f64());
        }
        match result {
            Ok(()) => self.mark_committed(&positions),
            Err(e) => {
                if let Some(m) = &self.metrics {
                    m.commits.with_label_values(&["error"]).inc();
                }
                tracing::warn!(error = %e, "offset commit failed; will retry");
                self.record_error(format!("offset commit failed: {e}"));
            }
        }
    }

    fn mark_committed(&self, positions: &[(Key, i64)]) {
        let mut inner = self.inner.lock().expect("not poisoned");
        for (key, offset) in positions {
            inner.tracker.mark_committed(key, *offset);
            if let Some(m) = &self.metrics {
                m.committed_offset
                    .with_label_values(&[self.topic_name(*key), &key.1.to_string()])
                    .set(*offset);
            }
        }
        drop(inner);
        if let Some(m) = &self.metrics {
            m.commits.with_label_values(&["ok"]).inc();
        }
    }

    fn keys_of(&self, tpl: &TopicPartitionList) -> BTreeSet<Key> {
        tpl.elements()
            .iter()
            .filter_map(|e| self.key_of(e.topic(), e.partition()))
            .collect()
    }

    fn on_revoke(&self, consumer: &BaseConsumer<Context>, tpl: &TopicPartitionList) {
        let keys = self.keys_of(tpl);
        self.set_state(KafkaState::Draining);
        // Messages not yet dispatched are dropped: the partition's next owner reads them again
        // from the committed offset.
        let discarded = {
            let mut inner = self.inner.lock().expect("not poisoned");
            let before = inner.pending.len();
            inner
                .pending
                .retain(|m| !keys.contains(&(m.topic, m.partition)));
            inner.pending_bytes = inner.pending.iter().map(Message::len).sum();
            before - inner.pending.len()
        };
        if let Some(m) = &self.metrics {
            m.discarded_after_revoke.inc_by(discarded as u64);
            m.rebalances.with_label_values(&["revoke"]).inc();
        }
        if !self.wait_for(&keys) {
            tracing::warn!(
                partitions = keys.len(),
                "drain timeout on revoke: batches still in flight are not committed (their rows may be stored twice, which de-duplication absorbs)"
            );
        }
        let positions: Vec<(Key, i64)> = {
            let mut inner = self.inner.lock().expect("not poisoned");
            keys.iter()
                .filter_map(|k| inner.tracker.revoke(k).map(|o| (*k, o)))
                .collect()
        };
        if consumer.assignment_lost() {
            tracing::warn!(
                "assignment lost (session timed out); not committing revoked partitions"
            );
        } else {
            self.commit(consumer, Some(&positions));
        }
        if let Some(m) = &self.metrics {
            for key in &keys {
                let labels = [self.topic_name(*key), &key.1.to_string()];
                let _ = m.lag.remove_label_values(&labels);
                let _ = m.committed_offset.remove_label_values(&labels);
            }
        }
        let mut status = self.status.lock().expect("not poisoned");
        status.rebalances += 1;
        status.partitions.retain(|p| {
            !keys
                .iter()
                .any(|k| self.topic_name(*k) == p.topic && k.1 == p.partition)
        });
        status.state = KafkaState::Running;
    }

    fn on_assign(&self, consumer: &BaseConsumer<Context>, tpl: &TopicPartitionList) {
        let keys = self.keys_of(tpl);
        let paused = {
            let mut inner = self.inner.lock().expect("not poisoned");
            for key in &keys {
                // The fetcher starts at the committed offset; the tracker learns the position
                // from the first durable batch.
                inner.tracker.assign(*key, None);
            }
            inner.paused
        };
        if paused && let Err(e) = consumer.pause(tpl) {
            tracing::warn!(error = %e, "cannot pause newly assigned partitions");
        }
        if let Some(m) = &self.metrics {
            m.rebalances.with_label_values(&["assign"]).inc();
        }
        let mut status = self.status.lock().expect("not poisoned");
        status.rebalances += 1;
        for key in keys {
            status.partitions.push(PartitionStatus {
                topic: self.topic_name(key).to_string(),
                partition: key.1,
                ..PartitionStatus::default()
            });
        }
        status
            .partitions
            .sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        status.state = if paused {
            KafkaState::Paused
        } else {
            KafkaState::Running
        };
    }
}

impl ClientContext for Context {
    fn stats(&self, statistics: Statistics) {
        let inner = self.inner.lock().expect("not poisoned");
        let mut status = self.status.lock().expect("not poisoned");
        for p in status.partitions.iter_mut() {
            let Some(stats) = statistics
                .topics
                .get(&p.topic)
                .and_then(|t| t.partitions.get(&p.partition))
            else {
                continue;
            };
            let key = self.key_of(&p.topic, p.partition);
            let committed = key
                .and_then(|k| inner.tracker.committed(&k))
                .or((stats.committed_offset >= 0).then_some(stats.committed_offset));
            p.committed = committed;
            p.next_offset = (stats.next_offset >= 0).then_some(stats.next_offset);
            p.high_watermark = (stats.hi_offset >= 0).then_some(stats.hi_offset);
            p.lag = match (p.high_watermark, committed) {
                (Some(hi), Some(c)) => Some((hi - c).max(0)),
                (Some(hi), None) if stats.lo_offset >= 0 => Some((hi - stats.lo_offset).max(0)),
                _ => None,
            };
            p.in_flight_batches = key.map_or(0, |k| inner.tracker.in_flight(&k));
            if let (Some(m), Some(lag)) = (&self.metrics, p.lag) {
                m.lag
                    .with_label_values(&[&p.topic, &p.partition.to_string()])
                    .set(lag);
            }
        }
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka client error");
        self.record_error(format!("{error}: {reason}"));
    }
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => self.on_revoke(consumer, tpl),
            Rebalance::Assign(_) => {}
            Rebalance::Error(e) => {
                if let Some(m) = &self.metrics {
                    m.rebalances.with_label_values(&["error"]).inc();
                }
                tracing::warn!(error = %e, "rebalance error");
                self.record_error(format!("rebalance error: {e}"));
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.on_assign(consumer, tpl);
        }
    }

    fn main_queue_min_poll_interval(&self) -> rdkafka::util::Timeout {
        rdkafka::util::Timeout::After(Duration::from_millis(100))
    }
}

fn consume_loop(
    consumer: &BaseConsumer<Context>,
    work: &Sender<WorkBatch>,
    stop: &AtomicBool,
    settings: LoopSettings,
) {
    let ctx = consumer.context().clone();
    let mut last_commit = Instant::now();
    // Since when the undurable bytes are over the budget (see `hold_back`).
    let mut over_since: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        if hold_back(&ctx, settings.max_in_flight_bytes, &mut over_since) {
            // What was received goes to the workers at once: nothing more arrives meanwhile.
            dispatch(&ctx, work, settings, true);
            if !ctx.drain_completions(Some(Duration::from_millis(10))) {
                // Every worker is gone: nothing will complete; do not spin.
                std::thread::sleep(Duration::from_millis(10));
            }
            commit_if_due(consumer, settings, &mut last_commit);
            continue;
        }
        match consumer.poll(Duration::from_millis(20)) {
            Some(Ok(message)) => {
                let Some(key) = ctx.key_of(message.topic(), message.partition()) else {
                    continue;
                };
                let mut inner = ctx.inner.lock().expect("not poisoned");
                if !inner.tracker.is_assigned(&key) {
                    drop(inner);
                    if let Some(m) = &ctx.metrics {
                        m.discarded_after_revoke.inc();
                    }
                    continue;
                }
                let payload = message.payload().map(<[u8]>::to_vec);
                let len = payload.as_ref().map_or(0, Vec::len);
                inner.pending.push(Message {
                    topic: key.0,
                    partition: key.1,
                    offset: message.offset(),
                    payload,
                });
                inner.pending_bytes += len;
                inner.pending_since.get_or_insert_with(Instant::now);
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "kafka consume error");
                ctx.record_error(format!("consume error: {e}"));
            }
            None => {}
        }
        dispatch(&ctx, work, settings, false);
        ctx.drain_completions(None);
        commit_if_due(consumer, settings, &mut last_commit);
        let held_too_long = over_since.is_some_and(|t| t.elapsed() >= SOFT_HOLD);
        apply_backpressure(&ctx, consumer, settings.max_in_flight_bytes, held_too_long);
    }

    // Stop: hand over what was received, let it become durable, commit synchronously.
    ctx.set_state(KafkaState::Draining);
    dispatch(&ctx, work, settings, true);
    let all: BTreeSet<Key> = ctx
        .inner
        .lock()
        .expect("not poisoned")
        .in_flight
        .values()
        .flatten()
        .copied()
        .collect();
    if !ctx.wait_for(&all) {
        tracing::warn!("drain timeout on stop: batches still in flight are not committed");
    }
    ctx.drain_completions(None);
    ctx.commit(consumer, None);
}

/// Commit what is durable once `commit_interval` has passed since the last commit.
fn commit_if_due(
    consumer: &BaseConsumer<Context>,
    settings: LoopSettings,
    last_commit: &mut Instant,
) {
    if last_commit.elapsed() >= settings.commit_interval {
        // Synchronous: one round trip per interval buys an exact acknowledgement (librdkafka
        // emits no commit-result event for async commits through this client's event queue).
        consumer.context().commit(consumer, None);
        *last_commit = Instant::now();
    }
}

/// Hand the pending messages to the workers when the batch is full or old enough (or `force`).
fn dispatch(ctx: &Context, work: &Sender<WorkBatch>, settings: LoopSettings, force: bool) {
    let mut inner = ctx.inner.lock().expect("not poisoned");
    if inner.pending.is_empty() {
        return;
    }
    let due = force
        || inner.pending.len() >= settings.batch_messages
        || inner
            .pending_since
            .is_some_and(|t| t.elapsed() >= settings.batch_wait);
    if !due {
        return;
    }
    let messages = std::mem::take(&mut inner.pending);
    let bytes = std::mem::take(&mut inner.pending_bytes);
    inner.pending_since = None;
    let runs = runs_of(&messages);
    let id = match inner.tracker.dispatch(&runs) {
        Ok(id) => id,
        Err(TrackerError::OutOfOrder { .. }) | Err(TrackerError::NotAssigned(_)) => {
            // librdkafka re-delivered earlier offsets (an offset reset): start the affected
            // partitions over, forgetting their in-flight batches (their rows are de-duplicated).
            tracing::warn!(
                "offsets went backwards; restarting offset tracking of the batch's partitions"
            );
            for run in &runs {
                inner.tracker.assign(run.partition, None);
            }
            inner
                .tracker
                .dispatch(&runs)
                .expect("fresh assignments accept any run")
        }
    };
    inner
        .in_flight
        .insert(id, runs.iter().map(|r| r.partition).collect());
    inner.in_flight_bytes += bytes;
    drop(inner);
    let _ = work.send(WorkBatch {
        id,
        messages,
        bytes,
    });
}

/// One run per partition: messages of a partition arrive in offset order.
fn runs_of(messages: &[Message]) -> Vec<Run<Key>> {
    let mut runs: Vec<Run<Key>> = Vec::new();
    let mut index: HashMap<Key, usize> = HashMap::new();
    for m in messages {
        let key = (m.topic, m.partition);
        match index.get(&key) {
            Some(&i) => runs[i].last = m.offset,
            None => {
                index.insert(key, runs.len());
                runs.push(Run {
                    partition: key,
                    first: m.offset,
                    last: m.offset,
                });
            }
        }
    }
    runs
}

/// How long the consumer stops polling while over the budget before it pauses the partitions.
const SOFT_HOLD: Duration = Duration::from_secs(2);

/// Backpressure, first step: while the bytes received but not durable are over the budget, the
/// consumer stops polling for up to [`SOFT_HOLD`] and waits for the workers. librdkafka's
/// prefetch queue is bounded on its own (`queued.max.messages.kbytes`), so nothing grows, and
/// the prefetched messages stay queued. Pausing instead makes librdkafka discard them and fetch
/// them again on resume, which left the consumer idle for a third of a second each time
/// (docs/performance.md). A longer stall (a lake that cannot write) pauses the partitions
/// ([`apply_backpressure`]), so the consumer can keep polling — rebalances, the poll interval —
/// without taking messages. Returns true while the consumer should hold back.
fn hold_back(ctx: &Context, budget: usize, over_since: &mut Option<Instant>) -> bool {
    let (bytes, paused) = {
        let inner = ctx.inner.lock().expect("not poisoned");
        (inner.total_bytes(), inner.paused)
    };
    if paused || bytes <= budget {
        *over_since = None;
        return false;
    }
    over_since.get_or_insert_with(Instant::now).elapsed() < SOFT_HOLD
}

/// Backpressure, second step: pause every assigned partition once the consumer has held back
/// for [`SOFT_HOLD`] (`held_too_long`), resume when the undurable bytes fall below half the budget.
fn apply_backpressure(
    ctx: &Context,
    consumer: &BaseConsumer<Context>,
    budget: usize,
    held_too_long: bool,
) {
    let (bytes, paused) = {
        let inner = ctx.inner.lock().expect("not poisoned");
        (inner.total_bytes(), inner.paused)
    };
    let change = if !paused && held_too_long && bytes > budget {
        Some(true)
    } else if paused && bytes <= budget / 2 {
        Some(false)
    } else {
        None
    };
    let Some(pause) = change else { return };
    let assignment = match consumer.assignment() {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read assignment for pause/resume");
            return;
        }
    };
    let result = if pause {
        consumer.pause(&assignment)
    } else {
        consumer.resume(&assignment)
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, pause, "pause/resume failed");
        return;
    }
    ctx.inner.lock().expect("not poisoned").paused = pause;
    if let Some(m) = &ctx.metrics {
        m.paused.set(pause as i64);
    }
    ctx.set_state(if pause {
        KafkaState::Paused
    } else {
        KafkaState::Running
    });
}
