//! The pods bound to hollow nodes: one watch for all of them; a pod bound to a live hollow
//! node is reported Running (conditions, pod IP, running container statuses) and a pod
//! marked for deletion is deleted for good (grace period 0), as a kubelet would once its
//! containers stopped.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::{HollowNode, Shared};

/// Pods on hollow nodes, by node and uid, and the work in flight for them.
#[derive(Clone, Default)]
pub struct PodIndex(Arc<Mutex<Inner>>);

#[derive(Default)]
struct Inner {
    by_node: HashMap<String, HashMap<String, Arc<Pod>>>,
    /// Pods with a status report or deletion in flight (not started twice).
    busy: HashSet<String>,
}

impl PodIndex {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn uid_of(pod: &Pod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

/// What a hollow kubelet owes a pod.
#[derive(Debug, PartialEq)]
enum Duty {
    /// Nothing: it is reported Running, or finished.
    None,
    /// Report it Running.
    Report,
    /// It is marked for deletion: delete it for good.
    Delete,
}

fn duty(pod: &Pod) -> Duty {
    if pod.metadata.deletion_timestamp.is_some() {
        return Duty::Delete;
    }
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
    if phase == "Succeeded" || phase == "Failed" {
        return Duty::None;
    }
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True");
    let has_ip = status
        .and_then(|s| s.pod_ip.as_deref())
        .is_some_and(|ip| !ip.is_empty());
    if phase == "Running" && ready && has_ip {
        Duty::None
    } else {
        Duty::Report
    }
}

/// Watches all pods and serves those bound to the hollow nodes until `shutdown`.
pub async fn run(shared: Arc<Shared>, index: PodIndex, shutdown: CancellationToken) {
    let api: Api<Pod> = Api::all(shared.client.clone());
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return,
            next = stream.next() => next,
        };
        match next {
            Some(Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod))) => {
                on_pod(&shared, &index, Arc::new(pod));
            }
            Some(Ok(watcher::Event::Delete(pod))) => {
                let node = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.clone())
                    .unwrap_or_default();
                let mut inner = index.lock();
                if let Some(pods) = inner.by_node.get_mut(&node) {
                    pods.remove(&uid_of(&pod));
                }
            }
            Some(Ok(watcher::Event::Init | watcher::Event::InitDone)) => {}
            Some(Err(e)) => tracing::debug!(error = %e, "hollow pod watch failed; retrying"),
            None => return,
        }
    }
}

fn on_pod(shared: &Arc<Shared>, index: &PodIndex, pod: Arc<Pod>) {
    let Some(node) = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_ref())
        .and_then(|n| shared.nodes.get(n))
    else {
        return;
    };
    let uid = uid_of(&pod);
    index
        .lock()
        .by_node
        .entry(node.name.clone())
        .or_default()
        .insert(uid, pod.clone());
    if node.is_alive() {
        serve(shared, index, node, pod);
    }
}

/// Starts whatever the pod needs (once at a time).
fn serve(shared: &Arc<Shared>, index: &PodIndex, node: &Arc<HollowNode>, pod: Arc<Pod>) {
    let duty = duty(&pod);
    if duty == Duty::None || (duty == Duty::Report && !shared.config.report_pods) {
        return;
    }
    let uid = uid_of(&pod);
    if !index.lock().busy.insert(uid.clone()) {
        return;
    }
    let (shared, index, node) = (shared.clone(), index.clone(), node.clone());
    tokio::spawn(async move {
        let result = {
            let _permit = shared.permits.acquire().await;
            match duty {
                Duty::Delete => delete(&shared, &pod).await,
                _ => report(&shared, &node, &pod).await,
            }
        };
        if let Err(e) = result {
            if !matches!(&e, kube::Error::Api(s) if s.code == 404 || s.code == 409) {
                tracing::warn!(pod = ?pod.metadata.name, error = %e, "hollow pod update failed");
            }
        }
        index.lock().busy.remove(&uid);
    });
}

