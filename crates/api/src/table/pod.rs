//! Pods: NAME READY STATUS RESTARTS AGE | IP NODE NOMINATED NODE READINESS GATES.
//!
//! STATUS is kubectl's one-word summary of the pod, computed as upstream's `printPod`:
//! the pod's reason or phase, overridden by the first init container that has not
//! finished (`Init:1/2`, `Init:CrashLoopBackOff`, `Init:Error`), then by the app
//! containers' waiting or terminated reasons (`ContainerCreating`, `CrashLoopBackOff`,
//! `Completed`, `Error`), and finally by deletion (`Terminating`).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{age, col, int_at, list_at, name, since, str_at, time, wide, Column, Row, NAME};

pub(super) const COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
    col("Status", "string", "The aggregate status of the containers in this pod."),
    col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    super::AGE,
    wide("IP", "string", "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated."),
    wide("Node", "string", "NodeName indicates in which node this pod is scheduled."),
    wide("Nominated Node", "string", "nominatedNodeName is set when this pod preempts other pods on the node."),
    wide("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness."),
];

/// What a pod's row is made of, before formatting.
pub struct Summary {
    pub ready: usize,
    pub total: usize,
    pub status: String,
    pub restarts: i64,
    pub last_restart: Option<DateTime<Utc>>,
}

pub(super) fn row(pod: &Value, now: DateTime<Utc>) -> Row {
    let s = summarize(pod);
    let restarts = match s.last_restart {
        Some(at) if s.restarts != 0 => format!("{} ({} ago)", s.restarts, since(now, Some(at))),
        _ => s.restarts.to_string(),
    };
    let ip = list_at(pod, "/status/podIPs")
        .first()
        .map(|ip| str_at(ip, "/ip"))
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| str_at(pod, "/status/podIP"));
    let cells = vec![
        name(pod).into(),
        format!("{}/{}", s.ready, s.total).into(),
        s.status.into(),
        restarts.into(),
        age(pod, now),
        or_none(ip),
        or_none(str_at(pod, "/spec/nodeName")),
        or_none(str_at(pod, "/status/nominatedNodeName")),
        readiness_gates(pod).into(),
    ];
    let conditions = match str_at(pod, "/status/phase") {
        "Succeeded" => Some(json!([{"type": "Completed", "status": "True",
            "reason": "Succeeded", "message": "The pod has completed successfully."}])),
        "Failed" => Some(json!([{"type": "Completed", "status": "True",
            "reason": "Failed", "message": "The pod failed."}])),
        _ => None,
    };
    Row { cells, conditions }
}

fn or_none(s: &str) -> Value {
    if s.is_empty() { "<none>" } else { s }.into()
}

/// "true/total" of the pod's readiness gates, `<none>` without gates.
fn readiness_gates(pod: &Value) -> String {
    let gates = list_at(pod, "/spec/readinessGates");
    if gates.is_empty() {
        return "<none>".into();
    }
    let conditions = list_at(pod, "/status/conditions");
    let satisfied = gates
        .iter()
        .filter(|gate| {
            let kind = str_at(gate, "/conditionType");
            conditions
                .iter()
                .find(|c| str_at(c, "/type") == kind)
                .is_some_and(|c| str_at(c, "/status") == "True")
        })
        .count();
    format!("{satisfied}/{}", gates.len())
}

/// An init container with `restartPolicy: Always` (a sidecar).
fn is_sidecar(pod: &Value, container: &str) -> bool {
    list_at(pod, "/spec/initContainers")
        .iter()
        .find(|c| str_at(c, "/name") == container)
        .is_some_and(|c| str_at(c, "/restartPolicy") == "Always")
}

fn has_condition(pod: &Value, kind: &str) -> bool {
    list_at(pod, "/status/conditions")
        .iter()
        .find(|c| str_at(c, "/type") == kind)
        .is_some_and(|c| str_at(c, "/status") == "True")
}

