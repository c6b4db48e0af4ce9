//! Wall-clock time as the agent sees it, replaceable in tests.
//!
//! Everything the agent schedules (back-off, probe periods, grace periods) sleeps on tokio's
//! timer; timestamps it reports come from a [`Clock`]. [`TokioClock`] derives the wall
//! clock from tokio's clock, so with paused tokio time the two agree and tests of back-off
//! timing run instantly and deterministically.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A fixed epoch plus the tokio time elapsed since the clock was made.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    epoch: DateTime<Utc>,
    base: tokio::time::Instant,
}

impl TokioClock {
    pub fn new(epoch: DateTime<Utc>) -> TokioClock {
        TokioClock {
            epoch,
            base: tokio::time::Instant::now(),
        }
    }

    /// The epoch `runtime::fake::FakeRuntime` uses, so both clocks agree.
    pub fn fake_epoch() -> TokioClock {
        TokioClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now().duration_since(self.base);
        self.epoch + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }
}

/// How long from `now` until `at` (zero if it has passed).
pub fn until(now: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or(Duration::ZERO)
}

/// `t` as a Kubernetes `Time` (second precision on the wire).
pub fn k8s_time(t: DateTime<Utc>) -> Time {
    Time(timestamp(t))
}

/// `t` as a Kubernetes `MicroTime`.
pub fn k8s_micro_time(t: DateTime<Utc>) -> MicroTime {
    MicroTime(timestamp(t))
}

fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp::new(t.timestamp(), t.timestamp_subsec_nanos() as i32)
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A Kubernetes `Time` as chrono.
pub fn from_k8s_time(t: &Time) -> DateTime<Utc> {
    Utc.timestamp_opt(t.0.as_second(), t.0.subsec_nanosecond().max(0) as u32)
        .single()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let c = TokioClock::fake_epoch();
        let t0 = c.now();
        tokio::time::sleep(Duration::from_secs(90)).await;
        assert_eq!(c.now() - t0, chrono::Duration::seconds(90));
    }

    #[test]
    fn kubernetes_times_round_trip() {
        let t = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap();
        assert_eq!(from_k8s_time(&k8s_time(t)), t);
        assert_eq!(
            serde_json::to_value(k8s_time(t)).unwrap(),
            serde_json::json!("2024-05-06T07:08:09Z")
        );
        assert_eq!(
            until(t, t + chrono::Duration::seconds(3)),
            Duration::from_secs(3)
        );
        assert_eq!(until(t, t - chrono::Duration::seconds(3)), Duration::ZERO);
    }
}
