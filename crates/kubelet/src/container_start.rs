//! Starting one container incarnation: its image, its configuration (argv, env, mounts,
//! security, resources, log file), create and start in the runtime, the postStart hook,
//! its exit watcher and its probes.

use std::time::Duration;

use runtime::{ContainerConfig, ContainerState};
use tokio_util::sync::CancellationToken;

use crate::command::argv;
use crate::containers::{Instance, Waiting};
use crate::env::container_env;
use crate::fieldpath::PodFacts;
use crate::images::ImageInfo;
use crate::pod_worker::{Msg, Worker};
use crate::probe::{self, EventSink, ProbeKind, ProbeTask, Target};
use crate::resources::container_resources;
use crate::security::{container_security, verify_run_as_non_root};
use crate::volumes::container_mounts;

/// How long a failed container configuration or creation waits before the next try.
const RETRY: Duration = Duration::from_secs(10);
/// The longest a postStart hook may run.
const POST_START_TIMEOUT: Duration = Duration::from_secs(300);

/// Why a container configuration could not be built.
enum ConfigError {
    /// CreateContainerConfigError: env or volume references, runAsNonRoot.
    Config(String),
    /// CreateContainerError: nothing to run, image layers missing.
    Create(String),
}

impl Worker {
    /// What the Downward API knows of the pod now.
    pub(crate) fn pod_facts(&self) -> PodFacts {
        PodFacts {
            pod_ips: self
                .pod_ip()
                .map(|ip| vec![ip.to_string()])
                .unwrap_or_default(),
            host_ips: vec![self.deps.node.ip.to_string()],
            allocatable: self.deps.node.allocatable.clone(),
        }
    }

