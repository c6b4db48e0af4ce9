//! What the node lifecycle controller writes on a Node, as pure functions: the taints its
//! conditions and cordon call for (upstream TaintNodesByCondition and taint-based
//! eviction), and the conditions of a silent node turned Unknown.

use api::scheduling::{
    NO_EXECUTE, NO_SCHEDULE, TAINT_DISK_PRESSURE, TAINT_MEMORY_PRESSURE, TAINT_NETWORK_UNAVAILABLE,
    TAINT_NOT_READY, TAINT_PID_PRESSURE, TAINT_UNREACHABLE, TAINT_UNSCHEDULABLE,
};
use k8s_openapi::api::core::v1::{Node, NodeCondition, NodeStatus, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Condition type and status → the NoSchedule taint they call for.
const CONDITION_TAINTS: &[(&str, &str, &str)] = &[
    ("Ready", "False", TAINT_NOT_READY),
    ("Ready", "Unknown", TAINT_UNREACHABLE),
    ("MemoryPressure", "True", TAINT_MEMORY_PRESSURE),
    ("DiskPressure", "True", TAINT_DISK_PRESSURE),
    ("NetworkUnavailable", "True", TAINT_NETWORK_UNAVAILABLE),
    ("PIDPressure", "True", TAINT_PID_PRESSURE),
];

/// The node's Ready condition status ("" when it has none).
pub fn ready_status(node: &Node) -> &str {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .map_or("", |c| c.status.as_str())
}

fn is_managed(t: &Taint) -> bool {
    match t.effect.as_str() {
        NO_SCHEDULE => {
            t.key == TAINT_UNSCHEDULABLE || CONDITION_TAINTS.iter().any(|(_, _, k)| *k == t.key)
        }
        NO_EXECUTE => t.key == TAINT_NOT_READY || t.key == TAINT_UNREACHABLE,
        _ => false,
    }
}

/// The node's taints as the controller wants them, or `None` when they already are.
/// Taints it does not manage are kept as they are; the ones it adds carry `now`.
pub fn desired_taints(node: &Node, now: &Time) -> Option<Vec<Taint>> {
    let current = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let conditions = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let mut wanted: Vec<(&str, &str)> = CONDITION_TAINTS
        .iter()
        .filter(|(type_, status, _)| {
            conditions
                .iter()
                .any(|c| c.type_ == *type_ && c.status == *status)
        })
        .map(|(_, _, key)| (*key, NO_SCHEDULE))
        .collect();
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        wanted.push((TAINT_UNSCHEDULABLE, NO_SCHEDULE));
    }
    match ready_status(node) {
        "False" => wanted.push((TAINT_NOT_READY, NO_EXECUTE)),
        "Unknown" => wanted.push((TAINT_UNREACHABLE, NO_EXECUTE)),
        "True" => {}
        // No Ready condition yet: leave the NoExecute taints as they are.
        _ => wanted.extend(
            current
                .iter()
                .filter(|t| t.effect == NO_EXECUTE && is_managed(t))
                .map(|t| (t.key.as_str(), NO_EXECUTE)),
        ),
    }
    let mut next: Vec<Taint> = current
        .iter()
        .filter(|t| !is_managed(t) || wanted.contains(&(t.key.as_str(), t.effect.as_str())))
        .cloned()
        .collect();
    for (key, effect) in &wanted {
        if !next.iter().any(|t| t.key == *key && t.effect == *effect) {
            next.push(Taint {
                key: key.to_string(),
                effect: effect.to_string(),
                value: None,
                time_added: Some(now.clone()),
            });
        }
    }
    (next != current).then_some(next)
}

