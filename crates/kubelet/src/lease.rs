//! The node's Lease in `kube-node-lease`: created owned by the Node and renewed every
//! quarter of its duration — the node's liveness signal.

use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, PostParams};
use tokio_util::sync::CancellationToken;

use crate::clock::k8s_micro_time;

/// The namespace of node leases.
pub const NAMESPACE: &str = "kube-node-lease";

async fn renew(
    api: &Api<Lease>,
    node: &str,
    node_uid: &str,
    duration: Duration,
) -> Result<(), kube::Error> {
    let now = k8s_micro_time(Utc::now());
    match api.get_opt(node).await? {
        Some(mut lease) => {
            let spec = lease.spec.get_or_insert_with(Default::default);
            spec.renew_time = Some(now);
            spec.holder_identity = Some(node.to_string());
            spec.lease_duration_seconds = Some(duration.as_secs() as i32);
            api.replace(node, &PostParams::default(), &lease).await?;
        }
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(node.to_string()),
                    namespace: Some(NAMESPACE.into()),
                    owner_references: (!node_uid.is_empty()).then(|| {
                        vec![OwnerReference {
                            api_version: "v1".into(),
                            kind: "Node".into(),
                            name: node.to_string(),
                            uid: node_uid.to_string(),
                            ..Default::default()
                        }]
                    }),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(node.to_string()),
                    lease_duration_seconds: Some(duration.as_secs() as i32),
                    renew_time: Some(now),
                    ..Default::default()
                }),
            };
            api.create(&PostParams::default(), &lease).await?;
        }
    }
    Ok(())
}

/// Creates or renews the Lease once.
pub async fn renew_once(
    client: &kube::Client,
    node: &str,
    node_uid: &str,
    duration: Duration,
) -> Result<(), kube::Error> {
    renew(
        &Api::namespaced(client.clone(), NAMESPACE),
        node,
        node_uid,
        duration,
    )
    .await
}

/// Renews the Lease until `shutdown`; failures are retried quickly, then at the interval.
pub async fn run(
    client: kube::Client,
    node: String,
    node_uid: String,
    duration: Duration,
    shutdown: CancellationToken,
) {
    let api: Api<Lease> = Api::namespaced(client, NAMESPACE);
    let interval = (duration / 4).max(Duration::from_millis(100));
    let mut retry = Duration::from_millis(200);
    loop {
        let wait = match renew(&api, &node, &node_uid, duration).await {
            Ok(()) => {
                retry = Duration::from_millis(200);
                interval
            }
            Err(e) => {
                tracing::warn!(node = %node, error = %e, "renewing the node lease failed");
                retry = (retry * 2).min(interval);
                retry
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
