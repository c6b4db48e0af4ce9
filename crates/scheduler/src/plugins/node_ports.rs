//! NodePorts: a pod's host ports must be free on the node (same protocol and port on the
//! same address, or on all addresses, collide).

use super::{Filter, PluginSet, Rejection};
use crate::cache::{NodeFacts, NodeInfo};
use crate::pod_info::PodInfo;

/// Upstream `ErrReason`.
pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

pub struct NodePorts;

impl Filter for NodePorts {
    fn name(&self) -> &'static str {
        "NodePorts"
    }

    fn plugin(&self) -> PluginSet {
        PluginSet::NODE_PORTS
    }

    fn applies(&self, pod: &PodInfo) -> bool {
        !pod.usage.ports.is_empty()
    }

    fn filter(&self, pod: &PodInfo, node: &NodeInfo, _facts: &NodeFacts) -> Option<Rejection> {
        let taken = pod
            .usage
            .ports
            .iter()
            .any(|want| node.ports.iter().any(|(used, _)| want.conflicts(used)));
        taken.then(|| Rejection::new(self.plugin(), REASON, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{cache_with, node_of, pod};
    use serde_json::json;

    fn with_port(port: i32, ip: &str) -> serde_json::Value {
        json!({"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 1, "hostPort": port, "hostIP": ip}]}]})
    }

    #[test]
    fn a_used_host_port_rejects_the_node_and_other_ports_fit() {
        let c = cache_with(json!({}), &[with_port(8080, "")]);
        let (n, f) = node_of(&c);
        let r = NodePorts
            .filter(&pod(with_port(8080, "10.0.0.1")), n, f)
            .unwrap();
        assert_eq!(r.reasons, vec![REASON]);
        assert!(!r.unresolvable, "preemption could free the port");
        assert!(NodePorts.filter(&pod(with_port(8081, "")), n, f).is_none());
        assert!(!NodePorts.applies(&pod(json!({}))));
    }
}
