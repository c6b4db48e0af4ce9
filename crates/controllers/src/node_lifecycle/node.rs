//! Reconciles one Node: Unknown conditions once it goes silent, the taints its conditions
//! and cordon call for, and its pods marked not ready when it stops being Ready.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::ResourceExt;
use serde_json::json;
use tokio::time::Instant;
use tracing::Instrument;

use super::health::Verdict;
use super::taints::{desired_taints, mark_unknown, ready_status};
use super::Ctx;
use crate::events::{node_ref, pod_ref, record};
use crate::{Error, Result};

const COMPONENT: &str = "node-controller";

pub async fn reconcile(node: Arc<Node>, ctx: Arc<Ctx>) -> Result<Action> {
    let name = node.name_any();
    let span = tracing::debug_span!("reconcile_node", node = %name);
    reconcile_inner(node, ctx).instrument(span).await
}

async fn reconcile_inner(node: Arc<Node>, ctx: Arc<Ctx>) -> Result<Action> {
    let name = node.name_any();
    if node.metadata.deletion_timestamp.is_some() {
        ctx.health.forget(&name);
        return Ok(Action::await_change());
    }
    let api: Api<Node> = Api::all(ctx.client.clone());
    let config = &ctx.config;
    let now = Instant::now();
    let verdict = ctx.health.observe_node(
        &node,
        now,
        config.node_monitor_grace_period,
        config.node_startup_grace_period,
    );

    if verdict == Verdict::Silent {
        let mut updated = (*node).clone();
        let status = updated.status.get_or_insert_with(Default::default);
        if mark_unknown(
            status,
            node.metadata.creation_timestamp.as_ref(),
            &Time(Timestamp::now()),
        ) {
            api.replace_status(&name, &PostParams::default(), &updated)
                .await?;
            tracing::info!("node stopped posting status; its conditions are Unknown");
            // The update comes back through the watch and is reconciled then.
            return Ok(Action::requeue(config.node_monitor_period));
        }
    }

    if let Some(taints) = desired_taints(&node, &Time(Timestamp::now())) {
        let mut updated = (*node).clone();
        updated.spec.get_or_insert_with(Default::default).taints = Some(taints);
        api.replace(&name, &PostParams::default(), &updated).await?;
        tracing::info!(ready = ready_status(&node), "node taints updated");
    }

    let ready = ready_status(&node).to_string();
    let (was, marked) = ctx
        .health
        .with(&name, |h| {
            (
                std::mem::replace(&mut h.last_ready, ready.clone()),
                h.pods_marked,
            )
        })
        .unwrap_or_default();
    if ready == "True" {
        ctx.health.with(&name, |h| h.pods_marked = false);
    } else if !ready.is_empty() {
        if was == "True" {
            record(
                &ctx.client,
                COMPONENT,
                node_ref(&node),
                "Normal",
                "NodeNotReady",
                format!("Node {name} status is now: NodeNotReady"),
            );
        }
        if !marked {
            mark_pods_not_ready(&ctx, &name).await?;
            ctx.health.with(&name, |h| h.pods_marked = true);
        }
    }

    let next = match verdict {
        Verdict::Alive { deadline } => {
            deadline.saturating_duration_since(now) + Duration::from_millis(10)
        }
        Verdict::Silent => config.node_monitor_period,
    };
    Ok(Action::requeue(next))
}

/// Sets Ready and ContainersReady to False on the node's pods (upstream
/// `MarkPodsNotReady`), with a `NodeNotReady` event on each.
async fn mark_pods_not_ready(ctx: &Ctx, node: &str) -> Result<()> {
    let now = Timestamp::now().to_string();
    for pod in ctx.pods_on(node) {
        if !is_ready(&pod) || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let ns = pod.namespace().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
        let condition = |t: &str| json!({"type": t, "status": "False", "lastTransitionTime": now});
        let patch =
            json!({"status": {"conditions": [condition("Ready"), condition("ContainersReady")]}});
        match api
            .patch_status(
                &pod.name_any(),
                &PatchParams::default(),
                &Patch::Strategic(&patch),
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => continue,
            Err(e) => return Err(e.into()),
        }
        tracing::info!(pod = %format!("{ns}/{}", pod.name_any()), "pod marked not ready");
        record(
            &ctx.client,
            COMPONENT,
            pod_ref(&pod),
            "Warning",
            "NodeNotReady",
            "Node is not ready".into(),
        );
    }
    Ok(())
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

pub fn error_policy(node: Arc<Node>, error: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::debug!(node = %node.name_any(), error = %error, "node reconcile failed; retrying");
    Action::requeue(Duration::from_millis(500))
}
