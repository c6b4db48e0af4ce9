//! Unit tests of the pod state machine on the fakes (runtime, images, API, volume host),
//! with paused tokio time: back-off and grace periods run instantly and exactly.

mod deletion;
mod images;
mod init;
mod probes;
mod readopt;
mod restart;
mod start;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodStatus};
use runtime::fake::{Call, FakeRuntime};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::clock::{Clock, TokioClock};
use crate::cluster::fake::FakeApi;
use crate::images::FakeImages;
use crate::pod_worker::{Deps, NodeInfo, Worker, WorkerHandle};
use crate::sandbox::DnsSettings;
use crate::volumes::FakeHost;

pub struct Harness {
    pub runtime: FakeRuntime,
    pub images: FakeImages,
    pub api: FakeApi,
    pub host: FakeHost,
    pub clock: TokioClock,
    pub deps: Arc<Deps>,
    pub shutdown: CancellationToken,
    pub tmp: tempfile::TempDir,
}

pub fn pod(spec: serde_json::Value) -> Pod {
    let mut spec = spec;
    spec["nodeName"] = json!("n1");
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "uid": "uid-1", "labels": {"app": "p"}},
        "spec": spec,
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    }))
    .unwrap()
}

/// `namespace/pod/container` of the test pod's container.
pub fn key(container: &str) -> String {
    format!("default/p/{container}")
}

impl Harness {
    pub fn new() -> Harness {
        let runtime = FakeRuntime::new();
        let clock = TokioClock::fake_epoch();
        let images = FakeImages::new();
        images.add_local(
            "busybox:1.36",
            FakeImages::image("docker.io/library/busybox:1.36", &[], &["sh"]),
        );
        images.add_local(
            "nginx:1.27",
            FakeImages::image(
                "docker.io/library/nginx:1.27",
                &[],
                &["httpd", "-f", "-p", "80"],
            ),
        );
        let api = FakeApi::default();
        let host = FakeHost::new();
        let tmp = tempfile::tempdir().unwrap();
        let deps = Arc::new(Deps {
            runtime: Arc::new(runtime.clone()),
            images: Arc::new(images.clone()),
            api: Arc::new(api.clone()),
            host: Arc::new(host.clone()),
            clock: Arc::new(clock),
            node: NodeInfo {
                name: "n1".into(),
                ip: "192.168.1.10".parse().unwrap(),
                dns: DnsSettings {
                    host_resolv_conf: "nameserver 10.0.0.2\n".into(),
                    ..Default::default()
                },
                allocatable: [(
                    "cpu".to_string(),
                    k8s_openapi::apimachinery::pkg::api::resource::Quantity("2".into()),
                )]
                .into(),
            },
            data_dir: tmp.path().to_path_buf(),
            resync: Duration::from_secs(60),
        });
        Harness {
            runtime,
            images,
            api,
            host,
            clock,
            deps,
            shutdown: CancellationToken::new(),
            tmp,
        }
    }

    /// Starts a worker for `pod` (adopting the runtime's sandbox for it, if any).
    pub async fn start(&self, pod: Pod) -> WorkerHandle {
        let uid = pod.metadata.uid.clone().unwrap();
        let adopt = {
            use runtime::Runtime as _;
            self.runtime
                .list_sandboxes()
                .await
                .unwrap()
                .into_iter()
                .find(|s| s.sandbox.pod.uid == uid)
        };
        let (worker, handle) = Worker::new(pod, self.deps.clone(), adopt);
        tokio::spawn(worker.run(self.shutdown.child_token()));
        handle
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn last(&self) -> PodStatus {
        self.api.last_status().expect("a status was published")
    }

    /// Waits (in virtual time, up to an hour) until the published status satisfies `f`.
    pub async fn wait_for(&self, what: &str, f: impl Fn(&PodStatus) -> bool) -> PodStatus {
        for _ in 0..36_000 {
            if let Some(s) = self.api.last_status() {
                if f(&s) {
                    return s;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "timed out waiting for {what}; last status: {:#?}",
            self.api.last_status()
        );
    }

    pub async fn wait_phase(&self, phase: &str) -> PodStatus {
        self.wait_for(phase, |s| s.phase.as_deref() == Some(phase))
            .await
    }

    /// Lets the worker settle for `d` of virtual time.
    pub async fn settle(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }

    pub fn starts(&self, container: &str) -> Vec<DateTime<Utc>> {
        let key = key(container);
        self.runtime
            .timed_calls()
            .into_iter()
            .filter_map(|(t, c)| match c {
                Call::StartContainer { container, .. } if container == key => Some(t),
                _ => None,
            })
            .collect()
    }

    /// The order of (call kind, container) for start-ish calls.
    pub fn call_log(&self) -> Vec<String> {
        self.runtime
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::CreateSandbox { .. } => Some("sandbox".to_string()),
                Call::StartContainer { container, attempt } => {
                    Some(format!("start {}#{attempt}", short(&container)))
                }
                Call::StopContainer {
                    container, signal, ..
                } => Some(format!("stop {} {signal}", short(&container))),
                Call::ExecSync { container, command } => {
                    Some(format!("exec {} {}", short(&container), command.join(" ")))
                }
                Call::RemoveSandbox { .. } => Some("remove sandbox".to_string()),
                _ => None,
            })
            .collect()
    }
}

fn short(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

pub fn cs<'a>(status: &'a PodStatus, name: &str) -> &'a ContainerStatus {
    status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no status for container {name}"))
}

pub fn condition(status: &PodStatus, type_: &str) -> String {
    status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

pub fn waiting_reason(status: &PodStatus, name: &str) -> Option<String> {
    cs(status, name)
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .clone()
}

pub fn waiting_message(status: &PodStatus, name: &str) -> Option<String> {
    cs(status, name)
        .state
        .as_ref()?
        .waiting
        .as_ref()?
        .message
        .clone()
}

pub fn running(status: &PodStatus, name: &str) -> bool {
    cs(status, name)
        .state
        .as_ref()
        .is_some_and(|s| s.running.is_some())
}

pub fn exit_code(status: &PodStatus, name: &str) -> Option<i32> {
    Some(
        cs(status, name)
            .state
            .as_ref()?
            .terminated
            .as_ref()?
            .exit_code,
    )
}
