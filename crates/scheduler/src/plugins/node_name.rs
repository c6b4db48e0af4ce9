//! NodeName: a pod that names its node (`spec.nodeName`) fits only that node. Such pods
//! bypass this scheduler entirely; the filter keeps upstream's profile complete.

use super::{Filter, PluginSet, Rejection};
use crate::cache::{NodeFacts, NodeInfo};
use crate::pod_info::PodInfo;

/// Upstream `ErrReason`.
pub const REASON: &str = "node(s) didn't match the requested node name";

pub struct NodeName;

impl Filter for NodeName {
    fn name(&self) -> &'static str {
        "NodeName"
    }

    fn plugin(&self) -> PluginSet {
        PluginSet::NODE_NAME
    }

    fn applies(&self, pod: &PodInfo) -> bool {
        !pod.node_name.is_empty()
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, _facts: &NodeFacts) -> Option<Rejection> {
        (!pod.node_name.is_empty() && pod.node_name != *node.name)
            .then(|| Rejection::new(self.plugin(), REASON, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{cache_with, node_of, pod};
    use serde_json::json;

    #[test]
    fn a_named_node_is_the_only_fit() {
        let c = cache_with(json!({}), &[]);
        let (n, f) = node_of(&c);
        assert!(NodeName
            .filter(&pod(json!({"nodeName": "n1"})), n, f)
            .is_none());
        assert!(NodeName.filter(&pod(json!({})), n, f).is_none());
        let r = NodeName
            .filter(&pod(json!({"nodeName": "n2"})), n, f)
            .unwrap();
        assert_eq!(r.reasons, vec![REASON]);
    }
}
