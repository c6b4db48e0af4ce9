//! Re-adoption after an agent restart: a sandbox found in the runtime for a pod that is
//! still in the API is taken over as it is — no container restarts; containers that ended
//! while the agent was away report their exit. A pod the API already has as terminal is
//! left alone (and anything left of it in the runtime removed).

use runtime::{ContainerState, SandboxState};

use crate::containers::{Instance, Kind};
use crate::images::{ImageConfig, ImageInfo};
use crate::pod_worker::{State, Worker};

impl Worker {
    pub(crate) fn adopt(&mut self, found: Option<SandboxState>) {
        let phase = self
            .pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        if phase == "Succeeded" || phase == "Failed" {
            self.status_frozen = true;
            self.terminal_phase = Some(phase);
            self.state = State::Finished;
            if let Some(found) = found {
                self.stale_containers
                    .extend(found.containers.iter().map(|c| c.id.clone()));
                self.stale_sandbox = Some(found.sandbox.id);
            }
            return;
        }
        let Some(found) = found else {
            return;
        };
        tracing::info!(pod = %self.key, sandbox = %found.sandbox.id, ready = found.ready, "re-adopting the pod's sandbox");
        let api_statuses: Vec<k8s_openapi::api::core::v1::ContainerStatus> = self
            .pod
            .status
            .as_ref()
            .map(|s| {
                let mut all = s.init_container_statuses.clone().unwrap_or_default();
                all.extend(s.container_statuses.clone().unwrap_or_default());
                all
            })
            .unwrap_or_default();
        let mut exited = Vec::new();
        let mut running = Vec::new();
        for i in 0..self.records.len() {
            let name = self.records[i].spec.name.clone();
            let mut mine: Vec<&runtime::ContainerStatus> =
                found.containers.iter().filter(|c| c.name == name).collect();
            mine.sort_by_key(|c| std::cmp::Reverse(c.attempt));
            let Some(latest) = mine.first() else {
                continue;
            };
            self.stale_containers
                .extend(mine.iter().skip(2).map(|c| c.id.clone()));
            let rec = &mut self.records[i];
            rec.current = Some(Instance::from_status((*latest).clone()));
            rec.previous = mine.get(1).map(|c| Instance::from_status((*c).clone()));
            let image = self
                .deps
                .images
                .resolve(&latest.image)
                .ok()
                .flatten()
                .unwrap_or_else(|| ImageInfo {
                    id: latest.image_id.clone(),
                    reference: latest.image.clone(),
                    repo_digest: None,
                    config: ImageConfig::default(),
                    size: 0,
                });
            rec.image = Some(image);
            let api = api_statuses.iter().find(|s| {
                s.name == name
                    && s.container_id.as_deref() == Some(&format!("orca://{}", latest.id))
            });
            if matches!(
                latest.state,
                ContainerState::Running | ContainerState::Created
            ) {
                rec.started = api.and_then(|s| s.started).unwrap_or(true);
                rec.ready =
                    api.map(|s| s.ready).unwrap_or(false) || rec.spec.readiness_probe.is_none();
                running.push(i);
            } else {
                exited.push((*latest).clone());
            }
        }
        self.last_pod_ip = found.sandbox.ip;
        if !found.ready {
            // The infra process died: its namespaces are gone. Start over in a new sandbox;
            // the containers count as ended and restart by policy.
            for i in &running {
                if let Some(c) = self.records[*i].current.as_mut() {
                    c.status.state = ContainerState::Exited;
                    c.status.exit_code.get_or_insert(137);
                    c.status
                        .reason
                        .get_or_insert_with(|| "ContainerStatusUnknown".into());
                }
            }
            self.stale_containers
                .extend(found.containers.iter().map(|c| c.id.clone()));
            self.stale_sandbox = Some(found.sandbox.id);
            self.state = State::Preparing;
            return;
        }
        self.sandbox = Some(found.sandbox);
        for status in exited {
            self.record_exit(status);
        }
        for i in running {
            if let Some(id) = self.records[i].current.as_ref().map(|c| c.id.clone()) {
                self.watch_exit(id);
            }
            let (started, ready) = (self.records[i].started, self.records[i].ready);
            self.start_probes_from(i, !started, Some(ready));
        }
        let app_ran = self
            .records
            .iter()
            .any(|r| r.kind == Kind::App && r.current.is_some());
        self.state = if app_ran {
            State::Running
        } else {
            State::Initializing
        };
    }

    /// Removes what adoption found to be left over.
    pub(crate) async fn remove_stale(&mut self) {
        for id in std::mem::take(&mut self.stale_containers) {
            if let Err(e) = self.deps.runtime.remove_container(&id).await {
                tracing::debug!(container = %id, error = %e, "removing a stale container failed");
            }
        }
        if let Some(id) = self.stale_sandbox.take() {
            if let Err(e) = self.deps.runtime.remove_sandbox(&id).await {
                tracing::warn!(sandbox = %id, error = %e, "removing a stale sandbox failed");
            }
        }
    }
}
