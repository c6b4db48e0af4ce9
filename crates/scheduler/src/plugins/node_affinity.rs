//! NodeAffinity: `spec.nodeSelector` and the required node affinity must match the node's
//! labels (and name, through `matchFields`); preferred terms add their weights to a score.

use super::{default_normalize, Filter, PluginSet, Rejection, Score};
use crate::cache::{NodeFacts, NodeInfo};
use crate::pod_info::PodInfo;

/// Upstream `ErrReasonPod`.
pub const REASON: &str = "node(s) didn't match Pod's node affinity/selector";
/// Upstream `errReasonConflict`: the `matchFields` node names of the terms exclude each other.
pub const REASON_CONFLICT: &str = "pod affinity terms conflict";
/// The reason for nodes the PreFilter left out (upstream's absent-node status).
pub const REASON_PREFILTER: &str = "node(s) didn't satisfy plugin(s) [NodeAffinity]";

pub struct NodeAffinity;

impl Filter for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn plugin(&self) -> PluginSet {
        PluginSet::NODE_AFFINITY
    }

    fn applies(&self, pod: &PodInfo) -> bool {
        !pod.required.is_empty()
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, facts: &NodeFacts) -> Option<Rejection> {
        (!pod.required.matches(&facts.labels, &node.name))
            .then(|| Rejection::new(self.plugin(), REASON, true))
    }
}

impl Score for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }

    fn weight(&self) -> i64 {
        2
    }

    fn applies(&self, pod: &PodInfo) -> bool {
        !pod.preferred.is_empty()
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo, facts: &NodeFacts) -> i64 {
        pod.preferred.score(&facts.labels, &node.name)
    }

    fn normalize(&self, scores: &mut [i64]) {
        default_normalize(scores, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{cache_with, node_of, pod};
    use serde_json::json;

    #[test]
    fn node_selector_and_required_affinity_must_match() {
        let c = cache_with(
            json!({"metadata": {"labels": {"disktype": "ssd", "zone": "a"}}}),
            &[],
        );
        let (n, f) = node_of(&c);
        assert!(Filter::filter(
            &NodeAffinity,
            &pod(json!({"nodeSelector": {"disktype": "ssd"}})),
            n,
            f
        )
        .is_none());
        let r = Filter::filter(
            &NodeAffinity,
            &pod(json!({"nodeSelector": {"disktype": "hdd"}})),
            n,
            f,
        )
        .unwrap();
        assert_eq!(r.reasons, vec![REASON]);
        assert!(r.unresolvable);
        let affinity = |op: &str, values: serde_json::Value| {
            pod(json!({"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": op, "values": values}]}]}}}}))
        };
        assert!(Filter::filter(&NodeAffinity, &affinity("In", json!(["a"])), n, f).is_none());
        assert!(Filter::filter(&NodeAffinity, &affinity("NotIn", json!(["a"])), n, f).is_some());
        assert!(!Filter::applies(&NodeAffinity, &pod(json!({}))));
    }

    #[test]
    fn preferred_terms_score_their_weights_normalized_to_the_best() {
        let c = cache_with(json!({"metadata": {"labels": {"zone": "a"}}}), &[]);
        let (n, f) = node_of(&c);
        let p = pod(
            json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 30, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}},
                {"weight": 20, "preference": {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}},
                {"weight": 5, "preference": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}},
            ]}}}),
        );
        assert!(Score::applies(&NodeAffinity, &p));
        assert_eq!(Score::score(&NodeAffinity, &p, n, f), 50);
        let mut scores = [50, 25, 0];
        Score::normalize(&NodeAffinity, &mut scores);
        assert_eq!(scores, [100, 50, 0]);
    }
}
