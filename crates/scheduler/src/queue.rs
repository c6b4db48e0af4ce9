//! The scheduling queue, as upstream's: an active queue ordered by priority then arrival, a
//! back-off queue (1 s doubling to 10 s per attempt), and the unschedulable pods, which
//! wait for a cluster event that concerns a plugin that rejected them (or for five minutes).
//! Nothing here polls: the owner sleeps until [`Queue::next_wake`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::plugins::PluginSet;

/// Where a pending pod waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Ready to be scheduled, ordered by priority then by when it became ready.
    Active,
    /// Failed recently; waits out its back-off before becoming active again.
    Backoff,
    /// Fit no node; waits for a cluster event that might change that.
    Unschedulable,
    /// Being scheduled, or assumed on a node while its binding is in flight.
    InFlight,
    /// Held back by `spec.schedulingGates` until they are removed.
    Gated,
}

#[derive(Debug)]
struct Entry {
    place: Place,
    priority: i32,
    attempts: u32,
    /// Bumped on every move, so stale heap items are recognised and skipped.
    seq: u64,
    backoff_until: Instant,
    unschedulable_since: Instant,
    /// The plugins that rejected the pod last time; empty means any event may help.
    plugins: PluginSet,
}

/// Timings of the queue (upstream's defaults in [`QueueTimings::default`]).
#[derive(Clone, Copy, Debug)]
pub struct QueueTimings {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// How long an unschedulable pod waits without any event before it is retried.
    pub max_unschedulable: Duration,
}

impl Default for QueueTimings {
    fn default() -> Self {
        QueueTimings {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            max_unschedulable: Duration::from_secs(300),
        }
    }
}

/// Pending pods and where each waits.
#[derive(Debug)]
pub struct Queue {
    entries: HashMap<Arc<str>, Entry>,
    active: BinaryHeap<(i32, Reverse<u64>, Arc<str>)>,
    backoff: BinaryHeap<Reverse<(Instant, u64, Arc<str>)>>,
    /// The pods in [`Place::Unschedulable`], so events need not scan every pod.
    unschedulable: HashSet<Arc<str>>,
    seq: u64,
    timings: QueueTimings,
}

/// How often unschedulable pods are checked against `max_unschedulable` (upstream 30 s).
const LEFTOVER_FLUSH: Duration = Duration::from_secs(30);

