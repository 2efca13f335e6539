//! [`RefreshState`]: when to send the next MetadataRequest, who waits for it, and
//! which topics it asks for. Plain state, no I/O: the actor feeds it the time.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// What the actor must do after telling the state something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// A refresh was started (its waiters taken): send the request now.
    Start,
    /// Arm a timer for this instant, then call [`RefreshState::timer_fired`].
    StartAt(Instant),
    /// Nothing: a refresh is in flight or a timer is armed, and it will pick this up.
    Nothing,
}

/// Coalescing and rate limiting of metadata refreshes.
///
/// At most one refresh is in flight. A request for a refresh (with or without a
/// waiter) marks one as pending; a pending refresh starts as soon as none is in flight
/// and `min_interval` has passed since the last one finished. A waiter is answered by
/// the first refresh that *starts after it asked*: one already in flight may have been
/// sent before the change the waiter wants to see (a new leader, a new topic).
///
/// A topic asked for the first time is not held back by `min_interval` (as the Java
/// client's `requestUpdateForNewTopics`): the interval protects the brokers from a
/// storm of refreshes for what is already known, and a producer's first records of
/// a topic waited it out right after the bootstrap refresh (100 ms at start-up).
#[derive(Debug)]
pub(crate) struct RefreshState<W> {
    min_interval: Duration,
    topics: BTreeSet<String>,
    last_finished: Option<Instant>,
    in_flight: bool,
    timer_armed: bool,
    pending: bool,
    /// A topic was added since the last refresh started: start without waiting out
    /// `min_interval`.
    new_topics: bool,
    next: Vec<W>,
    current: Vec<W>,
}

impl<W> RefreshState<W> {
    pub(crate) fn new(min_interval: Duration) -> Self {
        Self {
            min_interval,
            topics: BTreeSet::new(),
            last_finished: None,
            in_flight: false,
            timer_armed: false,
            pending: false,
            new_topics: false,
            next: Vec::new(),
            current: Vec::new(),
        }
    }

