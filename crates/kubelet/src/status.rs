//! The pod's status as the node reports it: phase, the kubelet's conditions with their
//! transition times, init and app container statuses, IPs, start time and QoS class.
//! Conditions owned by others (PodScheduled, DisruptionTarget, readiness gates) are kept.

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, PodCondition, PodIP, PodStatus,
};

use crate::clock::k8s_time;
use crate::containers::{Instance, Kind, Record};
use crate::phase::{containers_ready_condition, initialized_condition, pod_phase, ready_condition};
use crate::pod_worker::Worker;

const OWNED: [&str; 4] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
];

/// Whether the API's copy of a pod's status disagrees with what this node last reported,
/// in what only the node decides: the phase and the node's own conditions.
pub(crate) fn reported_differs(reported: &PodStatus, api: Option<&PodStatus>) -> bool {
    fn condition<'a>(s: Option<&'a PodStatus>, type_: &str) -> Option<&'a str> {
        s.and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == type_))
            .map(|c| c.status.as_str())
    }
    reported.phase.as_deref() != api.and_then(|s| s.phase.as_deref())
        || OWNED
            .iter()
            .any(|t| condition(Some(reported), t) != condition(api, t))
}

fn terminated(i: &Instance) -> ContainerState {
    let s = &i.status;
    let code = s.exit_code.unwrap_or(137);
    let reason = s
        .reason
        .clone()
        .unwrap_or_else(|| if code == 0 { "Completed" } else { "Error" }.to_string());
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: code,
            reason: Some(reason),
            message: s.message.clone().filter(|m| !m.is_empty()),
            started_at: s.started_at.map(k8s_time),
            finished_at: s.finished_at.map(k8s_time),
            container_id: Some(format!("orca://{}", i.id)),
            signal: None,
        }),
        ..Default::default()
    }
}

fn waiting(reason: &str, message: Option<String>) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_string()),
            message,
        }),
        ..Default::default()
    }
}

/// One container's status; `default_reason` is its waiting reason before it ever ran.
fn container_status(rec: &Record, default_reason: &str) -> ContainerStatus {
    let current = rec.current.as_ref();
    let last_from = |i: Option<&Instance>| i.filter(|i| i.exited()).map(terminated);
    let (state, last) = match (current, &rec.waiting) {
        (Some(c), _) if c.running() && c.status.state == runtime::ContainerState::Running => (
            ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: c.status.started_at.map(k8s_time),
                }),
                ..Default::default()
            },
            last_from(rec.previous.as_ref()),
        ),
        (Some(c), _) if c.running() => (
            waiting("ContainerCreating", None),
            last_from(rec.previous.as_ref()),
        ),
        (Some(c), Some(w)) => (waiting(&w.reason, w.message.clone()), last_from(Some(c))),
        (Some(c), None) => (terminated(c), last_from(rec.previous.as_ref())),
        (None, Some(w)) => (waiting(&w.reason, w.message.clone()), None),
        (None, None) => (waiting(default_reason, None), None),
    };
    let running = state.running.is_some();
    let image = rec.image.as_ref();
    ContainerStatus {
        name: rec.spec.name.clone(),
        image: image
            .map(|i| i.reference.clone())
            .or_else(|| {
                current
                    .map(|c| c.status.image.clone())
                    .filter(|i| !i.is_empty())
            })
            .unwrap_or_else(|| rec.spec.image.clone().unwrap_or_default()),
        image_id: image
            .map(|i| i.image_id())
            .or_else(|| current.map(|c| c.status.image_id.clone()))
            .unwrap_or_default(),
        container_id: current.map(|c| format!("orca://{}", c.id)),
        state: Some(state),
        last_state: Some(last.unwrap_or_default()),
        ready: running && rec.started && rec.ready,
        restart_count: rec.restart_count() as i32,
        started: Some(running && rec.started),
        ..Default::default()
    }
}

