//! What pod workers need from the API server, behind a trait so the pod state machine is
//! unit-tested without one: ConfigMaps and Secrets for env and volumes, pod status
//! patches, the final delete, and Events.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, EventSource, ObjectReference, PodStatus, Secret,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::json;
use tokio::sync::mpsc;

use crate::clock::{k8s_time, Clock};
use crate::Result;

/// A pod as the node knows it: namespace, name and uid.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodKey {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl std::fmt::Display for PodKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One Event about a pod (or one of its containers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodEvent {
    pub pod: PodKey,
    /// `spec.containers{name}` / `spec.initContainers{name}`, or empty for the pod.
    pub field_path: String,
    /// `Normal` or `Warning`.
    pub type_: &'static str,
    pub reason: &'static str,
    pub message: String,
}

/// The API operations of the pod workers.
#[async_trait::async_trait]
pub trait PodApi: Send + Sync + 'static {
    /// The ConfigMap, `None` when it does not exist.
    async fn config_map(&self, namespace: &str, name: &str) -> Result<Option<ConfigMap>>;
    /// The Secret, `None` when it does not exist.
    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<Secret>>;
    /// Replaces the pod's status, only if the pod still has this uid; returns the
    /// resourceVersion the pod got.
    async fn patch_status(&self, pod: &PodKey, status: &PodStatus) -> Result<Option<String>>;
    /// Deletes the pod with grace 0 and its uid as precondition; a pod already gone (or
    /// replaced) is not an error.
    async fn delete_pod(&self, pod: &PodKey) -> Result<()>;
    /// Records an Event; never blocks.
    fn event(&self, event: PodEvent);
}

fn not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// [`PodApi`] over a kube client.
pub struct KubeApi {
    client: kube::Client,
    events: mpsc::Sender<PodEvent>,
}

impl KubeApi {
    /// The API, and the Event writer task to spawn (it ends when the API is dropped).
    pub fn new(
        client: kube::Client,
        node: &str,
        clock: std::sync::Arc<dyn Clock>,
    ) -> (
        KubeApi,
        impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let (tx, rx) = mpsc::channel(1024);
        let writer = write_events(client.clone(), node.to_string(), clock, rx);
        (KubeApi { client, events: tx }, writer)
    }
}

#[async_trait::async_trait]
impl PodApi for KubeApi {
    async fn config_map(&self, namespace: &str, name: &str) -> Result<Option<ConfigMap>> {
        Ok(Api::<ConfigMap>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await?)
    }

    async fn secret(&self, namespace: &str, name: &str) -> Result<Option<Secret>> {
        Ok(Api::<Secret>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await?)
    }

    async fn patch_status(&self, pod: &PodKey, status: &PodStatus) -> Result<Option<String>> {
        let api: Api<k8s_openapi::api::core::v1::Pod> =
            Api::namespaced(self.client.clone(), &pod.namespace);
        let patch = json!([
            {"op": "test", "path": "/metadata/uid", "value": pod.uid},
            {"op": "add", "path": "/status", "value": status},
        ]);
        let patch: json_patch::Patch = serde_json::from_value(patch).expect("a valid JSON patch");
        let pod = api
            .patch_status(
                &pod.name,
                &PatchParams::default(),
                &Patch::<()>::Json(patch),
            )
            .await?;
        Ok(pod.metadata.resource_version)
    }

    async fn delete_pod(&self, pod: &PodKey) -> Result<()> {
        let api: Api<k8s_openapi::api::core::v1::Pod> =
            Api::namespaced(self.client.clone(), &pod.namespace);
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(pod.uid.clone()),
                resource_version: None,
            }),
            ..Default::default()
        };
        match api.delete(&pod.name, &params).await {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn event(&self, event: PodEvent) {
        if self.events.try_send(event).is_err() {
            tracing::debug!("event queue full; dropping an event");
        }
    }
}

/// The aggregation key of an Event: repeats bump `count` on one object, as upstream's
/// event correlator does.
type EventKey = (String, String, String, &'static str, &'static str, String);

