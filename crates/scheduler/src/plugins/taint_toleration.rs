//! TaintToleration: NoSchedule and NoExecute taints keep out pods that do not tolerate them;
//! PreferNoSchedule taints a pod does not tolerate lower a node's score.

use api::scheduling::{find_untolerated, tolerates, NO_EXECUTE, NO_SCHEDULE, PREFER_NO_SCHEDULE};

use super::{default_normalize, Filter, PluginSet, Rejection, Score};
use crate::cache::{NodeFacts, NodeInfo};
use crate::pod_info::PodInfo;

pub struct TaintToleration;

impl Filter for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }

    fn plugin(&self) -> PluginSet {
        PluginSet::TAINT_TOLERATION
    }

    fn filter(&self, pod: &PodInfo, _node: &NodeInfo, facts: &NodeFacts) -> Option<Rejection> {
        let taint = find_untolerated(&facts.taints, &pod.tolerations, &[NO_SCHEDULE, NO_EXECUTE])?;
        let reason = format!(
            "node(s) had untolerated taint {{{}: {}}}",
            taint.key,
            taint.value.as_deref().unwrap_or("")
        );
        Some(Rejection::new(self.plugin(), reason, true))
    }
}

impl Score for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }

    fn weight(&self) -> i64 {
        3
    }

    /// The number of PreferNoSchedule taints the pod does not tolerate (fewer is better).
    fn score(&self, pod: &PodInfo, _node: &NodeInfo, facts: &NodeFacts) -> i64 {
        let prefer: Vec<_> = pod
            .tolerations
            .iter()
            .filter(|t| {
                matches!(
                    t.effect.as_deref(),
                    None | Some("") | Some(PREFER_NO_SCHEDULE)
                )
            })
            .collect();
        facts
            .taints
            .iter()
            .filter(|t| t.effect == PREFER_NO_SCHEDULE)
            .filter(|t| !prefer.iter().any(|tol| tolerates(tol, t)))
            .count() as i64
    }

    fn normalize(&self, scores: &mut [i64]) {
        default_normalize(scores, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{cache_with, node_of, pod};
    use serde_json::json;

    #[test]
    fn untolerated_no_schedule_and_no_execute_taints_reject_with_key_and_value() {
        let c = cache_with(
            json!({"spec": {"taints": [
                {"key": "soft", "effect": "PreferNoSchedule"},
                {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"},
            ]}}),
            &[],
        );
        let (n, f) = node_of(&c);
        let r = Filter::filter(&TaintToleration, &pod(json!({})), n, f).unwrap();
        assert_eq!(
            r.reasons,
            vec!["node(s) had untolerated taint {dedicated: gpu}"]
        );
        assert!(r.unresolvable);
        let gpu = pod(
            json!({"tolerations": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}),
        );
        let r = Filter::filter(&TaintToleration, &gpu, n, f).unwrap();
        assert_eq!(
            r.reasons,
            vec!["node(s) had untolerated taint {node.kubernetes.io/unreachable: }"]
        );
        let all = pod(json!({"tolerations": [{"operator": "Exists"}]}));
        assert!(Filter::filter(&TaintToleration, &all, n, f).is_none());
    }

    #[test]
    fn prefer_no_schedule_taints_count_against_a_node_unless_tolerated() {
        let c = cache_with(
            json!({"spec": {"taints": [
                {"key": "a", "effect": "PreferNoSchedule"},
                {"key": "b", "effect": "PreferNoSchedule"},
                {"key": "c", "effect": "NoSchedule"},
            ]}}),
            &[],
        );
        let (n, f) = node_of(&c);
        assert_eq!(Score::score(&TaintToleration, &pod(json!({})), n, f), 2);
        let a = pod(
            json!({"tolerations": [{"key": "a", "operator": "Exists", "effect": "PreferNoSchedule"}]}),
        );
        assert_eq!(Score::score(&TaintToleration, &a, n, f), 1);
        let no_schedule_only = pod(
            json!({"tolerations": [{"key": "a", "operator": "Exists", "effect": "NoSchedule"}]}),
        );
        assert_eq!(Score::score(&TaintToleration, &no_schedule_only, n, f), 2);
        let mut scores = [2, 1, 0];
        TaintToleration.normalize(&mut scores);
        assert_eq!(scores, [0, 50, 100]);
    }
}
