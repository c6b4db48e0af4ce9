//! One worker per pod: it owns the pod's node-side state and drives it through [`State`],
//! reacting to pod updates from the API, container exits and probe results, and publishes
//! the pod's status after every step. The steps themselves are in `pod_sync.rs`
//! (preparing, init and app containers), `container_start.rs`, `pod_kill.rs` and
//! `status.rs`; re-adoption after an agent restart is in `adopt.rs`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use runtime::{ContainerStatus, Runtime, Sandbox, SandboxState};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::backoff::Backoff;
use crate::clock::{until, Clock};
use crate::cluster::{PodApi, PodEvent, PodKey};
use crate::containers::{records_for, Record};
use crate::images::ImageService;
use crate::pod_dirs::PodDirs;
use crate::probe::ProbeReport;
use crate::sandbox::DnsSettings;
use crate::volumes::{PodVolumes, VolumeHost};

/// What a worker needs of the node and the outside world.
pub struct Deps {
    pub runtime: Arc<dyn Runtime>,
    pub images: Arc<dyn ImageService>,
    pub api: Arc<dyn PodApi>,
    pub host: Arc<dyn VolumeHost>,
    pub clock: Arc<dyn Clock>,
    pub node: NodeInfo,
    pub data_dir: PathBuf,
    /// Every worker syncs at least this often (refreshing volume files).
    pub resync: Duration,
}

/// The node as pods see it.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub name: String,
    pub ip: IpAddr,
    pub dns: DnsSettings,
    /// Limits of containers that set none (Downward API values).
    pub allocatable: BTreeMap<String, Quantity>,
}

/// What a worker is told.
#[derive(Debug)]
pub enum Msg {
    /// The pod as the API has it now.
    Update(Box<Pod>),
    /// The pod is gone from the API (deleted, possibly forcibly).
    Gone,
    /// A container ended.
    Exited(ContainerStatus),
    /// A probe's result changed.
    Probe(ProbeReport),
}

/// Where a pod's worker is in the pod's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Nothing runs yet: the volumes and the sandbox are being set up.
    Preparing,
    /// The sandbox runs; regular init containers run one at a time, sidecars start.
    Initializing,
    /// Initialization is done: app containers (and sidecars) run, restart and are probed.
    Running,
    /// Every app container ended for good: the phase is final, the runtime's resources are
    /// released, logs are kept until the pod is deleted.
    Finished,
    /// Deletion was requested: hooks, stop signals, removal and the final delete.
    Terminating,
    /// Everything is released and the pod is gone from the API: the worker ends.
    Done,
}

/// What the pod manager keeps of a worker.
pub struct WorkerHandle {
    pub tx: mpsc::UnboundedSender<Msg>,
    /// Cancelled when deletion is requested, so long steps (pulls, hooks) give way.
    pub deletion: CancellationToken,
}

impl WorkerHandle {
    pub fn send(&self, msg: Msg) {
        let deleting = match &msg {
            Msg::Gone => true,
            Msg::Update(p) => p.metadata.deletion_timestamp.is_some(),
            _ => false,
        };
        if deleting {
            self.deletion.cancel();
        }
        let _ = self.tx.send(msg);
    }
}

/// Transition times of the pod's conditions.
pub type ConditionTimes = BTreeMap<String, (String, Time)>;

/// One pod's worker.
pub struct Worker {
    pub(crate) key: PodKey,
    pub(crate) pod: Pod,
    pub(crate) state: State,
    pub(crate) deps: Arc<Deps>,
    pub(crate) dirs: PodDirs,
    pub(crate) sandbox: Option<Sandbox>,
    pub(crate) volumes: Option<PodVolumes>,
    pub(crate) volumes_refreshed: Option<DateTime<Utc>>,
    pub(crate) records: Vec<Record>,
    pub(crate) crash_backoff: Backoff,
    pub(crate) pull_backoff: Backoff,
    pub(crate) retry_backoff: Backoff,
    /// A failed pod-level step (volumes, sandbox) is retried no earlier than this.
    pub(crate) retry_at: Option<DateTime<Utc>>,
    pub(crate) gone: bool,
    pub(crate) deletion: CancellationToken,
    /// Set when the pod reached Succeeded or Failed: it never changes again.
    pub(crate) terminal_phase: Option<String>,
    /// The pod was already terminal in the API when the worker started: its status is
    /// left alone.
    pub(crate) status_frozen: bool,
    pub(crate) conditions: ConditionTimes,
    pub(crate) start_time: Option<Time>,
    pub(crate) tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
    status_tx: watch::Sender<Option<PodStatus>>,
    pub(crate) last_status: Option<PodStatus>,
    /// The resourceVersion of the pod after this worker's latest status update: an update
    /// from the API at or before it cannot be somebody else's change of the status.
    reported_revision: Arc<AtomicU64>,
    /// The pod IP while it had one (kept in the status of a finished pod).
    pub(crate) last_pod_ip: Option<IpAddr>,
    /// Left over from before an agent restart: removed at the next step.
    pub(crate) stale_containers: Vec<runtime::ContainerId>,
    pub(crate) stale_sandbox: Option<runtime::SandboxId>,
    /// The pod-level status reason and message (DeadlineExceeded).
    pub(crate) status_reason: Option<(String, String)>,
}

