//! NodeResourcesFit: the pod's effective requests must fit the node's allocatable minus
//! what the pods already there (bound or assumed) request, and the node must have room for
//! one more pod. Scores by LeastAllocated: the more cpu and memory left, the better.

use std::borrow::Cow;

use super::{Filter, PluginSet, Rejection, Score, MAX_NODE_SCORE};
use crate::cache::{NodeFacts, NodeInfo};
use crate::pod_info::PodInfo;

pub struct NodeResourcesFit;

impl Filter for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }

    fn plugin(&self) -> PluginSet {
        PluginSet::NODE_RESOURCES_FIT
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, facts: &NodeFacts) -> Option<Rejection> {
        let mut reasons: Vec<Cow<'static, str>> = Vec::new();
        let mut unresolvable = false;
        if node.pod_count + 1 > facts.allowed_pods {
            reasons.push("Too many pods".into());
        }
        let want = &pod.usage.requests;
        if !want.is_zero() {
            let alloc = &facts.allocatable;
            let used = &node.requested;
            let mut check = |reason: Cow<'static, str>, want: i64, alloc: i64, used: i64| {
                if want > 0 && want > alloc - used {
                    reasons.push(reason);
                    unresolvable |= want > alloc;
                }
            };
            check(
                "Insufficient cpu".into(),
                want.milli_cpu,
                alloc.milli_cpu,
                used.milli_cpu,
            );
            check(
                "Insufficient memory".into(),
                want.memory,
                alloc.memory,
                used.memory,
            );
            check(
                "Insufficient ephemeral-storage".into(),
                want.ephemeral_storage,
                alloc.ephemeral_storage,
                used.ephemeral_storage,
            );
            for (name, q) in &want.scalars {
                check(
                    format!("Insufficient {name}").into(),
                    *q,
                    alloc.scalar(name),
                    used.scalar(name),
                );
            }
        }
        (!reasons.is_empty()).then_some(Rejection {
            plugin: self.plugin(),
            reasons,
            unresolvable,
        })
    }
}

/// Upstream `leastRequestedScore`.
fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

impl Score for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }

    fn weight(&self) -> i64 {
        1
    }

    /// LeastAllocated over cpu and memory (weight 1 each), with the scheduler's defaults
    /// for unset requests.
    fn score(&self, pod: &PodInfo, node: &NodeInfo, facts: &NodeFacts) -> i64 {
        let alloc = &facts.allocatable;
        let pairs = [
            (node.non_zero_cpu + pod.usage.non_zero_cpu, alloc.milli_cpu),
            (
                node.non_zero_memory + pod.usage.non_zero_memory,
                alloc.memory,
            ),
        ];
        let (mut total, mut weights) = (0, 0);
        for (requested, capacity) in pairs {
            if capacity == 0 {
                continue;
            }
            total += least_requested(requested, capacity);
            weights += 1;
        }
        if weights == 0 {
            0
        } else {
            total / weights
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{cache_with, node_of, pod};
    use serde_json::json;

    fn node(alloc: serde_json::Value) -> serde_json::Value {
        json!({"status": {"allocatable": alloc}})
    }

    fn requesting(requests: serde_json::Value) -> serde_json::Value {
        json!({"containers": [{"name": "c", "image": "x", "resources": {"requests": requests}}]})
    }

    #[test]
    fn requests_must_fit_what_is_left_after_the_pods_already_there() {
        let c = cache_with(
            node(json!({"cpu": "2", "memory": "4Gi", "pods": "10", "example.com/gpu": "1"})),
            &[requesting(json!({"cpu": "1500m", "memory": "1Gi"}))],
        );
        let (n, f) = node_of(&c);
        assert!(Filter::filter(
            &NodeResourcesFit,
            &pod(requesting(json!({"cpu": "500m", "memory": "3Gi"}))),
            n,
            f
        )
        .is_none());
        let r = Filter::filter(
            &NodeResourcesFit,
            &pod(requesting(
                json!({"cpu": "600m", "memory": "3Gi", "example.com/gpu": "1"}),
            )),
            n,
            f,
        )
        .unwrap();
        assert_eq!(r.reasons, vec!["Insufficient cpu"]);
        assert!(!r.unresolvable, "freeing the other pod would make room");
        let r = Filter::filter(
            &NodeResourcesFit,
            &pod(requesting(
                json!({"memory": "5Gi", "example.com/gpu": "2", "ephemeral-storage": "1"}),
            )),
            n,
            f,
        )
        .unwrap();
        assert_eq!(
            r.reasons,
            vec![
                "Insufficient memory",
                "Insufficient ephemeral-storage",
                "Insufficient example.com/gpu"
            ]
        );
        assert!(r.unresolvable, "more than the node has at all");
    }

    #[test]
    fn the_pod_count_is_checked_even_for_pods_without_requests() {
        let c = cache_with(node(json!({"cpu": "1", "pods": "1"})), &[json!({})]);
        let (n, f) = node_of(&c);
        let r = Filter::filter(&NodeResourcesFit, &pod(json!({})), n, f).unwrap();
        assert_eq!(r.reasons, vec!["Too many pods"]);
        let c = cache_with(node(json!({"cpu": "1", "pods": "2"})), &[json!({})]);
        let (n, f) = node_of(&c);
        assert!(Filter::filter(&NodeResourcesFit, &pod(json!({})), n, f).is_none());
    }

    #[test]
    fn init_containers_and_overhead_count_as_the_effective_request() {
        let c = cache_with(
            node(json!({"cpu": "4", "memory": "3Gi", "pods": "10"})),
            &[],
        );
        let (n, f) = node_of(&c);
        let p = pod(json!({
            "initContainers": [{"name": "i", "image": "x", "resources": {"requests": {"memory": "3Gi"}}}],
            "containers": [{"name": "c", "image": "x", "resources": {"requests": {"memory": "1Gi"}}}],
            "overhead": {"memory": "1Mi"},
        }));
        let r = Filter::filter(&NodeResourcesFit, &p, n, f).unwrap();
        assert_eq!(r.reasons, vec!["Insufficient memory"]);
    }

    #[test]
    fn least_allocated_prefers_the_emptier_node() {
        let empty = cache_with(
            node(json!({"cpu": "4", "memory": "8Gi", "pods": "10"})),
            &[],
        );
        let busy = cache_with(
            node(json!({"cpu": "4", "memory": "8Gi", "pods": "10"})),
            &[requesting(json!({"cpu": "2", "memory": "4Gi"}))],
        );
        let p = pod(requesting(json!({"cpu": "1", "memory": "2Gi"})));
        let (n, f) = node_of(&empty);
        assert_eq!(Score::score(&NodeResourcesFit, &p, n, f), 75);
        let (n, f) = node_of(&busy);
        assert_eq!(Score::score(&NodeResourcesFit, &p, n, f), 25);
        assert_eq!(least_requested(5, 4), 0);
        assert_eq!(least_requested(1, 0), 0);
    }
}
