//! Container probes (startup, liveness, readiness): one task per probe of a running
//! container that checks it every period after the initial delay and reports each change
//! of result — after `successThreshold` successes or `failureThreshold` failures in a row —
//! to the pod's worker. A failed probe attempt is an `Unhealthy` Event. Liveness and
//! startup probes stop after reporting a failure (the worker restarts the container); a
//! startup probe stops after its success, and only then do the others start.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    ContainerPort, ExecAction, HTTPGetAction, Probe, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use runtime::{ContainerId, Runtime};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cluster::{PodApi, PodEvent};
use crate::probe_http::HttpTarget;

/// Which probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeKind {
    pub fn label(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }
}

/// The result of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure(String),
}

/// How probes and hooks reach a container.
#[derive(Clone)]
pub struct Target {
    pub runtime: Arc<dyn Runtime>,
    pub id: ContainerId,
    /// The pod's IP (the node's for host-network pods).
    pub pod_ip: Option<IpAddr>,
    /// The container's ports, for named ports.
    pub ports: Vec<ContainerPort>,
}

/// The actions a probe or a lifecycle hook may name.
pub struct Action<'a> {
    pub exec: Option<&'a ExecAction>,
    pub http_get: Option<&'a HTTPGetAction>,
    pub tcp_socket: Option<&'a TCPSocketAction>,
}

fn resolve_port(port: &IntOrString, ports: &[ContainerPort]) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("invalid port {n}")),
        IntOrString::String(s) => {
            if let Ok(n) = s.parse::<u16>() {
                return Ok(n);
            }
            ports
                .iter()
                .find(|p| p.name.as_deref() == Some(s.as_str()))
                .map(|p| p.container_port as u16)
                .ok_or_else(|| format!("couldn't find port {s:?} in the container's ports"))
        }
    }
}

/// The GET an httpGet action performs against `target`.
pub fn http_target(a: &HTTPGetAction, target: &Target) -> Result<HttpTarget, String> {
    let host = match a.host.as_deref().filter(|h| !h.is_empty()) {
        Some(h) => h.to_string(),
        None => target
            .pod_ip
            .map(|ip| ip.to_string())
            .ok_or("the pod has no IP yet")?,
    };
    Ok(HttpTarget {
        scheme: a.scheme.clone().unwrap_or_else(|| "HTTP".into()),
        host,
        port: resolve_port(&a.port, &target.ports)?,
        path: a.path.clone().unwrap_or_else(|| "/".into()),
        headers: a
            .http_headers
            .iter()
            .flatten()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect(),
    })
}

/// Performs one check of an action.
pub async fn check(action: &Action<'_>, target: &Target, timeout: Duration) -> Outcome {
    if let Some(e) = action.exec {
        let command = e.command.clone().unwrap_or_default();
        return crate::probe_exec::run(target.runtime.as_ref(), &target.id, &command, timeout)
            .await;
    }
    if let Some(h) = action.http_get {
        return match http_target(h, target) {
            Ok(t) => crate::probe_http::get(&t, timeout).await,
            Err(e) => Outcome::Failure(e),
        };
    }
    if let Some(t) = action.tcp_socket {
        let host = match t.host.as_deref().filter(|h| !h.is_empty()) {
            Some(h) => h.to_string(),
            None => match target.pod_ip {
                Some(ip) => ip.to_string(),
                None => return Outcome::Failure("the pod has no IP yet".into()),
            },
        };
        return match resolve_port(&t.port, &target.ports) {
            Ok(port) => crate::probe_tcp::connect(&host, port, timeout).await,
            Err(e) => Outcome::Failure(e),
        };
    }
    // gRPC probes are not implemented: they count as passing rather than kill containers.
    Outcome::Success
}

/// A probe's report to the pod worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeReport {
    pub container: String,
    pub id: ContainerId,
    pub kind: ProbeKind,
    pub success: bool,
}

/// Where a probe sends Events.
#[derive(Clone)]
pub struct EventSink {
    pub api: Arc<dyn PodApi>,
    /// A template: pod and field path set, reason and message replaced.
    pub template: PodEvent,
}

fn secs(v: Option<i32>, default: i32, min: i32) -> Duration {
    Duration::from_secs(v.unwrap_or(default).max(min) as u64)
}

/// One probe of one container incarnation.
#[derive(Clone)]
pub struct ProbeTask {
    pub kind: ProbeKind,
    pub probe: Probe,
    pub target: Target,
    pub container: String,
    pub events: EventSink,
    /// Readiness only: the result it starts from (false for a new container, the reported
    /// readiness for one re-adopted after an agent restart).
    pub initially_ready: bool,
}