impl Worker {
    /// Init and app container statuses.
    pub(crate) fn container_statuses(&self) -> (Vec<ContainerStatus>, Vec<ContainerStatus>) {
        let has_init = self.records.iter().any(|r| r.kind != Kind::App);
        let default_reason = if has_init {
            "PodInitializing"
        } else {
            "ContainerCreating"
        };
        let mut init = Vec::new();
        let mut app = Vec::new();
        for rec in &self.records {
            let s = container_status(rec, default_reason);
            if rec.kind == Kind::App {
                app.push(s);
            } else {
                init.push(s);
            }
        }
        (init, app)
    }

    /// A condition with its transition time kept unless its status changed.
    fn timed(&mut self, mut c: PodCondition) -> PodCondition {
        let now = k8s_time(self.now());
        let time = match self.conditions.get(&c.type_) {
            Some((status, t)) if *status == c.status => t.clone(),
            _ => {
                self.conditions
                    .insert(c.type_.clone(), (c.status.clone(), now.clone()));
                now
            }
        };
        c.last_transition_time = Some(time);
        c
    }

    /// The status to report now.
    pub(crate) fn build_status(&mut self) -> PodStatus {
        let default_spec = Default::default();
        let spec = self.pod.spec.clone().unwrap_or(default_spec);
        let old = self.pod.status.clone().unwrap_or_default();
        let (init, app) = self.container_statuses();
        let phase = match &self.terminal_phase {
            Some(p) => p.clone(),
            None => pod_phase(&spec, &init, &app, false).to_string(),
        };
        let others: Vec<PodCondition> = old
            .conditions
            .iter()
            .flatten()
            .filter(|c| !OWNED.contains(&c.type_.as_str()))
            .cloned()
            .collect();
        let sandbox_ready = self.sandbox.is_some() && self.pod_ip().is_some();
        let ready_to_start = PodCondition {
            type_: "PodReadyToStartContainers".into(),
            status: if sandbox_ready { "True" } else { "False" }.into(),
            ..Default::default()
        };
        let initialized = initialized_condition(&spec, &init, &app, &phase);
        let containers_ready = containers_ready_condition(&spec, &init, &app, &phase);
        let ready = ready_condition(&spec, &containers_ready, &others);
        let mut conditions = vec![
            self.timed(ready_to_start),
            self.timed(initialized),
            self.timed(ready),
            self.timed(containers_ready),
        ];
        if !others.iter().any(|c| c.type_ == "PodScheduled") {
            conditions.push(self.timed(PodCondition {
                type_: "PodScheduled".into(),
                status: "True".into(),
                ..Default::default()
            }));
        }
        conditions.extend(others);
        if self.start_time.is_none() {
            self.start_time = Some(k8s_time(self.now()));
        }
        let host_ip = self.deps.node.ip.to_string();
        let host_network = spec.host_network.unwrap_or(false);
        let pod_ip = if host_network {
            Some(self.deps.node.ip)
        } else {
            self.pod_ip().or(self.last_pod_ip)
        };
        let pod_ip = pod_ip.map(|ip| ip.to_string());
        PodStatus {
            phase: Some(phase),
            conditions: Some(conditions),
            host_ip: Some(host_ip.clone()),
            host_ips: Some(vec![HostIP { ip: host_ip }]),
            pod_ip: pod_ip.clone(),
            pod_ips: pod_ip.map(|ip| vec![PodIP { ip }]),
            start_time: self.start_time.clone(),
            qos_class: Some(api::pod::qos_class(&spec).to_string()),
            init_container_statuses: (!init.is_empty()).then_some(init),
            container_statuses: Some(app),
            nominated_node_name: old.nominated_node_name,
            message: self
                .status_reason
                .as_ref()
                .map(|r| r.1.clone())
                .or(old.message),
            reason: self
                .status_reason
                .as_ref()
                .map(|r| r.0.clone())
                .or(old.reason),
            ..Default::default()
        }
    }
}
