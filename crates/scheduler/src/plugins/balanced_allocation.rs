//! NodeResourcesBalancedAllocation: prefers nodes whose cpu and memory would be used in
//! equal proportions with the pod placed (score = (1 − std of the fractions) × 100).

use super::{Score, MAX_NODE_SCORE};
use crate::cache::{NodeFacts, NodeInfo};
use crate::pod_info::PodInfo;

pub struct BalancedAllocation;

impl Score for BalancedAllocation {
    fn name(&self) -> &'static str {
        "NodeResourcesBalancedAllocation"
    }

    fn weight(&self) -> i64 {
        1
    }

    /// Best-effort pods are not scored, so they do not all pile onto one node.
    fn applies(&self, pod: &PodInfo) -> bool {
        let r = &pod.usage.requests;
        r.milli_cpu != 0 || r.memory != 0
    }

    fn score(&self, pod: &PodInfo, node: &NodeInfo, facts: &NodeFacts) -> i64 {
        let alloc = &facts.allocatable;
        let want = &pod.usage.requests;
        let fractions: Vec<f64> = [
            (node.requested.milli_cpu + want.milli_cpu, alloc.milli_cpu),
            (node.requested.memory + want.memory, alloc.memory),
        ]
        .into_iter()
        .filter(|(_, capacity)| *capacity != 0)
        .map(|(requested, capacity)| (requested as f64 / capacity as f64).min(1.0))
        .collect();
        let std = match fractions.as_slice() {
            [a, b] => ((a - b) / 2.0).abs(),
            _ => 0.0,
        };
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{cache_with, node_of, pod};
    use serde_json::json;

    fn requesting(requests: serde_json::Value) -> serde_json::Value {
        json!({"containers": [{"name": "c", "image": "x", "resources": {"requests": requests}}]})
    }

    #[test]
    fn balanced_use_of_cpu_and_memory_scores_higher() {
        let c = cache_with(
            json!({"status": {"allocatable": {"cpu": "4", "memory": "4Gi", "pods": "10"}}}),
            &[],
        );
        let (n, f) = node_of(&c);
        let balanced = pod(requesting(json!({"cpu": "2", "memory": "2Gi"})));
        assert_eq!(BalancedAllocation.score(&balanced, n, f), 100);
        let lopsided = pod(requesting(json!({"cpu": "4", "memory": "0"})));
        assert_eq!(BalancedAllocation.score(&lopsided, n, f), 50);
        assert!(
            !BalancedAllocation.applies(&pod(json!({}))),
            "best-effort pods are skipped"
        );
    }
}
