//! Nodes: NAME STATUS ROLES AGE VERSION | INTERNAL-IP EXTERNAL-IP OS-IMAGE KERNEL-VERSION
//! CONTAINER-RUNTIME.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{age, col, list_at, name, str_at, wide, Column, Row, NAME};

pub(super) const COLUMNS: &[Column] = &[
    NAME,
    col("Status", "string", "The status of the node"),
    col("Roles", "string", "The roles of the node"),
    super::AGE,
    col("Version", "string", "Kubelet Version reported by the node."),
    wide("Internal-IP", "string", "List of addresses reachable to the node."),
    wide("External-IP", "string", "List of addresses reachable to the node."),
    wide("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
    wide("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
    wide("Container-Runtime", "string", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."),
];

const ROLE_PREFIX: &str = "node-role.kubernetes.io/";
const ROLE_LABEL: &str = "kubernetes.io/role";

pub(super) fn row(node: &Value, now: DateTime<Utc>) -> Row {
    let info = |field: &str| -> Value {
        match str_at(node, &format!("/status/nodeInfo/{field}")) {
            "" => "<unknown>".into(),
            v => v.into(),
        }
    };
    Row::new(vec![
        name(node).into(),
        status(node).into(),
        roles(node).into(),
        age(node, now),
        str_at(node, "/status/nodeInfo/kubeletVersion").into(),
        address(node, "InternalIP").into(),
        address(node, "ExternalIP").into(),
        info("osImage"),
        info("kernelVersion"),
        info("containerRuntimeVersion"),
    ])
}

/// "Ready", "NotReady" or "Unknown" (no Ready condition yet), with ",SchedulingDisabled"
/// for a cordoned node.
fn status(node: &Value) -> String {
    let mut parts = vec![match list_at(node, "/status/conditions")
        .iter()
        .rev()
        .find(|c| str_at(c, "/type") == "Ready")
    {
        Some(c) if str_at(c, "/status") == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        parts.push("SchedulingDisabled");
    }
    parts.join(",")
}

/// Roles from `node-role.kubernetes.io/<role>` labels and the `kubernetes.io/role` label,
/// sorted, or `<none>`.
fn roles(node: &Value) -> String {
    let mut roles = BTreeSet::new();
    if let Some(labels) = node.pointer("/metadata/labels").and_then(Value::as_object) {
        for (key, value) in labels {
            if let Some(role) = key.strip_prefix(ROLE_PREFIX).filter(|r| !r.is_empty()) {
                roles.insert(role.to_string());
            } else if key == ROLE_LABEL {
                if let Some(role) = value.as_str().filter(|r| !r.is_empty()) {
                    roles.insert(role.to_string());
                }
            }
        }
    }
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.into_iter().collect::<Vec<_>>().join(",")
    }
}

/// The first address of a type, or `<none>`.
fn address(node: &Value, kind: &str) -> String {
    list_at(node, "/status/addresses")
        .iter()
        .find(|a| str_at(a, "/type") == kind)
        .map_or_else(|| "<none>".into(), |a| str_at(a, "/address").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::tests::{ago, cells, headers, now, resource, wide_headers};
    use crate::table::to_table;
    use chrono::Duration;
    use serde_json::json;

    fn node(ready: Option<&str>, unschedulable: bool) -> Value {
        let conditions = match ready {
            Some(status) => json!([{"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": status}]),
            None => json!([]),
        };
        json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n1", "creationTimestamp": ago(Duration::days(3)),
                "labels": {"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "",
                    "kubernetes.io/role": "edge", "kubernetes.io/hostname": "n1"}},
            "spec": {"unschedulable": unschedulable},
            "status": {"conditions": conditions,
                "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "192.168.1.10"}],
                "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                    "kernelVersion": "6.1.0", "containerRuntimeVersion": ""}}})
    }

    fn status_cell(n: Value) -> Value {
        cells(&to_table(resource("nodes"), &[n], "None", now()))[1].clone()
    }

    #[test]
    fn node_columns_match_upstream() {
        let t = to_table(resource("nodes"), &[], "None", now());
        assert_eq!(
            headers(&t),
            [
                "Name",
                "Status",
                "Roles",
                "Age",
                "Version",
                "Internal-IP",
                "External-IP",
                "OS-Image",
                "Kernel-Version",
                "Container-Runtime"
            ]
        );
        assert_eq!(
            wide_headers(&t),
            [
                "Internal-IP",
                "External-IP",
                "OS-Image",
                "Kernel-Version",
                "Container-Runtime"
            ]
        );
    }

    #[test]
    fn node_status_follows_the_ready_condition_and_cordoning() {
        assert_eq!(status_cell(node(Some("True"), false)), "Ready");
        assert_eq!(
            status_cell(node(Some("True"), true)),
            "Ready,SchedulingDisabled"
        );
        assert_eq!(status_cell(node(Some("False"), false)), "NotReady");
        assert_eq!(status_cell(node(Some("Unknown"), false)), "NotReady");
        assert_eq!(status_cell(node(None, false)), "Unknown");
        assert_eq!(status_cell(node(None, true)), "Unknown,SchedulingDisabled");
    }

    #[test]
    fn node_row_lists_sorted_roles_addresses_and_versions() {
        let t = to_table(
            resource("nodes"),
            &[node(Some("True"), false)],
            "None",
            now(),
        );
        assert_eq!(
            cells(&t),
            [
                json!("n1"),
                json!("Ready"),
                json!("control-plane,edge,worker"),
                json!("3d"),
                json!("v1.33.0"),
                json!("192.168.1.10"),
                json!("<none>"),
                json!("Debian GNU/Linux 12 (bookworm)"),
                json!("6.1.0"),
                json!("<unknown>")
            ]
        );
        let bare = json!({"metadata": {"name": "n2"}});
        let t = to_table(resource("nodes"), &[bare], "None", now());
        assert_eq!(
            cells(&t),
            [
                json!("n2"),
                json!("Unknown"),
                json!("<none>"),
                json!("<unknown>"),
                json!(""),
                json!("<none>"),
                json!("<none>"),
                json!("<unknown>"),
                json!("<unknown>"),
                json!("<unknown>")
            ]
        );
    }
}