/// The conditions a silent node reports nothing about any more (upstream's Unknown
/// marking). Returns whether anything changed.
pub fn mark_unknown(status: &mut NodeStatus, created: Option<&Time>, now: &Time) -> bool {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let mut changed = false;
    for type_ in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            None => {
                conditions.push(NodeCondition {
                    type_: type_.into(),
                    status: "Unknown".into(),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some("Kubelet never posted node status.".into()),
                    last_heartbeat_time: created.cloned(),
                    last_transition_time: Some(now.clone()),
                });
                changed = true;
            }
            Some(c) if c.status != "Unknown" => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(now.clone());
                changed = true;
            }
            Some(_) => {}
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;
    use serde_json::json;

    fn node(v: serde_json::Value) -> Node {
        serde_json::from_value(v).unwrap()
    }

    fn keys(taints: &[Taint]) -> Vec<(String, String)> {
        taints
            .iter()
            .map(|t| (t.key.clone(), t.effect.clone()))
            .collect()
    }

    fn now() -> Time {
        Time(Timestamp::now())
    }

    #[test]
    fn an_unknown_node_gets_both_unreachable_taints_and_keeps_foreign_ones() {
        let n = node(
            json!({"metadata": {"name": "n"}, "spec": {"taints": [{"key": "dedicated", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
        );
        let t = desired_taints(&n, &now()).unwrap();
        assert_eq!(
            keys(&t),
            [
                ("dedicated".into(), "NoSchedule".into()),
                (TAINT_UNREACHABLE.into(), "NoSchedule".into()),
                (TAINT_UNREACHABLE.into(), "NoExecute".into()),
            ]
        );
        assert!(t[2].time_added.is_some());
    }

    #[test]
    fn a_ready_node_loses_the_controllers_taints_and_nothing_else() {
        let n = node(json!({"metadata": {"name": "n"}, "spec": {"taints": [
                {"key": TAINT_UNREACHABLE, "effect": "NoExecute"},
                {"key": TAINT_UNREACHABLE, "effect": "NoSchedule"},
                {"key": TAINT_UNREACHABLE, "effect": "PreferNoSchedule"},
                {"key": "dedicated", "effect": "NoExecute"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}));
        let t = desired_taints(&n, &now()).unwrap();
        assert_eq!(
            keys(&t),
            [
                (TAINT_UNREACHABLE.into(), "PreferNoSchedule".into()),
                ("dedicated".into(), "NoExecute".into()),
            ]
        );
        let settled = node(
            json!({"metadata": {"name": "n"}, "spec": {"taints": serde_json::to_value(&t).unwrap()},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        assert_eq!(
            desired_taints(&settled, &now()),
            None,
            "nothing to write twice"
        );
    }

    #[test]
    fn cordon_and_pressure_conditions_add_no_schedule_taints() {
        let n = node(
            json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "DiskPressure", "status": "True"},
                                      {"type": "MemoryPressure", "status": "False"}]}}),
        );
        let t = desired_taints(&n, &now()).unwrap();
        assert_eq!(
            keys(&t),
            [
                (TAINT_NOT_READY.into(), "NoSchedule".into()),
                (TAINT_DISK_PRESSURE.into(), "NoSchedule".into()),
                (TAINT_UNSCHEDULABLE.into(), "NoSchedule".into()),
                (TAINT_NOT_READY.into(), "NoExecute".into()),
            ]
        );
    }

    #[test]
    fn without_a_ready_condition_no_execute_taints_stay() {
        let n = node(
            json!({"metadata": {"name": "n"}, "spec": {"taints": [{"key": TAINT_NOT_READY, "effect": "NoExecute"}]}}),
        );
        assert_eq!(desired_taints(&n, &now()), None);
    }

    #[test]
    fn silent_nodes_turn_every_condition_unknown_once() {
        let mut status: NodeStatus = serde_json::from_value(json!({"conditions": [
            {"type": "Ready", "status": "True", "reason": "KubeletReady"},
            {"type": "MemoryPressure", "status": "False"}]}))
        .unwrap();
        assert!(mark_unknown(&mut status, None, &now()));
        let cs = status.conditions.as_ref().unwrap();
        assert_eq!(cs.len(), 4);
        assert!(cs.iter().all(|c| c.status == "Unknown"));
        assert_eq!(cs[0].reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(
            cs[0].message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        assert_eq!(cs[2].reason.as_deref(), Some("NodeStatusNeverUpdated"));
        assert!(!mark_unknown(&mut status, None, &now()));
    }
}
