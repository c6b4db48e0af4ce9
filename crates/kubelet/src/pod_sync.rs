//! One step of a pod's worker, level-triggered like upstream's `computePodActions`: from
//! what the worker knows of each container, decide what to start, restart or kill next.

use std::time::Duration;

use chrono::{DateTime, Utc};
use runtime::{ContainerState, ContainerStatus};

use crate::containers::{go_duration, should_restart, Kind, Waiting};
use crate::pod_worker::{State, Worker};
use crate::probe::{ProbeKind, ProbeReport};
use crate::sandbox::sandbox_config;
use crate::volumes::{self, VolumeContext};

/// How often volume files (configMap, secret, downwardAPI) are refreshed.
const VOLUME_REFRESH: Duration = Duration::from_secs(60);

/// The earliest of several wake-up times.
#[derive(Default)]
pub(crate) struct Wake(Option<DateTime<Utc>>);

impl Wake {
    pub(crate) fn at(&mut self, t: DateTime<Utc>) {
        self.0 = Some(self.0.map_or(t, |w| w.min(t)));
    }
}

/// Where initialization stands.
enum Init {
    /// Waiting for an init container (running, starting, or backing off).
    Blocked,
    /// Every regular init container succeeded and every sidecar started.
    Done,
    /// A regular init container failed under `restartPolicy: Never`.
    Failed,
}

impl Worker {
    /// One step; returns when the worker wants to look again without an event.
    pub(crate) async fn sync(&mut self) -> Option<DateTime<Utc>> {
        if !self.stale_containers.is_empty() || self.stale_sandbox.is_some() {
            self.remove_stale().await;
        }
        if self.deletion_requested() && !matches!(self.state, State::Terminating | State::Done) {
            tracing::info!(pod = %self.key, "pod deletion requested; terminating");
            self.state = State::Terminating;
        }
        let deadline = match self.state {
            State::Preparing | State::Initializing | State::Running => self.active_deadline(),
            _ => None,
        };
        if deadline.is_some_and(|d| d <= self.now()) {
            self.exceed_deadline().await;
            return None;
        }
        let wake = match self.state {
            State::Preparing => self.sync_preparing().await,
            State::Initializing | State::Running => self.sync_containers().await,
            State::Terminating => {
                self.terminate().await;
                None
            }
            State::Finished | State::Done => None,
        };
        match (wake, deadline) {
            (Some(w), Some(d)) => Some(w.min(d)),
            (w, d) => w.or(d),
        }
    }

    /// When the pod's `activeDeadlineSeconds` run out, counted from its start time.
    fn active_deadline(&self) -> Option<DateTime<Utc>> {
        let secs = self.pod.spec.as_ref()?.active_deadline_seconds?;
        let start = self.start_time.as_ref().map(crate::clock::from_k8s_time)?;
        Some(start + chrono::Duration::seconds(secs))
    }

    /// The pod ran past its deadline: every container is stopped and the pod fails with
    /// reason DeadlineExceeded.
    async fn exceed_deadline(&mut self) {
        let message = "Pod was active on the node longer than the specified deadline";
        self.event(String::new(), "Normal", "DeadlineExceeded", message.into());
        let grace = self.grace_period();
        for i in 0..self.records.len() {
            if self.records[i].kind == crate::containers::Kind::App && self.records[i].running() {
                self.kill_one(i, None, Some(grace)).await;
            }
        }
        self.status_reason = Some(("DeadlineExceeded".into(), message.into()));
        self.finish().await;
        self.terminal_phase = Some("Failed".into());
    }

    fn retry_later(&mut self, what: &str) -> DateTime<Utc> {
        let now = self.now();
        self.retry_backoff.next(what, now, now);
        let at = now + chrono::Duration::from_std(self.retry_backoff.get(what)).unwrap_or_default();
        self.retry_at = Some(at);
        at
    }

    pub(crate) async fn setup_volumes(&mut self) -> Result<(), String> {
        let facts = self.pod_facts();
        let ctx = VolumeContext {
            pod: &self.pod,
            dirs: &self.dirs,
            facts: &facts,
            api: self.deps.api.as_ref(),
            host: self.deps.host.as_ref(),
        };
        let vols = volumes::setup(&ctx).await?;
        self.volumes = Some(vols);
        self.volumes_refreshed = Some(self.now());
        Ok(())
    }