    /// Adds topics to the set every refresh asks for; true when one was new.
    pub(crate) fn add_topics<'a>(&mut self, topics: impl IntoIterator<Item = &'a String>) -> bool {
        let added = topics.into_iter().fold(false, |added, topic| self.topics.insert(topic.clone()) | added);
        self.new_topics |= added;
        added
    }

    /// The union of every topic asked for so far.
    pub(crate) fn topics(&self) -> &BTreeSet<String> {
        &self.topics
    }

    /// Whether a refresh is in flight.
    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// Asks for a refresh at `now`; `waiter` (if any) gets the next one to start.
    pub(crate) fn request(&mut self, waiter: Option<W>, now: Instant) -> Decision {
        self.next.extend(waiter);
        self.pending = true;
        self.decide(now)
    }

    /// Like [`request`](Self::request), but `waiter` joins the refresh in flight if
    /// there is one: for callers that need *some* metadata, not a fresher one.
    pub(crate) fn join(&mut self, waiter: W, now: Instant) -> Decision {
        if self.in_flight {
            self.current.push(waiter);
            Decision::Nothing
        } else {
            self.request(Some(waiter), now)
        }
    }

    /// The timer armed by [`Decision::StartAt`] fired.
    pub(crate) fn timer_fired(&mut self, now: Instant) -> Decision {
        self.timer_armed = false;
        self.decide(now)
    }

    /// The refresh in flight finished at `now`: its waiters, to be answered, and what
    /// to do about the refresh pending meanwhile.
    ///
    /// When it `failed` (no broker answered within the request timeout), the waiters
    /// for the next refresh are answered with the same failure too and nothing stays
    /// pending: another attempt right away would most likely fail the same way, and a
    /// caller must hear "no broker" within a bounded time. Callers retry as they see
    /// fit; the periodic refresh retries anyway.
    pub(crate) fn finish(&mut self, now: Instant, failed: bool) -> (Vec<W>, Decision) {
        self.in_flight = false;
        self.last_finished = Some(now);
        let mut waiters = std::mem::take(&mut self.current);
        if failed {
            waiters.append(&mut self.next);
            self.pending = false;
        }
        (waiters, self.decide(now))
    }

    /// The actor restarts: the refresh in flight and the timer are gone. Their waiters
    /// wait for the next refresh, which is pending if anybody waits.
    pub(crate) fn restart(&mut self) {
        self.in_flight = false;
        self.timer_armed = false;
        let mut waiters = std::mem::take(&mut self.current);
        waiters.append(&mut self.next);
        self.next = waiters;
        self.pending = !self.next.is_empty();
    }

    fn decide(&mut self, now: Instant) -> Decision {
        if !self.pending || self.in_flight || (self.timer_armed && !self.new_topics) {
            return Decision::Nothing;
        }
        let allowed_at = self.last_finished.map(|last| last + self.min_interval).filter(|_| !self.new_topics);
        match allowed_at {
            Some(at) if at > now => {
                self.timer_armed = true;
                Decision::StartAt(at)
            }
            _ => {
                self.in_flight = true;
                self.pending = false;
                self.new_topics = false;
                self.current = std::mem::take(&mut self.next);
                Decision::Start
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_millis(100);

    #[test]
    fn a_new_topic_is_not_held_back_by_the_min_interval() {
        let t0 = Instant::now();
        let mut state = RefreshState::<u32>::new(MIN);
        assert_eq!(state.request(Some(0), t0), Decision::Start, "bootstrap");
        let done = t0 + Duration::from_millis(2);
        assert_eq!(state.finish(done, false), (vec![0], Decision::Nothing));
        assert!(state.add_topics(&["t".to_owned()]));
        assert_eq!(state.request(Some(1), done), Decision::Start, "a new topic starts at once");
        assert!(state.request(Some(2), done) == Decision::Nothing, "one in flight");
        let (_, decision) = state.finish(done + Duration::from_millis(1), false);
        assert_eq!(decision, Decision::StartAt(done + Duration::from_millis(1) + MIN), "known topics wait");
        // A new topic while the timer is armed starts at once all the same.
        assert!(state.add_topics(&["u".to_owned()]));
        assert_eq!(state.request(Some(3), done + Duration::from_millis(2)), Decision::Start);
        // Asking again for a topic already known is rate-limited.
        let finished = done + Duration::from_millis(3);
        state.finish(finished, false);
        assert!(!state.add_topics(&["t".to_owned()]));
        assert_eq!(state.timer_fired(finished), Decision::Nothing, "nothing pending");
        assert_eq!(state.request(Some(4), finished), Decision::StartAt(finished + MIN));
    }

    #[test]
    fn concurrent_requests_coalesce_into_the_next_refresh() {
        let t0 = Instant::now();
        let mut state = RefreshState::new(MIN);
        assert_eq!(state.request(Some(0), t0), Decision::Start);
        for waiter in 1..50 {
            assert_eq!(state.request(Some(waiter), t0), Decision::Nothing, "one refresh in flight");
        }
        let done = t0 + Duration::from_millis(5);
        let (waiters, decision) = state.finish(done, false);
        assert_eq!(waiters, [0], "later waiters want a refresh sent after they asked");
        assert_eq!(decision, Decision::StartAt(done + MIN), "rate-limited");
        assert_eq!(state.request(Some(50), done + MIN / 2), Decision::Nothing, "the timer will start it");
        assert_eq!(state.timer_fired(done + MIN), Decision::Start);
        let (waiters, decision) = state.finish(done + MIN * 2, false);
        assert_eq!(waiters, (1..=50).collect::<Vec<_>>());
        assert_eq!(decision, Decision::Nothing, "nobody asked since");
    }

    #[test]
    fn a_request_after_the_min_interval_starts_at_once() {
        let t0 = Instant::now();
        let mut state = RefreshState::<u8>::new(MIN);
        assert_eq!(state.request(None, t0), Decision::Start);
        assert!(state.in_flight());
        assert_eq!(state.finish(t0, false).1, Decision::Nothing);
        assert_eq!(state.request(None, t0 + MIN / 2), Decision::StartAt(t0 + MIN));
        assert_eq!(state.timer_fired(t0 + MIN), Decision::Start);
        assert_eq!(state.finish(t0 + MIN, false).1, Decision::Nothing);
        assert_eq!(state.request(None, t0 + MIN * 3), Decision::Start);
    }

    #[test]
    fn a_failed_refresh_answers_every_waiter_and_leaves_nothing_pending() {
        let t0 = Instant::now();
        let mut state = RefreshState::new(MIN);
        assert_eq!(state.request(Some(1), t0), Decision::Start);
        assert_eq!(state.request(Some(2), t0), Decision::Nothing);
        assert_eq!(state.finish(t0, true), (vec![1, 2], Decision::Nothing));
        assert_eq!(state.timer_fired(t0 + MIN), Decision::Nothing);
    }

    #[test]
    fn joining_takes_the_refresh_in_flight() {
        let t0 = Instant::now();
        let mut state = RefreshState::new(MIN);
        assert_eq!(state.join(1, t0), Decision::Start, "nothing in flight: start one");
        assert_eq!(state.join(2, t0), Decision::Nothing);
        assert_eq!(state.finish(t0, false), (vec![1, 2], Decision::Nothing));
    }

    #[test]
    fn a_spurious_timer_starts_nothing() {
        let t0 = Instant::now();
        let mut state = RefreshState::<u8>::new(MIN);
        assert_eq!(state.timer_fired(t0), Decision::Nothing);
    }

    #[test]
    fn restart_keeps_every_waiter_for_the_next_refresh() {
        let t0 = Instant::now();
        let mut state = RefreshState::new(MIN);
        assert_eq!(state.request(Some(1), t0), Decision::Start);
        assert_eq!(state.request(Some(2), t0), Decision::Nothing);
        state.restart();
        assert!(!state.in_flight());
        assert_eq!(state.timer_fired(t0), Decision::Start, "pending again");
        assert_eq!(state.finish(t0, false).0, [1, 2]);
    }

    #[test]
    fn topics_accumulate() {
        let mut state = RefreshState::<u8>::new(MIN);
        assert!(state.add_topics(&["a".to_owned(), "b".to_owned()]));
        assert!(!state.add_topics(&["a".to_owned()]));
        assert!(state.add_topics(&["c".to_owned()]));
        assert_eq!(state.topics().iter().collect::<Vec<_>>(), ["a", "b", "c"]);
    }
}
