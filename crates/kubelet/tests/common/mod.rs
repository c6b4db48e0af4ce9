//! An in-process API server on a fresh SQLite store, a kube client wired to its router
//! without sockets (the apiserver tests' pattern), and a node agent on the fake runtime,
//! fake images and a fake volume host.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use apiserver::{ApiServer, Config};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kubelet::{FakeHost, FakeImages, KubeletConfig};
use runtime::fake::FakeRuntime;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const TOKEN: &str = "test-admin-token";
pub const NODE: &str = "node-1";

pub struct Cluster {
    pub server: ApiServer,
    pub client: kube::Client,
    pub runtime: FakeRuntime,
    pub images: FakeImages,
    pub host: FakeHost,
    pub dir: tempfile::TempDir,
    agent: Option<(CancellationToken, JoinHandle<kubelet::Result<()>>)>,
}

impl Cluster {
    pub async fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn store::Store> =
            Arc::new(store::sqlite::SqliteStore::open(&dir.path().join("state.db")).unwrap());
        let config = Config {
            admin_tokens: vec![TOKEN.into()],
            bookmark_interval: Duration::from_millis(200),
        };
        let server = ApiServer::new(store, config).await.unwrap();
        let client = server.client(TOKEN);
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
        let runtime = FakeRuntime::with_epoch(chrono::Utc::now());
        let mut c = Cluster {
            server,
            client,
            runtime,
            images,
            host: FakeHost::new(),
            dir,
            agent: None,
        };
        c.start_agent().await;
        c
    }

    pub fn config(&self) -> KubeletConfig {
        let mut config = KubeletConfig::new(NODE, self.dir.path().join("kubelet"));
        config.node_ip = "192.168.50.2".parse().unwrap();
        config.volume_host = Arc::new(self.host.clone());
        config.node_status_update_frequency = Duration::from_millis(200);
        config.lease_duration = Duration::from_secs(2);
        config
    }

    /// Starts the node agent and waits until it is ready.
    pub async fn start_agent(&mut self) {
        let shutdown = CancellationToken::new();
        let (ready_tx, mut ready) = watch::channel(false);
        let task = tokio::spawn(kubelet::run_with_readiness(
            self.config(),
            self.client.clone(),
            Arc::new(self.runtime.clone()),
            Arc::new(self.images.clone()),
            shutdown.clone(),
            ready_tx,
        ));
        tokio::time::timeout(Duration::from_secs(10), ready.wait_for(|r| *r))
            .await
            .expect("the agent gets ready")
            .unwrap();
        self.agent = Some((shutdown, task));
    }

    /// Stops the node agent (containers keep running).
    pub async fn stop_agent(&mut self) {
        if let Some((shutdown, task)) = self.agent.take() {
            shutdown.cancel();
            task.await.unwrap().unwrap();
        }
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::default_namespaced(self.client.clone())
    }

    /// Creates a pod bound to the node.
    pub async fn create_pod(&self, manifest: serde_json::Value) -> Pod {
        let mut m = manifest;
        m["apiVersion"] = "v1".into();
        m["kind"] = "Pod".into();
        m["spec"]["nodeName"] = NODE.into();
        let pod: Pod = serde_json::from_value(m).unwrap();
        self.pods().create(&Default::default(), &pod).await.unwrap()
    }

    /// Waits (up to `secs`) until the pod satisfies `f`.
    pub async fn wait_pod(
        &self,
        name: &str,
        secs: u64,
        what: &str,
        f: impl Fn(&Pod) -> bool,
    ) -> Pod {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let pod = self.pods().get_opt(name).await.unwrap();
            if let Some(p) = &pod {
                if f(p) {
                    return p.clone();
                }
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}: {:#?}",
                    pod.and_then(|p| p.status)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_phase(&self, name: &str, phase: &str, secs: u64) -> Pod {
        self.wait_pod(name, secs, phase, |p| {
            p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some(phase)
        })
        .await
    }

    pub async fn wait_gone(&self, name: &str, secs: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while self.pods().get_opt(name).await.unwrap().is_some() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "pod {name} still exists"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn condition(pod: &Pod, type_: &str) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == type_))
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

pub fn container<'a>(pod: &'a Pod, name: &str) -> &'a k8s_openapi::api::core::v1::ContainerStatus {
    let s = pod.status.as_ref().unwrap();
    s.container_statuses
        .iter()
        .flatten()
        .chain(s.init_container_statuses.iter().flatten())
        .find(|c| c.name == name)
        .unwrap()
}
