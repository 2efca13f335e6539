//! A record on its way ([`PendingRecord`]) and the ways its reply is delivered.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use actix::Recipient;
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use super::budget::BudgetPermit;
use super::error::ProduceError;
use super::messages::{DeliveryReport, ProducerRecord, RecordMetadata};
use super::stats::StatsCounters;

/// One record's result.
pub(crate) type RecordResult = Result<RecordMetadata, ProduceError>;

/// Gathers the results of a [`ProduceBatch`](super::ProduceBatch) and answers once,
/// when the last one is in.
#[derive(Debug)]
pub(crate) struct BatchCollector {
    inner: Mutex<CollectorState>,
}

#[derive(Debug)]
struct CollectorState {
    results: Vec<Option<RecordResult>>,
    remaining: usize,
    reply: Option<oneshot::Sender<Vec<RecordResult>>>,
}

impl BatchCollector {
    /// A collector for `len` records answering on `reply`.
    pub(crate) fn new(len: usize, reply: oneshot::Sender<Vec<RecordResult>>) -> Arc<Self> {
        let state = CollectorState { results: vec![None; len], remaining: len, reply: Some(reply) };
        let collector = Arc::new(Self { inner: Mutex::new(state) });
        if len == 0 {
            collector.finish_if_done(&mut collector.lock());
        }
        collector
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CollectorState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets record `index`'s result (the first one set wins).
    #[cfg(test)]
    pub(crate) fn set(&self, index: usize, result: RecordResult) {
        let mut state = self.lock();
        if let Some(slot @ None) = state.results.get_mut(index) {
            *slot = Some(result);
            state.remaining -= 1;
            self.finish_if_done(&mut state);
        }
    }

    /// Sets several records' results under one lock (the first one set wins).
    pub(crate) fn set_many(&self, results: impl IntoIterator<Item = (usize, RecordResult)>) {
        let mut state = self.lock();
        for (index, result) in results {
            if let Some(slot @ None) = state.results.get_mut(index) {
                *slot = Some(result);
                state.remaining -= 1;
            }
        }
        self.finish_if_done(&mut state);
    }

    fn finish_if_done(&self, state: &mut CollectorState) {
        if state.remaining == 0 {
            if let Some(reply) = state.reply.take() {
                let results = state.results.drain(..).map(|r| r.unwrap_or(Err(ProduceError::Closed))).collect();
                // The caller may have stopped waiting; nothing to do then.
                let _ignored = reply.send(results);
            }
        }
    }
}

/// The reply of one [`Produce`](super::Produce): the result meets the caller's
/// channel, whichever comes first.
///
/// Why not a channel of our own: actix hands a handler's reply channel to the
/// response only after the handler returned, and forwarding from a channel of ours to
/// it costs a spawned task per record. The slot takes actix's channel directly
/// ([`attach`](Self::attach)), so an answered record costs one send on it.
#[derive(Debug, Default)]
pub(crate) struct ReplySlot {
    state: Mutex<SlotState>,
}

#[derive(Debug, Default)]
enum SlotState {
    /// Neither the caller's channel nor the result yet.
    #[default]
    Empty,
    /// The caller's channel, waiting for the result.
    Waiting(oneshot::Sender<RecordResult>),
    /// The result, waiting for the caller's channel.
    Done(RecordResult),
    /// Delivered, or no one to deliver to.
    Closed,
}

impl ReplySlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The record's result: sent at once when the caller's channel is there.
    pub(crate) fn complete(&self, result: RecordResult) {
        let mut state = self.lock();
        match std::mem::replace(&mut *state, SlotState::Closed) {
            // The caller may have stopped waiting; nothing to do then.
            SlotState::Waiting(sender) => drop(sender.send(result)),
            SlotState::Empty => *state = SlotState::Done(result),
            done @ (SlotState::Done(_) | SlotState::Closed) => *state = done,
        }
    }

    /// The caller's channel (`None` for a `do_send`): gets the result at once when it
    /// is already there.
    pub(crate) fn attach(&self, sender: Option<oneshot::Sender<RecordResult>>) {
        let mut state = self.lock();
        match (std::mem::replace(&mut *state, SlotState::Closed), sender) {
            (SlotState::Done(result), Some(sender)) => drop(sender.send(result)),
            (SlotState::Empty, Some(sender)) => *state = SlotState::Waiting(sender),
            // A do_send: the result, now or later, goes nowhere.
            (_, None) => {}
            (other, Some(_)) => *state = other,
        }
    }
}

/// Where one record's result goes.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    pub(crate) single: Option<Arc<ReplySlot>>,
    pub(crate) report_to: Option<Recipient<DeliveryReport>>,
    pub(crate) batch: Option<(Arc<BatchCollector>, usize)>,
}

