//! The pod phase and the kubelet-owned pod conditions from container statuses, as
//! upstream's `getPhase` and `Generate*Condition` compute them.

use k8s_openapi::api::core::v1::{ContainerStatus, PodCondition, PodSpec};

use api::pod::is_restartable_init_container;

fn find<'a>(statuses: &'a [ContainerStatus], name: &str) -> Option<&'a ContainerStatus> {
    statuses.iter().find(|s| s.name == name)
}

fn has_last_termination(s: &ContainerStatus) -> bool {
    s.last_state
        .as_ref()
        .and_then(|l| l.terminated.as_ref())
        .is_some()
}

/// Whether any app container has started (running, or ended / restarting after a run).
pub fn any_regular_container_started(spec: &PodSpec, statuses: &[ContainerStatus]) -> bool {
    spec.containers.iter().any(|c| {
        find(statuses, &c.name).is_some_and(|s| {
            let st = s.state.as_ref();
            st.is_some_and(|st| st.running.is_some() || st.terminated.is_some())
                || has_last_termination(s)
        })
    })
}

/// Upstream `getPhase`: `init` and `app` are the init and app container statuses;
/// `terminal` says the pod's containers will not be restarted any more.
pub fn pod_phase(
    spec: &PodSpec,
    init: &[ContainerStatus],
    app: &[ContainerStatus],
    terminal: bool,
) -> &'static str {
    let mut pending_init = 0;
    let mut failed_init = 0;
    for c in spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| !is_restartable_init_container(c))
    {
        let Some(s) = find(init, &c.name) else {
            pending_init += 1;
            continue;
        };
        let state = s.state.as_ref();
        if state.and_then(|s| s.running.as_ref()).is_some() {
            pending_init += 1;
        } else if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
            if t.exit_code != 0 {
                failed_init += 1;
            }
        } else if state.and_then(|s| s.waiting.as_ref()).is_some() {
            match s.last_state.as_ref().and_then(|l| l.terminated.as_ref()) {
                Some(t) if t.exit_code != 0 => failed_init += 1,
                Some(_) => {}
                None => pending_init += 1,
            }
        } else {
            pending_init += 1;
        }
    }

    let (mut unknown, mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    for c in spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| is_restartable_init_container(c))
    {
        let Some(s) = find(init, &c.name) else {
            unknown += 1;
            continue;
        };
        let state = s.state.as_ref();
        if state.and_then(|s| s.running.as_ref()).is_some() {
            if s.started != Some(true) {
                pending_init += 1;
            }
            running += 1;
        } else if state.and_then(|s| s.terminated.as_ref()).is_some() {
        } else if state.and_then(|s| s.waiting.as_ref()).is_some() {
            if !has_last_termination(s) {
                pending_init += 1;
                waiting += 1;
            }
        } else {
            pending_init += 1;
            unknown += 1;
        }
    }
    for c in &spec.containers {
        let Some(s) = find(app, &c.name) else {
            unknown += 1;
            continue;
        };
        let state = s.state.as_ref();
        if state.and_then(|s| s.running.as_ref()).is_some() {
            running += 1;
        } else if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if state.and_then(|s| s.waiting.as_ref()).is_some() {
            if has_last_termination(s) {
                stopped += 1;
            } else {
                waiting += 1;
            }
        } else {
            unknown += 1;
        }
    }

    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    if failed_init > 0 && policy == "Never" {
        return "Failed";
    }
    let mut all: Vec<ContainerStatus> = init.to_vec();
    all.extend_from_slice(app);
    if (pending_init > 0 && !any_regular_container_started(spec, &all)) || waiting > 0 {
        return "Pending";
    }
    if running > 0 && unknown == 0 {
        return "Running";
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        if terminal {
            return if stopped == succeeded {
                "Succeeded"
            } else {
                "Failed"
            };
        }
        if policy == "Always" {
            return "Running";
        }
        if stopped == succeeded {
            return "Succeeded";
        }
        if policy == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

fn condition(type_: &str, ok: bool, reason: Option<&str>, message: Option<String>) -> PodCondition {
    PodCondition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.map(str::to_string),
        message,
        ..Default::default()
    }
}

