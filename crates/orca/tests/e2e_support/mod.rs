//! Shared pieces of the root end-to-end tests of `orca server` with its embedded node agent
//! on real containers: a node fixture (the root-tests lock, images imported into the data
//! directory, the server, a kube client, cleanup that also runs when a test panics), the
//! images of `scenarios/README.md` built at test time from busybox-static, waiting on pods
//! through a watch, pod-status accessors, logs through the real kubectl (or kube-rs), and
//! a local `docker-registry`.
//!
//! Pods carry `spec.nodeName`, so no scheduler is involved; deletion uses a
//! one-second grace period because busybox's `httpd` and `sleep` run as PID 1 of their
//! container and ignore SIGTERM, so only the grace period's SIGKILL stops them.
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, Node as NodeObject, Pod};
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::Value;

use crate::common::Server;
use crate::runtime_support;

mod images;
mod pod_status;
mod tools;

pub use images::*;
pub use pod_status::*;
pub use tools::*;

/// The Node name of every e2e server; it also marks their processes as this suite's.
pub const NODE: &str = "orca-e2e-node";
/// How long a pod may take to reach a state in these tests (debug build, 2 cores).
pub const POD_TIMEOUT: Duration = Duration::from_secs(60);

/// Why root e2e tests cannot run here, if they cannot.
pub fn cannot_run() -> Option<String> {
    runtime_support::cannot_run()
}

/// Processes whose command line satisfies `f` (pid, args).
pub fn processes(f: impl Fn(&[String]) -> bool) -> Vec<(u32, Vec<String>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if f(&args) {
            out.push((pid, args));
        }
    }
    out
}

/// The per-pod shims serving sandboxes under `data_dir`.
pub fn shims_under(data_dir: &Path) -> Vec<u32> {
    let root = data_dir.join("runtime");
    processes(|a| {
        a.get(1).map(String::as_str) == Some("__runtime-shim")
            && a.get(2).is_some_and(|d| Path::new(d).starts_with(&root))
    })
    .into_iter()
    .map(|(pid, _)| pid)
    .collect()
}