/// The pod's key from its object.
pub fn pod_key(pod: &Pod) -> PodKey {
    PodKey {
        namespace: pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
    }
}

impl Worker {
    /// A worker for `pod`; `adopt` is its sandbox found in the runtime at agent start.
    pub fn new(pod: Pod, deps: Arc<Deps>, adopt: Option<SandboxState>) -> (Worker, WorkerHandle) {
        let key = pod_key(&pod);
        let (tx, rx) = mpsc::unbounded_channel();
        let deletion = CancellationToken::new();
        if pod.metadata.deletion_timestamp.is_some() {
            deletion.cancel();
        }
        let (status_tx, _) = watch::channel(None);
        let conditions = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|c| {
                c.last_transition_time
                    .clone()
                    .map(|t| (c.type_.clone(), (c.status.clone(), t)))
            })
            .collect();
        let records = pod.spec.as_ref().map(records_for).unwrap_or_default();
        let start_time = pod.status.as_ref().and_then(|s| s.start_time.clone());
        let mut w = Worker {
            dirs: PodDirs::new(&deps.data_dir, &key),
            key,
            state: State::Preparing,
            deps,
            sandbox: None,
            volumes: None,
            volumes_refreshed: None,
            records,
            crash_backoff: Backoff::default(),
            pull_backoff: Backoff::default(),
            retry_backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(30)),
            retry_at: None,
            gone: false,
            deletion: deletion.clone(),
            terminal_phase: None,
            status_frozen: false,
            conditions,
            start_time,
            tx: tx.clone(),
            rx,
            status_tx,
            last_status: None,
            reported_revision: Arc::default(),
            last_pod_ip: None,
            stale_containers: Vec::new(),
            stale_sandbox: None,
            status_reason: None,
            pod,
        };
        w.adopt(adopt);
        (w, WorkerHandle { tx, deletion })
    }

    /// The pod's restart policy.
    pub(crate) fn restart_policy(&self) -> String {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".into())
    }

    pub(crate) fn deletion_requested(&self) -> bool {
        self.gone || self.pod.metadata.deletion_timestamp.is_some()
    }

    /// Records an Event about the pod or one of its containers.
    pub(crate) fn event(
        &self,
        field_path: String,
        type_: &'static str,
        reason: &'static str,
        message: String,
    ) {
        self.deps.api.event(PodEvent {
            pod: self.key.clone(),
            field_path,
            type_,
            reason,
            message,
        });
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.deps.clock.now()
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Update(pod) => self.update(*pod),
            Msg::Gone => {
                self.gone = true;
                self.deletion.cancel();
            }
            Msg::Exited(status) => self.record_exit(status),
            Msg::Probe(report) => self.record_probe(report),
        }
    }

    fn update(&mut self, pod: Pod) {
        if pod.metadata.deletion_timestamp.is_some() {
            self.deletion.cancel();
        }
        // Downward API files follow label and annotation changes.
        if pod.metadata.labels != self.pod.metadata.labels
            || pod.metadata.annotations != self.pod.metadata.annotations
        {
            self.volumes_refreshed = None;
        }
        // The images of containers may change: such a container is restarted.
        if let Some(spec) = &pod.spec {
            for rec in &mut self.records {
                let new = spec
                    .containers
                    .iter()
                    .chain(spec.init_containers.iter().flatten())
                    .find(|c| c.name == rec.spec.name);
                if let Some(new) = new {
                    if new.image != rec.spec.image {
                        rec.spec.image = new.image.clone();
                        rec.retry_at = None;
                        if rec.running() {
                            rec.kill_requested = Some(format!(
                                "Container {} definition changed, will be restarted",
                                rec.spec.name
                            ));
                        }
                    }
                }
            }
        }
        // Another component changed what this node reports (the node lifecycle controller
        // marks a pod NotReady while its node is unreachable): report again, as upstream's
        // status manager reconciles the API's copy with its own.
        let revision = pod
            .metadata
            .resource_version
            .as_deref()
            .and_then(|rv| rv.parse::<u64>().ok());
        // Opaque (non-numeric) versions cannot be ordered: any difference counts.
        let newer = revision.is_none_or(|rv| rv > self.reported_revision.load(Ordering::Relaxed));
        if newer
            && self
                .last_status
                .as_ref()
                .is_some_and(|last| crate::status::reported_differs(last, pod.status.as_ref()))
        {
            self.last_status = None;
        }
        self.pod = pod;
    }

    /// Runs until the pod is done or the agent shuts down (which leaves containers running).
    pub async fn run(mut self, shutdown: CancellationToken) {
        let publisher = tokio::spawn(publish_statuses(
            self.deps.clone(),
            self.key.clone(),
            self.status_tx.subscribe(),
            self.reported_revision.clone(),
        ));
        let span = tracing::info_span!("pod", pod = %self.key, uid = %self.key.uid);
        self.publish();
        loop {
            while let Ok(msg) = self.rx.try_recv() {
                self.handle(msg);
            }
            if self.state == State::Done {
                break;
            }
            let wake = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                w = self.sync().instrument(tracing::debug_span!(parent: &span, "pod_sync")) => w,
            };
            self.publish();
            if self.state == State::Done {
                break;
            }
            let now = self.now();
            let resync =
                now + chrono::Duration::from_std(self.deps.resync).unwrap_or(chrono::Duration::MAX);
            let wake = wake.map_or(resync, |w| w.min(resync));
            if wake <= now {
                continue;
            }
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                msg = self.rx.recv() => match msg {
                    Some(msg) => self.handle(msg),
                    None => break,
                },
                _ = tokio::time::sleep(until(now, wake)) => {}
            }
        }
        for rec in &mut self.records {
            rec.stop_probes();
        }
        drop(self.status_tx);
        if shutdown.is_cancelled() {
            // The agent stops: no waiting on a slow API; the next agent reports again.
            publisher.abort();
        }
        let _ = publisher.await;
    }

    /// Sends the pod's status to the publisher if it changed.
    pub(crate) fn publish(&mut self) {
        if self.status_frozen {
            return;
        }
        let status = self.build_status();
        if self.last_status.as_ref() != Some(&status) {
            self.last_status = Some(status.clone());
            self.status_tx.send_replace(Some(status));
        }
    }
}

