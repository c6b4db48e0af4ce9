//! Stopping containers and ending pods: the Killing Event, the preStop hook within the
//! grace period, the stop signal (the image's STOPSIGNAL or SIGTERM) and SIGKILL when the
//! grace period ends; a finished pod's release of its runtime resources; and a deleted
//! pod's termination — app containers together, then sidecars in reverse order, then
//! removal and the final delete from the API.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::LifecycleHandler;
use runtime::{ContainerId, ContainerStatus, Runtime};

use crate::cluster::{PodApi, PodEvent, PodKey};
use crate::containers::Kind;
use crate::phase::pod_phase;
use crate::pod_worker::{State, Worker};
use crate::probe::Target;
use crate::volumes;

/// Every container gets at least this long between its stop signal and SIGKILL.
const MIN_GRACE: Duration = Duration::from_secs(2);
/// The grace of containers of a pod that vanished from the API (force deletion).
const FORCED_GRACE: Duration = Duration::from_secs(1);

/// Everything needed to stop one container incarnation, owned so several stop together.
pub(crate) struct Stop {
    runtime: Arc<dyn Runtime>,
    api: Arc<dyn PodApi>,
    key: PodKey,
    field_path: String,
    id: ContainerId,
    pre_stop: Option<LifecycleHandler>,
    target: Option<Target>,
    signal: String,
    message: String,
    grace: Duration,
    forced: bool,
}

impl Stop {
    fn event(&self, type_: &'static str, reason: &'static str, message: String) {
        self.api.event(PodEvent {
            pod: self.key.clone(),
            field_path: self.field_path.clone(),
            type_,
            reason,
            message,
        });
    }

    /// Stops the container and returns its final status.
    pub(crate) async fn run(self) -> Option<ContainerStatus> {
        self.event("Normal", "Killing", self.message.clone());
        let mut grace = self.grace;
        if let (Some(hook), Some(target), false) = (&self.pre_stop, &self.target, self.forced) {
            if !grace.is_zero() {
                let began = tokio::time::Instant::now();
                match tokio::time::timeout(grace, crate::hooks::run(hook, target, grace)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(message)) => self.event("Warning", "FailedPreStopHook", message),
                    Err(_) => self.event(
                        "Warning",
                        "FailedPreStopHook",
                        format!(
                            "PreStopHook did not finish within the grace period of {}s",
                            grace.as_secs()
                        ),
                    ),
                }
                grace = grace.saturating_sub(began.elapsed());
            }
        }
        let grace = if self.forced {
            FORCED_GRACE
        } else {
            grace.max(MIN_GRACE)
        };
        if let Err(e) = self
            .runtime
            .stop_container(&self.id, &self.signal, grace)
            .await
        {
            tracing::warn!(pod = %self.key, container = %self.id, error = %e, "stopping a container failed");
        }
        self.runtime.container_status(&self.id).await.ok()
    }
}

