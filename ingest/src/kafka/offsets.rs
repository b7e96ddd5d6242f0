//! Which Kafka offsets may be committed: a pure, single-threaded bookkeeping unit.
//!
//! The consumer hands messages to parse workers in batches; batches become durable (rows in the
//! fsynced WAL, refused records in the dead-letter store) in any order. Kafka only stores one
//! offset per partition — "everything below this is done" — so committing the highest durable
//! offset would skip a batch still in flight, and a crash would lose it.
//!
//! Invariants (property-tested in this module):
//! - **no gap**: the position offered for commit never passes an offset that was dispatched and is
//!   not yet durable. Offsets Kafka never delivered (compaction, transaction markers) are not
//!   gaps: contiguity is over the offsets the consumer received, in the order it received them;
//! - **monotone**: the position offered for a partition never moves backwards, not across
//!   batches, revokes or re-assignments (a re-assignment starts from the committed offset);
//! - **epochs**: a batch dispatched under one assignment of a partition cannot move the position
//!   of a later assignment of the same partition (a late completion after a revoke is ignored).

use std::collections::{BTreeMap, HashMap};

/// One dispatched run of a partition: offsets `first..=last` as received, in one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run<P> {
    pub partition: P,
    pub first: i64,
    pub last: i64,
}

/// A handle for a dispatched batch, returned to [`OffsetTracker::complete`] once it is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchId(u64);

/// A request the tracker refuses: the caller broke the consume order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    #[error("partition {0} is not assigned")]
    NotAssigned(String),
    #[error("partition {partition}: run {first}..={last} does not follow offset {previous}")]
    OutOfOrder {
        partition: String,
        first: i64,
        last: i64,
        previous: i64,
    },
}

#[derive(Debug)]
struct PartitionState {
    epoch: u64,
    /// Offset to commit: every received offset below it is durable. `None` until known.
    position: Option<i64>,
    /// The last position handed to Kafka (or read from it at assignment).
    committed: Option<i64>,
    /// Dispatched runs by first offset: (last offset, durable).
    runs: BTreeMap<i64, (i64, bool)>,
    /// Highest offset dispatched under this assignment.
    last_dispatched: Option<i64>,
}

impl PartitionState {
    fn advance(&mut self) {
        while let Some(entry) = self.runs.first_entry() {
            let (last, durable) = *entry.get();
            if !durable {
                break;
            }
            entry.remove();
            let next = last + 1;
            if self.position.is_none_or(|p| next > p) {
                self.position = Some(next);
            }
        }
    }

    fn in_flight(&self) -> usize {
        self.runs.values().filter(|(_, durable)| !durable).count()
    }
}

/// Offsets per assigned partition. `P` names a partition (e.g. `(topic, partition)`).
#[derive(Debug)]
pub struct OffsetTracker<P> {
    partitions: BTreeMap<P, PartitionState>,
    batches: HashMap<BatchId, Vec<(P, u64, i64)>>,
    next_batch: u64,
    next_epoch: u64,
}

impl<P> Default for OffsetTracker<P> {
    fn default() -> Self {
        Self {
            partitions: BTreeMap::new(),
            batches: HashMap::new(),
            next_batch: 0,
            next_epoch: 0,
        }
    }
}

