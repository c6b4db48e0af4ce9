//! Exponential back-off per key with upstream's `flowcontrol.Backoff` semantics: the
//! crash-loop back-off of restarting containers and the back-off of failing image pulls,
//! both 10 s doubling to 300 s, forgotten once nothing happened for twice the maximum
//! (a container that ran 10 minutes starts over at 10 s).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// First delay of the crash-loop and image-pull back-offs.
pub const INITIAL: Duration = Duration::from_secs(10);
/// Longest delay of the crash-loop and image-pull back-offs.
pub const MAX: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug)]
struct Entry {
    backoff: Duration,
    last_update: DateTime<Utc>,
}

/// Back-off delays per key.
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    entries: HashMap<String, Entry>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(INITIAL, MAX)
    }
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            entries: HashMap::new(),
        }
    }

    fn chrono(d: Duration) -> chrono::Duration {
        chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
    }

    fn expired(&self, event: DateTime<Utc>, last_update: DateTime<Utc>) -> bool {
        event - last_update > Self::chrono(self.max * 2)
    }

    fn live(&self, key: &str, event: DateTime<Utc>) -> Option<Entry> {
        self.entries
            .get(key)
            .copied()
            .filter(|e| !self.expired(event, e.last_update))
    }

    /// The current delay of `key` (zero when it has none).
    pub fn get(&self, key: &str) -> Duration {
        self.entries.get(key).map_or(Duration::ZERO, |e| e.backoff)
    }

    /// Records one more occurrence at `now`: the first (or the first after a quiet period
    /// of twice the maximum, measured from `event`) gets the initial delay, each further
    /// one doubles it up to the maximum.
    pub fn next(&mut self, key: &str, event: DateTime<Utc>, now: DateTime<Utc>) {
        let backoff = match self.live(key, event) {
            Some(e) => (e.backoff * 2).min(self.max),
            None => self.initial,
        };
        self.entries.insert(
            key.to_string(),
            Entry {
                backoff,
                last_update: now,
            },
        );
    }

    /// When `key` is in back-off because of something that happened at `event` (a
    /// container's finish time): the end of the back-off, if it is still ahead of `now`.
    pub fn in_backoff_since(
        &self,
        key: &str,
        event: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let e = self.live(key, event)?;
        let end = event + Self::chrono(e.backoff);
        (now < end).then_some(end)
    }

    /// When `key` is in back-off since its last update (a failed pull): the end of the
    /// back-off, if it is still ahead of `now`.
    pub fn in_backoff_since_update(&self, key: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let e = self.live(key, now)?;
        let end = e.last_update + Self::chrono(e.backoff);
        (now < end).then_some(end)
    }

    /// Forgets `key`.
    pub fn reset(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Forgets keys that were quiet for twice the maximum.
    pub fn gc(&mut self, now: DateTime<Utc>) {
        let max = Self::chrono(self.max * 2);
        self.entries.retain(|_, e| now - e.last_update <= max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
    }

    #[test]
    fn first_failure_restarts_at_once_then_delays_double_up_to_five_minutes() {
        let mut b = Backoff::default();
        // First exit at t=0: not in back-off, restart now.
        assert_eq!(b.in_backoff_since("c", t(0), t(0)), None);
        b.next("c", t(0), t(0));
        // Second exit at t=1: 10 s back-off from the exit.
        assert_eq!(b.in_backoff_since("c", t(1), t(1)), Some(t(11)));
        assert_eq!(b.in_backoff_since("c", t(1), t(11)), None);
        b.next("c", t(1), t(11));
        assert_eq!(b.get("c"), Duration::from_secs(20));
        let mut now = 12;
        let mut delays = Vec::new();
        for _ in 0..7 {
            let end = b.in_backoff_since("c", t(now), t(now)).unwrap();
            delays.push((end - t(now)).num_seconds());
            now = (end - t(0)).num_seconds();
            b.next("c", t(now), t(now));
            now += 1;
        }
        assert_eq!(delays, vec![20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn a_quiet_period_of_ten_minutes_resets_the_delay() {
        let mut b = Backoff::default();
        b.next("c", t(0), t(0));
        b.next("c", t(5), t(15));
        assert_eq!(b.get("c"), Duration::from_secs(20));
        // The container ran for more than 10 minutes after its last restart.
        let exit = t(15 + 601);
        assert_eq!(b.in_backoff_since("c", exit, exit), None);
        b.next("c", exit, exit);
        assert_eq!(b.get("c"), INITIAL);
    }

    #[test]
    fn pull_back_off_counts_from_the_last_failure() {
        let mut b = Backoff::default();
        assert_eq!(b.in_backoff_since_update("img", t(0)), None);
        b.next("img", t(0), t(0));
        assert_eq!(b.in_backoff_since_update("img", t(5)), Some(t(10)));
        assert_eq!(b.in_backoff_since_update("img", t(10)), None);
        b.next("img", t(10), t(10));
        assert_eq!(b.in_backoff_since_update("img", t(29)), Some(t(30)));
        b.gc(t(10 + 601));
        assert_eq!(b.get("img"), Duration::ZERO);
    }
}