impl Queue {
    pub fn new(timings: QueueTimings) -> Queue {
        Queue {
            entries: HashMap::new(),
            active: BinaryHeap::new(),
            backoff: BinaryHeap::new(),
            unschedulable: HashSet::new(),
            seq: 0,
            timings,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[cfg(test)]
    pub fn place(&self, uid: &str) -> Option<Place> {
        self.entries.get(uid).map(|e| e.place)
    }

    /// The back-off after `attempts` failed attempts (upstream `calculateBackoffDuration`).
    pub fn backoff_for(&self, attempts: u32) -> Duration {
        let mut d = self.timings.initial_backoff;
        for _ in 1..attempts {
            d *= 2;
            if d > self.timings.max_backoff {
                return self.timings.max_backoff;
            }
        }
        d
    }

    fn move_to(&mut self, uid: &Arc<str>, place: Place) {
        self.seq += 1;
        let seq = self.seq;
        let Some(e) = self.entries.get_mut(uid) else {
            return;
        };
        e.place = place;
        e.seq = seq;
        if place == Place::Unschedulable {
            self.unschedulable.insert(uid.clone());
        } else {
            self.unschedulable.remove(uid);
        }
        match place {
            Place::Active => self.active.push((e.priority, Reverse(seq), uid.clone())),
            Place::Backoff => self
                .backoff
                .push(Reverse((e.backoff_until, seq, uid.clone()))),
            Place::Unschedulable | Place::InFlight | Place::Gated => {}
        }
    }

    /// A new pending pod.
    pub fn add(&mut self, uid: Arc<str>, priority: i32, gated: bool, now: Instant) {
        if self.entries.contains_key(&uid) {
            return;
        }
        self.entries.insert(
            uid.clone(),
            Entry {
                place: Place::Gated,
                priority,
                attempts: 0,
                seq: 0,
                backoff_until: now,
                unschedulable_since: now,
                plugins: PluginSet::EMPTY,
            },
        );
        if !gated {
            self.move_to(&uid, Place::Active);
        }
    }

    /// The pod changed: gates lifted make it active; a spec change retries an
    /// unschedulable pod (after its back-off).
    pub fn update(
        &mut self,
        uid: &Arc<str>,
        priority: i32,
        gated: bool,
        spec_changed: bool,
        now: Instant,
    ) {
        let Some(e) = self.entries.get_mut(uid) else {
            return;
        };
        e.priority = priority;
        match (e.place, gated) {
            (Place::Gated, false) => self.move_to(uid, Place::Active),
            (Place::Active | Place::Backoff | Place::Unschedulable, true) => {
                self.move_to(uid, Place::Gated)
            }
            (Place::Unschedulable, false) if spec_changed => self.requeue(uid, now),
            _ => {}
        }
    }

    pub fn remove(&mut self, uid: &str) {
        self.entries.remove(uid);
        self.unschedulable.remove(uid);
    }

    /// The next pod to schedule, now in flight; back-offs that ended are moved first.
    pub fn pop(&mut self, now: Instant) -> Option<Arc<str>> {
        self.flush_backoff(now);
        while let Some((_, Reverse(seq), uid)) = self.active.pop() {
            let Some(e) = self.entries.get_mut(&uid) else {
                continue;
            };
            if e.seq != seq || e.place != Place::Active {
                continue;
            }
            e.attempts += 1;
            e.place = Place::InFlight;
            self.unschedulable.remove(&uid);
            return Some(uid);
        }
        None
    }

    /// The pod fit no node; `plugins` rejected it.
    pub fn unschedulable(&mut self, uid: &Arc<str>, plugins: PluginSet, now: Instant) {
        let backoff = match self.entries.get(uid) {
            Some(e) => self.backoff_for(e.attempts),
            None => return,
        };
        if let Some(e) = self.entries.get_mut(uid) {
            e.plugins = plugins;
            e.backoff_until = now + backoff;
            e.unschedulable_since = now;
        }
        self.move_to(uid, Place::Unschedulable);
    }

    /// Scheduling or binding the pod failed for another reason: retry after a back-off.
    pub fn retry_after_error(&mut self, uid: &Arc<str>, now: Instant) {
        let backoff = match self.entries.get(uid) {
            Some(e) => self.backoff_for(e.attempts),
            None => return,
        };
        if let Some(e) = self.entries.get_mut(uid) {
            e.backoff_until = now + backoff;
        }
        self.move_to(uid, Place::Backoff);
    }

    /// Back to active, or to back-off if that has not ended.
    fn requeue(&mut self, uid: &Arc<str>, now: Instant) {
        let until = self.entries.get(uid).map_or(now, |e| e.backoff_until);
        let place = if until > now {
            Place::Backoff
        } else {
            Place::Active
        };
        self.move_to(uid, place);
    }

    /// A cluster event that may help pods rejected by `concerns`: those are retried.
    /// Returns how many moved.
    pub fn on_event(&mut self, concerns: PluginSet, now: Instant) -> usize {
        let moving: Vec<Arc<str>> = self
            .unschedulable
            .iter()
            .filter(|uid| {
                self.entries
                    .get(*uid)
                    .is_some_and(|e| e.plugins.is_empty() || e.plugins.intersects(concerns))
            })
            .cloned()
            .collect();
        for uid in &moving {
            self.requeue(uid, now);
        }
        moving.len()
    }

    fn flush_backoff(&mut self, now: Instant) {
        while let Some(Reverse((until, seq, _))) = self.backoff.peek() {
            if *until > now {
                break;
            }
            let seq = *seq;
            let Some(Reverse((_, _, uid))) = self.backoff.pop() else {
                break;
            };
            if self
                .entries
                .get(&uid)
                .is_some_and(|e| e.seq == seq && e.place == Place::Backoff)
            {
                self.move_to(&uid, Place::Active);
            }
        }
    }

    /// Retries pods that waited longer than `max_unschedulable` without an event.
    pub fn flush_unschedulable_leftover(&mut self, now: Instant) {
        let max = self.timings.max_unschedulable;
        let stale: Vec<Arc<str>> = self
            .unschedulable
            .iter()
            .filter(|uid| {
                self.entries
                    .get(*uid)
                    .is_some_and(|e| now >= e.unschedulable_since + max)
            })
            .cloned()
            .collect();
        for uid in &stale {
            self.requeue(uid, now);
        }
    }

    /// When the owner must look again: the earliest back-off end, or the next leftover
    /// check while pods are unschedulable.
    pub fn next_wake(&self, now: Instant) -> Option<Instant> {
        let backoff = self.backoff.peek().map(|Reverse((until, _, _))| *until);
        let leftover = (!self.unschedulable.is_empty())
            .then(|| now + LEFTOVER_FLUSH.min(self.timings.max_unschedulable));
        match (backoff, leftover) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    fn queue() -> Queue {
        Queue::new(QueueTimings::default())
    }

    #[test]
    fn higher_priority_pops_first_then_arrival_order() {
        let now = Instant::now();
        let mut q = queue();
        q.add(uid("a"), 0, false, now);
        q.add(uid("b"), 10, false, now);
        q.add(uid("c"), 0, false, now);
        q.add(uid("g"), 100, true, now);
        assert_eq!(q.pop(now).as_deref(), Some("b"));
        assert_eq!(q.pop(now).as_deref(), Some("a"));
        assert_eq!(q.pop(now).as_deref(), Some("c"));
        assert_eq!(q.pop(now), None, "gated pods wait");
        q.update(&uid("g"), 100, false, false, now);
        assert_eq!(q.pop(now).as_deref(), Some("g"));
        assert_eq!(q.place("g"), Some(Place::InFlight));
    }

    #[test]
    fn backoff_doubles_from_one_second_to_ten() {
        let q = queue();
        let secs: Vec<u64> = (1..=6).map(|a| q.backoff_for(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn unschedulable_pods_wait_for_an_event_that_concerns_them() {
        let now = Instant::now();
        let mut q = queue();
        q.add(uid("fit"), 0, false, now);
        q.add(uid("affinity"), 0, false, now);
        q.pop(now);
        q.pop(now);
        q.unschedulable(&uid("fit"), PluginSet::NODE_RESOURCES_FIT, now);
        q.unschedulable(&uid("affinity"), PluginSet::NODE_AFFINITY, now);
        assert_eq!(q.pop(now + Duration::from_secs(60)), None, "no polling");
        assert_eq!(q.on_event(PluginSet::NODE_AFFINITY, now), 1);
        assert_eq!(
            q.place("affinity"),
            Some(Place::Backoff),
            "still backing off"
        );
        assert_eq!(q.pop(now), None);
        let later = now + Duration::from_secs(1);
        assert_eq!(q.pop(later).as_deref(), Some("affinity"));
        assert_eq!(q.place("fit"), Some(Place::Unschedulable));
        assert_eq!(
            q.on_event(PluginSet::ALL, later + Duration::from_secs(5)),
            1
        );
        assert_eq!(
            q.place("fit"),
            Some(Place::Active),
            "back-off over: straight to active"
        );
    }

    #[test]
    fn errors_back_off_and_leftovers_retry_after_five_minutes() {
        let now = Instant::now();
        let mut q = queue();
        q.add(uid("a"), 0, false, now);
        q.pop(now);
        q.retry_after_error(&uid("a"), now);
        assert_eq!(q.next_wake(now), Some(now + Duration::from_secs(1)));
        assert_eq!(q.pop(now + Duration::from_secs(1)).as_deref(), Some("a"));
        q.unschedulable(&uid("a"), PluginSet::NODE_AFFINITY, now);
        q.flush_unschedulable_leftover(now + Duration::from_secs(299));
        assert_eq!(q.place("a"), Some(Place::Unschedulable));
        q.flush_unschedulable_leftover(now + Duration::from_secs(300));
        assert_eq!(q.place("a"), Some(Place::Active));
    }

    #[test]
    fn removed_pods_leave_no_stale_heap_items() {
        let now = Instant::now();
        let mut q = queue();
        q.add(uid("a"), 0, false, now);
        q.remove("a");
        assert_eq!(q.pop(now), None);
        assert!(q.is_empty());
    }
}
