//! An in-process cluster for scheduler tests: the API server on a fresh SQLite store, a
//! kube client wired to its router without sockets, the scheduler, and hollow nodes.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use apiserver::{ApiServer, Config};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use scheduler::SchedulerConfig;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "test-admin-token";
/// How long a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Cluster {
    pub server: ApiServer,
    pub client: kube::Client,
    pub shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The scheduler's settings in tests: upstream's, with a shorter back-off.
pub fn test_config() -> SchedulerConfig {
    SchedulerConfig {
        pod_initial_backoff: Duration::from_millis(100),
        pod_max_backoff: Duration::from_millis(500),
        ..Default::default()
    }
}

impl Cluster {
    /// The API server alone.
    pub async fn api_only() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn store::Store> =
            Arc::new(store::sqlite::SqliteStore::open(&dir.path().join("state.db")).unwrap());
        let config = Config {
            admin_tokens: vec![TOKEN.into()],
            bookmark_interval: Duration::from_secs(5),
        };
        let server = ApiServer::new(store, config).await.unwrap();
        let client = server.client(TOKEN);
        Cluster {
            server,
            client,
            shutdown: CancellationToken::new(),
            _dir: dir,
        }
    }

    /// The API server and a running scheduler (ready before this returns).
    pub async fn start() -> Cluster {
        Self::with_scheduler(test_config()).await
    }

    pub async fn with_scheduler(config: SchedulerConfig) -> Cluster {
        let c = Self::api_only().await;
        c.start_scheduler(config).await;
        c
    }

    pub async fn start_scheduler(&self, config: SchedulerConfig) {
        let (tx, mut rx) = watch::channel(false);
        tokio::spawn(scheduler::run_with_readiness(
            config,
            self.client.clone(),
            self.shutdown.clone(),
            tx,
        ));
        tokio::time::timeout(WAIT, rx.wait_for(|r| *r))
            .await
            .expect("scheduler ready")
            .unwrap();
    }

    /// The node lifecycle controller (for cordon taints).
    pub async fn start_controllers(&self, config: controllers::ControllersConfig) {
        let (tx, mut rx) = watch::channel(false);
        tokio::spawn(controllers::run_with_readiness(
            config,
            self.client.clone(),
            self.shutdown.clone(),
            tx,
        ));
        tokio::time::timeout(WAIT, rx.wait_for(|r| *r))
            .await
            .expect("controllers ready")
            .unwrap();
    }

    /// `count` hollow nodes `{prefix}-{i}` with `capacity` and `labels`.
    pub async fn hollow(
        &self,
        count: usize,
        prefix: &str,
        capacity: &[(&str, &str)],
        labels: &[(&str, &str)],
    ) -> hollow::HollowNodes {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = hollow::HollowConfig::new(count, prefix, hollow::capacity(capacity), labels);
        hollow::HollowNodes::start(self.client.clone(), config, self.shutdown.clone())
            .await
            .unwrap()
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    pub fn nodes(&self) -> Api<Node> {
        Api::all(self.client.clone())
    }

    /// Creates a pod in `default` from `{"metadata": ..., "spec": ...}` (containers
    /// default to one busybox container).
    pub async fn create_pod(&self, name: &str, spec: Value) -> Pod {
        let mut spec = spec;
        if spec.get("containers").is_none() {
            spec["containers"] = json!([{"name": "c", "image": "busybox:1.36"}]);
        }
        let pod: Pod =
            serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap();
        self.pods()
            .create(&PostParams::default(), &pod)
            .await
            .unwrap()
    }

    /// Creates a pod from a YAML manifest.
    pub async fn apply_yaml(&self, yaml: &str) -> Pod {
        let pod: Pod = serde_yaml::from_str(yaml).unwrap();
        self.pods()
            .create(&PostParams::default(), &pod)
            .await
            .unwrap()
    }

    /// Waits until the pod is bound; returns its node.
    pub async fn wait_bound(&self, name: &str) -> String {
        let pod = self
            .wait_pod(name, |p| {
                p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()
            })
            .await;
        pod.spec.unwrap().node_name.unwrap()
    }

    /// Waits until `cond` holds for the pod; returns it.
    pub async fn wait_pod(&self, name: &str, cond: impl Fn(&Pod) -> bool) -> Pod {
        let found = tokio::time::timeout(
            WAIT,
            await_condition(self.pods(), name, move |p: Option<&Pod>| {
                p.is_some_and(&cond)
            }),
        )
        .await
        .unwrap_or_else(|_| panic!("pod {name} did not reach the expected state"))
        .unwrap();
        found.unwrap()
    }

    /// Waits until the pod is gone.
    pub async fn wait_gone(&self, name: &str) {
        tokio::time::timeout(
            WAIT,
            await_condition(self.pods(), name, |p: Option<&Pod>| p.is_none()),
        )
        .await
        .unwrap_or_else(|_| panic!("pod {name} was not deleted"))
        .unwrap();
    }

    /// Waits until the pod is Pending with PodScheduled=False; returns the message.
    pub async fn wait_unschedulable(&self, name: &str) -> String {
        let pod = self
            .wait_pod(name, |p| {
                scheduled_condition(p).is_some_and(|(s, _, _)| s == "False")
            })
            .await;
        let (_, reason, message) = scheduled_condition(&pod).unwrap();
        assert_eq!(reason, "Unschedulable");
        message
    }

    /// The node a pod is bound to now (None while pending).
    pub async fn node_of(&self, name: &str) -> Option<String> {
        self.pods().get(name).await.unwrap().spec.unwrap().node_name
    }

    /// Events about the pod, as `(reason, message, count)`.
    pub async fn events_for(&self, pod: &str) -> Vec<(String, String, i32)> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), "default");
        let list = api.list(&ListParams::default()).await.unwrap();
        list.items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(pod))
            .map(|e| {
                (
                    e.reason.unwrap_or_default(),
                    e.message.unwrap_or_default(),
                    e.count.unwrap_or(1),
                )
            })
            .collect()
    }

    /// Waits until the pod has an event with `reason`; returns its message.
    pub async fn wait_event(&self, pod: &str, reason: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some((_, m, _)) = self
                .events_for(pod)
                .await
                .into_iter()
                .find(|(r, _, _)| r == reason)
            {
                return m;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {reason} event for {pod}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Merge-patches a node.
    pub async fn patch_node(&self, name: &str, patch: Value) {
        self.nodes()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }
}

/// The pod's PodScheduled condition as (status, reason, message).
pub fn scheduled_condition(pod: &Pod) -> Option<(String, String, String)> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .map(|c| {
            (
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

/// A container spec requesting `requests`.
pub fn requesting(requests: Value) -> Value {
    json!({"containers": [{"name": "c", "image": "busybox:1.36", "resources": {"requests": requests}}]})
}
