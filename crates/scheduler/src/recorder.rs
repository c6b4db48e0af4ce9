//! Events about pods (`Scheduled`, `FailedScheduling`), written off the scheduling path:
//! recording never blocks, repeats of an event bump its `count`, and under overload events
//! are dropped rather than slowing scheduling (as upstream's broadcaster does).

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

/// One Event about a pod.
#[derive(Clone, Debug)]
pub struct PodEvent {
    pub namespace: String,
    pub name: String,
    pub uid: Arc<str>,
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    pub reason: &'static str,
    pub action: &'static str,
    pub message: String,
}

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<PodEvent>,
}

const QUEUE: usize = 4096;
const IN_FLIGHT: usize = 32;
/// Aggregation entries kept before the table is reset.
const REMEMBERED: usize = 16_384;

impl Recorder {
    /// A recorder writing as `component`; the writer task ends when every recorder is
    /// dropped.
    pub fn spawn(client: kube::Client, component: String) -> (Recorder, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(write_events(client, component, rx));
        (Recorder { tx }, task)
    }

    /// Queues an event; drops it when the writer is far behind.
    pub fn record(&self, event: PodEvent) {
        if let Err(mpsc::error::TrySendError::Full(e)) = self.tx.try_send(event) {
            tracing::debug!(pod = %format!("{}/{}", e.namespace, e.name), reason = e.reason, "event queue full; dropping the event");
        }
    }
}

type Key = (Arc<str>, &'static str, String);

async fn write_events(client: kube::Client, component: String, mut rx: mpsc::Receiver<PodEvent>) {
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut seen: HashMap<Key, (String, i32)> = HashMap::new();
    while let Some(e) = rx.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let key = (e.uid.clone(), e.reason, e.message.clone());
        let now = Time(Timestamp::now());
        let api: Api<Event> = Api::namespaced(client.clone(), &e.namespace);
        if let Some((name, count)) = seen.get_mut(&key) {
            *count += 1;
            let (name, count) = (name.clone(), *count);
            tokio::spawn(async move {
                let patch = json!({"count": count, "lastTimestamp": now});
                if let Err(err) = api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    tracing::debug!(error = %err, "updating an event failed");
                }
                drop(permit);
            });
            continue;
        }
        let name = format!(
            "{}.{:x}",
            e.name,
            now.0.as_nanosecond() as u64 ^ rand::random::<u32>() as u64
        );
        if seen.len() >= REMEMBERED {
            seen.clear();
        }
        seen.insert(key, (name.clone(), 1));
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(e.namespace.clone()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                namespace: Some(e.namespace.clone()),
                name: Some(e.name.clone()),
                uid: Some(e.uid.to_string()),
                ..Default::default()
            },
            reason: Some(e.reason.into()),
            message: Some(e.message),
            type_: Some(e.type_.into()),
            action: Some(e.action.into()),
            source: Some(EventSource {
                component: Some(component.clone()),
                host: None,
            }),
            reporting_component: Some(component.clone()),
            reporting_instance: Some(component.clone()),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            ..Default::default()
        };
        tokio::spawn(async move {
            if let Err(err) = api.create(&PostParams::default(), &event).await {
                tracing::debug!(error = %err, reason = ?event.reason, "creating an event failed");
            }
            drop(permit);
        });
    }
}