/// Patches the latest status of a pod whenever it changes; a failed patch is retried
/// unless a newer status replaces it. Ends when the worker drops its sender.
async fn publish_statuses(
    deps: Arc<Deps>,
    key: PodKey,
    mut rx: watch::Receiver<Option<PodStatus>>,
    reported_revision: Arc<AtomicU64>,
) {
    while rx.changed().await.is_ok() {
        let mut delay = Duration::from_millis(200);
        let mut attempts = 0;
        loop {
            let Some(status) = rx.borrow_and_update().clone() else {
                break;
            };
            match deps.api.patch_status(&key, &status).await {
                Ok(rv) => {
                    if let Some(rv) = rv.and_then(|rv| rv.parse::<u64>().ok()) {
                        reported_revision.fetch_max(rv, Ordering::Relaxed);
                    }
                    break;
                }
                Err(crate::Error::Api(kube::Error::Api(s)))
                    if matches!(s.code, 404 | 409 | 422) =>
                {
                    tracing::debug!(pod = %key, "pod is gone or replaced; not updating its status");
                    break;
                }
                Err(e) => {
                    tracing::warn!(pod = %key, error = %e, "updating pod status failed; retrying");
                    attempts += 1;
                    if rx.has_changed().is_err() && attempts > 5 {
                        return;
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}