/// Which records have not been answered yet, by id, so that [`Flush`](super::Flush)
/// waits for exactly the records sent before it.
///
/// Ids are handed out in order and answered in any order: one bit per id, from the
/// oldest unanswered one on (words that are all answered are dropped from the front).
/// Registering and answering cost a bit flip under an uncontended lock, never an
/// allocation per record.
#[derive(Debug, Default)]
pub(crate) struct Outstanding {
    ids: Mutex<IdBits>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct IdBits {
    /// The id of bit 0 of `words[0]`; a multiple of 64.
    base: u64,
    /// Set bits are registered ids not answered yet.
    words: VecDeque<u64>,
    /// The next id.
    next: u64,
    open: usize,
}

impl IdBits {
    fn first(&self) -> Option<u64> {
        let (index, word) = self.words.iter().enumerate().find(|(_, word)| **word != 0)?;
        Some(self.base + 64 * index as u64 + u64::from(word.trailing_zeros()))
    }

    fn locate(&self, id: u64) -> Option<(usize, u64)> {
        let offset = id.checked_sub(self.base)?;
        Some((usize::try_from(offset / 64).ok()?, 1 << (offset % 64)))
    }
}

impl Outstanding {
    fn lock(&self) -> std::sync::MutexGuard<'_, IdBits> {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new record and returns its id.
    #[cfg(test)]
    pub(crate) fn register(&self) -> u64 {
        self.register_many(1).start
    }

    /// Registers `count` new records under one lock; their ids, in order.
    pub(crate) fn register_many(&self, count: usize) -> std::ops::Range<u64> {
        let mut ids = self.lock();
        let first = ids.next;
        ids.next += count as u64;
        ids.open += count;
        for id in first..ids.next {
            if let Some((index, bit)) = ids.locate(id) {
                if index >= ids.words.len() {
                    ids.words.resize(index + 1, 0);
                }
                ids.words[index] |= bit;
            }
        }
        first..ids.next
    }

    /// The id the next record will get: a flush waits for every id below it.
    pub(crate) fn watermark(&self) -> u64 {
        self.lock().next
    }

    #[cfg(test)]
    fn done(&self, id: u64) {
        self.done_many(std::iter::once(id));
    }

    /// Marks these ids answered under one lock, waking flushes once if the oldest
    /// unanswered id moved (a batch's records are answered together).
    pub(crate) fn done_many(&self, answered: impl IntoIterator<Item = u64>) {
        let mut ids = self.lock();
        let first = ids.first();
        for id in answered {
            let Some((index, bit)) = ids.locate(id) else { continue };
            match ids.words.get_mut(index) {
                Some(word) if *word & bit != 0 => *word &= !bit,
                _ => continue,
            }
            ids.open -= 1;
        }
        // Drop the answered words in front, but keep the one ids are still added to.
        while ids.words.front() == Some(&0) && ids.base + 64 <= ids.next {
            ids.words.pop_front();
            ids.base += 64;
        }
        if ids.first() != first {
            self.changed.notify_waiters();
        }
    }

    /// How many records are not answered yet.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().open
    }

    /// Resolves once every record with an id below `watermark` is answered.
    pub(crate) async fn wait_below(&self, watermark: u64) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let first = self.lock().first();
            if first.map_or(true, |first| first >= watermark) {
                return;
            }
            notified.await;
        }
    }
}

/// One record between the moment the producer took it and its reply.
#[derive(Debug)]
pub(crate) struct PendingRecord {
    pub(crate) id: u64,
    pub(crate) record: ProducerRecord,
    /// The record's create time, resolved when the producer took it.
    pub(crate) timestamp: i64,
    pub(crate) reply: Reply,
    pub(crate) permit: Option<BudgetPermit>,
    /// When the record must be answered at the latest.
    pub(crate) deadline: Instant,
}

impl PendingRecord {
    /// The record's share of a batch, in bytes, used for the batch-size triggers: an
    /// upper bound of its encoded size.
    pub(crate) fn size(&self) -> usize {
        self.record.charge()
    }

    /// Sends the result to every interested party, frees the budget and marks the
    /// record answered.
    pub(crate) fn complete(
        self,
        topic: &Arc<str>,
        partition: Option<i32>,
        result: RecordResult,
        outstanding: &Outstanding,
        stats: &StatsCounters,
    ) {
        complete_all(std::iter::once((self, result)), topic, partition, outstanding, stats);
    }
}

