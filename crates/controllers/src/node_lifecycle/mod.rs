//! The node lifecycle controller, as upstream's node-lifecycle and taint-eviction
//! controllers: a node whose Lease (and Ready heartbeat) goes quiet for the grace period
//! gets its conditions set Unknown and the `node.kubernetes.io/unreachable` NoExecute and
//! NoSchedule taints, its pods are marked not ready, and pods that do not tolerate a
//! NoExecute taint are deleted once their `tolerationSeconds` run out. A node that comes
//! back loses the taints. Conditions and cordons map to NoSchedule taints.
//!
//! Two kube-runtime Controllers: one reconciles Nodes (triggered by Node and Lease
//! changes), one reconciles Pods (triggered by Pod changes and by taint changes on their
//! Node).

mod eviction;
mod health;
mod node;
mod taints;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::runtime::controller::Controller;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::Api;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::Result;

/// The namespace of node leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// Timings of the node lifecycle controller; the defaults are upstream's.
#[derive(Clone, Debug)]
pub struct NodeLifecycleConfig {
    /// How long a node may go without renewing its Lease or posting a Ready heartbeat
    /// before its conditions turn Unknown (`--node-monitor-grace-period`, 40 s).
    pub node_monitor_grace_period: Duration,
    /// The same for a node that never posted its status (60 s).
    pub node_startup_grace_period: Duration,
    /// How often a node is looked at without any event (`--node-monitor-period`, 5 s).
    pub node_monitor_period: Duration,
}

impl Default for NodeLifecycleConfig {
    fn default() -> Self {
        NodeLifecycleConfig {
            node_monitor_grace_period: Duration::from_secs(40),
            node_startup_grace_period: Duration::from_secs(60),
            node_monitor_period: Duration::from_secs(5),
        }
    }
}

/// What both reconcilers share.
pub(crate) struct Ctx {
    pub client: kube::Client,
    pub config: NodeLifecycleConfig,
    pub health: Arc<health::HealthTracker>,
    pub nodes: Store<Node>,
    pub pods: Store<Pod>,
    pub evictions: eviction::Schedule,
}

impl Ctx {
    /// The pods bound to `node`.
    pub fn pods_on(&self, node: &str) -> Vec<Arc<Pod>> {
        pods_on(&self.pods, node)
    }
}

fn pods_on(pods: &Store<Pod>, node: &str) -> Vec<Arc<Pod>> {
    pods.state()
        .into_iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
        .collect()
}

/// Runs both controllers until `shutdown`; `ready` turns true once their caches are full.
pub async fn run(
    config: NodeLifecycleConfig,
    client: kube::Client,
    shutdown: CancellationToken,
    ready: watch::Sender<bool>,
) -> Result<()> {
    let health = Arc::new(health::HealthTracker::default());
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let lease_health = health.clone();
    let nodes_controller = Controller::new(
        Api::<Node>::all(client.clone()),
        watcher::Config::default(),
    )
    .watches(leases, watcher::Config::default(), move |lease: Lease| {
        let name = lease.metadata.name.clone()?;
        let renew = lease.spec.and_then(|s| s.renew_time).map(|t| t.0);
        lease_health.observe_lease(&name, renew, tokio::time::Instant::now());
        Some(ObjectRef::<Node>::new(&name))
    });
    let node_store = nodes_controller.store();
    let pods_controller =
        Controller::new(Api::<Pod>::all(client.clone()), watcher::Config::default());
    let pod_store = pods_controller.store();
    let mapper_pods = pod_store.clone();
    let pods_controller = pods_controller.watches(
        Api::<Node>::all(client.clone()),
        watcher::Config::default(),
        move |node: Node| {
            let name = node.metadata.name.unwrap_or_default();
            pods_on(&mapper_pods, &name)
                .into_iter()
                .map(|p| ObjectRef::from_obj(&*p))
                .collect::<Vec<_>>()
        },
    );
    let ctx = Arc::new(Ctx {
        client,
        config,
        health,
        nodes: node_store.clone(),
        pods: pod_store.clone(),
        evictions: eviction::Schedule::default(),
    });

    let stop = shutdown.clone();
    let nodes = nodes_controller
        .graceful_shutdown_on(async move { stop.cancelled().await })
        .run(node::reconcile, node::error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "node lifecycle reconcile failed");
            }
        });
    let stop = shutdown.clone();
    let pods = pods_controller
        .graceful_shutdown_on(async move { stop.cancelled().await })
        .run(eviction::reconcile, eviction::error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "taint eviction reconcile failed");
            }
        });
    let readiness = async {
        let synced = async {
            let _ = node_store.wait_until_ready().await;
            let _ = pod_store.wait_until_ready().await;
        };
        tokio::select! {
            _ = synced => {
                tracing::info!("node lifecycle controller caches synced");
                ready.send_replace(true);
            }
            _ = shutdown.cancelled() => {}
        }
    };
    tokio::join!(nodes, pods, readiness);
    Ok(())
}