    /// Volumes, then the sandbox.
    async fn sync_preparing(&mut self) -> Option<DateTime<Utc>> {
        let now = self.now();
        if let Some(at) = self.retry_at.filter(|at| *at > now) {
            return Some(at);
        }
        if let Err(message) = self.setup_volumes().await {
            self.event(String::new(), "Warning", "FailedMount", message);
            return Some(self.retry_later("volumes"));
        }
        self.retry_backoff.reset("volumes");
        let config = sandbox_config(&self.pod, &self.key, &self.deps.node.dns);
        match self.deps.runtime.create_sandbox(&config).await {
            Ok(sandbox) => {
                tracing::info!(pod = %self.key, sandbox = %sandbox.id, ip = ?sandbox.ip, "sandbox created");
                self.last_pod_ip = sandbox.ip;
                self.sandbox = Some(sandbox);
                self.retry_at = None;
                self.retry_backoff.reset("sandbox");
                self.state = State::Initializing;
                Some(now)
            }
            Err(e) => {
                self.event(
                    String::new(),
                    "Warning",
                    "FailedCreatePodSandBox",
                    format!("Failed to create pod sandbox: {e}"),
                );
                Some(self.retry_later("sandbox"))
            }
        }
    }

    async fn sync_containers(&mut self) -> Option<DateTime<Utc>> {
        let now = self.now();
        let mut wake = Wake::default();
        let refresh_due = self.volumes_refreshed.is_none_or(|t| {
            now - t >= chrono::Duration::from_std(VOLUME_REFRESH).unwrap_or_default()
        });
        if self.volumes.is_none() || refresh_due {
            if let Err(message) = self.setup_volumes().await {
                if self.volumes.is_none() {
                    self.event(String::new(), "Warning", "FailedMount", message);
                    return Some(self.retry_later("volumes"));
                }
                tracing::warn!(pod = %self.key, error = %message, "refreshing volumes failed");
            }
        }
        for i in 0..self.records.len() {
            if let Some(message) = self.records[i].kill_requested.take() {
                if self.records[i].running() {
                    self.kill_one(i, Some(message), None).await;
                }
            }
        }
        if self.state == State::Initializing {
            match self.sync_init(&mut wake).await {
                Init::Blocked => return wake.0,
                Init::Failed => {
                    self.finish().await;
                    return None;
                }
                Init::Done => {
                    tracing::info!(pod = %self.key, "pod initialized");
                    self.state = State::Running;
                }
            }
        }
        let policy = self.restart_policy();
        let mut apps_done = true;
        for i in 0..self.records.len() {
            let rec = &self.records[i];
            let restart = match (rec.kind, rec.current.as_ref()) {
                (Kind::Init, _) => continue,
                (Kind::App, None) => {
                    apps_done = false;
                    true
                }
                (Kind::Sidecar, None) => true,
                (_, Some(c)) if c.running() => {
                    if rec.kind == Kind::App {
                        apps_done = false;
                    }
                    false
                }
                (Kind::Sidecar, Some(_)) => true,
                (Kind::App, Some(c)) => {
                    let again = should_restart(&policy, c.exit_code().unwrap_or(0));
                    apps_done &= !again;
                    again
                }
            };
            if restart {
                self.restart_if_due(i, &mut wake).await;
            }
        }
        if apps_done {
            self.finish().await;
            return None;
        }
        wake.0
    }

    /// Starts (or restarts) container `i` unless a back-off or retry time is ahead; returns
    /// whether it was started.
    async fn restart_if_due(&mut self, i: usize, wake: &mut Wake) -> bool {
        let now = self.now();
        if let Some(at) = self.records[i].retry_at.filter(|at| *at > now) {
            wake.at(at);
            return false;
        }
        if let Some(end) = self.in_crash_backoff(i) {
            wake.at(end);
            return false;
        }
        let started = self.start(i).await;
        if !started {
            if let Some(at) = self.records[i].retry_at {
                wake.at(at);
            }
        } else if self.records[i].exit_code().is_some() {
            // It ended at once (a start error): no exit event will come; look again now.
            wake.at(self.now());
        }
        started
    }

    async fn sync_init(&mut self, wake: &mut Wake) -> Init {
        let policy = self.restart_policy();
        for i in 0..self.records.len() {
            let rec = &self.records[i];
            let needs_start = match (rec.kind, rec.current.as_ref()) {
                (Kind::App, _) => continue,
                (_, None) => true,
                (Kind::Init, Some(c)) if c.running() => return Init::Blocked,
                (Kind::Init, Some(c)) => match c.exit_code() {
                    Some(0) => continue,
                    _ if policy == "Never" => return Init::Failed,
                    _ => true,
                },
                (Kind::Sidecar, Some(c)) if c.running() => {
                    if rec.started {
                        continue;
                    }
                    return Init::Blocked;
                }
                (Kind::Sidecar, Some(_)) => true,
            };
            if needs_start && !self.restart_if_due(i, wake).await {
                return Init::Blocked;
            }
            let rec = &self.records[i];
            match rec.kind {
                Kind::Sidecar if rec.started && rec.running() => continue,
                Kind::Init if rec.exit_code().is_some() => {
                    // It ended at once (a start error): look again now.
                    wake.at(self.now());
                    return Init::Blocked;
                }
                _ => return Init::Blocked,
            }
        }
        Init::Done
    }

