//! An in-process cluster for controller tests: the API server on a fresh SQLite store, a
//! kube client wired to its router without sockets, the controllers, and hollow nodes.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use apiserver::{ApiServer, Config};
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::await_condition;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "test-admin-token";
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Cluster {
    pub client: kube::Client,
    pub shutdown: CancellationToken,
    _server: ApiServer,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Node lifecycle timings shortened for tests: a node is silent after 1 s.
pub fn fast_lifecycle() -> controllers::ControllersConfig {
    controllers::ControllersConfig {
        node_lifecycle: controllers::NodeLifecycleConfig {
            node_monitor_grace_period: Duration::from_secs(1),
            node_startup_grace_period: Duration::from_secs(2),
            node_monitor_period: Duration::from_millis(200),
        },
    }
}

impl Cluster {
    /// The API server and the controllers with `config` (ready before this returns).
    pub async fn start(config: controllers::ControllersConfig) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn store::Store> =
            Arc::new(store::sqlite::SqliteStore::open(&dir.path().join("state.db")).unwrap());
        let server = ApiServer::new(
            store,
            Config {
                admin_tokens: vec![TOKEN.into()],
                bookmark_interval: Duration::from_secs(5),
            },
        )
        .await
        .unwrap();
        let client = server.client(TOKEN);
        let shutdown = CancellationToken::new();
        let (tx, mut rx) = watch::channel(false);
        tokio::spawn(controllers::run_with_readiness(
            config,
            client.clone(),
            shutdown.clone(),
            tx,
        ));
        tokio::time::timeout(WAIT, rx.wait_for(|r| *r))
            .await
            .expect("controllers ready")
            .unwrap();
        Cluster {
            client,
            shutdown,
            _server: server,
            _dir: dir,
        }
    }

    /// `count` hollow nodes renewing their leases every 100 ms.
    pub async fn hollow(&self, count: usize, prefix: &str) -> hollow::HollowNodes {
        let mut config = hollow::HollowConfig::new(
            count,
            prefix,
            hollow::capacity(&[("cpu", "4"), ("memory", "8Gi"), ("pods", "110")]),
            Default::default(),
        );
        config.lease_renew_interval = Duration::from_millis(100);
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

    /// Creates a pod bound to `node` (no scheduler here) and waits until it is Ready.
    pub async fn running_pod(&self, name: &str, node: &str, extra: Value) -> Pod {
        let mut spec =
            json!({"nodeName": node, "containers": [{"name": "c", "image": "busybox:1.36"}]});
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        let pod: Pod =
            serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap();
        self.pods()
            .create(&PostParams::default(), &pod)
            .await
            .unwrap();
        self.wait_pod(name, |p| condition(p, "Ready") == Some("True".into()))
            .await
    }

    pub async fn wait_pod(&self, name: &str, cond: impl Fn(&Pod) -> bool) -> Pod {
        tokio::time::timeout(
            WAIT,
            await_condition(self.pods(), name, move |p: Option<&Pod>| {
                p.is_some_and(&cond)
            }),
        )
        .await
        .unwrap_or_else(|_| panic!("pod {name} did not reach the expected state"))
        .unwrap()
        .unwrap()
    }

    pub async fn wait_gone(&self, name: &str) {
        tokio::time::timeout(
            WAIT,
            await_condition(self.pods(), name, |p: Option<&Pod>| p.is_none()),
        )
        .await
        .unwrap_or_else(|_| panic!("pod {name} was not deleted"))
        .unwrap();
    }

    pub async fn wait_node(&self, name: &str, cond: impl Fn(&Node) -> bool) -> Node {
        tokio::time::timeout(
            WAIT,
            await_condition(self.nodes(), name, move |n: Option<&Node>| {
                n.is_some_and(&cond)
            }),
        )
        .await
        .unwrap_or_else(|_| panic!("node {name} did not reach the expected state"))
        .unwrap()
        .unwrap()
    }

    pub async fn patch_node(&self, name: &str, patch: Value) {
        self.nodes()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }

    /// Reasons of the events about `object`.
    pub async fn event_reasons(&self, namespace: &str, object: &str) -> Vec<String> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(object))
            .filter_map(|e| e.reason)
            .collect()
    }
}

impl Cluster {
    /// Waits until `object` has an event with `reason` (events are written in the
    /// background).
    pub async fn wait_event(&self, namespace: &str, object: &str, reason: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self
            .event_reasons(namespace, object)
            .await
            .iter()
            .any(|r| r == reason)
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {reason} event for {object}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The status of a pod condition.
pub fn condition(pod: &Pod, type_: &str) -> Option<String> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.clone())
}

/// The status and reason of a node condition.
pub fn node_condition(node: &Node, type_: &str) -> Option<(String, String)> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default()))
}

/// The node's taints as `key:effect`.
pub fn taints(node: &Node) -> Vec<String> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .map(|ts| {
            ts.iter()
                .map(|t| format!("{}:{}", t.key, t.effect))
                .collect()
        })
        .unwrap_or_default()
}