impl<P: Ord + Clone + std::fmt::Debug> OffsetTracker<P> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Start tracking `partition`, whose committed offset in Kafka is `committed` (if any).
    /// Re-assigning a tracked partition starts a new epoch and forgets its in-flight runs.
    pub fn assign(&mut self, partition: P, committed: Option<i64>) {
        self.next_epoch += 1;
        self.partitions.insert(
            partition,
            PartitionState {
                epoch: self.next_epoch,
                position: committed,
                committed,
                runs: BTreeMap::new(),
                last_dispatched: None,
            },
        );
    }

    pub fn is_assigned(&self, partition: &P) -> bool {
        self.partitions.contains_key(partition)
    }

    pub fn assigned(&self) -> impl Iterator<Item = &P> {
        self.partitions.keys()
    }

    /// Record a batch handed to a worker. Runs of one partition must come in receive order.
    /// Nothing is recorded when the batch is refused.
    pub fn dispatch(&mut self, runs: &[Run<P>]) -> Result<BatchId, TrackerError> {
        let mut previous: BTreeMap<&P, i64> = BTreeMap::new();
        for run in runs {
            let state = self
                .partitions
                .get(&run.partition)
                .ok_or_else(|| TrackerError::NotAssigned(format!("{:?}", run.partition)))?;
            let before = previous
                .get(&run.partition)
                .copied()
                .or(state.last_dispatched);
            if run.first > run.last || before.is_some_and(|b| run.first <= b) {
                return Err(TrackerError::OutOfOrder {
                    partition: format!("{:?}", run.partition),
                    first: run.first,
                    last: run.last,
                    previous: before.unwrap_or(-1),
                });
            }
            previous.insert(&run.partition, run.last);
        }
        let id = BatchId(self.next_batch);
        self.next_batch += 1;
        let mut members = Vec::with_capacity(runs.len());
        for run in runs {
            let state = self.partitions.get_mut(&run.partition).expect("checked");
            state.runs.insert(run.first, (run.last, false));
            state.last_dispatched = Some(run.last);
            members.push((run.partition.clone(), state.epoch, run.first));
        }
        self.batches.insert(id, members);
        Ok(id)
    }

    /// A batch is durable. Runs of partitions revoked (or re-assigned) since are ignored.
    /// Completing an unknown or already completed batch does nothing.
    pub fn complete(&mut self, batch: BatchId) {
        let Some(members) = self.batches.remove(&batch) else {
            return;
        };
        for (partition, epoch, first) in members {
            let Some(state) = self.partitions.get_mut(&partition) else {
                continue;
            };
            if state.epoch != epoch {
                continue;
            }
            if let Some(run) = state.runs.get_mut(&first) {
                run.1 = true;
            }
            state.advance();
        }
    }

    /// A batch that will never become durable (its worker failed): forget it, so the positions
    /// of its partitions stay before it until the partitions are re-assigned or re-consumed.
    pub fn abandon(&mut self, batch: BatchId) {
        self.batches.remove(&batch);
    }

    /// The commit position of `partition`: every received offset below it is durable.
    pub fn position(&self, partition: &P) -> Option<i64> {
        self.partitions.get(partition).and_then(|s| s.position)
    }

    /// The last position committed (or read from Kafka at assignment).
    pub fn committed(&self, partition: &P) -> Option<i64> {
        self.partitions.get(partition).and_then(|s| s.committed)
    }

    /// Batches of `partition` dispatched and not yet durable.
    pub fn in_flight(&self, partition: &P) -> usize {
        self.partitions.get(partition).map_or(0, |s| s.in_flight())
    }

    /// Batches dispatched and not yet completed, over all partitions.
    pub fn batches_in_flight(&self) -> usize {
        self.batches.len()
    }

    /// Positions that moved past what was committed: what to send to Kafka now.
    pub fn to_commit(&self) -> Vec<(P, i64)> {
        self.partitions
            .iter()
            .filter_map(|(p, s)| match (s.position, s.committed) {
                (Some(pos), Some(c)) if pos <= c => None,
                (Some(pos), _) => Some((p.clone(), pos)),
                _ => None,
            })
            .collect()
    }

    /// Kafka accepted `offset` for `partition`. Older acknowledgements never lower it.
    pub fn mark_committed(&mut self, partition: &P, offset: i64) {
        if let Some(state) = self.partitions.get_mut(partition)
            && state.committed.is_none_or(|c| offset > c)
        {
            state.committed = Some(offset);
        }
    }

    /// Stop tracking `partition`; returns the position to commit for it, if it moved past the
    /// committed one. In-flight runs are forgotten: their rows may land later as duplicates,
    /// which `metadata_uid` de-duplication absorbs.
    pub fn revoke(&mut self, partition: &P) -> Option<i64> {
        let state = self.partitions.remove(partition)?;
        match (state.position, state.committed) {
            (Some(pos), Some(c)) if pos <= c => None,
            (pos, _) => pos,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn run(p: u8, first: i64, last: i64) -> Run<u8> {
        Run {
            partition: p,
            first,
            last,
        }
    }

    #[test]
    fn out_of_order_completion_never_commits_past_a_gap() {
        let mut t = OffsetTracker::new();
        t.assign(0u8, None);
        let a = t.dispatch(&[run(0, 0, 9)]).unwrap();
        let b = t.dispatch(&[run(0, 10, 19)]).unwrap();
        let c = t.dispatch(&[run(0, 20, 29)]).unwrap();
        t.complete(c);
        assert_eq!(t.position(&0), None);
        t.complete(a);
        assert_eq!(t.position(&0), Some(10));
        assert_eq!(t.to_commit(), vec![(0, 10)]);
        t.mark_committed(&0, 10);
        assert!(t.to_commit().is_empty());
        t.complete(b);
        assert_eq!(t.position(&0), Some(30));
    }

    #[test]
    fn offsets_kafka_skipped_are_not_gaps() {
        let mut t = OffsetTracker::new();
        t.assign(0u8, Some(100));
        // 100..=104 were compacted away; the consumer received 105 first.
        let a = t.dispatch(&[run(0, 105, 110)]).unwrap();
        let b = t.dispatch(&[run(0, 115, 120)]).unwrap();
        t.complete(a);
        t.complete(b);
        assert_eq!(t.position(&0), Some(121));
    }

    #[test]
    fn late_completion_after_revoke_and_reassign_is_ignored() {
        let mut t = OffsetTracker::new();
        t.assign(0u8, Some(0));
        let a = t.dispatch(&[run(0, 0, 9)]).unwrap();
        assert_eq!(t.revoke(&0), None);
        t.assign(0u8, Some(0));
        let b = t.dispatch(&[run(0, 0, 4)]).unwrap();
        t.complete(a);
        assert_eq!(
            t.position(&0),
            Some(0),
            "a run of the old epoch must not count"
        );
        t.complete(b);
        assert_eq!(t.position(&0), Some(5));
    }

    #[test]
    fn refuses_runs_out_of_receive_order_and_unassigned_partitions() {
        let mut t = OffsetTracker::new();
        t.assign(0u8, None);
        t.dispatch(&[run(0, 5, 9)]).unwrap();
        assert!(matches!(
            t.dispatch(&[run(0, 9, 12)]),
            Err(TrackerError::OutOfOrder { .. })
        ));
        assert!(matches!(
            t.dispatch(&[run(0, 10, 12), run(0, 11, 13)]),
            Err(TrackerError::OutOfOrder { .. })
        ));
        assert!(matches!(
            t.dispatch(&[run(1, 0, 1)]),
            Err(TrackerError::NotAssigned(_))
        ));
        // A refused batch records nothing: 10..=12 can still be dispatched.
        t.dispatch(&[run(0, 10, 12)]).unwrap();
    }

    #[test]
    fn abandoned_batch_holds_the_position() {
        let mut t = OffsetTracker::new();
        t.assign(0u8, Some(0));
        let a = t.dispatch(&[run(0, 0, 9)]).unwrap();
        let b = t.dispatch(&[run(0, 10, 19)]).unwrap();
        t.abandon(a);
        t.complete(b);
        assert_eq!(t.position(&0), Some(0));
        assert!(t.to_commit().is_empty());
    }

    /// One step of a simulated consumer.
    #[derive(Debug, Clone)]
    enum Op {
        /// Receive up to `count` messages from each chosen partition and dispatch them as one batch.
        Fetch { partitions: Vec<u8>, count: u8 },
        /// A random in-flight batch becomes durable.
        Complete(usize),
        /// A random in-flight batch fails (never durable).
        Fail(usize),
        /// Commit what the tracker offers.
        Commit,
        /// A partition is revoked (its position committed) and later re-assigned.
        Revoke(u8),
        /// The process dies; in-flight batches become durable or not (the WAL may have them
        /// without the acknowledgement having arrived); a new consumer starts from Kafka.
        Crash { durable_mask: u64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (proptest::collection::vec(0u8..3, 1..3), 1u8..8)
                .prop_map(|(partitions, count)| Op::Fetch { partitions, count }),
            4 => any::<usize>().prop_map(Op::Complete),
            1 => any::<usize>().prop_map(Op::Fail),
            2 => Just(Op::Commit),
            1 => (0u8..3).prop_map(Op::Revoke),
            1 => any::<u64>().prop_map(|durable_mask| Op::Crash { durable_mask }),
        ]
    }

    /// The partition logs: offsets that exist (with gaps, as after compaction).
    fn logs() -> impl Strategy<Value = Vec<Vec<i64>>> {
        proptest::collection::vec(
            proptest::collection::vec(1i64..4, 0..60).prop_map(|steps| {
                let mut offset = -1;
                steps
                    .into_iter()
                    .map(|s| {
                        offset += s;
                        offset
                    })
                    .collect()
            }),
            3,
        )
    }

    struct World {
        logs: Vec<Vec<i64>>,
        /// Offsets whose rows are in the lake (survive crashes).
        durable: BTreeSet<(u8, i64)>,
        /// Kafka's committed offset per partition.
        kafka: [Option<i64>; 3],
        tracker: OffsetTracker<u8>,
        /// Next index into the log each partition's fetcher reads.
        cursor: [usize; 3],
        in_flight: Vec<(BatchId, Vec<(u8, i64)>)>,
    }

    impl World {
        fn start(&mut self) {
            self.tracker = OffsetTracker::new();
            self.in_flight.clear();
            for p in 0..3u8 {
                self.assign(p);
            }
        }

        fn assign(&mut self, p: u8) {
            let committed = self.kafka[p as usize];
            self.tracker.assign(p, committed);
            // The fetcher resumes at the committed offset (or the log start).
            let from = committed.unwrap_or(i64::MIN);
            self.cursor[p as usize] = self.logs[p as usize].partition_point(|&o| o < from);
        }

        fn commit(&mut self, p: u8, offset: i64) {
            let before = self.kafka[p as usize];
            assert!(
                before.is_none_or(|b| offset > b),
                "commit for partition {p} moves backwards: {before:?} -> {offset}"
            );
            // No gap: every offset of the log below the commit is durable.
            for &o in self.logs[p as usize].iter().take_while(|&&o| o < offset) {
                assert!(
                    self.durable.contains(&(p, o)),
                    "commit {offset} for partition {p} passes offset {o}, which is not durable"
                );
            }
            self.kafka[p as usize] = Some(offset);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn committed_offsets_never_pass_a_gap_nor_move_backwards(
            logs in logs(),
            ops in proptest::collection::vec(op(), 1..120),
        ) {
            let mut w = World {
                logs,
                durable: BTreeSet::new(),
                kafka: [None; 3],
                tracker: OffsetTracker::new(),
                cursor: [0; 3],
                in_flight: Vec::new(),
            };
            w.start();
            for op in ops {
                match op {
                    Op::Fetch { partitions, count } => {
                        let mut runs = Vec::new();
                        let mut offsets = Vec::new();
                        for p in partitions {
                            if runs.iter().any(|r: &Run<u8>| r.partition == p) {
                                continue;
                            }
                            let log = &w.logs[p as usize];
                            let start = w.cursor[p as usize];
                            let end = (start + count as usize).min(log.len());
                            if start == end {
                                continue;
                            }
                            runs.push(Run { partition: p, first: log[start], last: log[end - 1] });
                            offsets.extend(log[start..end].iter().map(|&o| (p, o)));
                            w.cursor[p as usize] = end;
                        }
                        if !runs.is_empty() {
                            let id = w.tracker.dispatch(&runs).expect("in receive order");
                            w.in_flight.push((id, offsets));
                        }
                    }
                    Op::Complete(i) if !w.in_flight.is_empty() => {
                        let (id, offsets) = w.in_flight.remove(i % w.in_flight.len());
                        w.durable.extend(offsets);
                        w.tracker.complete(id);
                    }
                    Op::Fail(i) if !w.in_flight.is_empty() => {
                        let (id, _) = w.in_flight.remove(i % w.in_flight.len());
                        w.tracker.abandon(id);
                    }
                    Op::Complete(_) | Op::Fail(_) => {}
                    Op::Commit => {
                        for (p, offset) in w.tracker.to_commit() {
                            w.commit(p, offset);
                            w.tracker.mark_committed(&p, offset);
                        }
                    }
                    Op::Revoke(p) => {
                        if let Some(offset) = w.tracker.revoke(&p) {
                            w.commit(p, offset);
                        }
                        // Its in-flight batches may still complete later; they must not count.
                        w.assign(p);
                    }
                    Op::Crash { durable_mask } => {
                        for (i, (_, offsets)) in w.in_flight.iter().enumerate() {
                            if durable_mask & (1 << (i % 64)) != 0 {
                                w.durable.extend(offsets.iter().copied());
                            }
                        }
                        w.start();
                    }
                }
                for p in 0..3u8 {
                    if let (Some(pos), Some(c)) = (w.tracker.position(&p), w.kafka[p as usize]) {
                        prop_assert!(pos >= c, "position {pos} behind committed {c}");
                    }
                }
            }
            // Drain: everything in flight completes, the last commit reaches the log end.
            for (id, offsets) in std::mem::take(&mut w.in_flight) {
                w.durable.extend(offsets);
                w.tracker.complete(id);
            }
            for (p, offset) in w.tracker.to_commit() {
                w.commit(p, offset);
                w.tracker.mark_committed(&p, offset);
            }
            // Liveness: a fresh assignment that consumes the rest reaches every log's end.
            for p in 0..3u8 {
                if let Some(offset) = w.tracker.revoke(&p) {
                    w.commit(p, offset);
                }
                w.assign(p);
                let log = w.logs[p as usize].clone();
                let start = w.cursor[p as usize];
                if start < log.len() {
                    let id = w.tracker.dispatch(&[Run { partition: p, first: log[start], last: log[log.len() - 1] }]).unwrap();
                    w.durable.extend(log[start..].iter().map(|&o| (p, o)));
                    w.tracker.complete(id);
                }
                if let Some(offset) = w.tracker.to_commit().into_iter().find(|(q, _)| *q == p).map(|(_, o)| o) {
                    w.commit(p, offset);
                }
                if let Some(&last) = log.last() {
                    prop_assert_eq!(w.kafka[p as usize], Some(last + 1));
                }
            }
        }
    }
}
