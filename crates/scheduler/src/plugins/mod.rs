//! Filter and score plugins, each a small type with upstream's name, reasons and weights:
//! a filter rejects a node with reasons (and whether preemption could ever help), a score
//! rates a feasible node 0–100 before its weight is applied.

mod balanced_allocation;
mod node_affinity;
mod node_name;
mod node_ports;
mod node_resources_fit;
mod node_unschedulable;
mod taint_toleration;

use std::borrow::Cow;
use std::ops::{BitOr, BitOrAssign};

pub use balanced_allocation::BalancedAllocation;
pub use node_affinity::{
    NodeAffinity, REASON_CONFLICT as AFFINITY_CONFLICT, REASON_PREFILTER as AFFINITY_PREFILTER,
};
pub use node_name::NodeName;
pub use node_ports::NodePorts;
pub use node_resources_fit::NodeResourcesFit;
pub use node_unschedulable::NodeUnschedulable;
pub use taint_toleration::TaintToleration;

use crate::cache::{NodeFacts, NodeInfo};
use crate::pod_info::PodInfo;

/// The highest score a plugin gives a node (upstream `MaxNodeScore`).
pub const MAX_NODE_SCORE: i64 = 100;

/// A set of filter plugins, for remembering which rejected a pod and which cluster events
/// may change their minds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PluginSet(u8);

impl PluginSet {
    pub const EMPTY: PluginSet = PluginSet(0);
    pub const NODE_UNSCHEDULABLE: PluginSet = PluginSet(1);
    pub const NODE_NAME: PluginSet = PluginSet(1 << 1);
    pub const TAINT_TOLERATION: PluginSet = PluginSet(1 << 2);
    pub const NODE_AFFINITY: PluginSet = PluginSet(1 << 3);
    pub const NODE_PORTS: PluginSet = PluginSet(1 << 4);
    pub const NODE_RESOURCES_FIT: PluginSet = PluginSet(1 << 5);
    pub const ALL: PluginSet = PluginSet(0b11_1111);

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn intersects(self, other: PluginSet) -> bool {
        self.0 & other.0 != 0
    }
}

impl BitOr for PluginSet {
    type Output = PluginSet;
    fn bitor(self, rhs: PluginSet) -> PluginSet {
        PluginSet(self.0 | rhs.0)
    }
}

impl BitOrAssign for PluginSet {
    fn bitor_assign(&mut self, rhs: PluginSet) {
        self.0 |= rhs.0;
    }
}

/// Why a filter turned a node down.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    pub plugin: PluginSet,
    /// Upstream's reason strings, counted into the "0/N nodes are available" message.
    pub reasons: Vec<Cow<'static, str>>,
    /// Upstream `UnschedulableAndUnresolvable`: evicting other pods would not help.
    pub unresolvable: bool,
}

impl Rejection {
    pub fn new(
        plugin: PluginSet,
        reason: impl Into<Cow<'static, str>>,
        unresolvable: bool,
    ) -> Self {
        Rejection {
            plugin,
            reasons: vec![reason.into()],
            unresolvable,
        }
    }
}

/// A filter plugin: can the pod run on this node?
pub trait Filter: Send + Sync {
    fn name(&self) -> &'static str;
    fn plugin(&self) -> PluginSet;
    /// Whether the pod gives this plugin anything to check (upstream PreFilter `Skip`).
    fn applies(&self, _pod: &PodInfo) -> bool {
        true
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo, facts: &NodeFacts) -> Option<Rejection>;
}

/// A score plugin: how good is this feasible node for the pod?
pub trait Score: Send + Sync {
    fn name(&self) -> &'static str;
    /// The plugin's weight in the default profile.
    fn weight(&self) -> i64;
    /// Whether the pod gives this plugin anything to score (upstream PreScore `Skip`).
    fn applies(&self, _pod: &PodInfo) -> bool {
        true
    }
    fn score(&self, pod: &PodInfo, node: &NodeInfo, facts: &NodeFacts) -> i64;
    /// Maps raw scores onto 0–100 across the feasible nodes.
    fn normalize(&self, _scores: &mut [i64]) {}
}

/// The filters of upstream's default profile that apply here, in its order.
pub fn default_filters() -> Vec<Box<dyn Filter>> {
    vec![
        Box::new(NodeUnschedulable),
        Box::new(NodeName),
        Box::new(TaintToleration),
        Box::new(NodeAffinity),
        Box::new(NodePorts),
        Box::new(NodeResourcesFit),
    ]
}

/// The scores of upstream's default profile that apply here, with its weights.
pub fn default_scores() -> Vec<Box<dyn Score>> {
    vec![
        Box::new(TaintToleration),
        Box::new(NodeAffinity),
        Box::new(NodeResourcesFit),
        Box::new(BalancedAllocation),
    ]
}

/// Upstream `DefaultNormalizeScore`: scales scores so the best is 100 (or, reversed, the
/// best raw score becomes 0); all-zero scores stay 0 (or all 100 when reversed).
pub fn default_normalize(scores: &mut [i64], reverse: bool) {
    let max = scores.iter().copied().max().unwrap_or(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|s| *s = MAX_NODE_SCORE);
        }
        return;
    }
    for s in scores.iter_mut() {
        let v = MAX_NODE_SCORE * *s / max;
        *s = if reverse { MAX_NODE_SCORE - v } else { v };
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Pods and nodes for plugin unit tests.

    use std::sync::Arc;

    use k8s_openapi::api::core::v1::{Node, Pod};
    use serde_json::{json, Value};

    use crate::cache::{Cache, NodeFacts, NodeInfo};
    use crate::pod_info::PodInfo;

    pub fn pod(spec: Value) -> PodInfo {
        let mut spec = spec;
        if spec.get("containers").is_none() {
            spec["containers"] = json!([{"name": "c", "image": "x"}]);
        }
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": spec,
        }))
        .unwrap();
        PodInfo::new(&p).unwrap()
    }

    /// A cache holding one node (built from `node`) with `pods` bound to it.
    pub fn cache_with(node: Value, pods: &[Value]) -> Cache {
        let mut node = node;
        node["metadata"]["name"] = json!("n1");
        let n: Node = serde_json::from_value(node).unwrap();
        let mut c = Cache::default();
        c.upsert_node(&n);
        for (i, spec) in pods.iter().enumerate() {
            let info = pod(spec.clone());
            c.set_bound(Arc::from(format!("bound-{i}")), "n1", info.usage.clone());
        }
        c
    }

    pub fn node_of(c: &Cache) -> (&NodeInfo, &NodeFacts) {
        let n = c.node("n1").unwrap();
        (n, n.facts.as_ref().unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_scales_to_the_best_and_reverses() {
        let mut s = [0, 5, 10];
        default_normalize(&mut s, false);
        assert_eq!(s, [0, 50, 100]);
        let mut s = [0, 5, 10];
        default_normalize(&mut s, true);
        assert_eq!(s, [100, 50, 0]);
        let mut s = [0, 0];
        default_normalize(&mut s, true);
        assert_eq!(s, [100, 100]);
        let mut s = [0, 0];
        default_normalize(&mut s, false);
        assert_eq!(s, [0, 0]);
    }

    #[test]
    fn plugin_sets_combine() {
        let s = PluginSet::NODE_AFFINITY | PluginSet::NODE_PORTS;
        assert!(s.intersects(PluginSet::NODE_PORTS));
        assert!(!s.intersects(PluginSet::NODE_RESOURCES_FIT));
        assert!(PluginSet::EMPTY.is_empty());
        assert!(PluginSet::ALL.intersects(PluginSet::NODE_NAME));
    }
}
