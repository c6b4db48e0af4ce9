//! The scheduler's owner task: it alone holds the cache and the queue, applies watch
//! events, runs scheduling cycles one pod at a time, and hands bindings to concurrent tasks
//! whose outcomes come back over a channel. It sleeps when there is nothing to do — until
//! an event arrives or a back-off ends.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Utc;
use k8s_openapi::api::core::v1::{Binding, Node, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::cache::{Cache, NodeChange, PodRecord};
use crate::diagnosis::NO_NODES;
use crate::framework::{Decision, Framework};
use crate::informer::{Step, WatchState};
use crate::plugins::PluginSet;
use crate::pod_info::PodInfo;
use crate::queue::{Queue, QueueTimings};
use crate::recorder::{PodEvent, Recorder};
use crate::SchedulerConfig;

/// How a binding ended.
#[derive(Debug)]
pub struct BindOutcome {
    pub uid: Arc<str>,
    pub result: Result<(), kube::Error>,
}

/// The inputs of the owner task.
pub struct Inputs {
    pub pods: mpsc::Receiver<watcher::Event<Pod>>,
    pub nodes: mpsc::Receiver<watcher::Event<Node>>,
    pub binds: mpsc::UnboundedReceiver<BindOutcome>,
}

/// The owner task's state.
pub struct Scheduler {
    name: String,
    client: kube::Client,
    cache: Cache,
    queue: Queue,
    framework: Framework,
    recorder: Recorder,
    pods_watch: WatchState<Pod>,
    nodes_watch: WatchState<Node>,
    bind_permits: Arc<Semaphore>,
    bind_tx: mpsc::UnboundedSender<BindOutcome>,
    status_permits: Arc<Semaphore>,
    next_leftover_flush: Instant,
}

/// How often unschedulable pods are checked against the five-minute limit.
const LEFTOVER_FLUSH: std::time::Duration = std::time::Duration::from_secs(30);

impl Scheduler {
    pub fn new(
        config: &SchedulerConfig,
        client: kube::Client,
        recorder: Recorder,
        bind_tx: mpsc::UnboundedSender<BindOutcome>,
    ) -> Scheduler {
        Scheduler {
            name: config.scheduler_name.clone(),
            client,
            cache: Cache::default(),
            queue: Queue::new(QueueTimings {
                initial_backoff: config.pod_initial_backoff,
                max_backoff: config.pod_max_backoff,
                max_unschedulable: config.pod_max_in_unschedulable,
            }),
            framework: Framework::new(config.percentage_of_nodes_to_score),
            recorder,
            pods_watch: WatchState::new(),
            nodes_watch: WatchState::new(),
            bind_permits: Arc::new(Semaphore::new(config.parallel_bindings.max(1))),
            bind_tx,
            status_permits: Arc::new(Semaphore::new(config.parallel_bindings.max(1))),
            next_leftover_flush: Instant::now() + LEFTOVER_FLUSH,
        }
    }

    fn synced(&self) -> bool {
        self.pods_watch.is_synced() && self.nodes_watch.is_synced()
    }

    /// Runs until `shutdown`, publishing readiness once both watches have listed.
    pub async fn run(
        mut self,
        mut inputs: Inputs,
        ready: watch::Sender<bool>,
        shutdown: CancellationToken,
    ) {
        while !shutdown.is_cancelled() {
            // Everything that already arrived comes before the next cycle.
            loop {
                if let Ok(e) = inputs.pods.try_recv() {
                    self.on_pod_event(e);
                } else if let Ok(e) = inputs.nodes.try_recv() {
                    self.on_node_event(e);
                } else if let Ok(o) = inputs.binds.try_recv() {
                    self.on_bound(o);
                } else {
                    break;
                }
            }
            // Nothing is scheduled before both watches have listed.
            if self.synced() {
                if !*ready.borrow() {
                    tracing::info!(
                        nodes = self.cache.node_count(),
                        pods = self.cache.pod_count(),
                        pending = self.queue.len(),
                        "scheduler caches synced"
                    );
                    ready.send_replace(true);
                }
                let now = Instant::now();
                if now >= self.next_leftover_flush {
                    self.queue.flush_unschedulable_leftover(now);
                    self.next_leftover_flush = now + LEFTOVER_FLUSH;
                }
                if let Some(uid) = self.queue.pop(now) {
                    self.schedule_one(uid);
                    continue;
                }
            }
            let wake = self.queue.next_wake(Instant::now());
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return,
                Some(e) = inputs.pods.recv() => self.on_pod_event(e),
                Some(e) = inputs.nodes.recv() => self.on_node_event(e),
                Some(o) = inputs.binds.recv() => self.on_bound(o),
                _ = sleep_until(wake) => {}
            }
        }
    }

    fn on_pod_event(&mut self, event: watcher::Event<Pod>) {
        match self.pods_watch.step(event) {
            Step::Buffered => {}
            Step::Apply(pod) => self.apply_pod(&pod),
            Step::Delete(pod) => {
                if let Some(uid) = pod.metadata.uid.as_deref() {
                    self.remove_pod(uid);
                }
            }
            Step::Replace(pods) => {
                let live: HashSet<&str> = pods
                    .iter()
                    .filter_map(|p| p.metadata.uid.as_deref())
                    .collect();
                for (uid, assumed) in self.cache.pod_uids() {
                    // An assumed pod the list lacks is settled by its binding's outcome.
                    if !assumed && !live.contains(&*uid) {
                        self.remove_pod(&uid);
                    }
                }
                for pod in &pods {
                    self.apply_pod(pod);
                }
            }
        }
    }

    fn on_node_event(&mut self, event: watcher::Event<Node>) {
        match self.nodes_watch.step(event) {
            Step::Buffered => {}
            Step::Apply(node) => self.apply_node(&node),
            Step::Delete(node) => {
                if let Some(name) = node.metadata.name.as_deref() {
                    self.cache.remove_node(name);
                }
            }
            Step::Replace(nodes) => {
                let live: HashSet<&str> = nodes
                    .iter()
                    .filter_map(|n| n.metadata.name.as_deref())
                    .collect();
                for name in self.cache.node_names() {
                    if !live.contains(&*name) {
                        self.cache.remove_node(&name);
                    }
                }
                for node in &nodes {
                    self.apply_node(node);
                }
            }
        }
    }

    fn apply_node(&mut self, node: &Node) {
        let concerns = match self.cache.upsert_node(node) {
            Some(NodeChange::Added) => PluginSet::ALL,
            Some(NodeChange::Updated(set)) => set,
            None => return,
        };
        if !concerns.is_empty() {
            let moved = self.queue.on_event(concerns, Instant::now());
            if moved > 0 {
                tracing::debug!(node = ?node.metadata.name, moved, "node change retries unschedulable pods");
            }
        }
    }

    fn apply_pod(&mut self, pod: &Pod) {
        let Some(info) = PodInfo::new(pod) else {
            return;
        };
        let uid = info.uid.clone();
        if info.terminal {
            // Finished pods hold nothing on their node.
            self.remove_pod(&uid);
            return;
        }
        if !info.node_name.is_empty() {
            self.queue.remove(&uid);
            self.cache
                .set_bound(uid, &info.node_name, info.usage.clone());
            return;
        }
        let ours = info.scheduler_name == self.name && !info.deleting;
        let now = Instant::now();
        match self.cache.pod(&uid) {
            // The binding is in flight or the watch has not caught up with it.
            Some(PodRecord::Assumed { .. }) | Some(PodRecord::Bound { .. }) => {}
            Some(PodRecord::Pending(old)) => {
                if !ours {
                    self.queue.remove(&uid);
                    self.cache.remove_pod(&uid);
                    return;
                }
                let spec_changed = old.generation != info.generation;
                let (priority, gated) = (info.priority, info.gated);
                self.cache.set_pending(Arc::new(info));
                self.queue.update(&uid, priority, gated, spec_changed, now);
            }
            None if ours => {
                let (priority, gated) = (info.priority, info.gated);
                self.cache.set_pending(Arc::new(info));
                self.queue.add(uid, priority, gated, now);
            }
            None => {}
        }
    }

    /// A pod is gone (or finished): what it held on its node is free for others.
    fn remove_pod(&mut self, uid: &str) {
        self.queue.remove(uid);
        match self.cache.remove_pod(uid) {
            Some(PodRecord::Bound { .. }) | Some(PodRecord::Assumed { .. }) => {
                self.queue.on_event(
                    PluginSet::NODE_RESOURCES_FIT | PluginSet::NODE_PORTS,
                    Instant::now(),
                );
            }
            _ => {}
        }
    }

    /// One scheduling cycle.
    fn schedule_one(&mut self, uid: Arc<str>) {
        let Some(PodRecord::Pending(info)) = self.cache.pod(&uid) else {
            self.queue.remove(&uid);
            return;
        };
        let info = info.clone();
        let span = tracing::debug_span!("schedule", pod = %info.key());
        let _entered = span.enter();
        match self.framework.schedule(&info, &self.cache) {
            Decision::Fit(node) => {
                tracing::debug!(node = %node, "assumed");
                self.cache.assume(&uid, node.clone());
                self.spawn_bind(info, node);
            }
            Decision::NoFit(diagnosis) => {
                let message = diagnosis.message(&info);
                self.unschedulable(&info, message, diagnosis.plugins);
            }
            Decision::NoNodes => self.unschedulable(&info, NO_NODES.into(), PluginSet::EMPTY),
        }
    }

    fn unschedulable(&mut self, info: &Arc<PodInfo>, message: String, plugins: PluginSet) {
        tracing::debug!(message = %message, "unschedulable");
        self.queue.unschedulable(&info.uid, plugins, Instant::now());
        self.recorder.record(PodEvent {
            namespace: info.namespace.clone(),
            name: info.name.clone(),
            uid: info.uid.clone(),
            type_: "Warning",
            reason: "FailedScheduling",
            action: "Scheduling",
            message: message.clone(),
        });
        self.patch_condition(info, "Unschedulable", message);
    }

    /// Writes `PodScheduled=False` with `reason` and `message`, unless the pod has it.
    fn patch_condition(&self, info: &PodInfo, reason: &str, message: String) {
        let current = info.scheduled.as_ref();
        if current
            .is_some_and(|c| c.status == "False" && c.reason == reason && c.message == message)
        {
            return;
        }
        let transition = current
            .filter(|c| c.status == "False")
            .and_then(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let patch = json!({"status": {"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": reason, "message": message,
            "lastProbeTime": null, "lastTransitionTime": transition,
        }]}});
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &info.namespace);
        let name = info.name.clone();
        let permits = self.status_permits.clone();
        tokio::spawn(async move {
            let _permit = permits.acquire_owned().await;
            if let Err(e) = api
                .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
                .await
            {
                tracing::debug!(pod = %name, error = %e, "updating the PodScheduled condition failed");
            }
        });
    }

    fn spawn_bind(&self, info: Arc<PodInfo>, node: Arc<str>) {
        let client = self.client.clone();
        let permits = self.bind_permits.clone();
        let tx = self.bind_tx.clone();
        let recorder = self.recorder.clone();
        let span = tracing::debug_span!("bind", pod = %info.key(), node = %node);
        tokio::spawn(
            async move {
                let _permit = permits.acquire_owned().await;
                let result = bind(&client, &info, &node).await;
                if result.is_ok() {
                    recorder.record(PodEvent {
                        namespace: info.namespace.clone(),
                        name: info.name.clone(),
                        uid: info.uid.clone(),
                        type_: "Normal",
                        reason: "Scheduled",
                        action: "Binding",
                        message: format!("Successfully assigned {} to {node}", info.key()),
                    });
                }
                let _ = tx.send(BindOutcome {
                    uid: info.uid.clone(),
                    result,
                });
            }
            .instrument(span),
        );
    }

    fn on_bound(&mut self, outcome: BindOutcome) {
        let uid = outcome.uid;
        let Err(error) = outcome.result else {
            self.queue.remove(&uid);
            return;
        };
        let code = match &error {
            kube::Error::Api(s) => s.code,
            _ => 0,
        };
        match code {
            // Gone: nothing to place.
            404 => {
                self.remove_pod(&uid);
                return;
            }
            // Bound elsewhere already: the watch shows where.
            409 if error.to_string().contains("already assigned") => {
                self.queue.remove(&uid);
                return;
            }
            // Being deleted: it will never run; its DELETE event follows.
            409 => {
                self.remove_pod(&uid);
                return;
            }
            _ => {}
        }
        tracing::warn!(pod = %uid, error = %error, "binding failed; retrying after a back-off");
        if let Some(info) = self.cache.forget(&uid) {
            self.queue.retry_after_error(&uid, Instant::now());
            self.recorder.record(PodEvent {
                namespace: info.namespace.clone(),
                name: info.name.clone(),
                uid: uid.clone(),
                type_: "Warning",
                reason: "FailedScheduling",
                action: "Scheduling",
                message: format!("Binding rejected: {error}"),
            });
            self.patch_condition(
                &info,
                "SchedulerError",
                format!("Binding rejected: {error}"),
            );
        }
    }
}

async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// `POST pods/<name>/binding` to `node`.
async fn bind(client: &kube::Client, info: &PodInfo, node: &str) -> Result<(), kube::Error> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &info.namespace);
    let binding = Binding {
        metadata: ObjectMeta {
            name: Some(info.name.clone()),
            namespace: Some(info.namespace.clone()),
            uid: Some(info.uid.to_string()),
            ..Default::default()
        },
        target: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(node.to_string()),
            ..Default::default()
        },
    };
    api.create_subresource::<_, serde_json::Value>(
        "binding",
        &info.name,
        &PostParams::default(),
        &binding,
    )
    .await
    .map(drop)
}