impl Worker {
    /// The pod's termination grace period.
    pub(crate) fn grace_period(&self) -> Duration {
        let secs = self
            .pod
            .metadata
            .deletion_grace_period_seconds
            .or_else(|| {
                self.pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.termination_grace_period_seconds)
            })
            .unwrap_or(30);
        Duration::from_secs(secs.max(0) as u64)
    }

    /// How to stop container `i`'s current incarnation.
    pub(crate) fn stop_plan(
        &self,
        i: usize,
        message: Option<String>,
        grace: Duration,
    ) -> Option<Stop> {
        let rec = &self.records[i];
        let current = rec.current.as_ref().filter(|c| c.running())?;
        let signal = rec
            .spec
            .lifecycle
            .as_ref()
            .and_then(|l| l.stop_signal.clone())
            .or_else(|| {
                rec.image
                    .as_ref()
                    .and_then(|img| img.config.stop_signal.clone())
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "SIGTERM".into());
        Some(Stop {
            runtime: self.deps.runtime.clone(),
            api: self.deps.api.clone(),
            key: self.key.clone(),
            field_path: rec.field_path(),
            id: current.id.clone(),
            pre_stop: rec.spec.lifecycle.as_ref().and_then(|l| l.pre_stop.clone()),
            target: self.target(i),
            signal,
            message: message.unwrap_or_else(|| format!("Stopping container {}", rec.spec.name)),
            grace,
            forced: self.gone,
        })
    }

    /// Stops container `i` now (liveness failure, failed postStart, changed spec, a
    /// finished pod's sidecar).
    pub(crate) async fn kill_one(
        &mut self,
        i: usize,
        message: Option<String>,
        grace: Option<Duration>,
    ) {
        self.records[i].stop_probes();
        let probe_grace = self.records[i]
            .spec
            .liveness_probe
            .as_ref()
            .and_then(|p| p.termination_grace_period_seconds)
            .filter(|_| {
                message
                    .as_deref()
                    .is_some_and(|m| m.contains("failed liveness probe"))
            })
            .map(|s| Duration::from_secs(s.max(0) as u64));
        let grace = grace.or(probe_grace).unwrap_or_else(|| self.grace_period());
        let Some(plan) = self.stop_plan(i, message, grace) else {
            return;
        };
        if let Some(status) = plan.run().await {
            self.record_exit(status);
        }
    }

    /// The phase computed from the containers now, as if the pod were terminal.
    pub(crate) fn final_phase(&self) -> String {
        let default_spec = Default::default();
        let spec = self.pod.spec.as_ref().unwrap_or(&default_spec);
        let (init, app) = self.container_statuses();
        pod_phase(spec, &init, &app, true).to_string()
    }

    /// Stops the sidecars of a pod whose app containers all ended for good, fixes the
    /// phase and releases the runtime's resources (logs stay).
    pub(crate) async fn finish(&mut self) {
        let grace = self.grace_period();
        let deadline = tokio::time::Instant::now() + grace;
        for i in (0..self.records.len()).rev() {
            if self.records[i].kind != Kind::App && self.records[i].running() {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                self.kill_one(i, None, Some(left)).await;
            }
        }
        let phase = self.final_phase();
        tracing::info!(pod = %self.key, phase = %phase, "pod finished");
        self.terminal_phase = Some(phase);
        self.release().await;
        self.state = State::Finished;
    }

    /// Removes the pod's containers and sandbox from the runtime and tears down volumes.
    pub(crate) async fn release(&mut self) {
        for rec in &mut self.records {
            rec.stop_probes();
            for inst in [rec.previous.clone(), rec.current.clone()]
                .into_iter()
                .flatten()
            {
                if let Err(e) = self.deps.runtime.remove_container(&inst.id).await {
                    tracing::warn!(pod = %self.key, container = %inst.id, error = %e, "removing a container failed");
                }
            }
        }
        // Until the sandbox is gone (its processes, mounts, network, cgroup) the pod is not
        // released: the removal is retried with back-off, and a deleted pod stays
        // Terminating meanwhile, as upstream's kubelet keeps it until its resources are
        // reclaimed. Stopping the agent cancels this; the next agent removes it.
        if let Some(sandbox) = self.sandbox.take() {
            let mut delay = Duration::from_millis(200);
            while let Err(e) = self.deps.runtime.remove_sandbox(&sandbox.id).await {
                tracing::warn!(pod = %self.key, sandbox = %sandbox.id, error = %e, "removing the sandbox failed; retrying");
                self.event(
                    String::new(),
                    "Warning",
                    "FailedKillPod",
                    format!("error killing pod: {e}"),
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
        if let Err(e) = volumes::teardown(&self.dirs, self.deps.host.as_ref()) {
            tracing::warn!(pod = %self.key, error = %e, "tearing down volumes failed");
        }
    }

    /// Graceful termination of a deleted pod, then its removal from the node and the API.
    pub(crate) async fn terminate(&mut self) {
        let grace = self.grace_period();
        let deadline = tokio::time::Instant::now() + grace;
        for rec in &mut self.records {
            rec.stop_probes();
        }
        let plans: Vec<(usize, Stop)> = (0..self.records.len())
            .filter(|&i| self.records[i].kind != Kind::Sidecar)
            .filter_map(|i| self.stop_plan(i, None, grace).map(|p| (i, p)))
            .collect();
        let results = futures::future::join_all(
            plans
                .into_iter()
                .map(|(i, p)| async move { (i, p.run().await) }),
        )
        .await;
        for (_, status) in results {
            if let Some(s) = status {
                self.record_exit(s);
            }
        }
        for i in (0..self.records.len()).rev() {
            if self.records[i].kind != Kind::Sidecar {
                continue;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if let Some(plan) = self.stop_plan(i, None, left) {
                if let Some(s) = plan.run().await {
                    self.record_exit(s);
                }
            }
        }
        if self.terminal_phase.is_none() {
            self.terminal_phase = Some(self.final_phase());
        }
        self.release().await;
        if let Err(e) = volumes::remove_pod_dir(&self.dirs, self.deps.host.as_ref()) {
            tracing::warn!(pod = %self.key, error = %e, "removing the pod's directory failed");
        }
        if !self.gone {
            if !self.status_frozen {
                let status = self.build_status();
                self.last_status = Some(status.clone());
                if let Err(e) = self.deps.api.patch_status(&self.key, &status).await {
                    tracing::debug!(pod = %self.key, error = %e, "final status update failed");
                }
            }
            let mut delay = Duration::from_millis(200);
            while let Err(e) = self.deps.api.delete_pod(&self.key).await {
                tracing::warn!(pod = %self.key, error = %e, "deleting the pod failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
        tracing::info!(pod = %self.key, "pod terminated and removed");
        self.state = State::Done;
    }
}