/// The later of `latest` and the finish time of a container's previous termination.
fn later_restart(latest: Option<DateTime<Utc>>, status: &Value) -> Option<DateTime<Utc>> {
    let finished = time(status, "/lastState/terminated/finishedAt");
    match (latest, finished) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// "Signal:9" / "ExitCode:1" for a termination without a reason.
fn exit_summary(terminated: &Value) -> String {
    match int_at(terminated, "/signal").filter(|s| *s != 0) {
        Some(signal) => format!("Signal:{signal}"),
        None => format!("ExitCode:{}", int_at(terminated, "/exitCode").unwrap_or(0)),
    }
}

pub fn summarize(pod: &Value) -> Summary {
    let phase = str_at(pod, "/status/phase");
    let mut status = match str_at(pod, "/status/reason") {
        "" => phase.to_string(),
        reason => reason.to_string(),
    };
    if list_at(pod, "/status/conditions")
        .iter()
        .any(|c| str_at(c, "/type") == "PodScheduled" && str_at(c, "/reason") == "SchedulingGated")
    {
        status = "SchedulingGated".into();
    }

    let init_specs = list_at(pod, "/spec/initContainers");
    let sidecars = init_specs
        .iter()
        .filter(|c| str_at(c, "/restartPolicy") == "Always")
        .count();
    let total = list_at(pod, "/spec/containers").len() + sidecars;
    let mut ready = 0;
    let mut restarts = 0;
    let mut last_restart = None;
    let mut sidecar_restarts = 0;
    let mut sidecar_last_restart = None;

    let mut initializing = false;
    for (i, cs) in list_at(pod, "/status/initContainerStatuses")
        .iter()
        .enumerate()
    {
        let count = int_at(cs, "/restartCount").unwrap_or(0);
        restarts += count;
        last_restart = later_restart(last_restart, cs);
        let sidecar = is_sidecar(pod, str_at(cs, "/name"));
        if sidecar {
            sidecar_restarts += count;
            sidecar_last_restart = later_restart(sidecar_last_restart, cs);
        }
        let terminated = cs.pointer("/state/terminated").filter(|t| t.is_object());
        let waiting_reason = str_at(cs, "/state/waiting/reason");
        if terminated.is_some_and(|t| int_at(t, "/exitCode").unwrap_or(0) == 0) {
            continue;
        }
        if sidecar && cs.get("started").and_then(Value::as_bool) == Some(true) {
            if cs.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        status = match terminated {
            Some(t) => match str_at(t, "/reason") {
                "" => format!("Init:{}", exit_summary(t)),
                reason => format!("Init:{reason}"),
            },
            None if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" => {
                format!("Init:{waiting_reason}")
            }
            None => format!("Init:{i}/{}", init_specs.len()),
        };
        initializing = true;
        break;
    }

    if !initializing || has_condition(pod, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = sidecar_last_restart;
        let mut has_running = false;
        for cs in list_at(pod, "/status/containerStatuses").iter().rev() {
            restarts += int_at(cs, "/restartCount").unwrap_or(0);
            last_restart = later_restart(last_restart, cs);
            let waiting_reason = str_at(cs, "/state/waiting/reason");
            let terminated = cs.pointer("/state/terminated").filter(|t| t.is_object());
            if !waiting_reason.is_empty() {
                status = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                status = match str_at(t, "/reason") {
                    "" => exit_summary(t),
                    reason => reason.to_string(),
                };
            } else if cs.get("ready").and_then(Value::as_bool) == Some(true)
                && cs.pointer("/state/running").is_some_and(Value::is_object)
            {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose finished container is listed last still runs its others.
        if status == "Completed" && has_running {
            status = if has_condition(pod, "Ready") {
                "Running"
            } else {
                "NotReady"
            }
            .into();
        }
    }

    let deleting = pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null());
    if deleting && str_at(pod, "/status/reason") == "NodeLost" {
        status = "Unknown".into();
    } else if deleting && phase != "Succeeded" && phase != "Failed" {
        status = "Terminating".into();
    }

    Summary {
        ready,
        total,
        status,
        restarts,
        last_restart,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::tests::{ago, cells, headers, now, resource, wide_headers};
    use crate::table::to_table;
    use chrono::Duration;

    fn pod(spec: Value, status: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default",
                "creationTimestamp": ago(Duration::minutes(5))},
            "spec": spec, "status": status})
    }

    fn one() -> Value {
        json!({"containers": [{"name": "app", "image": "busybox"}]})
    }

    fn with_init() -> Value {
        json!({"initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [{"name": "app", "image": "busybox"}]})
    }

    /// The STATUS column of a pod, as `kubectl get pods` shows it.
    fn display_status(pod: &Value) -> String {
        summarize(pod).status
    }

    fn status_of(spec: Value, status: Value) -> String {
        display_status(&pod(spec, status))
    }

    #[test]
    fn pod_columns_match_upstream() {
        let t = to_table(resource("pods"), &[], "None", now());
        assert_eq!(
            headers(&t),
            [
                "Name",
                "Ready",
                "Status",
                "Restarts",
                "Age",
                "IP",
                "Node",
                "Nominated Node",
                "Readiness Gates"
            ]
        );
        assert_eq!(
            wide_headers(&t),
            ["IP", "Node", "Nominated Node", "Readiness Gates"]
        );
        assert_eq!(t["columnDefinitions"][3]["type"], "string");
    }

    #[test]
    fn pending_pod_without_statuses_is_pending() {
        assert_eq!(status_of(one(), json!({"phase": "Pending"})), "Pending");
    }

    #[test]
    fn scheduling_gated_pod_says_so() {
        let status = json!({"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]});
        assert_eq!(status_of(one(), status), "SchedulingGated");
    }

    #[test]
    fn waiting_app_container_shows_its_reason() {
        let status = json!({"phase": "Pending", "containerStatuses": [
            {"name": "app", "ready": false, "restartCount": 0,
             "state": {"waiting": {"reason": "ContainerCreating"}}}]});
        assert_eq!(status_of(one(), status), "ContainerCreating");
        let status = json!({"phase": "Running", "containerStatuses": [
            {"name": "app", "ready": false, "restartCount": 4,
             "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]});
        assert_eq!(status_of(one(), status), "CrashLoopBackOff");
    }

    #[test]
    fn running_init_container_shows_progress() {
        let status = json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "init", "ready": false, "restartCount": 0, "state": {"running": {}}}]});
        assert_eq!(status_of(with_init(), status), "Init:0/1");
        let status = json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "init", "ready": false, "restartCount": 0,
             "state": {"waiting": {"reason": "PodInitializing"}}}]});
        assert_eq!(status_of(with_init(), status), "Init:0/1");
    }

    #[test]
    fn second_init_container_counts_the_first_as_done() {
        let spec = json!({"initContainers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "app"}]});
        let status = json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "a", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "b", "restartCount": 0, "state": {"running": {}}}]});
        assert_eq!(status_of(spec, status), "Init:1/2");
    }

    #[test]
    fn failed_init_container_shows_init_error_or_backoff() {
        let status = json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "init", "restartCount": 1,
             "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]});
        assert_eq!(status_of(with_init(), status), "Init:Error");
        let status = json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "init", "restartCount": 3,
             "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]});
        assert_eq!(status_of(with_init(), status), "Init:CrashLoopBackOff");
        let status = json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "init", "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}]});
        assert_eq!(status_of(with_init(), status), "Init:ExitCode:2");
        let status = json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "init", "restartCount": 0, "state": {"terminated": {"exitCode": 137, "signal": 9}}}]});
        assert_eq!(status_of(with_init(), status), "Init:Signal:9");
    }

    #[test]
    fn finished_init_then_waiting_app_is_pod_initializing() {
        let status = json!({"phase": "Pending",
            "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [{"name": "init", "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
            "containerStatuses": [{"name": "app", "restartCount": 0, "ready": false,
                "state": {"waiting": {"reason": "PodInitializing"}}}]});
        assert_eq!(status_of(with_init(), status), "PodInitializing");
    }

    #[test]
    fn running_ready_pod_is_running() {
        let p = pod(
            one(),
            json!({"phase": "Running", "podIP": "10.0.0.5",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                "state": {"running": {"startedAt": ago(Duration::minutes(4))}}}]}),
        );
        let t = to_table(resource("pods"), &[p], "None", now());
        assert_eq!(
            cells(&t),
            [
                json!("web"),
                json!("1/1"),
                json!("Running"),
                json!("0"),
                json!("5m"),
                json!("10.0.0.5"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        assert!(t["rows"][0].get("conditions").is_none());
    }

    #[test]
    fn completed_and_failed_pods_print_their_reason_with_row_conditions() {
        let p = pod(
            one(),
            json!({"phase": "Succeeded", "containerStatuses": [
            {"name": "app", "ready": false, "restartCount": 0,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
        );
        let t = to_table(resource("pods"), &[p], "None", now());
        assert_eq!(cells(&t)[2], "Completed");
        assert_eq!(t["rows"][0]["conditions"][0]["type"], "Completed");
        assert_eq!(t["rows"][0]["conditions"][0]["reason"], "Succeeded");
        let p = pod(
            one(),
            json!({"phase": "Failed", "containerStatuses": [
            {"name": "app", "ready": false, "restartCount": 0,
             "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}),
        );
        let t = to_table(resource("pods"), &[p], "None", now());
        assert_eq!(cells(&t)[2], "Error");
        assert_eq!(t["rows"][0]["conditions"][0]["reason"], "Failed");
    }

    #[test]
    fn one_completed_container_beside_a_running_one_is_running_or_not_ready() {
        let spec = json!({"containers": [{"name": "a"}, {"name": "b"}]});
        let statuses = json!([
            {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
            {"name": "b", "ready": false, "restartCount": 0,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]);
        let ready = json!({"phase": "Running", "containerStatuses": statuses,
            "conditions": [{"type": "Ready", "status": "True"}]});
        assert_eq!(status_of(spec.clone(), ready), "Running");
        let not_ready = json!({"phase": "Running", "containerStatuses": statuses,
            "conditions": [{"type": "Ready", "status": "False"}]});
        assert_eq!(status_of(spec, not_ready), "NotReady");
    }

    #[test]
    fn deleted_pods_are_terminating_unless_finished_or_node_lost() {
        let mut p = pod(
            one(),
            json!({"phase": "Running", "containerStatuses": [
            {"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}}]}),
        );
        p["metadata"]["deletionTimestamp"] = json!(ago(Duration::seconds(3)));
        assert_eq!(display_status(&p), "Terminating");
        p["status"]["reason"] = json!("NodeLost");
        assert_eq!(display_status(&p), "Unknown");
        p["status"] = json!({"phase": "Succeeded"});
        assert_eq!(display_status(&p), "Succeeded");
    }

    #[test]
    fn restarts_show_when_the_last_one_was() {
        let p = pod(
            one(),
            json!({"phase": "Running", "containerStatuses": [
            {"name": "app", "ready": true, "restartCount": 3, "state": {"running": {}},
             "lastState": {"terminated": {"exitCode": 1,
                 "finishedAt": ago(Duration::minutes(5))}}}]}),
        );
        let t = to_table(resource("pods"), &[p], "None", now());
        assert_eq!(cells(&t)[3], "3 (5m ago)");
        // A count without a recorded termination time prints bare.
        let p = pod(
            one(),
            json!({"phase": "Running", "containerStatuses": [
            {"name": "app", "ready": true, "restartCount": 2, "state": {"running": {}}}]}),
        );
        let t = to_table(resource("pods"), &[p], "None", now());
        assert_eq!(cells(&t)[3], "2");
    }

    #[test]
    fn sidecars_count_toward_ready_and_restarts() {
        let spec = json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
            "containers": [{"name": "app"}]});
        let p = pod(
            spec,
            json!({"phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [{"name": "proxy", "ready": true, "started": true,
                "restartCount": 1, "state": {"running": {}},
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(Duration::minutes(2))}}}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0,
                "state": {"running": {}}}]}),
        );
        let t = to_table(resource("pods"), &[p], "None", now());
        assert_eq!(cells(&t)[1], "2/2");
        assert_eq!(cells(&t)[2], "Running");
        assert_eq!(cells(&t)[3], "1 (2m ago)");
    }

    #[test]
    fn wide_cells_show_ip_node_nomination_and_gates() {
        let mut spec = one();
        spec["nodeName"] = json!("node-1");
        spec["readinessGates"] = json!([{"conditionType": "a"}, {"conditionType": "b"}]);
        let p = pod(
            spec,
            json!({"phase": "Running",
            "podIPs": [{"ip": "10.1.0.2"}, {"ip": "fd00::2"}],
            "nominatedNodeName": "node-2",
            "conditions": [{"type": "a", "status": "True"}, {"type": "b", "status": "False"}]}),
        );
        let t = to_table(resource("pods"), &[p], "None", now());
        assert_eq!(
            cells(&t)[5..],
            [
                json!("10.1.0.2"),
                json!("node-1"),
                json!("node-2"),
                json!("1/2")
            ]
        );
    }
}
