//! Why a pod fits no node, in upstream's words: "0/3 nodes are available: 1 Insufficient
//! memory, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are
//! available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful
//! for scheduling." (`FitError.Error()` and DefaultPreemption's PostFilter message).

use std::collections::BTreeMap;

use crate::plugins::{PluginSet, Rejection};
use crate::pod_info::PodInfo;

/// Upstream `ErrNoNodesAvailable`.
pub const NO_NODES: &str = "no nodes available to schedule pods";
const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// Nodes a PreFilter left out, all with one reason.
#[derive(Clone, Debug, PartialEq)]
pub struct Absent {
    pub reason: &'static str,
    pub count: usize,
}

/// The per-node verdicts of a cycle in which no node fit.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnosis {
    pub num_all_nodes: usize,
    /// One per node the filters turned down.
    pub rejections: Vec<Rejection>,
    /// Nodes the PreFilter excluded (unresolvable).
    pub absent: Option<Absent>,
    /// A PreFilter that rejected the pod outright.
    pub prefilter_message: Option<String>,
    /// The plugins that rejected some node: events that concern them trigger a retry.
    pub plugins: PluginSet,
}

/// `"{count} {reason}"` for every reason, sorted as strings (as upstream sorts them).
fn histogram(counts: BTreeMap<&str, usize>) -> String {
    let mut parts: Vec<String> = counts
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect();
    parts.sort();
    parts.join(", ")
}

impl Diagnosis {
    /// The pod's `PodScheduled=False` message and its `FailedScheduling` event.
    pub fn message(&self, pod: &PodInfo) -> String {
        let mut msg = format!("0/{} nodes are available:", self.num_all_nodes);
        match &self.prefilter_message {
            Some(pre) => msg.push_str(&format!(" {pre}.")),
            None => {
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for r in &self.rejections {
                    for reason in &r.reasons {
                        *counts.entry(reason.as_ref()).or_default() += 1;
                    }
                }
                if let Some(a) = &self.absent {
                    *counts.entry(a.reason).or_default() += a.count;
                }
                let filters = histogram(counts);
                if !filters.is_empty() {
                    msg.push_str(&format!(" {filters}."));
                }
            }
        }
        msg.push(' ');
        msg.push_str(&self.preemption_message(pod));
        msg
    }

    /// DefaultPreemption's verdict. orca does not preempt: nodes where evicting
    /// lower-priority pods could help report that no victims were found.
    fn preemption_message(&self, pod: &PodInfo) -> String {
        if pod.preempt_never {
            return "preemption: not eligible due to preemptionPolicy=Never.".into();
        }
        let resolvable = if self.prefilter_message.is_some() {
            0
        } else {
            self.rejections.iter().filter(|r| !r.unresolvable).count()
        };
        let counts = BTreeMap::from([
            (NO_VICTIMS, resolvable),
            (NOT_HELPFUL, self.num_all_nodes - resolvable),
        ]);
        format!(
            "preemption: 0/{} nodes are available: {}.",
            self.num_all_nodes,
            histogram(counts)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::pod;
    use serde_json::json;

    fn reject(plugin: PluginSet, reasons: &[&'static str], unresolvable: bool) -> Rejection {
        Rejection {
            plugin,
            reasons: reasons.iter().map(|r| (*r).into()).collect(),
            unresolvable,
        }
    }

    #[test]
    fn message_counts_reasons_sorted_and_adds_the_preemption_verdict() {
        let d = Diagnosis {
            num_all_nodes: 3,
            rejections: vec![
                reject(
                    PluginSet::NODE_RESOURCES_FIT,
                    &["Insufficient memory"],
                    false,
                ),
                reject(
                    PluginSet::NODE_AFFINITY,
                    &["node(s) didn't match Pod's node affinity/selector"],
                    true,
                ),
                reject(
                    PluginSet::NODE_AFFINITY,
                    &["node(s) didn't match Pod's node affinity/selector"],
                    true,
                ),
            ],
            absent: None,
            prefilter_message: None,
            plugins: PluginSet::NODE_RESOURCES_FIT | PluginSet::NODE_AFFINITY,
        };
        assert_eq!(
            d.message(&pod(json!({}))),
            "0/3 nodes are available: 1 Insufficient memory, 2 node(s) didn't match Pod's node affinity/selector. \
             preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, \
             2 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn a_node_short_of_several_resources_counts_each() {
        let d = Diagnosis {
            num_all_nodes: 2,
            rejections: vec![
                reject(
                    PluginSet::NODE_RESOURCES_FIT,
                    &["Insufficient cpu", "Insufficient memory"],
                    true,
                ),
                reject(PluginSet::NODE_RESOURCES_FIT, &["Insufficient cpu"], false),
            ],
            absent: None,
            prefilter_message: None,
            plugins: PluginSet::NODE_RESOURCES_FIT,
        };
        assert_eq!(
            d.message(&pod(json!({}))),
            "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu. \
             preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, \
             1 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn prefilter_failures_and_absent_nodes_and_preemption_never() {
        let conflict = Diagnosis {
            num_all_nodes: 3,
            rejections: vec![],
            absent: Some(Absent {
                reason: "pod affinity terms conflict",
                count: 3,
            }),
            prefilter_message: Some("pod affinity terms conflict".into()),
            plugins: PluginSet::NODE_AFFINITY,
        };
        assert_eq!(
            conflict.message(&pod(json!({}))),
            "0/3 nodes are available: pod affinity terms conflict. \
             preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
        let pinned = Diagnosis {
            num_all_nodes: 3,
            rejections: vec![reject(
                PluginSet::NODE_RESOURCES_FIT,
                &["Too many pods"],
                false,
            )],
            absent: Some(Absent {
                reason: "node(s) didn't satisfy plugin(s) [NodeAffinity]",
                count: 2,
            }),
            prefilter_message: None,
            plugins: PluginSet::NODE_RESOURCES_FIT,
        };
        assert_eq!(
            pinned.message(&pod(json!({"preemptionPolicy": "Never"}))),
            "0/3 nodes are available: 1 Too many pods, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]. \
             preemption: not eligible due to preemptionPolicy=Never."
        );
    }
}
