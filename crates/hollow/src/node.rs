//! A hollow node's Node object and Lease: registration, the Ready status, and the lease
//! heartbeat. When the node lifecycle controller marks a live node's Ready condition
//! Unknown, the node posts Ready again, as a kubelet's status loop does.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::{HollowNode, Result, Shared};

/// The namespace of node leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The node's status: capacity, Ready and the pressure conditions, addresses, info.
fn status(shared: &Shared, node: &HollowNode) -> serde_json::Value {
    let now = now();
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        json!({"type": type_, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    json!({
        "capacity": shared.config.capacity,
        "allocatable": shared.config.capacity,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": node.ip()},
            {"type": "Hostname", "address": node.name},
        ],
        "nodeInfo": {
            "machineID": format!("hollow-{}", node.index), "systemUUID": format!("hollow-{}", node.index),
            "bootID": "hollow", "kernelVersion": "hollow", "osImage": "Hollow Node",
            "containerRuntimeVersion": "hollow://1.0",
            "kubeletVersion": "v1.33.0", "kubeProxyVersion": "",
            "operatingSystem": "linux", "architecture": "amd64",
        },
    })
}

/// Creates the Node (or takes over an existing one's labels), posts its status and
/// creates its Lease.
pub async fn register(shared: &Shared, node: &HollowNode) -> Result<()> {
    let _permit = shared.permits.acquire().await;
    let api: Api<Node> = Api::all(shared.client.clone());
    let mut labels = shared.config.labels.clone();
    labels.insert("kubernetes.io/hostname".into(), node.name.clone());
    labels.insert("kubernetes.io/os".into(), "linux".into());
    labels.insert("kubernetes.io/arch".into(), "amd64".into());
    let object: Node = serde_json::from_value(json!({
        "metadata": {"name": node.name, "labels": labels,
                     "annotations": {"orca.dev/hollow": "true"}},
        "spec": {},
    }))?;
    let uid = match api.create(&PostParams::default(), &object).await {
        Ok(n) => n.metadata.uid,
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let patch = json!({"metadata": {"labels": labels}});
            api.patch(&node.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?
                .metadata
                .uid
        }
        Err(e) => return Err(e.into()),
    };
    let patch = json!({"status": status(shared, node)});
    api.patch_status(&node.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let leases: Api<Lease> = Api::namespaced(shared.client.clone(), LEASE_NAMESPACE);
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": node.name, "namespace": LEASE_NAMESPACE,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node.name, "uid": uid.unwrap_or_default()}]},
        "spec": {"holderIdentity": node.name, "leaseDurationSeconds": shared.config.lease_duration.as_secs(),
                 "renewTime": MicroTime(Timestamp::now())},
    }))?;
    match leases.create(&PostParams::default(), &lease).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => renew(&leases, &node.name).await,
        Err(e) => Err(e.into()),
    }
}

/// Posts the node's status (Ready, with fresh heartbeats).
pub async fn post_status(shared: &Shared, node: &HollowNode) -> Result<()> {
    let api: Api<Node> = Api::all(shared.client.clone());
    let patch = json!({"status": status(shared, node)});
    api.patch_status(&node.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

async fn renew(leases: &Api<Lease>, name: &str) -> Result<()> {
    let patch = json!({"spec": {"renewTime": MicroTime(Timestamp::now()), "holderIdentity": name}});
    leases
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// Renews the node's Lease every renew interval while the node is alive.
pub async fn renew_lease(shared: Arc<Shared>, node: Arc<HollowNode>, shutdown: CancellationToken) {
    let leases: Api<Lease> = Api::namespaced(shared.client.clone(), LEASE_NAMESPACE);
    let interval = shared
        .config
        .lease_renew_interval
        .max(Duration::from_millis(50));
    // Spread the renewals of many nodes over the interval.
    let count = shared.nodes.len().max(1) as u32;
    let offset = interval * (node.index as u32 % count) / count;
    tokio::select! {
        _ = shutdown.cancelled() => return,
        _ = tokio::time::sleep(offset) => {}
    }
    loop {
        if node.is_alive() {
            if let Err(e) = renew(&leases, &node.name).await {
                tracing::warn!(node = %node.name, error = %e, "renewing the lease failed");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(interval) => {}
            }
        } else {
            let resumed = node.resumed.notified();
            tokio::pin!(resumed);
            resumed.as_mut().enable();
            if node.is_alive() {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = resumed => {}
            }
        }
    }
}

/// Watches the Nodes: a live hollow node whose Ready condition is not True (set Unknown
/// by the node lifecycle controller while it was silent) posts Ready again.
pub async fn watch_nodes(shared: Arc<Shared>, shutdown: CancellationToken) {
    let api: Api<Node> = Api::all(shared.client.clone());
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .applied_objects();
    futures::pin_mut!(stream);
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return,
            next = stream.next() => next,
        };
        let node = match next {
            Some(Ok(n)) => n,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "hollow node watch failed; retrying");
                continue;
            }
            None => return,
        };
        let Some(hollow) = node
            .metadata
            .name
            .as_ref()
            .and_then(|n| shared.nodes.get(n))
        else {
            continue;
        };
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .is_some_and(|c| c.status == "True");
        if !ready && hollow.is_alive() {
            let (shared, hollow) = (shared.clone(), hollow.clone());
            tokio::spawn(async move {
                if let Err(e) = post_status(&shared, &hollow).await {
                    tracing::warn!(node = %hollow.name, error = %e, "posting the node status failed");
                }
            });
        }
    }
}