/// `orca server`s of earlier runs of these tests that died before stopping them (their
/// node name marks them), killed; then the sandboxes such runs left behind removed.
fn remove_leftovers() {
    for (pid, args) in processes(|a| {
        a.get(1).map(String::as_str) == Some("server")
            && a.windows(2).any(|w| w[0] == "--node-name" && w[1] == NODE)
    }) {
        eprintln!("killing a leftover e2e server {pid}: {}", args.join(" "));
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    runtime_support::remove_leftovers();
}

/// A one-node cluster: `orca server` with its node agent on a temporary data directory,
/// holding the root-tests lock. Dropping it (also on panic) kills the server and removes
/// every sandbox it left; [`Node::finish`] is the clean end that asserts nothing is left.
pub struct Node {
    pub client: kube::Client,
    pub dir: PathBuf,
    server: Option<Server>,
    _tmp: tempfile::TempDir,
    _lock: runtime_support::Lock,
}

impl Node {
    /// A ready node with `images` imported; None (after printing SKIPPED) when root e2e
    /// tests cannot run here.
    pub async fn start(images: &[TestImage]) -> Option<Node> {
        Node::start_with(images, false).await
    }

    /// [`Node::start`], with `--data-dir` given relative to the server's working
    /// directory when `relative`.
    pub async fn start_with(images: &[TestImage], relative: bool) -> Option<Node> {
        if let Some(why) = cannot_run() {
            println!("SKIPPED: {why}");
            return None;
        }
        let lock = tokio::task::spawn_blocking(runtime_support::lock)
            .await
            .unwrap();
        tokio::task::spawn_blocking(remove_leftovers).await.unwrap();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        import_images(&dir, images);
        let server = if relative {
            Server::start_relative(
                dir.parent().unwrap(),
                Path::new(dir.file_name().unwrap()),
                &["--node-name", NODE],
            )
        } else {
            Server::start_with(&dir, &["--node-name", NODE])
        };
        let client = server.client().await;
        let node = Node {
            client,
            dir,
            server: Some(server),
            _tmp: tmp,
            _lock: lock,
        };
        node.wait_node_ready().await;
        Some(node)
    }

    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("the server is not running")
    }

    /// The last lines of the server's log (for failure messages).
    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// `kill -9` of the server: its containers keep running.
    pub fn kill9(&mut self) {
        if let Some(mut s) = self.server.take() {
            s.kill9();
        }
    }

    /// A new server on the same data directory (after [`Node::kill9`]).
    pub async fn restart(&mut self) {
        assert!(self.server.is_none(), "the server still runs");
        let server = Server::start_with(&self.dir, &["--node-name", NODE]);
        self.client = server.client().await;
        self.server = Some(server);
        self.wait_node_ready().await;
    }

    async fn wait_node_ready(&self) {
        let nodes: Api<NodeObject> = Api::all(self.client.clone());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(n) = nodes.get(NODE).await {
                let ready = n
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .into_iter()
                    .flatten()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                if ready {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "node {NODE} did not become Ready: {}",
                self.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The node's InternalIP as its Node object reports it.
    pub async fn node_ip(&self) -> IpAddr {
        let nodes: Api<NodeObject> = Api::all(self.client.clone());
        let n = nodes.get(NODE).await.unwrap();
        n.status
            .and_then(|s| s.addresses)
            .into_iter()
            .flatten()
            .find(|a| a.type_ == "InternalIP")
            .expect("an InternalIP")
            .address
            .parse()
            .unwrap()
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    /// Creates a pod (JSON manifest) bound to this node.
    pub async fn create(&self, mut manifest: Value) -> Pod {
        manifest["spec"]["nodeName"] = NODE.into();
        let pod: Pod = serde_json::from_value(manifest).expect("a Pod manifest");
        self.pods()
            .create(&PostParams::default(), &pod)
            .await
            .expect("creating the pod")
    }

    /// Waits, through a watch of the pod, for the first version for which `pred` holds;
    /// `pred` sees every version (so it can also record what passed by).
    pub async fn wait(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        mut pred: impl FnMut(&Pod) -> bool,
    ) -> Pod {
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let mut stream = watcher::watcher(self.pods(), config)
            .default_backoff()
            .applied_objects()
            .boxed();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last: Option<Pod> = None;
        loop {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(Ok(pod))) => {
                    if pred(&pod) {
                        return pod;
                    }
                    last = Some(pod);
                }
                Ok(Some(Err(e))) => eprintln!("watching pod {name}: {e}"),
                Ok(None) => panic!("the watch of pod {name} ended"),
                Err(_) => panic!(
                    "pod {name} was not {what} within {timeout:?}; last seen status: {}\nserver log:\n{}",
                    last.map(|p| serde_json::to_string_pretty(&p.status).unwrap())
                        .unwrap_or_else(|| "(never seen)".into()),
                    self.log_tail(60)
                ),
            }
        }
    }

    /// Waits until the pod's phase is `phase`.
    pub async fn wait_phase(&self, name: &str, phase_: &str) -> Pod {
        self.wait(name, POD_TIMEOUT, phase_, |p| phase(p) == phase_)
            .await
    }

    /// Waits until the pod runs with every app container running.
    pub async fn wait_all_running(&self, name: &str) -> Pod {
        self.wait(
            name,
            POD_TIMEOUT,
            "Running with all containers running",
            |p| {
                phase(p) == "Running"
                    && p.status
                        .as_ref()
                        .and_then(|s| s.container_statuses.as_ref())
                        .is_some_and(|cs| {
                            !cs.is_empty()
                                && cs
                                    .iter()
                                    .all(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
                        })
            },
        )
        .await
    }

    /// Deletes a pod with a one-second grace period and waits until it is gone from the
    /// API: for a running pod, the agent removes it once it released everything; a
    /// terminal pod goes at once and is released after (see [`Node::wait_released`]).
    pub async fn delete(&self, name: &str) {
        let params = DeleteParams {
            grace_period_seconds: Some(1),
            ..Default::default()
        };
        match self.pods().delete(name, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => return,
            Err(e) => panic!("deleting pod {name}: {e}"),
        }
        self.wait_gone(name, POD_TIMEOUT).await;
    }

    pub async fn wait_gone(&self, name: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(None) = self.pods().get_opt(name).await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "pod {name} was not removed within {timeout:?}:\n{}",
                self.log_tail(60)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Deletes every pod (one-second grace) and waits until all are gone.
    pub async fn delete_all(&self) {
        let pods: Api<Pod> = Api::all(self.client.clone());
        let list = pods.list(&ListParams::default()).await.unwrap();
        let deletes = list.items.iter().map(|p| {
            let api: Api<Pod> = Api::namespaced(
                self.client.clone(),
                p.metadata.namespace.as_deref().unwrap_or("default"),
            );
            let name = p.metadata.name.clone().unwrap_or_default();
            async move {
                let params = DeleteParams {
                    grace_period_seconds: Some(1),
                    ..Default::default()
                };
                let _ = api.delete(&name, &params).await;
            }
        });
        futures::future::join_all(deletes).await;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = pods.list(&ListParams::default()).await.unwrap().items.len();
            if left == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{left} pods were not removed:\n{}",
                self.log_tail(60)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sandboxes the runtime has on disk.
    pub fn sandboxes(&self) -> Vec<String> {
        dir_names(&self.dir.join("runtime/sandboxes"))
    }

    /// Pod directories of the node agent.
    pub fn pod_dirs(&self) -> Vec<String> {
        dir_names(&self.dir.join("kubelet/pods"))
    }

    /// The host directory of a pod's emptyDir volume.
    pub fn empty_dir(&self, pod: &Pod, volume: &str) -> PathBuf {
        let m = &pod.metadata;
        self.dir
            .join("kubelet/pods")
            .join(format!(
                "{}_{}_{}",
                m.namespace.as_deref().unwrap_or("default"),
                m.name.as_deref().unwrap(),
                m.uid.as_deref().unwrap()
            ))
            .join(".volumes/kubernetes.io~empty-dir")
            .join(volume)
    }

    /// Events about one object.
    pub async fn events(&self, name: &str) -> Vec<Event> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), "default");
        api.list(&ListParams::default().fields(&format!("involvedObject.name={name}")))
            .await
            .unwrap()
            .items
    }

    /// Waits until the node holds nothing of any pod: no sandbox, no pod directory, no
    /// shim. (A terminal pod leaves the API at once, as upstream, and the agent releases
    /// what is left of it afterwards.)
    pub async fn wait_released(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let (sandboxes, dirs, shims) =
                (self.sandboxes(), self.pod_dirs(), shims_under(&self.dir));
            if sandboxes.is_empty() && dirs.is_empty() && shims.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "left after {timeout:?}: sandboxes {sandboxes:?}, pod directories {dirs:?}, shims {shims:?}\n{}",
                self.log_tail(80)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The clean end of a test: every pod deleted through the API and waited for, nothing
    /// of them left on disk or running, and the server stopped by SIGTERM in time.
    pub async fn finish(mut self) {
        self.delete_all().await;
        self.wait_released(Duration::from_secs(30)).await;
        let mut server = self.server.take().expect("the server is not running");
        assert!(
            server.terminate(Duration::from_secs(10)),
            "orca server did not exit within 10 s of SIGTERM:\n{}",
            self.log_tail(40)
        );
    }

    /// A `kubectl` for this node's kubeconfig, if one is installed.
    pub fn kubectl(&self) -> Option<Kubectl> {
        Kubectl::find(&self.dir.join("kubeconfig.yaml"))
    }

    /// Polls the log of a pod's container (None: its only one) until it equals `want`;
    /// the last log read.
    pub async fn wait_log(
        &self,
        pod: &str,
        container: Option<&str>,
        want: &str,
        timeout: Duration,
    ) -> String {
        self.wait_log_until(pod, container, timeout, |log| log == want)
            .await
    }

    /// Polls the log of a pod's container (None: its only one) until `done` holds for it;
    /// the last log read.
    pub async fn wait_log_until(
        &self,
        pod: &str,
        container: Option<&str>,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        let params = LogParams {
            container: container.map(str::to_string),
            ..Default::default()
        };
        loop {
            let log = self.pods().logs(pod, &params).await.unwrap_or_default();
            if done(&log) || Instant::now() > deadline {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kubectl logs POD ARGS...` through the real kubectl when installed, otherwise the
    /// same request through kube-rs' log API. Panics on failure.
    pub async fn logs(&self, pod: &str, opts: &Logs<'_>) -> String {
        if let Some(k) = self.kubectl() {
            let mut args = vec!["logs".to_string(), pod.to_string()];
            args.extend(opts.kubectl_args());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            return k.ok(&args);
        }
        self.pods()
            .logs(pod, &opts.params())
            .await
            .unwrap_or_else(|e| panic!("logs of {pod} {opts:?}: {e}"))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Reached with the server still running only when the test failed: containers
        // outlive the server, so remove what its pods left, then the data directory goes.
        if let Some(mut s) = self.server.take() {
            s.kill9();
        }
        runtime_support::remove_sandboxes_under(&self.dir.join("runtime"));
    }
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}
