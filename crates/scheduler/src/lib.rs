//! The scheduler: places pods with no `spec.nodeName` (and `schedulerName:
//! default-scheduler`) on nodes, as kube-scheduler does. Filters and scores are small
//! plugins with upstream's names, reasons and weights; the cache counts what bound and
//! assumed pods take from each node; the queue retries unschedulable pods when a cluster
//! event might help, with back-off, never by polling. It binds through `pods/binding` and
//! touches nothing but API objects.

mod cache;
mod diagnosis;
mod error;
mod framework;
mod informer;
mod plugins;
mod pod_info;
mod queue;
mod recorder;
mod resources;
mod scheduler;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use error::{Error, Result};

/// The `spec.schedulerName` served by default, and the component name on its Events.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// How the scheduler behaves; [`SchedulerConfig::default`] is upstream's defaults.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// The `spec.schedulerName` this scheduler serves; also its Events' component.
    pub scheduler_name: String,
    /// Percentage of nodes to find feasible before scoring (0: upstream's adaptive rule,
    /// 50% minus 1% per 125 nodes, at least 5% and 100 nodes).
    pub percentage_of_nodes_to_score: u32,
    /// Back-off after the first failed attempt (upstream `podInitialBackoffSeconds`).
    pub pod_initial_backoff: Duration,
    /// Longest back-off (upstream `podMaxBackoffSeconds`).
    pub pod_max_backoff: Duration,
    /// How long an unschedulable pod waits for an event before it is retried anyway.
    pub pod_max_in_unschedulable: Duration,
    /// Bindings (and status updates) in flight at once.
    pub parallel_bindings: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            scheduler_name: DEFAULT_SCHEDULER_NAME.into(),
            percentage_of_nodes_to_score: 0,
            pod_initial_backoff: Duration::from_secs(1),
            pod_max_backoff: Duration::from_secs(10),
            pod_max_in_unschedulable: Duration::from_secs(300),
            parallel_bindings: 256,
        }
    }
}

/// Runs the scheduler until `shutdown`.
pub async fn run(
    config: SchedulerConfig,
    client: kube::Client,
    shutdown: CancellationToken,
) -> Result<()> {
    let (ready, _) = watch::channel(false);
    run_with_readiness(config, client, shutdown, ready).await
}

/// [`run`], publishing readiness on `ready`: true once nodes and pods are listed and
/// scheduling has begun.
pub async fn run_with_readiness(
    config: SchedulerConfig,
    client: kube::Client,
    shutdown: CancellationToken,
    ready: watch::Sender<bool>,
) -> Result<()> {
    let (pods_tx, pods) = mpsc::channel(4096);
    let (nodes_tx, nodes) = mpsc::channel(1024);
    let (bind_tx, binds) = mpsc::unbounded_channel();
    let watches = shutdown.child_token();
    let pod_watch = informer::spawn(
        Api::<Pod>::all(client.clone()),
        "pods",
        pods_tx,
        watches.clone(),
    );
    let node_watch = informer::spawn(
        Api::<Node>::all(client.clone()),
        "nodes",
        nodes_tx,
        watches.clone(),
    );
    let (recorder, events) =
        recorder::Recorder::spawn(client.clone(), config.scheduler_name.clone());
    tracing::info!(name = %config.scheduler_name, "scheduler starting");
    let core = scheduler::Scheduler::new(&config, client, recorder, bind_tx);
    core.run(scheduler::Inputs { pods, nodes, binds }, ready, shutdown)
        .await;
    watches.cancel();
    let _ = pod_watch.await;
    let _ = node_watch.await;
    // The core held the last recorder; the writer drains and ends.
    let _ = events.await;
    Ok(())
}