fn list(names: &[String]) -> String {
    format!("[{}]", names.join(" "))
}

/// The Initialized condition.
pub fn initialized_condition(
    spec: &PodSpec,
    init: &[ContainerStatus],
    app: &[ContainerStatus],
    phase: &str,
) -> PodCondition {
    let inits = spec.init_containers.as_deref().unwrap_or_default();
    if inits.is_empty() {
        return condition("Initialized", true, None, None);
    }
    let (mut unknown, mut incomplete) = (Vec::new(), Vec::new());
    for c in inits {
        let Some(s) = find(init, &c.name) else {
            unknown.push(c.name.clone());
            continue;
        };
        if is_restartable_init_container(c) {
            if s.started != Some(true) {
                incomplete.push(c.name.clone());
            }
            continue;
        }
        let done = s
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .is_some_and(|t| t.exit_code == 0);
        if !done {
            incomplete.push(c.name.clone());
        }
    }
    if phase == "Succeeded" && unknown.is_empty() {
        return condition("Initialized", true, Some("PodCompleted"), None);
    }
    let mut all = init.to_vec();
    all.extend_from_slice(app);
    if any_regular_container_started(spec, &all) {
        return condition("Initialized", true, None, None);
    }
    let mut msgs = Vec::new();
    if !unknown.is_empty() {
        msgs.push(format!(
            "containers with unknown status: {}",
            list(&unknown)
        ));
    }
    if !incomplete.is_empty() {
        msgs.push(format!(
            "containers with incomplete status: {}",
            list(&incomplete)
        ));
    }
    if msgs.is_empty() {
        return condition("Initialized", true, None, None);
    }
    condition(
        "Initialized",
        false,
        Some("ContainersNotInitialized"),
        Some(msgs.join(", ")),
    )
}

/// The ContainersReady condition (sidecars count).
pub fn containers_ready_condition(
    spec: &PodSpec,
    init: &[ContainerStatus],
    app: &[ContainerStatus],
    phase: &str,
) -> PodCondition {
    let (mut unknown, mut unready) = (Vec::new(), Vec::new());
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| is_restartable_init_container(c));
    for (c, statuses) in sidecars
        .map(|c| (c, init))
        .chain(spec.containers.iter().map(|c| (c, app)))
    {
        match find(statuses, &c.name) {
            Some(s) if !s.ready => unready.push(c.name.clone()),
            Some(_) => {}
            None => unknown.push(c.name.clone()),
        }
    }
    if phase == "Succeeded" && unknown.is_empty() {
        return condition("ContainersReady", false, Some("PodCompleted"), None);
    }
    if phase == "Failed" {
        return condition("ContainersReady", false, Some("PodFailed"), None);
    }
    let mut msgs = Vec::new();
    if !unknown.is_empty() {
        msgs.push(format!(
            "containers with unknown status: {}",
            list(&unknown)
        ));
    }
    if !unready.is_empty() {
        msgs.push(format!(
            "containers with unready status: {}",
            list(&unready)
        ));
    }
    if msgs.is_empty() {
        return condition("ContainersReady", true, None, None);
    }
    condition(
        "ContainersReady",
        false,
        Some("ContainersNotReady"),
        Some(msgs.join(", ")),
    )
}

