//! Reconciles one Pod against its node's NoExecute taints (upstream taint-eviction
//! controller): a pod that does not tolerate one is deleted now; one that tolerates them
//! for a while is deleted when the shortest `tolerationSeconds` since the taint was first
//! seen have passed; the countdown is cancelled when the taints go.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::scheduling::{no_execute_toleration, NO_EXECUTE};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use serde_json::json;
use tokio::time::Instant;
use tracing::Instrument;

use super::Ctx;
use crate::events::{pod_ref, record};
use crate::{Error, Result};

const COMPONENT: &str = "taint-eviction-controller";

/// When each pod's NoExecute countdown started, by pod uid.
#[derive(Debug, Default)]
pub struct Schedule(Mutex<HashMap<String, Instant>>);

impl Schedule {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The start of the pod's countdown (now, if it had none).
    fn start(&self, uid: &str, now: Instant) -> Instant {
        *self.lock().entry(uid.to_string()).or_insert(now)
    }

    /// Ends the countdown; whether there was one.
    fn cancel(&self, uid: &str) -> bool {
        self.lock().remove(uid).is_some()
    }
}

pub async fn reconcile(pod: Arc<Pod>, ctx: Arc<Ctx>) -> Result<Action> {
    let span = tracing::debug_span!("reconcile_pod_taints", pod = %format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any()));
    reconcile_inner(pod, ctx).instrument(span).await
}

async fn reconcile_inner(pod: Arc<Pod>, ctx: Arc<Ctx>) -> Result<Action> {
    let uid = pod.uid().unwrap_or_default();
    let node_name = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    if node_name.is_empty() || pod.metadata.deletion_timestamp.is_some() {
        ctx.evictions.cancel(&uid);
        return Ok(Action::await_change());
    }
    let Some(node) = ctx.nodes.get(&ObjectRef::<Node>::new(&node_name)) else {
        return Ok(Action::await_change());
    };
    let taints: Vec<_> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.effect == NO_EXECUTE)
        .collect();
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    let cancel = |ctx: &Ctx| {
        if ctx.evictions.cancel(&uid) {
            record(
                &ctx.client,
                COMPONENT,
                pod_ref(&pod),
                "Normal",
                "TaintManagerEviction",
                format!(
                    "Cancelling deletion of Pod {}/{}",
                    pod.namespace().unwrap_or_default(),
                    pod.name_any()
                ),
            );
        }
        Ok(Action::await_change())
    };
    if taints.is_empty() {
        return cancel(&ctx);
    }
    let now = Instant::now();
    match no_execute_toleration(&taints, &tolerations) {
        Err(taint) => {
            tracing::info!(taint = %taint.key, "pod does not tolerate a NoExecute taint of its node");
        }
        Ok(None) => return cancel(&ctx),
        Ok(Some(seconds)) => {
            let deadline = ctx.evictions.start(&uid, now) + Duration::from_secs(seconds as u64);
            if now < deadline {
                return Ok(Action::requeue(deadline - now));
            }
        }
    }
    evict(&ctx, &pod).await?;
    ctx.evictions.cancel(&uid);
    Ok(Action::await_change())
}

/// Marks the pod with a DisruptionTarget condition and deletes it.
async fn evict(ctx: &Ctx, pod: &Pod) -> Result<()> {
    let ns = pod.namespace().unwrap_or_default();
    let name = pod.name_any();
    record(
        &ctx.client,
        COMPONENT,
        pod_ref(pod),
        "Normal",
        "TaintManagerEviction",
        format!("Marking for deletion Pod {ns}/{name}"),
    );
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let patch = json!({"status": {"conditions": [{"type": "DisruptionTarget", "status": "True",
        "reason": "DeletionByTaintManager", "message": "Taint manager: deleting due to NoExecute taint",
        "lastTransitionTime": now}]}});
    match api
        .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: pod.uid(),
            resource_version: None,
        }),
        ..Default::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => {
            tracing::info!("pod evicted for a NoExecute taint");
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub fn error_policy(pod: Arc<Pod>, error: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::debug!(pod = %pod.name_any(), error = %error, "taint eviction reconcile failed; retrying");
    Action::requeue(Duration::from_millis(500))
}