/// Writes Events until every sender is gone.
async fn write_events(
    client: kube::Client,
    node: String,
    clock: std::sync::Arc<dyn Clock>,
    mut rx: mpsc::Receiver<PodEvent>,
) {
    let mut seen: HashMap<EventKey, (String, i32, DateTime<Utc>)> = HashMap::new();
    while let Some(e) = rx.recv().await {
        let now = clock.now();
        let api: Api<Event> = Api::namespaced(client.clone(), &e.pod.namespace);
        let key = (
            e.pod.namespace.clone(),
            e.pod.uid.clone(),
            e.field_path.clone(),
            e.type_,
            e.reason,
            e.message.clone(),
        );
        if let Some((name, count, _)) = seen.get(&key).cloned() {
            let patch = json!({"count": count + 1, "lastTimestamp": k8s_time(now)});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    seen.insert(key, (name, count + 1, now));
                    continue;
                }
                Err(err) if not_found(&err) => {}
                Err(err) => {
                    tracing::debug!(error = %err, "updating an event failed");
                    continue;
                }
            }
        }
        let name = format!(
            "{}.{:x}",
            e.pod.name,
            now.timestamp_nanos_opt().unwrap_or_default() as u64 ^ rand::random::<u32>() as u64
        );
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(e.pod.namespace.clone()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                namespace: Some(e.pod.namespace.clone()),
                name: Some(e.pod.name.clone()),
                uid: Some(e.pod.uid.clone()),
                field_path: (!e.field_path.is_empty()).then(|| e.field_path.clone()),
                ..Default::default()
            },
            reason: Some(e.reason.to_string()),
            message: Some(e.message.clone()),
            type_: Some(e.type_.to_string()),
            source: Some(EventSource {
                component: Some("kubelet".into()),
                host: Some(node.clone()),
            }),
            reporting_component: Some("kubelet".into()),
            reporting_instance: Some(node.clone()),
            first_timestamp: Some(k8s_time(now)),
            last_timestamp: Some(k8s_time(now)),
            count: Some(1),
            ..Default::default()
        };
        match api.create(&PostParams::default(), &event).await {
            Ok(_) => {
                if seen.len() > 4096 {
                    seen.clear();
                }
                seen.insert(key, (name, 1, now));
            }
            Err(err) => {
                tracing::debug!(error = %err, reason = e.reason, "creating an event failed")
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! A recording [`PodApi`] in memory.

    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Default)]
    pub struct Inner {
        pub config_maps: BTreeMap<(String, String), ConfigMap>,
        pub secrets: BTreeMap<(String, String), Secret>,
        pub statuses: Vec<(PodKey, PodStatus)>,
        pub deleted: Vec<PodKey>,
        pub events: Vec<PodEvent>,
    }

    #[derive(Clone, Default)]
    pub struct FakeApi(pub Arc<Mutex<Inner>>);

    impl FakeApi {
        pub fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
            self.0.lock().unwrap()
        }

        pub fn add_config_map(&self, ns: &str, cm: serde_json::Value) {
            let cm: ConfigMap = serde_json::from_value(cm).unwrap();
            let name = cm.metadata.name.clone().unwrap();
            self.lock().config_maps.insert((ns.into(), name), cm);
        }

        pub fn add_secret(&self, ns: &str, s: serde_json::Value) {
            let s: Secret = serde_json::from_value(s).unwrap();
            let name = s.metadata.name.clone().unwrap();
            self.lock().secrets.insert((ns.into(), name), s);
        }

        pub fn last_status(&self) -> Option<PodStatus> {
            self.lock().statuses.last().map(|(_, s)| s.clone())
        }

        pub fn statuses(&self) -> Vec<PodStatus> {
            self.lock()
                .statuses
                .iter()
                .map(|(_, s)| s.clone())
                .collect()
        }

        pub fn events(&self) -> Vec<PodEvent> {
            self.lock().events.clone()
        }

        pub fn reasons(&self) -> Vec<&'static str> {
            self.lock().events.iter().map(|e| e.reason).collect()
        }
    }

    #[async_trait::async_trait]
    impl PodApi for FakeApi {
        async fn config_map(&self, namespace: &str, name: &str) -> Result<Option<ConfigMap>> {
            Ok(self
                .lock()
                .config_maps
                .get(&(namespace.into(), name.into()))
                .cloned())
        }
        async fn secret(&self, namespace: &str, name: &str) -> Result<Option<Secret>> {
            Ok(self
                .lock()
                .secrets
                .get(&(namespace.into(), name.into()))
                .cloned())
        }
        /// Every status gets the next resourceVersion, from 1000 on.
        async fn patch_status(&self, pod: &PodKey, status: &PodStatus) -> Result<Option<String>> {
            let mut inner = self.lock();
            inner.statuses.push((pod.clone(), status.clone()));
            Ok(Some((999 + inner.statuses.len()).to_string()))
        }
        async fn delete_pod(&self, pod: &PodKey) -> Result<()> {
            self.lock().deleted.push(pod.clone());
            Ok(())
        }
        fn event(&self, event: PodEvent) {
            self.lock().events.push(event);
        }
    }
}