/// The Ready condition: ContainersReady and every readiness gate's condition true.
pub fn ready_condition(
    spec: &PodSpec,
    containers_ready: &PodCondition,
    others: &[PodCondition],
) -> PodCondition {
    if containers_ready.status != "True" {
        let mut c = containers_ready.clone();
        c.type_ = "Ready".into();
        return c;
    }
    let mut missing = Vec::new();
    let mut unready = Vec::new();
    for gate in spec.readiness_gates.iter().flatten() {
        match others.iter().find(|c| c.type_ == gate.condition_type) {
            None => missing.push(gate.condition_type.clone()),
            Some(c) if c.status != "True" => unready.push(gate.condition_type.clone()),
            Some(_) => {}
        }
    }
    let mut msgs = Vec::new();
    if !missing.is_empty() {
        msgs.push(format!(
            "corresponding condition of pod readiness gate {} does not exist.",
            list(&missing)
                .replace(' ', "\" \"")
                .replace('[', "[\"")
                .replace(']', "\"]")
        ));
    }
    if !unready.is_empty() {
        msgs.push(format!(
            "the status of pod readiness gate {} is not \"True\"",
            list(&unready)
                .replace(' ', "\" \"")
                .replace('[', "[\"")
                .replace(']', "\"]")
        ));
    }
    if msgs.is_empty() {
        return condition("Ready", true, None, None);
    }
    condition(
        "Ready",
        false,
        Some("ReadinessGatesNotReady"),
        Some(msgs.join(", ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    fn st(v: serde_json::Value) -> ContainerStatus {
        let mut v = v;
        v["image"] = json!("x");
        v["imageID"] = json!("");
        v["restartCount"] = v.get("restartCount").cloned().unwrap_or(json!(0));
        v["ready"] = v.get("ready").cloned().unwrap_or(json!(false));
        serde_json::from_value(v).unwrap()
    }

    fn running(name: &str) -> ContainerStatus {
        st(json!({"name": name, "ready": true, "started": true, "state": {"running": {}}}))
    }

    fn exited(name: &str, code: i32) -> ContainerStatus {
        st(json!({"name": name, "state": {"terminated": {"exitCode": code}}}))
    }

    fn waiting(name: &str, reason: &str) -> ContainerStatus {
        st(json!({"name": name, "state": {"waiting": {"reason": reason}}}))
    }

    fn crash_looping(name: &str, code: i32) -> ContainerStatus {
        st(
            json!({"name": name, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": code}}}),
        )
    }

    #[test]
    fn phase_follows_container_states_and_the_restart_policy() {
        let one =
            |policy: &str| spec(json!({"restartPolicy": policy, "containers": [{"name": "a"}]}));
        assert_eq!(pod_phase(&one("Always"), &[], &[], false), "Pending");
        assert_eq!(
            pod_phase(
                &one("Always"),
                &[],
                &[waiting("a", "ContainerCreating")],
                false
            ),
            "Pending"
        );
        assert_eq!(
            pod_phase(&one("Always"), &[], &[running("a")], false),
            "Running"
        );
        assert_eq!(
            pod_phase(&one("Always"), &[], &[exited("a", 0)], false),
            "Running"
        );
        assert_eq!(
            pod_phase(&one("OnFailure"), &[], &[exited("a", 0)], false),
            "Succeeded"
        );
        assert_eq!(
            pod_phase(&one("OnFailure"), &[], &[crash_looping("a", 1)], false),
            "Running"
        );
        assert_eq!(
            pod_phase(&one("Never"), &[], &[exited("a", 1)], false),
            "Failed"
        );
        assert_eq!(
            pod_phase(&one("Always"), &[], &[exited("a", 143)], true),
            "Failed"
        );
        assert_eq!(
            pod_phase(&one("Always"), &[], &[exited("a", 0)], true),
            "Succeeded"
        );
        let two =
            spec(json!({"restartPolicy": "Never", "containers": [{"name": "a"}, {"name": "b"}]}));
        assert_eq!(
            pod_phase(&two, &[], &[running("a"), exited("b", 0)], false),
            "Running"
        );
        assert_eq!(
            pod_phase(&two, &[], &[exited("a", 0), exited("b", 0)], false),
            "Succeeded"
        );
        assert_eq!(
            pod_phase(&two, &[], &[exited("a", 0), exited("b", 2)], false),
            "Failed"
        );
    }

    #[test]
    fn init_containers_keep_the_pod_pending_and_their_failure_fails_never_pods() {
        let s = |policy: &str| {
            spec(
                json!({"restartPolicy": policy, "initContainers": [{"name": "i"}], "containers": [{"name": "a"}]}),
            )
        };
        let app = [waiting("a", "PodInitializing")];
        assert_eq!(
            pod_phase(&s("Always"), &[running("i")], &app, false),
            "Pending"
        );
        assert_eq!(
            pod_phase(&s("Never"), &[exited("i", 1)], &app, false),
            "Failed"
        );
        assert_eq!(
            pod_phase(&s("Always"), &[crash_looping("i", 1)], &app, false),
            "Pending"
        );
        assert_eq!(
            pod_phase(&s("Always"), &[exited("i", 0)], &[running("a")], false),
            "Running"
        );
    }

    #[test]
    fn sidecars_must_start_before_the_pod_leaves_pending_and_do_not_decide_success() {
        let s = spec(json!({"restartPolicy": "Never",
            "initContainers": [{"name": "side", "restartPolicy": "Always"}], "containers": [{"name": "a"}]}));
        let unstarted = st(json!({"name": "side", "started": false, "state": {"running": {}}}));
        assert_eq!(
            pod_phase(&s, &[unstarted], &[waiting("a", "PodInitializing")], false),
            "Pending"
        );
        assert_eq!(
            pod_phase(&s, &[running("side")], &[running("a")], false),
            "Running"
        );
        assert_eq!(
            pod_phase(&s, &[exited("side", 137)], &[exited("a", 0)], true),
            "Succeeded"
        );
    }

    #[test]
    fn conditions_name_the_containers_that_hold_them_back() {
        let s = spec(
            json!({"initContainers": [{"name": "i"}], "containers": [{"name": "a"}, {"name": "b"}]}),
        );
        let init = [running("i")];
        let app = [
            waiting("a", "PodInitializing"),
            waiting("b", "PodInitializing"),
        ];
        let c = initialized_condition(&s, &init, &app, "Pending");
        assert_eq!(
            (c.status.as_str(), c.reason.as_deref()),
            ("False", Some("ContainersNotInitialized"))
        );
        assert_eq!(
            c.message.as_deref(),
            Some("containers with incomplete status: [i]")
        );
        let cr = containers_ready_condition(&s, &init, &app, "Pending");
        assert_eq!(
            cr.message.as_deref(),
            Some("containers with unready status: [a b]")
        );
        let r = ready_condition(&s, &cr, &[]);
        assert_eq!(
            (r.type_.as_str(), r.status.as_str(), r.reason.as_deref()),
            ("Ready", "False", Some("ContainersNotReady"))
        );

        let init = [exited("i", 0)];
        let app = [running("a"), running("b")];
        assert_eq!(
            initialized_condition(&s, &init, &app, "Running").status,
            "True"
        );
        let cr = containers_ready_condition(&s, &init, &app, "Running");
        assert_eq!(cr.status, "True");
        assert_eq!(ready_condition(&s, &cr, &[]).status, "True");
        let done = [exited("a", 0), exited("b", 0)];
        let cr = containers_ready_condition(&s, &init, &done, "Succeeded");
        assert_eq!(
            (cr.status.as_str(), cr.reason.as_deref()),
            ("False", Some("PodCompleted"))
        );
        assert_eq!(
            initialized_condition(&s, &init, &done, "Succeeded")
                .reason
                .as_deref(),
            Some("PodCompleted")
        );
    }

    #[test]
    fn readiness_gates_hold_ready_back() {
        let s = spec(
            json!({"readinessGates": [{"conditionType": "example.com/lb"}], "containers": [{"name": "a"}]}),
        );
        let cr = containers_ready_condition(&s, &[], &[running("a")], "Running");
        let r = ready_condition(&s, &cr, &[]);
        assert_eq!(r.reason.as_deref(), Some("ReadinessGatesNotReady"));
        assert_eq!(r.message.as_deref(), Some("corresponding condition of pod readiness gate [\"example.com/lb\"] does not exist."));
        let gate = PodCondition {
            type_: "example.com/lb".into(),
            status: "True".into(),
            ..Default::default()
        };
        assert_eq!(ready_condition(&s, &cr, &[gate]).status, "True");
    }
}
