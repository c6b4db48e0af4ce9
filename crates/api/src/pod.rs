//! Pure pod arithmetic shared by the scheduler, the node agent and the printers: QoS class,
//! effective resource requests (sidecar-aware), and the STATUS / READY / RESTARTS columns
//! exactly as kubectl's pod printer computes them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::quantity::ParsedQuantity;

/// Whether an init container is a sidecar (`restartPolicy: Always`).
pub fn is_restartable_init_container(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

fn parsed(list: Option<&BTreeMap<String, Quantity>>) -> BTreeMap<String, ParsedQuantity> {
    list.into_iter()
        .flatten()
        .filter_map(|(k, q)| ParsedQuantity::parse(&q.0).ok().map(|p| (k.clone(), p)))
        .collect()
}

fn requests_of(c: &Container) -> BTreeMap<String, ParsedQuantity> {
    parsed(c.resources.as_ref().and_then(|r| r.requests.as_ref()))
}

fn add_into(total: &mut BTreeMap<String, ParsedQuantity>, add: &BTreeMap<String, ParsedQuantity>) {
    for (k, q) in add {
        let sum = total.get(k).map_or(*q, |t| t.add(q));
        total.insert(k.clone(), sum);
    }
}

fn max_into(
    total: &mut BTreeMap<String, ParsedQuantity>,
    other: &BTreeMap<String, ParsedQuantity>,
) {
    for (k, q) in other {
        match total.get(k) {
            Some(t) if t >= q => {}
            _ => {
                total.insert(k.clone(), *q);
            }
        }
    }
}

/// The pod's QoS class (`Guaranteed`, `Burstable` or `BestEffort`) from the cpu and memory
/// requests and limits of its app and init containers (upstream `ComputePodQOS`).
pub fn qos_class(spec: &PodSpec) -> &'static str {
    let mut requests: BTreeMap<String, ParsedQuantity> = BTreeMap::new();
    let mut limits: BTreeMap<String, ParsedQuantity> = BTreeMap::new();
    let mut guaranteed = true;
    let supported = |name: &str| name == "cpu" || name == "memory";
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        let res = c.resources.as_ref();
        for (name, q) in parsed(res.and_then(|r| r.requests.as_ref())) {
            if supported(&name) && q.nanos() > 0 {
                add_into(&mut requests, &BTreeMap::from([(name, q)]));
            }
        }
        let mut found = Vec::new();
        for (name, q) in parsed(res.and_then(|r| r.limits.as_ref())) {
            if supported(&name) && q.nanos() > 0 {
                found.push(name.clone());
                add_into(&mut limits, &BTreeMap::from([(name, q)]));
            }
        }
        if !(found.iter().any(|n| n == "cpu") && found.iter().any(|n| n == "memory")) {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed {
        guaranteed = requests
            .iter()
            .all(|(name, req)| limits.get(name) == Some(req));
    }
    if guaranteed && requests.len() == limits.len() {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// What the pod asks of a node (upstream `PodRequests`): the larger of the app containers'
/// sum (with sidecars) and the peak of any init container (plus the sidecars started before
/// it), plus the pod overhead.
pub fn effective_requests(spec: &PodSpec) -> BTreeMap<String, ParsedQuantity> {
    let mut reqs = BTreeMap::new();
    for c in &spec.containers {
        add_into(&mut reqs, &requests_of(c));
    }
    let mut sidecars = BTreeMap::new();
    let mut init_peak = BTreeMap::new();
    for c in spec.init_containers.iter().flatten() {
        let own = requests_of(c);
        let in_use = if is_restartable_init_container(c) {
            add_into(&mut reqs, &own);
            add_into(&mut sidecars, &own);
            sidecars.clone()
        } else {
            let mut tmp = own;
            add_into(&mut tmp, &sidecars);
            tmp
        };
        max_into(&mut init_peak, &in_use);
    }
    max_into(&mut reqs, &init_peak);
    add_into(&mut reqs, &parsed(spec.overhead.as_ref()));
    reqs
}

/// kubectl's view of a pod, computed once by the pod table printer.
fn print_pod(pod: &Pod) -> crate::table::PodSummary {
    crate::table::pod_summary(&serde_json::to_value(pod).unwrap_or_default())
}

/// The STATUS column of `kubectl get pods` (`Running`, `Init:0/1`, `CrashLoopBackOff`,
/// `Completed`, `Terminating`, ...).
pub fn display_status(pod: &Pod) -> String {
    print_pod(pod).status
}

/// The READY column as (ready, total) containers; sidecars count as containers.
pub fn ready_count(pod: &Pod) -> (usize, usize) {
    let p = print_pod(pod);
    (p.ready, p.total)
}

/// The RESTARTS column: the count and, when there were restarts, when the last one ended.
pub fn restarts(pod: &Pod) -> (i32, Option<Time>) {
    let p = print_pod(pod);
    let last = p
        .last_restart
        .and_then(|t| serde_json::from_value(serde_json::json!(t.to_rfc3339())).ok());
    if p.restarts == 0 {
        (0, None)
    } else {
        (p.restarts as i32, last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    fn q(map: &BTreeMap<String, ParsedQuantity>, k: &str) -> String {
        map.get(k).map(|q| q.canonical()).unwrap_or_default()
    }

    #[test]
    fn qos_classes() {
        assert_eq!(
            qos_class(&spec(json!({"containers": [{"name": "a"}]}))),
            "BestEffort"
        );
        let g = spec(json!({"containers": [{"name": "a", "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1Gi"}}}]}));
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = spec(
            json!({"containers": [{"name": "a", "resources": {"limits": {"memory": "1Gi"}, "requests": {"memory": "1Gi"}}}]}),
        );
        assert_eq!(qos_class(&b), "Burstable");
        let b2 = spec(json!({"containers": [
            {"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "b"}]}));
        assert_eq!(qos_class(&b2), "Burstable");
        let zero =
            spec(json!({"containers": [{"name": "a", "resources": {"requests": {"cpu": "0"}}}]}));
        assert_eq!(qos_class(&zero), "BestEffort");
        let other = spec(
            json!({"containers": [{"name": "a", "resources": {"requests": {"ephemeral-storage": "1Gi"}}}]}),
        );
        assert_eq!(qos_class(&other), "BestEffort");
    }

    #[test]
    fn effective_requests_take_the_init_peak() {
        let s = spec(json!({
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2", "memory": "100Mi"}}}],
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "200Mi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "500m"}}}
            ],
            "overhead": {"cpu": "100m"}
        }));
        let r = effective_requests(&s);
        assert_eq!(q(&r, "cpu"), "2100m");
        assert_eq!(q(&r, "memory"), "200Mi");
    }

    #[test]
    fn effective_requests_count_sidecars() {
        let s = spec(json!({
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1"}}},
                {"name": "init", "resources": {"requests": {"cpu": "2"}}}
            ],
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}]
        }));
        // Init peak: sidecar (1) + init (2) = 3 > app (1) + sidecar (1) = 2.
        assert_eq!(q(&effective_requests(&s), "cpu"), "3");
        let s = spec(json!({
            "initContainers": [{"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1"}}}],
            "containers": [{"name": "a", "resources": {"requests": {"cpu": "2"}}}]
        }));
        assert_eq!(q(&effective_requests(&s), "cpu"), "3");
    }

    fn running(name: &str, ready: bool, restarts: i32) -> serde_json::Value {
        json!({"name": name, "image": "x", "imageID": "", "ready": ready, "restartCount": restarts, "state": {"running": {}}})
    }

    #[test]
    fn running_and_pending() {
        let p =
            pod(json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}}));
        assert_eq!(display_status(&p), "Pending");
        assert_eq!(ready_count(&p), (0, 1));
        let p = pod(
            json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [running("a", true, 0), running("b", false, 0)]}}),
        );
        assert_eq!(display_status(&p), "Running");
        assert_eq!(ready_count(&p), (1, 2));
    }

    #[test]
    fn init_progress() {
        let p = pod(
            json!({"spec": {"initContainers": [{"name": "war"}], "containers": [{"name": "a"}]},
            "status": {"phase": "Pending",
                "initContainerStatuses": [{"name": "war", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": {"running": {}}}],
                "containerStatuses": [{"name": "a", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]}}),
        );
        assert_eq!(display_status(&p), "Init:0/1");
        let p = pod(
            json!({"spec": {"initContainers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "c"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "a", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0}}},
                {"name": "b", "image": "x", "imageID": "", "ready": false, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}),
        );
        assert_eq!(display_status(&p), "Init:CrashLoopBackOff");
        assert_eq!(restarts(&p).0, 3);
        let p = pod(
            json!({"spec": {"initContainers": [{"name": "a"}], "containers": [{"name": "c"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "a", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}]}}),
        );
        assert_eq!(display_status(&p), "Init:ExitCode:2");
        let p = pod(
            json!({"spec": {"initContainers": [{"name": "a"}], "containers": [{"name": "c"}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "a", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}],
                "containerStatuses": [{"name": "c", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]}}),
        );
        assert_eq!(display_status(&p), "PodInitializing");
    }

    #[test]
    fn sidecars_count_as_ready_containers() {
        let p = pod(
            json!({"spec": {"initContainers": [{"name": "log", "restartPolicy": "Always"}], "containers": [{"name": "app"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
                "initContainerStatuses": [{"name": "log", "image": "x", "imageID": "", "ready": true, "started": true, "restartCount": 1, "state": {"running": {}}}],
                "containerStatuses": [running("app", true, 2)]}}),
        );
        assert_eq!(display_status(&p), "Running");
        assert_eq!(ready_count(&p), (2, 2));
        assert_eq!(restarts(&p).0, 3);
    }

    #[test]
    fn terminated_containers() {
        let done = |reason: serde_json::Value| {
            pod(json!({"spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Succeeded", "containerStatuses": [{"name": "a", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": reason}}]}}))
        };
        assert_eq!(
            display_status(&done(json!({"exitCode": 0, "reason": "Completed"}))),
            "Completed"
        );
        assert_eq!(
            display_status(&done(json!({"exitCode": 1, "reason": "Error"}))),
            "Error"
        );
        assert_eq!(
            display_status(&done(json!({"exitCode": 137, "reason": "OOMKilled"}))),
            "OOMKilled"
        );
        assert_eq!(display_status(&done(json!({"exitCode": 3}))), "ExitCode:3");
        assert_eq!(
            display_status(&done(json!({"exitCode": 0, "signal": 9}))),
            "Signal:9"
        );
    }

    #[test]
    fn completed_with_a_running_sibling_is_running_or_not_ready() {
        let mk = |ready_cond: bool| {
            pod(
                json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready_cond {"True"} else {"False"}}],
                "containerStatuses": [
                    running("a", true, 0),
                    {"name": "b", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}}),
            )
        };
        assert_eq!(display_status(&mk(true)), "Running");
        assert_eq!(display_status(&mk(false)), "NotReady");
    }

    #[test]
    fn waiting_reasons_and_deletion() {
        let p = pod(json!({"spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "a", "image": "x", "imageID": "", "ready": false, "restartCount": 5,
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2024-01-01T00:00:00Z"}},
                "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}}));
        assert_eq!(display_status(&p), "CrashLoopBackOff");
        let (n, when) = restarts(&p);
        assert_eq!(n, 5);
        assert_eq!(
            serde_json::to_value(when.unwrap()).unwrap(),
            json!("2024-01-01T00:00:00Z")
        );
        let p = pod(
            json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}, "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Running", "containerStatuses": [running("a", true, 0)]}}),
        );
        assert_eq!(display_status(&p), "Terminating");
        let p = pod(
            json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}, "spec": {"containers": [{"name": "a"}]},
            "status": {"phase": "Succeeded"}}),
        );
        assert_eq!(display_status(&p), "Succeeded");
        let p = pod(
            json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Failed", "reason": "Evicted"}}),
        );
        assert_eq!(display_status(&p), "Evicted");
        let p = pod(
            json!({"spec": {"containers": [{"name": "a"}], "schedulingGates": [{"name": "g"}]},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}}),
        );
        assert_eq!(display_status(&p), "SchedulingGated");
    }
}
