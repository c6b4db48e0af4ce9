//! NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes only pods that tolerate
//! the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use api::scheduling::{tolerations_tolerate, NO_SCHEDULE, TAINT_UNSCHEDULABLE};
use k8s_openapi::api::core::v1::Taint;

use super::{Filter, PluginSet, Rejection};
use crate::cache::{NodeFacts, NodeInfo};
use crate::pod_info::PodInfo;

/// Upstream `ErrReasonUnschedulable`.
pub const REASON: &str = "node(s) were unschedulable";

pub struct NodeUnschedulable;

impl Filter for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }

    fn plugin(&self) -> PluginSet {
        PluginSet::NODE_UNSCHEDULABLE
    }

    fn filter(&self, pod: &PodInfo, _node: &NodeInfo, facts: &NodeFacts) -> Option<Rejection> {
        if !facts.unschedulable {
            return None;
        }
        let taint = Taint {
            key: TAINT_UNSCHEDULABLE.into(),
            effect: NO_SCHEDULE.into(),
            ..Default::default()
        };
        if tolerations_tolerate(&pod.tolerations, &taint) {
            return None;
        }
        Some(Rejection::new(self.plugin(), REASON, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{cache_with, node_of, pod};
    use serde_json::json;

    #[test]
    fn cordoned_nodes_reject_pods_without_the_unschedulable_toleration() {
        let c = cache_with(json!({"spec": {"unschedulable": true}}), &[]);
        let (n, f) = node_of(&c);
        let r = NodeUnschedulable.filter(&pod(json!({})), n, f).unwrap();
        assert_eq!(r.reasons, vec![REASON]);
        assert!(r.unresolvable);
        let tolerant = pod(
            json!({"tolerations": [{"key": TAINT_UNSCHEDULABLE, "operator": "Exists", "effect": "NoSchedule"}]}),
        );
        assert!(NodeUnschedulable.filter(&tolerant, n, f).is_none());
        let c = cache_with(json!({}), &[]);
        let (n, f) = node_of(&c);
        assert!(NodeUnschedulable.filter(&pod(json!({})), n, f).is_none());
    }
}
