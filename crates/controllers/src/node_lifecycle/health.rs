//! Node health as the controller observes it: the local time of the node's last sign of
//! life — a Lease renewal or a new Ready heartbeat — so clocks on the node do not matter
//! (upstream `nodeHealthData`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use tokio::time::Instant;

/// What the controller remembers of one node.
#[derive(Clone, Debug)]
pub struct Health {
    /// Local time of the last sign of life.
    pub probe: Instant,
    heartbeat: Option<Timestamp>,
    lease_renew: Option<Timestamp>,
    /// The Ready status seen at the previous reconcile ("" when none).
    pub last_ready: String,
    /// Whether the pods of the current outage were marked not ready.
    pub pods_marked: bool,
}

/// Whether a node is heard from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// Heard from within the grace period, which ends at `deadline`.
    Alive { deadline: Instant },
    /// Silent for longer than the grace period.
    Silent,
}

/// Health of every node.
#[derive(Debug, Default)]
pub struct HealthTracker {
    nodes: Mutex<HashMap<String, Health>>,
}

fn ready_heartbeat(node: &Node) -> Option<Timestamp> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| {
            c.last_heartbeat_time
                .as_ref()
                .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
        })
}

impl HealthTracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Health>> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fresh(now: Instant) -> Health {
        Health {
            probe: now,
            heartbeat: None,
            lease_renew: None,
            last_ready: String::new(),
            pods_marked: false,
        }
    }

    /// A Lease was seen; a renewal newer than the last one seen is a sign of life.
    pub fn observe_lease(&self, node: &str, renew: Option<Timestamp>, now: Instant) {
        let mut nodes = self.lock();
        let h = nodes
            .entry(node.to_string())
            .or_insert_with(|| Self::fresh(now));
        if renew.is_some() && renew > h.lease_renew {
            h.lease_renew = renew;
            h.probe = now;
        }
    }

    /// The Node as it is now: a new Ready heartbeat is a sign of life. A node that never
    /// posted Ready gets `startup_grace` from its creation, others `grace` from the last
    /// sign of life.
    pub fn observe_node(
        &self,
        node: &Node,
        now: Instant,
        grace: Duration,
        startup_grace: Duration,
    ) -> Verdict {
        let name = node.metadata.name.clone().unwrap_or_default();
        let heartbeat = ready_heartbeat(node);
        let mut nodes = self.lock();
        let h = nodes.entry(name).or_insert_with(|| {
            let mut h = Self::fresh(now);
            if heartbeat.is_none() {
                // Never posted status: the clock runs from the node's creation.
                let age = node
                    .metadata
                    .creation_timestamp
                    .as_ref()
                    .map(|t| Timestamp::now().as_second() - t.0.as_second())
                    .map_or(Duration::ZERO, |s| Duration::from_secs(s.max(0) as u64));
                h.probe = now.checked_sub(age).unwrap_or(now);
            }
            h
        });
        if heartbeat.is_some() && heartbeat != h.heartbeat {
            h.heartbeat = heartbeat;
            h.probe = now;
        }
        let grace = if heartbeat.is_some() {
            grace
        } else {
            startup_grace
        };
        let deadline = h.probe + grace;
        if now > deadline {
            Verdict::Silent
        } else {
            Verdict::Alive { deadline }
        }
    }

    /// Reads and updates one node's record.
    pub fn with<R>(&self, node: &str, f: impl FnOnce(&mut Health) -> R) -> Option<R> {
        self.lock().get_mut(node).map(f)
    }

    pub fn forget(&self, node: &str) {
        self.lock().remove(node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(heartbeat: Option<&str>) -> Node {
        let conditions = heartbeat.map_or(
            json!([]),
            |t| json!([{"type": "Ready", "status": "True", "lastHeartbeatTime": t}]),
        );
        serde_json::from_value(json!({
            "metadata": {"name": "n1", "creationTimestamp": Timestamp::now().to_string()},
            "status": {"conditions": conditions},
        }))
        .unwrap()
    }

    const GRACE: Duration = Duration::from_secs(40);
    const STARTUP: Duration = Duration::from_secs(60);

    #[test]
    fn lease_renewals_and_heartbeats_keep_a_node_alive() {
        let t = HealthTracker::default();
        let start = Instant::now();
        let n = node(Some("2024-01-01T00:00:00Z"));
        assert_eq!(
            t.observe_node(&n, start, GRACE, STARTUP),
            Verdict::Alive {
                deadline: start + GRACE
            },
            "first sight starts the clock"
        );
        let later = start + Duration::from_secs(41);
        assert_eq!(t.observe_node(&n, later, GRACE, STARTUP), Verdict::Silent);
        let renew = Timestamp::now();
        t.observe_lease("n1", Some(renew), later);
        assert_eq!(
            t.observe_node(&n, later, GRACE, STARTUP),
            Verdict::Alive {
                deadline: later + GRACE
            }
        );
        let much_later = later + Duration::from_secs(50);
        t.observe_lease("n1", Some(renew), much_later);
        assert_eq!(
            t.observe_node(&n, much_later, GRACE, STARTUP),
            Verdict::Silent,
            "the same renewal again is no sign of life"
        );
        let n2 = node(Some("2024-01-01T00:01:00Z"));
        assert_eq!(
            t.observe_node(&n2, much_later, GRACE, STARTUP),
            Verdict::Alive {
                deadline: much_later + GRACE
            },
            "a new heartbeat is"
        );
    }

    #[test]
    fn a_node_that_never_posted_status_gets_the_startup_grace() {
        let t = HealthTracker::default();
        let now = Instant::now();
        let n = node(None);
        assert!(matches!(
            t.observe_node(&n, now, GRACE, STARTUP),
            Verdict::Alive { .. }
        ));
        assert_eq!(
            t.observe_node(&n, now + Duration::from_secs(45), GRACE, STARTUP),
            Verdict::Alive {
                deadline: t.with("n1", |h| h.probe).unwrap() + STARTUP
            }
        );
        assert_eq!(
            t.observe_node(&n, now + Duration::from_secs(61), GRACE, STARTUP),
            Verdict::Silent
        );
        t.forget("n1");
        assert!(t.with("n1", |_| ()).is_none());
    }
}