    /// Whether container `i`'s restart must wait (upstream `doBackOff`): the end of the
    /// back-off, with the CrashLoopBackOff waiting reason set. Otherwise counts the restart.
    fn in_crash_backoff(&mut self, i: usize) -> Option<DateTime<Utc>> {
        let now = self.now();
        let rec = &self.records[i];
        let finished = rec
            .current
            .as_ref()
            .filter(|c| c.exited())?
            .status
            .finished_at
            .unwrap_or(now);
        let name = rec.spec.name.clone();
        if let Some(end) = self.crash_backoff.in_backoff_since(&name, finished, now) {
            let pod = format!("{}_{}({})", self.key.name, self.key.namespace, self.key.uid);
            let delay = go_duration(self.crash_backoff.get(&name));
            let first = self.records[i]
                .waiting
                .as_ref()
                .is_none_or(|w| w.reason != "CrashLoopBackOff");
            self.records[i].waiting = Some(Waiting::new(
                "CrashLoopBackOff",
                format!("back-off {delay} restarting failed container={name} pod={pod}"),
            ));
            if first {
                let path = self.records[i].field_path();
                self.event(
                    path,
                    "Warning",
                    "BackOff",
                    format!("Back-off restarting failed container {name} in pod {pod}"),
                );
            }
            return Some(end);
        }
        self.crash_backoff.next(&name, finished, now);
        None
    }

    /// A container ended: record its final status and termination message.
    pub(crate) fn record_exit(&mut self, mut status: ContainerStatus) {
        let Some(i) = self
            .records
            .iter()
            .position(|r| r.current.as_ref().is_some_and(|c| c.id == status.id))
        else {
            return;
        };
        if status.state != ContainerState::Exited {
            status.state = ContainerState::Exited;
        }
        if status.message.is_none() {
            status.message = self.termination_message(i, &status);
        }
        tracing::info!(pod = %self.key, container = %status.name, exit_code = ?status.exit_code, "container exited");
        let rec = &mut self.records[i];
        rec.stop_probes();
        rec.ready = false;
        rec.started = false;
        if let Some(c) = rec.current.as_mut() {
            c.status = status;
        }
    }

    /// The termination message: the file at terminationMessagePath, or with
    /// `FallbackToLogsOnError` and a failure, the end of the log.
    fn termination_message(&self, i: usize, status: &ContainerStatus) -> Option<String> {
        let rec = &self.records[i];
        let path = self.dirs.termination_path(&rec.spec.name, status.attempt);
        let mut text = std::fs::read(&path)
            .map(|b| String::from_utf8_lossy(&b[..b.len().min(4096)]).into_owned())
            .unwrap_or_default();
        let fallback =
            rec.spec.termination_message_policy.as_deref() == Some("FallbackToLogsOnError");
        if text.is_empty() && fallback && status.exit_code.unwrap_or(0) != 0 {
            if let Ok(log) = std::fs::read(&status.log_path) {
                text = crate::cri_log::tail_text(&log, 80, 2048);
            }
        }
        (!text.is_empty()).then_some(text)
    }

    /// A probe's result changed.
    pub(crate) fn record_probe(&mut self, report: ProbeReport) {
        let Some(i) = self.records.iter().position(|r| {
            r.current
                .as_ref()
                .is_some_and(|c| c.id == report.id && c.running())
        }) else {
            return;
        };
        let name = self.records[i].spec.name.clone();
        match (report.kind, report.success) {
            (ProbeKind::Startup, true) => {
                self.records[i].started = true;
                self.start_probes(i, false);
            }
            (ProbeKind::Startup, false) => {
                self.records[i].kill_requested = Some(format!(
                    "Container {name} failed startup probe, will be restarted"
                ));
            }
            (ProbeKind::Liveness, false) => {
                self.records[i].kill_requested = Some(format!(
                    "Container {name} failed liveness probe, will be restarted"
                ));
            }
            (ProbeKind::Liveness, true) => {}
            (ProbeKind::Readiness, ready) => self.records[i].ready = ready,
        }
    }
}