/// Re-reports every pod of a node that came back.
pub async fn report_node(shared: &Arc<Shared>, index: &PodIndex, node: &Arc<HollowNode>) {
    let pods: Vec<Arc<Pod>> = index
        .lock()
        .by_node
        .get(&node.name)
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default();
    for pod in pods {
        serve(shared, index, node, pod);
    }
}

async fn delete(shared: &Shared, pod: &Pod) -> Result<(), kube::Error> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let api: Api<Pod> = Api::namespaced(shared.client.clone(), ns);
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: pod.metadata.uid.clone(),
            resource_version: None,
        }),
        ..Default::default()
    };
    api.delete(pod.metadata.name.as_deref().unwrap_or(""), &params)
        .await
        .map(drop)
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The Running status of a pod whose containers all started at once.
fn running_status(pod: &Pod, node: &HollowNode, ip: &str) -> Value {
    let now = now();
    let uid = uid_of(pod);
    let spec = pod.spec.clone().unwrap_or_default();
    let running = |name: &str, image: &str| {
        json!({"name": name, "image": image, "imageID": format!("hollow://{image}"),
               "containerID": format!("hollow://{uid}/{name}"), "ready": true, "started": true,
               "restartCount": 0, "state": {"running": {"startedAt": now}}})
    };
    let containers: Vec<Value> = spec
        .containers
        .iter()
        .map(|c| running(&c.name, c.image.as_deref().unwrap_or("")))
        .collect();
    let init: Vec<Value> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| {
            let image = c.image.as_deref().unwrap_or("");
            if c.restart_policy.as_deref() == Some("Always") {
                return running(&c.name, image);
            }
            json!({"name": c.name, "image": image, "imageID": format!("hollow://{image}"),
                   "containerID": format!("hollow://{uid}/{}", c.name), "ready": true,
                   "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed",
                   "startedAt": now, "finishedAt": now}}})
        })
        .collect();
    let condition = |t: &str| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
    let start_time = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.clone())
        .map_or(json!(now), |t| json!(t));
    json!({
        "phase": "Running",
        "conditions": [condition("PodReadyToStartContainers"), condition("Initialized"),
                       condition("Ready"), condition("ContainersReady"), condition("PodScheduled")],
        "hostIP": node.ip(), "hostIPs": [{"ip": node.ip()}],
        "podIP": ip, "podIPs": [{"ip": ip}],
        "startTime": start_time,
        "containerStatuses": containers,
        "initContainerStatuses": init,
    })
}

async fn report(shared: &Shared, node: &HollowNode, pod: &Pod) -> Result<(), kube::Error> {
    let ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| node.next_pod_ip());
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let api: Api<Pod> = Api::namespaced(shared.client.clone(), ns);
    let patch = json!({"status": running_status(pod, node, &ip)});
    // A merge patch: the lists are written whole, and it is cheaper to apply than a
    // strategic one.
    api.patch_status(
        pod.metadata.name.as_deref().unwrap_or(""),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn duties_follow_the_pods_state() {
        assert_eq!(duty(&pod(json!({"metadata": {"name": "p"}}))), Duty::Report);
        assert_eq!(
            duty(&pod(
                json!({"metadata": {"name": "p", "deletionTimestamp": "2024-01-01T00:00:00Z"}})
            )),
            Duty::Delete
        );
        let running = json!({"phase": "Running", "podIP": "10.0.0.1",
            "conditions": [{"type": "Ready", "status": "True"}]});
        assert_eq!(
            duty(&pod(json!({"metadata": {"name": "p"}, "status": running}))),
            Duty::None
        );
        let not_ready = json!({"phase": "Running", "podIP": "10.0.0.1",
            "conditions": [{"type": "Ready", "status": "False"}]});
        assert_eq!(
            duty(&pod(
                json!({"metadata": {"name": "p"}, "status": not_ready})
            )),
            Duty::Report
        );
        assert_eq!(
            duty(&pod(
                json!({"metadata": {"name": "p"}, "status": {"phase": "Succeeded"}})
            )),
            Duty::None
        );
    }
}
