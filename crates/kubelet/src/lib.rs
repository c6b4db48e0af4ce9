//! The node agent (kubelet): registers the Node and renews its Lease, watches the pods
//! bound to it and runs one worker per pod that drives the pod's state machine on the
//! container [`runtime::Runtime`] — images, sandbox, volumes, init containers, sidecars,
//! app containers, probes, hooks, restart back-off, status and Events — and serves the
//! node's streaming endpoint (container logs).

mod adopt;
pub mod backoff;
pub mod clock;
pub mod cluster;
pub mod command;
pub mod config;
mod container_start;
pub mod containers;
pub mod cri_log;
pub mod env;
pub mod error;
pub mod fieldpath;
pub mod hooks;
mod image_pull;
pub mod images;
mod images_store;
pub mod lease;
pub mod logs;
pub mod node;
pub mod phase;
pub mod pod_dirs;
mod pod_kill;
pub mod pod_manager;
mod pod_sync;
pub mod pod_worker;
pub mod probe;
pub mod probe_exec;
pub mod probe_http;
pub mod probe_tcp;
pub mod resources;
pub mod sandbox;
pub mod security;
mod status;
pub mod volumes;

pub use config::KubeletConfig;
pub use error::{Error, Result};
pub use images::{FakeImages, ImageConfig, ImageError, ImageInfo, ImageService, PullSecret};
pub use logs::server_router;
pub use volumes::{FakeHost, LinuxHost, VolumeHost};

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, SystemClock};
use crate::pod_worker::{Deps, NodeInfo};
use crate::sandbox::DnsSettings;

/// Runs the node agent until `shutdown`. Containers keep running when it returns.
pub async fn run(
    config: KubeletConfig,
    client: kube::Client,
    runtime: Arc<dyn runtime::Runtime>,
    images: Arc<dyn ImageService>,
    shutdown: CancellationToken,
) -> Result<()> {
    let (ready, _) = watch::channel(false);
    run_with_readiness(config, client, runtime, images, shutdown, ready).await
}

/// [`run`], publishing readiness on `ready`: true once the Node is registered, every pod
/// bound to it has its worker (sandboxes re-adopted, leftovers removed).
pub async fn run_with_readiness(
    config: KubeletConfig,
    client: kube::Client,
    runtime: Arc<dyn runtime::Runtime>,
    images: Arc<dyn ImageService>,
    shutdown: CancellationToken,
    ready: watch::Sender<bool>,
) -> Result<()> {
    let pods_dir = pod_dirs::pods_root(&config.data_dir);
    std::fs::create_dir_all(&pods_dir).map_err(|e| Error::io("creating", &pods_dir, e))?;
    let facts = node::gather(&config)?;
    let mut conditions = node::Conditions::default();
    let mut delay = Duration::from_millis(200);
    let registered = loop {
        match node::register(&client, &config, &facts, &mut conditions).await {
            Ok(n) => break n,
            Err(e) => {
                tracing::warn!(node = %config.node_name, error = %e, "registering the node failed; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    };
    let node_uid = registered.metadata.uid.clone().unwrap_or_default();
    if let Err(e) =
        lease::renew_once(&client, &config.node_name, &node_uid, config.lease_duration).await
    {
        tracing::warn!(node = %config.node_name, error = %e, "creating the node lease failed; retrying in the background");
    }
    let background = shutdown.child_token();
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(lease::run(
        client.clone(),
        config.node_name.clone(),
        node_uid,
        config.lease_duration,
        background.clone(),
    ));
    tasks.spawn(node::status_loop(
        client.clone(),
        config.clone(),
        facts.clone(),
        conditions,
        background.clone(),
    ));

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (api, event_writer) =
        cluster::KubeApi::new(client.clone(), &config.node_name, clock.clone());
    tasks.spawn(event_writer);
    let deps = Arc::new(Deps {
        runtime,
        images,
        api: Arc::new(api),
        host: config.volume_host.clone(),
        clock,
        node: NodeInfo {
            name: config.node_name.clone(),
            ip: config.node_ip,
            dns: DnsSettings {
                cluster_dns: config.cluster_dns.clone(),
                cluster_domain: config.cluster_domain.clone(),
                host_resolv_conf: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            },
            allocatable: facts.capacity.clone(),
        },
        data_dir: config.data_dir.clone(),
        resync: config.resync_period,
    });
    tracing::info!(node = %config.node_name, ip = %config.node_ip, "node agent running");
    let result = pod_manager::run(deps, client, &config.node_name, ready, shutdown).await;
    background.cancel();
    while tasks.join_next().await.is_some() {}
    result
}

#[cfg(test)]
mod worker_tests;