/// Runs the probe until cancelled, sending reports through `report`.
pub async fn probe_loop<F>(task: ProbeTask, report: F, cancel: CancellationToken)
where
    F: Fn(ProbeReport) + Send,
{
    let ProbeTask {
        kind,
        probe,
        target,
        container,
        events,
        initially_ready,
    } = task;
    let period = secs(probe.period_seconds, 10, 1);
    let timeout = secs(probe.timeout_seconds, 1, 1);
    let success_threshold = probe.success_threshold.unwrap_or(1).max(1);
    let failure_threshold = probe.failure_threshold.unwrap_or(3).max(1);
    let initial = secs(probe.initial_delay_seconds, 0, 0);
    let action = Action {
        exec: probe.exec.as_ref(),
        http_get: probe.http_get.as_ref(),
        tcp_socket: probe.tcp_socket.as_ref(),
    };
    // Readiness starts as failure, liveness and startup as success (upstream's initial values).
    let mut passing = kind != ProbeKind::Readiness || initially_ready;
    let (mut successes, mut failures) = (0, 0);
    tokio::select! {
        _ = cancel.cancelled() => return,
        _ = tokio::time::sleep(initial) => {}
    }
    loop {
        let outcome = tokio::select! {
            _ = cancel.cancelled() => return,
            o = check(&action, &target, timeout) => o,
        };
        let report_now = |success| {
            report(ProbeReport {
                container: container.clone(),
                id: target.id.clone(),
                kind,
                success,
            })
        };
        match outcome {
            Outcome::Success => {
                successes += 1;
                failures = 0;
                if (!passing || kind == ProbeKind::Startup) && successes >= success_threshold {
                    passing = true;
                    report_now(true);
                    if kind == ProbeKind::Startup {
                        return;
                    }
                }
            }
            Outcome::Failure(message) => {
                failures += 1;
                successes = 0;
                let mut e = events.template.clone();
                e.type_ = "Warning";
                e.reason = "Unhealthy";
                e.message = format!("{} probe failed: {message}", kind.label());
                events.api.event(e);
                if failures >= failure_threshold && (passing || kind != ProbeKind::Readiness) {
                    passing = false;
                    report_now(false);
                    if kind != ProbeKind::Readiness {
                        return;
                    }
                }
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
    }
}

/// Spawns a probe task reporting to a pod worker; it ends when `cancel` fires.
pub fn spawn(
    task: ProbeTask,
    tx: mpsc::UnboundedSender<crate::pod_worker::Msg>,
    cancel: CancellationToken,
) {
    tokio::spawn(probe_loop(
        task,
        move |r| {
            let _ = tx.send(crate::pod_worker::Msg::Probe(r));
        },
        cancel,
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::fake::FakeApi;
    use crate::cluster::PodKey;
    use runtime::fake::FakeRuntime;
    use runtime::ExecResult;
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::sync::Mutex;

    async fn running_container(rt: &FakeRuntime) -> ContainerId {
        rt.running_container("app").await
    }

    fn sink(api: &FakeApi) -> EventSink {
        EventSink {
            api: Arc::new(api.clone()),
            template: PodEvent {
                pod: PodKey {
                    namespace: "ns".into(),
                    name: "p".into(),
                    uid: "u".into(),
                },
                field_path: "spec.containers{app}".into(),
                type_: "Normal",
                reason: "",
                message: String::new(),
            },
        }
    }

    fn exec_probe(extra: serde_json::Value) -> Probe {
        let mut v = serde_json::json!({"exec": {"command": ["cat", "/tmp/ready"]}});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(v).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn readiness_turns_ready_on_success_and_unready_after_the_failure_threshold() {
        let rt = FakeRuntime::new();
        let id = running_container(&rt).await;
        let code = Arc::new(AtomicI32::new(1));
        let c = code.clone();
        rt.on_exec("app", move |_| ExecResult {
            exit_code: c.load(Ordering::SeqCst),
            stdout: vec![],
            stderr: b"no file".to_vec(),
        });
        let api = FakeApi::default();
        let reports = Arc::new(Mutex::new(Vec::new()));
        let r = reports.clone();
        let target = Target {
            runtime: Arc::new(rt.clone()),
            id,
            pod_ip: None,
            ports: vec![],
        };
        let cancel = CancellationToken::new();
        let task = tokio::spawn(probe_loop(
            ProbeTask {
                kind: ProbeKind::Readiness,
                probe: exec_probe(serde_json::json!({"periodSeconds": 1, "failureThreshold": 2})),
                target,
                container: "app".into(),
                events: sink(&api),
                initially_ready: false,
            },
            move |rep| {
                r.lock()
                    .unwrap()
                    .push((tokio::time::Instant::now(), rep.success))
            },
            cancel.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(3500)).await;
        assert!(
            reports.lock().unwrap().is_empty(),
            "readiness starts unready; failures report nothing new"
        );
        assert!(api
            .events()
            .iter()
            .all(|e| e.message == "Readiness probe failed: no file"));
        code.store(0, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            reports
                .lock()
                .unwrap()
                .iter()
                .map(|r| r.1)
                .collect::<Vec<_>>(),
            vec![true]
        );
        code.store(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(
            reports
                .lock()
                .unwrap()
                .iter()
                .map(|r| r.1)
                .collect::<Vec<_>>(),
            vec![true, false]
        );
        cancel.cancel();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_readopted_ready_container_turns_unready_when_its_probe_fails() {
        let rt = FakeRuntime::new();
        let id = running_container(&rt).await;
        rt.on_exec("app", |_| ExecResult {
            exit_code: 1,
            stdout: vec![],
            stderr: vec![],
        });
        let reports = Arc::new(Mutex::new(Vec::new()));
        let r = reports.clone();
        let api = FakeApi::default();
        let task = ProbeTask {
            kind: ProbeKind::Readiness,
            probe: exec_probe(serde_json::json!({"periodSeconds": 1, "failureThreshold": 1})),
            target: Target {
                runtime: Arc::new(rt.clone()),
                id,
                pod_ip: None,
                ports: vec![],
            },
            container: "app".into(),
            events: sink(&api),
            initially_ready: true,
        };
        let cancel = CancellationToken::new();
        let h = tokio::spawn(probe_loop(
            task,
            move |rep| r.lock().unwrap().push(rep.success),
            cancel.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(*reports.lock().unwrap(), vec![false]);
        cancel.cancel();
        h.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn liveness_reports_one_failure_after_the_threshold_then_stops() {
        let rt = FakeRuntime::new();
        let id = running_container(&rt).await;
        rt.on_exec("app", |_| ExecResult {
            exit_code: 1,
            stdout: vec![],
            stderr: vec![],
        });
        let api = FakeApi::default();
        let reports = Arc::new(Mutex::new(Vec::new()));
        let r = reports.clone();
        let start = tokio::time::Instant::now();
        probe_loop(
            ProbeTask {
                kind: ProbeKind::Liveness,
                probe: exec_probe(
                    serde_json::json!({"initialDelaySeconds": 3, "periodSeconds": 3}),
                ),
                target: Target {
                    runtime: Arc::new(rt.clone()),
                    id,
                    pod_ip: None,
                    ports: vec![],
                },
                container: "app".into(),
                events: sink(&api),
                initially_ready: false,
            },
            move |rep| r.lock().unwrap().push(rep.success),
            CancellationToken::new(),
        )
        .await;
        assert_eq!(*reports.lock().unwrap(), vec![false]);
        // Checks at 3 s, 6 s and 9 s: the third failure is the threshold.
        assert_eq!(start.elapsed(), Duration::from_secs(9));
        assert_eq!(api.events().len(), 3);
        assert!(api.events()[0]
            .message
            .starts_with("Liveness probe failed:"));
    }

    #[tokio::test]
    async fn http_and_tcp_actions_resolve_named_ports_and_the_pod_ip() {
        let ports: Vec<ContainerPort> =
            serde_json::from_value(serde_json::json!([{"name": "web", "containerPort": 8080}]))
                .unwrap();
        let target = Target {
            runtime: Arc::new(FakeRuntime::new()),
            id: ContainerId("c".into()),
            pod_ip: Some("10.88.0.7".parse().unwrap()),
            ports,
        };
        let a: HTTPGetAction =
            serde_json::from_value(serde_json::json!({"port": "web", "path": "healthz"})).unwrap();
        let t = http_target(&a, &target).unwrap();
        assert_eq!(t.url(), "http://10.88.0.7:8080/healthz");
        let bad: HTTPGetAction =
            serde_json::from_value(serde_json::json!({"port": "nope"})).unwrap();
        assert!(http_target(&bad, &target).is_err());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let tcp: TCPSocketAction =
            serde_json::from_value(serde_json::json!({"port": port, "host": "127.0.0.1"})).unwrap();
        let action = Action {
            exec: None,
            http_get: None,
            tcp_socket: Some(&tcp),
        };
        assert_eq!(
            check(&action, &target, Duration::from_secs(1)).await,
            Outcome::Success
        );
    }
}
