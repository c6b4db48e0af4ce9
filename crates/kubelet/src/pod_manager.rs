//! The pods bound to this node: a watch (field selector `spec.nodeName=<node>`) feeding one
//! [`Worker`] per pod uid. At start, sandboxes found in the runtime are handed to the
//! workers of their pods; sandboxes and pod directories of pods the API no longer has are
//! removed once the first complete list arrived.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use runtime::SandboxState;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::pod_dirs::{parse_pod_dir_name, pods_root, PodDirs};
use crate::pod_worker::{pod_key, Deps, Msg, Worker, WorkerHandle};
use crate::volumes;
use crate::Result;

/// Where the manager is.
enum State {
    /// Waiting for the first complete list of the node's pods; sandboxes found in the
    /// runtime wait here for their pods.
    Starting {
        orphans: HashMap<String, SandboxState>,
    },
    /// The first list arrived: workers exist for every pod, leftovers are gone.
    Synced,
}

struct Manager {
    deps: Arc<Deps>,
    workers: HashMap<String, WorkerHandle>,
    /// Pods whose workers finished: late events for them are ignored.
    finished: HashSet<String>,
    tasks: JoinSet<String>,
    shutdown: CancellationToken,
    state: State,
}

impl Manager {
    fn apply(&mut self, pod: Pod) {
        let Some(uid) = pod.metadata.uid.clone() else {
            return;
        };
        if self.finished.contains(&uid) {
            return;
        }
        if let Some(w) = self.workers.get(&uid) {
            w.send(Msg::Update(Box::new(pod)));
            return;
        }
        let adopt = match &mut self.state {
            State::Starting { orphans } => orphans.remove(&uid),
            State::Synced => None,
        };
        tracing::debug!(pod = %pod_key(&pod), "starting a pod worker");
        let (worker, handle) = Worker::new(pod, self.deps.clone(), adopt);
        let shutdown = self.shutdown.child_token();
        self.tasks.spawn(async move {
            let uid = worker.key.uid.clone();
            worker.run(shutdown).await;
            uid
        });
        self.workers.insert(uid, handle);
    }

    fn gone(&mut self, uid: &str) {
        if let Some(w) = self.workers.get(uid) {
            w.send(Msg::Gone);
        }
        self.finished.remove(uid);
    }

    /// A complete list: workers of pods not in it learn their pod is gone; on the first
    /// one, leftovers of pods the API does not have are removed.
    async fn relist(&mut self, pods: Vec<Pod>) {
        let uids: HashSet<String> = pods.iter().filter_map(|p| p.metadata.uid.clone()).collect();
        let stale: Vec<String> = self
            .workers
            .keys()
            .filter(|u| !uids.contains(*u))
            .cloned()
            .collect();
        for uid in stale {
            self.gone(&uid);
        }
        self.finished.retain(|u| uids.contains(u));
        for pod in pods {
            self.apply(pod);
        }
        if let State::Starting { orphans } = std::mem::replace(&mut self.state, State::Synced) {
            for (uid, s) in orphans {
                tracing::info!(pod = %format!("{}/{}", s.sandbox.pod.namespace, s.sandbox.pod.name), uid = %uid, "removing the sandbox of a pod that no longer exists");
                for c in &s.containers {
                    let _ = self.deps.runtime.remove_container(&c.id).await;
                }
                if let Err(e) = self.deps.runtime.remove_sandbox(&s.sandbox.id).await {
                    tracing::warn!(sandbox = %s.sandbox.id, error = %e, "removing an orphaned sandbox failed");
                }
            }
            self.remove_orphan_dirs(&uids);
        }
    }

    fn remove_orphan_dirs(&self, uids: &HashSet<String>) {
        let Ok(entries) = std::fs::read_dir(pods_root(&self.deps.data_dir)) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(key) = parse_pod_dir_name(&name) else {
                continue;
            };
            if uids.contains(&key.uid) {
                continue;
            }
            tracing::info!(pod = %key, "removing the directory of a pod that no longer exists");
            let dirs = PodDirs::new(&self.deps.data_dir, &key);
            if let Err(e) = volumes::remove_pod_dir(&dirs, self.deps.host.as_ref()) {
                tracing::warn!(pod = %key, error = %e, "removing an orphaned pod directory failed");
            }
        }
    }
}

/// Runs the node's pods until `shutdown`; `ready` turns true once every pod of the first
/// list has its worker and leftovers are cleaned up. Containers keep running on shutdown.
pub async fn run(
    deps: Arc<Deps>,
    client: kube::Client,
    node: &str,
    ready: watch::Sender<bool>,
    shutdown: CancellationToken,
) -> Result<()> {
    let found = deps.runtime.list_sandboxes().await?;
    let orphans: HashMap<String, SandboxState> = found
        .into_iter()
        .map(|s| (s.sandbox.pod.uid.clone(), s))
        .collect();
    let mut m = Manager {
        deps,
        workers: HashMap::new(),
        finished: HashSet::new(),
        tasks: JoinSet::new(),
        shutdown: shutdown.clone(),
        state: State::Starting { orphans },
    };
    let api: Api<Pod> = Api::all(client);
    let config = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    let mut listing: Option<Vec<Pod>> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(done) = m.tasks.join_next(), if !m.tasks.is_empty() => {
                if let Ok(uid) = done {
                    m.workers.remove(&uid);
                    m.finished.insert(uid);
                }
            }
            ev = events.next() => match ev {
                None => break,
                Some(Err(e)) => tracing::warn!(error = %e, "watching the node's pods failed; retrying"),
                Some(Ok(Event::Init)) => listing = Some(Vec::new()),
                Some(Ok(Event::InitApply(p))) => listing.get_or_insert_with(Vec::new).push(p),
                Some(Ok(Event::InitDone)) => {
                    let pods = listing.take().unwrap_or_default();
                    m.relist(pods).await;
                    ready.send_replace(true);
                }
                Some(Ok(Event::Apply(p))) => m.apply(p),
                Some(Ok(Event::Delete(p))) => {
                    if let Some(uid) = p.metadata.uid.as_deref() {
                        m.gone(uid);
                    }
                }
            }
        }
    }
    ready.send_replace(false);
    while m.tasks.join_next().await.is_some() {}
    Ok(())
}