/// Answers records together (a batch's, usually), as [`PendingRecord::complete`] each.
///
/// Why together: the shared state is touched once per batch instead of once per record
/// (a record's lock on the budget's semaphore, on a [`BatchCollector`], on
/// [`Outstanding`], and a flush wake-up), which was a tenth of the producer's CPU.
/// Every reply is sent before the budget is freed and the records are marked answered,
/// so a flush that returns saw every earlier reply sent.
pub(crate) fn complete_all(
    records: impl IntoIterator<Item = (PendingRecord, RecordResult)>,
    topic: &Arc<str>,
    partition: Option<i32>,
    outstanding: &Outstanding,
    stats: &StatsCounters,
) {
    let records = records.into_iter();
    let mut ids = Vec::with_capacity(records.size_hint().0);
    let mut permit: Option<BudgetPermit> = None;
    let mut collected = CollectedResults { current: None, left: records.size_hint().0 };
    let mut failed = 0;
    for (pending, result) in records {
        failed += usize::from(result.is_err());
        ids.push(pending.id);
        match (&mut permit, pending.permit) {
            (Some(total), Some(held)) => total.merge(held),
            (total, held @ Some(_)) => *total = held,
            (_, None) => {}
        }
        let Reply { single, report_to, batch } = pending.reply;
        if let Some(recipient) = report_to {
            let report = DeliveryReport {
                topic: topic.clone(),
                partition,
                result: result.clone(),
                key: pending.record.key,
                value: pending.record.value,
            };
            recipient.do_send(report);
        }
        match (batch, single) {
            (Some((collector, index)), Some(slot)) => {
                collected.push(collector, index, result.clone());
                slot.complete(result);
            }
            (Some((collector, index)), None) => collected.push(collector, index, result),
            (None, Some(slot)) => slot.complete(result),
            (None, None) => {}
        }
    }
    collected.deliver();
    stats.records_done(ids.len() - failed, failed);
    drop(permit);
    outstanding.done_many(ids);
}

/// Results for one [`BatchCollector`] at a time, set under one lock when the
/// collector changes (records of one `ProduceBatch` come in runs).
/// A collector and the results for it, by the record's index in its batch.
type ForCollector = (Arc<BatchCollector>, Vec<(usize, RecordResult)>);

struct CollectedResults {
    current: Option<ForCollector>,
    /// The records not pushed yet (a guess from the iterator), to size the list once.
    left: usize,
}

impl CollectedResults {
    fn push(&mut self, collector: Arc<BatchCollector>, index: usize, result: RecordResult) {
        let left = self.left;
        self.left = left.saturating_sub(1);
        match &mut self.current {
            Some((current, results)) if Arc::ptr_eq(current, &collector) => results.push((index, result)),
            _ => {
                self.deliver();
                let mut results = Vec::with_capacity(left.max(1));
                results.push((index, result));
                self.current = Some((collector, results));
            }
        }
    }

