//! Hollow nodes, like Kubernetes' kubemark: each registers a Node with the given capacity
//! and labels, renews its Lease, and reports the pods bound to it as Running — with a pod
//! IP from a fake range and running container statuses, but no containers — and finishes
//! deleting pods marked for deletion. Many hollow nodes share one pod watch and one node
//! watch, so a thousand of them cost the API server two watchers.
//!
//! Tests use [`HollowNodes`] directly (and [`HollowNodes::stop_heartbeats`] to make a node
//! go silent); `orca hollow-nodes` runs [`run_hollow_nodes`].

mod error;
mod node;
mod pods;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use error::{Error, Result};

/// How the hollow nodes look and behave.
#[derive(Clone, Debug)]
pub struct HollowConfig {
    /// How many nodes: named `{prefix}-{i}` for i in 0..count.
    pub count: usize,
    pub prefix: String,
    /// Capacity (also allocatable): `cpu`, `memory`, `pods`, extended resources...
    pub capacity: BTreeMap<String, Quantity>,
    /// Labels beyond the well-known ones every node gets.
    pub labels: BTreeMap<String, String>,
    /// The Lease's `leaseDurationSeconds`.
    pub lease_duration: Duration,
    /// How often each Lease is renewed (the kubelet's default is 10 s).
    pub lease_renew_interval: Duration,
    /// API calls (registrations, status reports, deletions) in flight at once.
    pub parallelism: usize,
    /// Whether bound pods are reported Running (off: only deletions are finished, to
    /// load-test the control plane without status writes).
    pub report_pods: bool,
}

impl HollowConfig {
    /// `count` nodes with `capacity` and `labels`, renewing leases every 10 s.
    pub fn new(
        count: usize,
        prefix: impl Into<String>,
        capacity: BTreeMap<String, Quantity>,
        labels: BTreeMap<String, String>,
    ) -> HollowConfig {
        HollowConfig {
            count,
            prefix: prefix.into(),
            capacity,
            labels,
            lease_duration: Duration::from_secs(40),
            lease_renew_interval: Duration::from_secs(10),
            parallelism: 64,
            report_pods: true,
        }
    }
}

/// A capacity map from `(name, quantity)` pairs, e.g. `[("cpu", "4"), ("memory", "8Gi")]`.
pub fn capacity(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
        .collect()
}

/// The capacity hollow nodes get unless told otherwise: 32 cpus, 128Gi, 110 pods.
pub fn default_capacity() -> BTreeMap<String, Quantity> {
    capacity(&[("cpu", "32"), ("memory", "128Gi"), ("pods", "110")])
}

/// `k=v,k=v` pairs, as command-line flags carry labels and capacities.
fn pairs(s: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(format!(
                "{p:?} is not key=value; write e.g. cpu=4,memory=8Gi"
            )),
        })
        .collect()
}

/// Parses `--labels zone=a,disktype=ssd`.
pub fn parse_labels(s: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    pairs(s)
}

/// Parses `--capacity cpu=4,memory=8Gi,pods=110`; every value must be a quantity.
pub fn parse_capacity(s: &str) -> std::result::Result<BTreeMap<String, Quantity>, String> {
    pairs(s)?
        .into_iter()
        .map(|(k, v)| match api::quantity::ParsedQuantity::parse(&v) {
            Ok(_) => Ok((k, Quantity(v))),
            Err(e) => Err(format!("capacity {k}={v}: {e}")),
        })
        .collect()
}

/// One hollow node's live state.
#[derive(Debug)]
pub(crate) struct HollowNode {
    pub name: String,
    pub index: usize,
    /// Whether it heartbeats and reports pods; false simulates a dead kubelet.
    pub alive: AtomicBool,
    /// Woken when the node is resumed.
    pub resumed: Notify,
    pub next_ip: AtomicU32,
}

impl HollowNode {
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// The node's address: 172.16.0.0/12, one per node.
    pub fn ip(&self) -> String {
        let n = (172u32 << 24 | 16 << 16) + self.index as u32 + 1;
        std::net::Ipv4Addr::from(n).to_string()
    }

    /// A fresh pod IP from the node's /22 in 10.0.0.0/8.
    pub fn next_pod_ip(&self) -> String {
        let j = self.next_ip.fetch_add(1, Ordering::Relaxed) % 1022;
        let n = (10u32 << 24) + ((self.index as u32) << 10) + 1 + j;
        std::net::Ipv4Addr::from(n).to_string()
    }
}

/// Shared by the tasks of a set of hollow nodes.
pub(crate) struct Shared {
    pub client: kube::Client,
    pub config: HollowConfig,
    pub nodes: BTreeMap<String, Arc<HollowNode>>,
    pub permits: Semaphore,
}

