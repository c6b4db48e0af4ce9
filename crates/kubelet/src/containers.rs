//! What a pod worker knows of each container of its pod: the spec, the current and the
//! previous incarnation in the runtime, why it is waiting, and its probe results.

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Container, PodSpec};
use runtime::{ContainerId, ContainerState, ContainerStatus};
use tokio_util::sync::CancellationToken;

use crate::images::ImageInfo;

/// Which list a container is in and how it behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular init container: runs to completion, one at a time, before the app.
    Init,
    /// An init container with `restartPolicy: Always`: starts before the app containers
    /// and keeps running beside them.
    Sidecar,
    /// An app container.
    App,
}

/// One incarnation of a container in the runtime.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub id: ContainerId,
    pub attempt: u32,
    pub status: ContainerStatus,
}

impl Instance {
    pub fn from_status(status: ContainerStatus) -> Instance {
        Instance {
            id: status.id.clone(),
            attempt: status.attempt,
            status,
        }
    }

    pub fn running(&self) -> bool {
        matches!(
            self.status.state,
            ContainerState::Running | ContainerState::Created
        )
    }

    pub fn exited(&self) -> bool {
        matches!(
            self.status.state,
            ContainerState::Exited | ContainerState::Unknown
        )
    }

    /// The exit code of an exited incarnation (unknown endings count as 137, as kubelet's
    /// ContainerStatusUnknown).
    pub fn exit_code(&self) -> Option<i32> {
        self.exited().then(|| self.status.exit_code.unwrap_or(137))
    }
}

/// Why a container is not running when it should be (its waiting reason).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub reason: String,
    pub message: Option<String>,
}

impl Waiting {
    pub fn new(reason: &str, message: impl Into<String>) -> Waiting {
        let message = message.into();
        Waiting {
            reason: reason.to_string(),
            message: (!message.is_empty()).then_some(message),
        }
    }
}

/// One container of the pod.
#[derive(Debug)]
pub struct Record {
    pub kind: Kind,
    pub spec: Container,
    pub current: Option<Instance>,
    pub previous: Option<Instance>,
    pub waiting: Option<Waiting>,
    /// The readiness probe's result (true without a readiness probe).
    pub ready: bool,
    /// The startup probe passed (true without one) and postStart completed.
    pub started: bool,
    pub image: Option<ImageInfo>,
    /// Cancels the probes of the current incarnation.
    pub probes: Option<CancellationToken>,
    /// A probe failure or a spec change asks for a restart, with this Killing message.
    pub kill_requested: Option<String>,
    /// A failed start (image, config, create) is retried no earlier than this.
    pub retry_at: Option<DateTime<Utc>>,
}

impl Record {
    pub fn new(kind: Kind, spec: Container) -> Record {
        Record {
            kind,
            spec,
            current: None,
            previous: None,
            waiting: None,
            ready: false,
            started: false,
            image: None,
            probes: None,
            kill_requested: None,
            retry_at: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The Event field path of the container.
    pub fn field_path(&self) -> String {
        match self.kind {
            Kind::App => format!("spec.containers{{{}}}", self.spec.name),
            _ => format!("spec.initContainers{{{}}}", self.spec.name),
        }
    }

    pub fn restart_count(&self) -> u32 {
        self.current.as_ref().map_or(0, |c| c.attempt)
    }

    pub fn next_attempt(&self) -> u32 {
        self.current.as_ref().map_or(0, |c| c.attempt + 1)
    }

    pub fn running(&self) -> bool {
        self.current.as_ref().is_some_and(Instance::running)
    }

    /// The exit code of the current incarnation, if it ended.
    pub fn exit_code(&self) -> Option<i32> {
        self.current.as_ref().and_then(Instance::exit_code)
    }

    pub fn stop_probes(&mut self) {
        if let Some(p) = self.probes.take() {
            p.cancel();
        }
    }
}

/// The records of a pod: init containers in order, then app containers.
pub fn records_for(spec: &PodSpec) -> Vec<Record> {
    let mut out = Vec::new();
    for c in spec.init_containers.iter().flatten() {
        let kind = if api::pod::is_restartable_init_container(c) {
            Kind::Sidecar
        } else {
            Kind::Init
        };
        out.push(Record::new(kind, c.clone()));
    }
    for c in &spec.containers {
        out.push(Record::new(Kind::App, c.clone()));
    }
    out
}

/// Whether a container that exited with `code` is restarted under `policy`.
pub fn should_restart(policy: &str, code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => code != 0,
        _ => true,
    }
}

/// A duration as Go prints it (`10s`, `1m20s`, `5m0s`), for back-off messages.
pub fn go_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{}h{}m{}s", s / 3600, (s % 3600) / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_decide_restarts() {
        assert!(should_restart("Always", 0) && should_restart("Always", 1));
        assert!(!should_restart("OnFailure", 0) && should_restart("OnFailure", 2));
        assert!(!should_restart("Never", 0) && !should_restart("Never", 1));
    }

    #[test]
    fn durations_print_like_go() {
        let d = |s| go_duration(std::time::Duration::from_secs(s));
        assert_eq!(
            (d(10).as_str(), d(80).as_str(), d(300).as_str()),
            ("10s", "1m20s", "5m0s")
        );
    }

    #[test]
    fn records_keep_init_order_and_mark_sidecars() {
        let spec: PodSpec = serde_json::from_value(serde_json::json!({
            "initContainers": [{"name": "a"}, {"name": "s", "restartPolicy": "Always"}],
            "containers": [{"name": "app"}]}))
        .unwrap();
        let kinds: Vec<(String, Kind)> = records_for(&spec)
            .iter()
            .map(|r| (r.name().to_string(), r.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("a".into(), Kind::Init),
                ("s".into(), Kind::Sidecar),
                ("app".into(), Kind::App)
            ]
        );
        assert_eq!(records_for(&spec)[1].field_path(), "spec.initContainers{s}");
    }
}