    fn deliver(&mut self) {
        if let Some((collector, results)) = self.current.take() {
            collector.set_many(results);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(offset: i64) -> RecordResult {
        Ok(RecordMetadata { topic: "t".into(), partition: 0, offset, timestamp: 0 })
    }

    #[test]
    fn a_collector_answers_once_in_order_when_all_are_in() {
        let (tx, mut rx) = oneshot::channel();
        let collector = BatchCollector::new(3, tx);
        collector.set(2, meta(2));
        collector.set(0, meta(0));
        assert!(rx.try_recv().is_err());
        collector.set(0, meta(99)); // a second result for the same record is ignored
        collector.set(1, Err(ProduceError::Closed));
        let results = rx.try_recv().unwrap();
        assert_eq!(results[0].as_ref().unwrap().offset, 0);
        assert!(results[1].is_err());
        assert_eq!(results[2].as_ref().unwrap().offset, 2);
    }

    #[test]
    fn a_slot_delivers_whichever_comes_first() {
        let early = ReplySlot::default();
        early.complete(meta(1));
        let (tx, mut rx) = oneshot::channel();
        early.attach(Some(tx));
        assert_eq!(rx.try_recv().unwrap().unwrap().offset, 1);

        let late = ReplySlot::default();
        let (tx, mut rx) = oneshot::channel();
        late.attach(Some(tx));
        assert!(rx.try_recv().is_err());
        late.complete(meta(2));
        late.complete(meta(3)); // only the first result counts
        assert_eq!(rx.try_recv().unwrap().unwrap().offset, 2);

        let fire_and_forget = ReplySlot::default();
        fire_and_forget.attach(None);
        fire_and_forget.complete(meta(4));
        assert!(matches!(*fire_and_forget.lock(), SlotState::Closed));
    }

    #[test]
    fn an_empty_collector_answers_at_once() {
        let (tx, mut rx) = oneshot::channel();
        let _collector = BatchCollector::new(0, tx);
        assert!(rx.try_recv().unwrap().is_empty());
    }

    #[test]
    fn ids_are_answered_in_any_order() {
        let outstanding = Outstanding::default();
        let ids: Vec<u64> = (0..300).map(|_| outstanding.register()).collect();
        assert_eq!(ids, (0..300).collect::<Vec<_>>());
        for id in (0..300).rev().filter(|id| id % 3 != 0) {
            outstanding.done(id);
        }
        assert_eq!(outstanding.len(), 100);
        assert_eq!(outstanding.lock().first(), Some(0));
        outstanding.done(0);
        outstanding.done(0); // a second answer changes nothing
        assert_eq!(outstanding.lock().first(), Some(3));
        for id in (3..300).step_by(3) {
            outstanding.done(id);
        }
        assert_eq!((outstanding.len(), outstanding.lock().first()), (0, None));
        assert!(outstanding.lock().words.len() <= 1, "answered words are dropped");
        assert_eq!(outstanding.register(), 300);
        assert_eq!(outstanding.lock().first(), Some(300));
    }

    #[test]
    fn ids_register_and_answer_in_bulk() {
        let outstanding = Outstanding::default();
        assert_eq!(outstanding.register_many(100), 0..100);
        assert_eq!(outstanding.register(), 100);
        outstanding.done_many((0..50).chain(51..100));
        assert_eq!((outstanding.len(), outstanding.lock().first()), (2, Some(50)));
        outstanding.done_many([50, 50, 100, 7]); // repeats and answered ids change nothing
        assert_eq!((outstanding.len(), outstanding.lock().first()), (0, None));
        assert_eq!(outstanding.register_many(0), 101..101);
    }

    #[tokio::test]
    async fn completing_together_answers_each_record_frees_the_budget_and_wakes_flushes() {
        let budget = crate::producer::budget::MemoryBudget::new(1_000);
        let (outstanding, stats) = (Arc::new(Outstanding::default()), StatsCounters::default());
        let (tx, mut rx) = oneshot::channel();
        let collector = BatchCollector::new(3, tx);
        let single = Arc::new(ReplySlot::default());
        let (single_tx, mut single_rx) = oneshot::channel();
        single.attach(Some(single_tx));
        let ids = outstanding.register_many(4);
        let mark = outstanding.watermark();
        let flush = tokio::spawn({
            let outstanding = outstanding.clone();
            async move { outstanding.wait_below(mark).await }
        });
        let replies = [
            Reply { batch: Some((collector.clone(), 2)), ..Reply::default() },
            Reply { batch: Some((collector.clone(), 0)), ..Reply::default() },
            Reply { single: Some(single.clone()), ..Reply::default() },
            Reply { batch: Some((collector.clone(), 1)), ..Reply::default() },
        ];
        let records: Vec<_> = ids
            .zip(replies)
            .map(|(id, reply)| {
                let permit = Some(budget.try_acquire(100).unwrap());
                let pending = PendingRecord {
                    id,
                    record: ProducerRecord::default(),
                    timestamp: 0,
                    reply,
                    permit,
                    deadline: Instant::now(),
                };
                let result = if id == 3 { Err(ProduceError::Closed) } else { meta(id as i64) };
                (pending, result)
            })
            .collect();
        drop(collector);
        assert_eq!(budget.in_use(), 400);
        complete_all(records, &Arc::from("t"), Some(0), &outstanding, &stats);
        assert_eq!(budget.in_use(), 0);
        assert_eq!(outstanding.len(), 0);
        let results = rx.try_recv().unwrap();
        assert_eq!(results[0].as_ref().unwrap().offset, 1);
        assert_eq!(results[2].as_ref().unwrap().offset, 0);
        assert!(results[1].is_err());
        assert_eq!(single_rx.try_recv().unwrap().unwrap().offset, 2);
        let snapshot = stats.snapshot(0);
        assert_eq!((snapshot.records_sent, snapshot.records_failed), (3, 1));
        tokio::time::timeout(std::time::Duration::from_secs(5), flush).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_flush_waits_for_earlier_records_only() {
        let outstanding = Arc::new(Outstanding::default());
        let a = outstanding.register();
        let mark = outstanding.watermark();
        let b = outstanding.register();
        let waiter = tokio::spawn({
            let outstanding = outstanding.clone();
            async move { outstanding.wait_below(mark).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        outstanding.done(a);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await.unwrap().unwrap();
        assert_eq!(outstanding.len(), 1);
        outstanding.done(b);
        assert_eq!(outstanding.len(), 0);
    }
}
