//! A pod as the scheduler sees it: its placement constraints compiled once, so filtering
//! and scoring a thousand nodes never re-parses the spec.

use std::collections::BTreeSet;
use std::sync::Arc;

use api::scheduling::{affinity_node_names, PreferredNodeAffinity, RequiredNodeAffinity};
use k8s_openapi::api::core::v1::{Pod, Toleration};

use crate::resources::Usage;

/// The pod's current `PodScheduled` condition, to write only real changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScheduledCondition {
    pub status: String,
    pub reason: String,
    pub message: String,
    pub last_transition_time: Option<String>,
}

/// One pod, compiled.
#[derive(Debug)]
pub struct PodInfo {
    pub uid: Arc<str>,
    pub namespace: String,
    pub name: String,
    pub scheduler_name: String,
    /// `spec.nodeName` (empty while the pod waits for a node).
    pub node_name: String,
    pub priority: i32,
    /// `preemptionPolicy: Never`.
    pub preempt_never: bool,
    /// Waiting for `spec.schedulingGates` to be removed.
    pub gated: bool,
    /// Being deleted, or finished (Succeeded/Failed): holds nothing once gone.
    pub deleting: bool,
    pub terminal: bool,
    pub tolerations: Vec<Toleration>,
    pub required: RequiredNodeAffinity,
    pub preferred: PreferredNodeAffinity,
    /// Node names pinned by `matchFields` (upstream NodeAffinity PreFilter).
    pub affinity_names: Option<BTreeSet<String>>,
    pub usage: Usage,
    pub scheduled: Option<ScheduledCondition>,
    /// `metadata.generation`: changes when the spec does.
    pub generation: i64,
}

impl PodInfo {
    /// Compiles `pod`; `None` without a uid (never the case for stored pods).
    pub fn new(pod: &Pod) -> Option<PodInfo> {
        let meta = &pod.metadata;
        let uid: Arc<str> = Arc::from(meta.uid.as_deref()?);
        let default_spec = Default::default();
        let spec = pod.spec.as_ref().unwrap_or(&default_spec);
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
        let scheduled = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"))
            .map(|c| ScheduledCondition {
                status: c.status.clone(),
                reason: c.reason.clone().unwrap_or_default(),
                message: c.message.clone().unwrap_or_default(),
                last_transition_time: c.last_transition_time.as_ref().map(|t| t.0.to_string()),
            });
        Some(PodInfo {
            uid,
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            scheduler_name: spec
                .scheduler_name
                .clone()
                .unwrap_or_else(|| crate::DEFAULT_SCHEDULER_NAME.into()),
            node_name: spec.node_name.clone().unwrap_or_default(),
            priority: spec.priority.unwrap_or(0),
            preempt_never: spec.preemption_policy.as_deref() == Some("Never"),
            gated: spec
                .scheduling_gates
                .as_ref()
                .is_some_and(|g| !g.is_empty()),
            deleting: meta.deletion_timestamp.is_some(),
            terminal: phase == "Succeeded" || phase == "Failed",
            tolerations: spec.tolerations.clone().unwrap_or_default(),
            required: RequiredNodeAffinity::of(spec),
            preferred: PreferredNodeAffinity::of(spec),
            affinity_names: affinity_node_names(spec),
            usage: Usage::of(spec),
            scheduled,
            generation: meta.generation.unwrap_or(0),
        })
    }

    /// `namespace/name`, as upstream's messages write a pod.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}