/// Running hollow nodes.
pub struct HollowNodes {
    shared: Arc<Shared>,
    tasks: JoinSet<()>,
    pods: pods::PodIndex,
}

impl HollowNodes {
    /// Registers the nodes and their leases, then keeps them alive until `shutdown`.
    pub async fn start(
        client: kube::Client,
        config: HollowConfig,
        shutdown: CancellationToken,
    ) -> Result<HollowNodes> {
        let nodes = (0..config.count)
            .map(|index| {
                let name = format!("{}-{index}", config.prefix);
                let node = HollowNode {
                    name: name.clone(),
                    index,
                    alive: AtomicBool::new(true),
                    resumed: Notify::new(),
                    next_ip: AtomicU32::new(0),
                };
                (name, Arc::new(node))
            })
            .collect();
        let shared = Arc::new(Shared {
            client,
            permits: Semaphore::new(config.parallelism.max(1)),
            config,
            nodes,
        });
        let results: Vec<Result<()>> = futures::stream::iter(shared.nodes.values().cloned())
            .map(|n| {
                let shared = shared.clone();
                async move { node::register(&shared, &n).await }
            })
            .buffer_unordered(shared.config.parallelism.max(1))
            .collect()
            .await;
        results.into_iter().collect::<Result<Vec<()>>>()?;
        tracing::info!(count = shared.nodes.len(), prefix = %shared.config.prefix, "hollow nodes registered");
        let mut tasks = JoinSet::new();
        for n in shared.nodes.values() {
            tasks.spawn(node::renew_lease(
                shared.clone(),
                n.clone(),
                shutdown.clone(),
            ));
        }
        tasks.spawn(node::watch_nodes(shared.clone(), shutdown.clone()));
        let pods = pods::PodIndex::default();
        tasks.spawn(pods::run(shared.clone(), pods.clone(), shutdown));
        Ok(HollowNodes {
            shared,
            tasks,
            pods,
        })
    }

    /// The nodes' names.
    pub fn names(&self) -> Vec<String> {
        self.shared.nodes.keys().cloned().collect()
    }

    /// Makes `node` go silent, as if its kubelet died: no lease renewals, no status.
    pub fn stop_heartbeats(&self, node: &str) {
        if let Some(n) = self.shared.nodes.get(node) {
            n.alive.store(false, Ordering::SeqCst);
            tracing::info!(node, "hollow node stopped heartbeating");
        }
    }

    /// Brings `node` back: its lease is renewed, it posts Ready and re-reports its pods.
    pub async fn resume(&self, node: &str) {
        let Some(n) = self.shared.nodes.get(node) else {
            return;
        };
        n.alive.store(true, Ordering::SeqCst);
        n.resumed.notify_waiters();
        tracing::info!(node, "hollow node resumed");
        if let Err(e) = node::post_status(&self.shared, n).await {
            tracing::warn!(node, error = %e, "posting the node status failed");
        }
        pods::report_node(&self.shared, &self.pods, n).await;
    }

    /// Waits until every task ended (after the shutdown token fires).
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Runs `count` hollow nodes named `{prefix}-{i}` until `shutdown` (`orca hollow-nodes`).
pub async fn run_hollow_nodes(
    client: kube::Client,
    count: usize,
    prefix: &str,
    capacity: BTreeMap<String, Quantity>,
    labels: BTreeMap<String, String>,
    shutdown: CancellationToken,
) -> Result<()> {
    let config = HollowConfig::new(count, prefix, capacity, labels);
    let nodes = HollowNodes::start(client, config, shutdown).await?;
    nodes.wait().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_into_labels_and_capacity() {
        let l = parse_labels("zone=a, disktype=ssd").unwrap();
        assert_eq!(l["zone"], "a");
        assert_eq!(l["disktype"], "ssd");
        let c = parse_capacity("cpu=4,memory=8Gi,pods=110").unwrap();
        assert_eq!(c["memory"].0, "8Gi");
        assert!(parse_capacity("cpu=lots").unwrap_err().contains("cpu=lots"));
        assert!(parse_labels("zone").is_err());
        assert!(parse_labels("").unwrap().is_empty());
        assert_eq!(default_capacity()["pods"].0, "110");
    }

    #[test]
    fn addresses_are_distinct_per_node_and_pod() {
        let n = |index| HollowNode {
            name: format!("n-{index}"),
            index,
            alive: AtomicBool::new(true),
            resumed: Notify::new(),
            next_ip: AtomicU32::new(0),
        };
        let (a, b) = (n(0), n(1000));
        assert_eq!(a.ip(), "172.16.0.1");
        assert_eq!(b.ip(), "172.16.3.233");
        assert_eq!(a.next_pod_ip(), "10.0.0.1");
        assert_eq!(a.next_pod_ip(), "10.0.0.2");
        assert_eq!(b.next_pod_ip(), "10.15.160.1");
    }
}
