//! Level-triggered reconcilers on kube-runtime: given an object, converge, and say when to
//! look again. Implemented so far: the node lifecycle (node health from Leases, Ready
//! Unknown, the condition and cordon taints, pods marked not ready, NoExecute eviction).
//! They act on nothing but API objects.

mod error;
mod events;
pub mod node_lifecycle;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use error::{Error, Result};
pub use node_lifecycle::NodeLifecycleConfig;

/// Settings of all controllers.
#[derive(Clone, Debug, Default)]
pub struct ControllersConfig {
    pub node_lifecycle: NodeLifecycleConfig,
}

/// Runs the controllers until `shutdown`.
pub async fn run(
    config: ControllersConfig,
    client: kube::Client,
    shutdown: CancellationToken,
) -> Result<()> {
    let (ready, _) = watch::channel(false);
    run_with_readiness(config, client, shutdown, ready).await
}

/// [`run`], publishing readiness on `ready`: true once every controller's caches are
/// filled.
pub async fn run_with_readiness(
    config: ControllersConfig,
    client: kube::Client,
    shutdown: CancellationToken,
    ready: watch::Sender<bool>,
) -> Result<()> {
    node_lifecycle::run(config.node_lifecycle, client, shutdown, ready).await
}