    /// The pod's IP: the sandbox's, or the node's with host networking.
    pub(crate) fn pod_ip(&self) -> Option<std::net::IpAddr> {
        let sandbox = self.sandbox.as_ref()?;
        sandbox.ip.or_else(|| {
            let host = self
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.host_network)
                .unwrap_or(false);
            host.then_some(self.deps.node.ip)
        })
    }

    /// How probes and hooks reach container `i`'s current incarnation.
    pub(crate) fn target(&self, i: usize) -> Option<Target> {
        let rec = &self.records[i];
        Some(Target {
            runtime: self.deps.runtime.clone(),
            id: rec.current.as_ref()?.id.clone(),
            pod_ip: self.pod_ip(),
            ports: rec.spec.ports.clone().unwrap_or_default(),
        })
    }

    fn set_waiting(&mut self, i: usize, reason: &str, message: String, retry: Duration) {
        let at = self.now() + chrono::Duration::from_std(retry).unwrap_or_default();
        let rec = &mut self.records[i];
        rec.waiting = Some(Waiting::new(reason, message));
        rec.retry_at = Some(at);
    }

    async fn container_config(
        &self,
        i: usize,
        image: &ImageInfo,
        attempt: u32,
    ) -> Result<ContainerConfig, ConfigError> {
        let rec = &self.records[i];
        let spec = self
            .pod
            .spec
            .as_ref()
            .ok_or_else(|| ConfigError::Config("pod has no spec".into()))?;
        let c = &rec.spec;
        let facts = self.pod_facts();
        let env = container_env(&self.pod, c, &facts, self.deps.api.as_ref())
            .await
            .map_err(ConfigError::Config)?;
        let env_map = env.to_map();
        let args = argv(c, &image.config, &env_map)
            .ok_or_else(|| ConfigError::Create("no command specified".into()))?;
        let empty = Default::default();
        let mounts = container_mounts(c, self.volumes.as_ref().unwrap_or(&empty), &env_map)
            .map_err(ConfigError::Config)?;
        let security = container_security(spec, c);
        verify_run_as_non_root(spec, c, &security, image.config.user.as_deref())
            .map_err(ConfigError::Config)?;
        let log_path = self.dirs.log_path(&c.name, attempt);
        let term = self.dirs.termination_path(&c.name, attempt);
        let io_err = |e: std::io::Error| {
            ConfigError::Create(format!("preparing the container's files: {e}"))
        };
        if let Some(dir) = log_path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err)?;
        }
        std::fs::write(&term, b"").map_err(io_err)?;
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&term, std::fs::Permissions::from_mode(0o666));
        }
        let term_target = c
            .termination_message_path
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/dev/termination-log".into());
        let layers = self
            .deps
            .images
            .layer_dirs(image)
            .map_err(|e| ConfigError::Create(e.to_string()))?;
        let sandbox_hostname =
            crate::sandbox::sandbox_config(&self.pod, &self.key, &Default::default()).hostname;
        let mut base = vec![format!("HOSTNAME={sandbox_hostname}")];
        base.extend(image.config.env.iter().cloned());
        Ok(ContainerConfig {
            name: c.name.clone(),
            attempt,
            image_layers: layers,
            image: image.reference.clone(),
            image_id: image.image_id(),
            args,
            env: env.to_runtime(&base),
            working_dir: c
                .working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .or_else(|| image.config.working_dir.clone()),
            image_user: image.config.user.clone().filter(|u| !u.is_empty()),
            mounts,
            resources: container_resources(c),
            security,
            log_path,
            termination_message_path: Some(term),
            termination_message_container_path: Some(term_target),
            tty: c.tty.unwrap_or(false),
            stdin: c.stdin.unwrap_or(false),
        })
    }

    /// Starts a new incarnation of container `i`. Returns false when it could not be
    /// created (the waiting reason and retry time are set); true when it started or
    /// failed to start (then it counts as exited, and restarts by policy).
    pub(crate) async fn start(&mut self, i: usize) -> bool {
        let image = match self.ensure_image(i).await {
            Ok(image) => image,
            Err(()) => return false,
        };
        self.records[i].image = Some(image.clone());
        let attempt = self.records[i].next_attempt();
        let name = self.records[i].spec.name.clone();
        let path = self.records[i].field_path();
        let config = match self.container_config(i, &image, attempt).await {
            Ok(c) => c,
            Err(ConfigError::Config(message)) => {
                self.event(path, "Warning", "Failed", format!("Error: {message}"));
                self.set_waiting(i, "CreateContainerConfigError", message, RETRY);
                return false;
            }
            Err(ConfigError::Create(message)) => {
                self.event(path, "Warning", "Failed", format!("Error: {message}"));
                self.set_waiting(i, "CreateContainerError", message, RETRY);
                return false;
            }
        };
        let Some(sandbox) = self.sandbox.as_ref().map(|s| s.id.clone()) else {
            return false;
        };
        let id = match self.deps.runtime.create_container(&sandbox, &config).await {
            Ok(id) => id,
            Err(e) => {
                let message = e.to_string();
                self.event(path, "Warning", "Failed", format!("Error: {message}"));
                self.set_waiting(i, "CreateContainerError", message, RETRY);
                return false;
            }
        };
        self.event(
            path.clone(),
            "Normal",
            "Created",
            format!("Created container: {name}"),
        );
        let started = self.deps.runtime.start_container(&id).await;
        let mut status = match self.deps.runtime.container_status(&id).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(pod = %self.key, container = %name, error = %e, "reading a new container's status failed");
                runtime::ContainerStatus {
                    id: id.clone(),
                    name: name.clone(),
                    attempt,
                    state: ContainerState::Running,
                    pid: None,
                    created_at: self.now(),
                    started_at: Some(self.now()),
                    finished_at: None,
                    exit_code: None,
                    reason: None,
                    message: None,
                    image: config.image.clone(),
                    image_id: config.image_id.clone(),
                    log_path: config.log_path.clone(),
                }
            }
        };
        let rec = &mut self.records[i];
        if let Some(old) = rec.previous.take() {
            if let Err(e) = self.deps.runtime.remove_container(&old.id).await {
                tracing::warn!(container = %name, error = %e, "removing an old container failed");
            }
        }
        let rec = &mut self.records[i];
        rec.stop_probes();
        rec.previous = rec.current.take();
        rec.waiting = None;
        rec.retry_at = None;
        rec.ready = false;
        rec.started = false;
        if let Err(e) = started {
            // Like containerd: a container that cannot start ended with 128 (StartError).
            let now = self.now();
            if status.state != ContainerState::Exited {
                status.state = ContainerState::Exited;
                status.exit_code = Some(128);
                status.reason = Some("StartError".into());
                status.started_at.get_or_insert(now);
                status.finished_at = Some(now);
            }
            status.message.get_or_insert_with(|| e.to_string());
            self.records[i].current = Some(Instance {
                id,
                attempt,
                status,
            });
            self.event(path, "Warning", "Failed", format!("Error: {e}"));
            return true;
        }
        tracing::info!(pod = %self.key, container = %name, attempt, "container started");
        self.records[i].current = Some(Instance {
            id: id.clone(),
            attempt,
            status,
        });
        self.event(
            path.clone(),
            "Normal",
            "Started",
            format!("Started container {name}"),
        );
        self.watch_exit(id);
        if let Some(hook) = self.records[i]
            .spec
            .lifecycle
            .as_ref()
            .and_then(|l| l.post_start.clone())
        {
            let Some(target) = self.target(i) else {
                return true;
            };
            let result = tokio::select! {
                r = crate::hooks::run(&hook, &target, POST_START_TIMEOUT) => r,
                _ = self.deletion.cancelled() => Ok(()),
            };
            if let Err(message) = result {
                self.event(path, "Warning", "FailedPostStartHook", message);
                self.kill_one(
                    i,
                    Some(format!(
                        "FailedPostStartHook: container {name} will be restarted"
                    )),
                    None,
                )
                .await;
                return true;
            }
        }
        self.start_probes(i, true);
        true
    }

    /// Resolves when the container exits, through the worker's inbox.
    pub(crate) fn watch_exit(&self, id: runtime::ContainerId) {
        let runtime = self.deps.runtime.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            match runtime.wait_container(&id).await {
                Ok(status) => {
                    let _ = tx.send(Msg::Exited(status));
                }
                Err(e) => {
                    tracing::debug!(container = %id, error = %e, "waiting for a container failed")
                }
            }
        });
    }

    /// Starts the probes of container `i`: the startup probe alone while it has not
    /// passed (`startup` true), then liveness and readiness.
    pub(crate) fn start_probes(&mut self, i: usize, startup: bool) {
        self.start_probes_from(i, startup, None);
    }

    /// [`Self::start_probes`], with the readiness a re-adopted container had.
    pub(crate) fn start_probes_from(&mut self, i: usize, startup: bool, ready: Option<bool>) {
        let Some(target) = self.target(i) else {
            return;
        };
        let rec = &self.records[i];
        let spec = rec.spec.clone();
        let sink = EventSink {
            api: self.deps.api.clone(),
            template: crate::cluster::PodEvent {
                pod: self.key.clone(),
                field_path: rec.field_path(),
                type_: "Warning",
                reason: "Unhealthy",
                message: String::new(),
            },
        };
        let cancel = match &rec.probes {
            Some(c) => c.clone(),
            None => CancellationToken::new(),
        };
        let mut probes = Vec::new();
        if startup && spec.startup_probe.is_some() {
            probes.extend(spec.startup_probe.clone().map(|p| (ProbeKind::Startup, p)));
        } else {
            probes.extend(
                spec.liveness_probe
                    .clone()
                    .map(|p| (ProbeKind::Liveness, p)),
            );
            probes.extend(
                spec.readiness_probe
                    .clone()
                    .map(|p| (ProbeKind::Readiness, p)),
            );
        }
        let rec = &mut self.records[i];
        if startup {
            rec.started = spec.startup_probe.is_none();
        }
        if rec.started {
            rec.ready = ready.unwrap_or(spec.readiness_probe.is_none());
        }
        rec.probes = Some(cancel.clone());
        let initially_ready = rec.ready;
        for (kind, p) in probes {
            let task = ProbeTask {
                kind,
                probe: p,
                target: target.clone(),
                container: spec.name.clone(),
                events: sink.clone(),
                initially_ready,
            };
            probe::spawn(task, self.tx.clone(), cancel.child_token());
        }
    }
}
