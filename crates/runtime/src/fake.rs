//! A recording fake of [`crate::Runtime`] for the agent's unit tests.
//!
//! Every call is recorded as a [`Call`]; containers behave as scripted per container name
//! and attempt ([`Behavior`]): run until stopped, exit with a code after a delay, fail to be
//! created or started, ignore SIGTERM. Time comes from tokio's clock, so a test with paused
//! time (`#[tokio::test(start_paused = true)]`) is deterministic: timestamps are a fixed
//! epoch plus the tokio time elapsed since the fake was made.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tokio::sync::watch;

use crate::{
    ContainerConfig, ContainerId, ContainerState, ContainerStatus, Error, ExecResult, Result,
    Runtime, Sandbox, SandboxConfig, SandboxId, SandboxState,
};

/// One recorded call. Containers are named `namespace/pod/container` so tests of several
/// pods can tell them apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    CreateSandbox {
        pod: String,
    },
    RemoveSandbox {
        pod: String,
    },
    CreateContainer {
        container: String,
        attempt: u32,
    },
    StartContainer {
        container: String,
        attempt: u32,
    },
    StopContainer {
        container: String,
        attempt: u32,
        signal: String,
        grace: Duration,
    },
    RemoveContainer {
        container: String,
        attempt: u32,
    },
    ExecSync {
        container: String,
        command: Vec<String>,
    },
}

/// How one container incarnation behaves.
#[derive(Clone, Debug, Default)]
pub struct Behavior {
    /// `create_container` fails with this message.
    pub create_error: Option<String>,
    /// `start_container` fails with this message (the container is left exited, 128).
    pub start_error: Option<String>,
    /// Exits by itself after the delay with the code; `None` runs until stopped.
    pub exit: Option<(Duration, i32)>,
    /// The exit is the kernel's OOM killer (reason `OOMKilled`, code 137).
    pub oom: bool,
    /// SIGTERM does not end it: it runs until SIGKILL at the end of the grace period.
    pub ignore_sigterm: bool,
    /// Lines written to its log file (stdout, CRI format) when it starts.
    pub output: Vec<String>,
}

impl Behavior {
    /// Runs until stopped.
    pub fn runs() -> Behavior {
        Behavior::default()
    }

    /// Exits with `code` after `after`.
    pub fn exits(code: i32, after: Duration) -> Behavior {
        Behavior {
            exit: Some((after, code)),
            ..Default::default()
        }
    }

    /// Is killed by the OOM killer after `after`.
    pub fn oom_killed(after: Duration) -> Behavior {
        Behavior {
            exit: Some((after, 137)),
            oom: true,
            ..Default::default()
        }
    }

    /// `create_container` fails.
    pub fn create_fails(message: &str) -> Behavior {
        Behavior {
            create_error: Some(message.to_string()),
            ..Default::default()
        }
    }

    /// `start_container` fails.
    pub fn start_fails(message: &str) -> Behavior {
        Behavior {
            start_error: Some(message.to_string()),
            ..Default::default()
        }
    }

    pub fn ignoring_sigterm(mut self) -> Behavior {
        self.ignore_sigterm = true;
        self
    }

    pub fn with_output(mut self, lines: &[&str]) -> Behavior {
        self.output = lines.iter().map(|l| l.to_string()).collect();
        self
    }
}

/// What an exec into a container returns, given its command.
pub type ExecHandler = Arc<dyn Fn(&[String]) -> ExecResult + Send + Sync>;

struct FakeContainer {
    key: String,
    sandbox: SandboxId,
    behavior: Behavior,
    status: watch::Sender<ContainerStatus>,
}

struct FakeSandbox {
    sandbox: Sandbox,
    ready: bool,
}

#[derive(Default)]
struct Inner {
    calls: Vec<(DateTime<Utc>, Call)>,
    configs: Vec<(String, ContainerConfig)>,
    sandboxes: BTreeMap<SandboxId, FakeSandbox>,
    containers: BTreeMap<ContainerId, FakeContainer>,
    scripts: HashMap<String, Vec<Behavior>>,
    sandbox_errors: Vec<String>,
    sandbox_removal_errors: Vec<String>,
    exec: HashMap<String, ExecHandler>,
    creates: HashMap<String, usize>,
    next_id: u64,
}

/// A deterministic in-memory [`Runtime`].
#[derive(Clone)]
pub struct FakeRuntime {
    inner: Arc<Mutex<Inner>>,
    epoch: DateTime<Utc>,
    base: tokio::time::Instant,
}

impl Default for FakeRuntime {
    fn default() -> Self {
        FakeRuntime::new()
    }
}

impl FakeRuntime {
    /// A running container named `name` in a fresh sandbox of pod ns/p: the starting point
    /// of exec, probe and hook tests.
    pub async fn running_container(&self, name: &str) -> ContainerId {
        let pod = crate::PodRef {
            namespace: "ns".into(),
            name: "p".into(),
            uid: "u".into(),
        };
        let sb = self
            .create_sandbox(&SandboxConfig {
                pod,
                ..Default::default()
            })
            .await
            .expect("the fake creates sandboxes");
        let config = ContainerConfig {
            name: name.into(),
            ..Default::default()
        };
        let id = self
            .create_container(&sb.id, &config)
            .await
            .expect("the fake creates containers");
        self.start_container(&id)
            .await
            .expect("the fake starts containers");
        id
    }

    /// A fake whose clock starts at 2026-01-01T00:00:00Z.
    pub fn new() -> FakeRuntime {
        FakeRuntime::with_epoch(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap())
    }

    /// A fake whose clock starts at `epoch`, now.
    pub fn with_epoch(epoch: DateTime<Utc>) -> FakeRuntime {
        FakeRuntime {
            inner: Arc::default(),
            epoch,
            base: tokio::time::Instant::now(),
        }
    }

    /// The fake's wall clock: the epoch plus tokio time elapsed.
    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now().duration_since(self.base);
        self.epoch + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Scripts the containers named `container` (in any pod): the `n`th creation (the
    /// `n`th attempt, unless creations failed) behaves as `behaviors[n]`, the last entry
    /// repeating.
    pub fn script(&self, container: &str, behaviors: Vec<Behavior>) {
        self.lock().scripts.insert(container.to_string(), behaviors);
    }

    /// The next `count` calls of `remove_sandbox` fail with `message` (removing nothing).
    pub fn fail_sandbox_removals(&self, count: usize, message: &str) {
        let mut inner = self.lock();
        inner
            .sandbox_removal_errors
            .extend(std::iter::repeat_n(message.to_string(), count));
    }

    /// The next `create_sandbox` fails with `message`.
    pub fn fail_next_sandbox(&self, message: &str) {
        self.lock().sandbox_errors.push(message.to_string());
    }

    /// Execs into containers named `container` answer with `handler`.
    pub fn on_exec(
        &self,
        container: &str,
        handler: impl Fn(&[String]) -> ExecResult + Send + Sync + 'static,
    ) {
        self.lock()
            .exec
            .insert(container.to_string(), Arc::new(handler));
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.iter().map(|(_, c)| c.clone()).collect()
    }

    /// Every call so far, with the fake clock's time it was made.
    pub fn timed_calls(&self) -> Vec<(DateTime<Utc>, Call)> {
        self.lock().calls.clone()
    }

    /// The configuration of the latest container created as `key` (`namespace/pod/container`).
    pub fn config(&self, key: &str) -> Option<ContainerConfig> {
        self.lock()
            .configs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, c)| c.clone())
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// Current status of every container (`namespace/pod/container` keys).
    pub fn containers(&self) -> Vec<(String, ContainerStatus)> {
        let inner = self.lock();
        inner
            .containers
            .values()
            .map(|c| (c.key.clone(), c.status.borrow().clone()))
            .collect()
    }

    /// The status of the latest attempt of `key` (`namespace/pod/container`).
    pub fn latest(&self, key: &str) -> Option<ContainerStatus> {
        let inner = self.lock();
        inner
            .containers
            .values()
            .filter(|c| c.key == key)
            .map(|c| c.status.borrow().clone())
            .max_by_key(|s| s.attempt)
    }

    /// Ids of the sandboxes that exist.
    pub fn sandbox_ids(&self) -> Vec<SandboxId> {
        self.lock().sandboxes.keys().cloned().collect()
    }

    /// The infra process of a sandbox dies: it is no longer ready and its containers exit.
    pub fn kill_sandbox(&self, id: &SandboxId) {
        let now = self.now();
        let mut inner = self.lock();
        if let Some(s) = inner.sandboxes.get_mut(id) {
            s.ready = false;
        }
        for c in inner.containers.values().filter(|c| &c.sandbox == id) {
            exit(&c.status, now, 137, "Error");
        }
    }

    /// Makes a running container exit now with `code`, as if it ended by itself.
    pub fn exit_container(&self, key: &str, code: i32) {
        let now = self.now();
        let inner = self.lock();
        for c in inner.containers.values().filter(|c| c.key == key) {
            let reason = if code == 0 { "Completed" } else { "Error" };
            exit(&c.status, now, code, reason);
        }
    }

    fn record(&self, call: Call) {
        let now = self.now();
        self.lock().calls.push((now, call));
    }

    fn container(
        &self,
        id: &ContainerId,
    ) -> Result<(String, u32, watch::Sender<ContainerStatus>, Behavior)> {
        let inner = self.lock();
        let c = inner
            .containers
            .get(id)
            .ok_or_else(|| Error::ContainerNotFound(id.0.clone()))?;
        let attempt = c.status.borrow().attempt;
        Ok((c.key.clone(), attempt, c.status.clone(), c.behavior.clone()))
    }
}

/// Marks a container exited unless it already is.
fn exit(status: &watch::Sender<ContainerStatus>, now: DateTime<Utc>, code: i32, reason: &str) {
    status.send_if_modified(|s| {
        if s.state == ContainerState::Exited {
            return false;
        }
        s.state = ContainerState::Exited;
        s.pid = None;
        s.finished_at = Some(now);
        if s.started_at.is_none() {
            s.started_at = Some(now);
        }
        s.exit_code = Some(code);
        s.reason = Some(reason.to_string());
        true
    });
}

fn write_log(path: &std::path::Path, now: DateTime<Utc>, lines: &[String]) {
    use std::io::Write;
    if lines.is_empty() {
        return;
    }
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let ts = now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        for line in lines {
            let _ = writeln!(f, "{ts} stdout F {line}");
        }
    }
}

#[async_trait::async_trait]
impl Runtime for FakeRuntime {
    async fn create_sandbox(&self, config: &SandboxConfig) -> Result<Sandbox> {
        let pod = format!("{}/{}", config.pod.namespace, config.pod.name);
        self.record(Call::CreateSandbox { pod });
        let now = self.now();
        let mut inner = self.lock();
        if !inner.sandbox_errors.is_empty() {
            let message = inner.sandbox_errors.remove(0);
            return Err(Error::Network(message));
        }
        inner.next_id += 1;
        let n = inner.next_id;
        let id = SandboxId(format!("sandbox-{n}"));
        let ip = (!config.host_network)
            .then(|| IpAddr::V4(Ipv4Addr::new(10, 88, (n / 250) as u8, (n % 250) as u8 + 2)));
        let sandbox = Sandbox {
            id: id.clone(),
            pod: config.pod.clone(),
            ip,
            netns: None,
            created_at: now,
        };
        inner.sandboxes.insert(
            id,
            FakeSandbox {
                sandbox: sandbox.clone(),
                ready: true,
            },
        );
        Ok(sandbox)
    }

    async fn remove_sandbox(&self, id: &SandboxId) -> Result<()> {
        let now = self.now();
        let mut inner = self.lock();
        if !inner.sandbox_removal_errors.is_empty() {
            let message = inner.sandbox_removal_errors.remove(0);
            return Err(Error::Network(message));
        }
        let Some(s) = inner.sandboxes.remove(id) else {
            return Ok(());
        };
        let pod = format!("{}/{}", s.sandbox.pod.namespace, s.sandbox.pod.name);
        inner.calls.push((now, Call::RemoveSandbox { pod }));
        let ids: Vec<ContainerId> = inner
            .containers
            .iter()
            .filter(|(_, c)| &c.sandbox == id)
            .map(|(k, _)| k.clone())
            .collect();
        for cid in ids {
            if let Some(c) = inner.containers.remove(&cid) {
                exit(&c.status, now, 137, "Error");
            }
        }
        Ok(())
    }

    async fn create_container(
        &self,
        sandbox: &SandboxId,
        config: &ContainerConfig,
    ) -> Result<ContainerId> {
        let now = self.now();
        let mut inner = self.lock();
        let pod = inner
            .sandboxes
            .get(sandbox)
            .ok_or_else(|| Error::SandboxNotFound(sandbox.0.clone()))?;
        let key = format!(
            "{}/{}/{}",
            pod.sandbox.pod.namespace, pod.sandbox.pod.name, config.name
        );
        inner.calls.push((
            now,
            Call::CreateContainer {
                container: key.clone(),
                attempt: config.attempt,
            },
        ));
        inner.configs.push((key.clone(), config.clone()));
        let n = *inner
            .creates
            .entry(config.name.clone())
            .and_modify(|n| *n += 1)
            .or_insert(0);
        let behavior = inner
            .scripts
            .get(&config.name)
            .and_then(|list| list.get(n.min(list.len().saturating_sub(1))).cloned())
            .unwrap_or_default();
        if let Some(message) = &behavior.create_error {
            return Err(Error::ContainerFailed(message.clone()));
        }
        inner.next_id += 1;
        let id = ContainerId(format!("c{}-{}", inner.next_id, config.name));
        let status = ContainerStatus {
            id: id.clone(),
            name: config.name.clone(),
            attempt: config.attempt,
            state: ContainerState::Created,
            pid: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            exit_code: None,
            reason: None,
            message: None,
            image: config.image.clone(),
            image_id: config.image_id.clone(),
            log_path: config.log_path.clone(),
        };
        let (tx, _) = watch::channel(status);
        inner.containers.insert(
            id.clone(),
            FakeContainer {
                key,
                sandbox: sandbox.clone(),
                behavior,
                status: tx,
            },
        );
        Ok(id)
    }

    async fn start_container(&self, id: &ContainerId) -> Result<()> {
        let (key, attempt, status, behavior) = self.container(id)?;
        self.record(Call::StartContainer {
            container: key,
            attempt,
        });
        let now = self.now();
        if let Some(message) = behavior.start_error {
            status.send_modify(|s| {
                s.state = ContainerState::Exited;
                s.started_at = Some(now);
                s.finished_at = Some(now);
                s.exit_code = Some(128);
                s.reason = Some("StartError".into());
                s.message = Some(message.clone());
            });
            return Err(Error::ContainerFailed(message));
        }
        let log_path = status.borrow().log_path.clone();
        write_log(&log_path, now, &behavior.output);
        status.send_modify(|s| {
            s.state = ContainerState::Running;
            s.started_at = Some(now);
            s.pid = Some(1000);
        });
        if let Some((after, code)) = behavior.exit {
            let fake = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let reason = if behavior.oom {
                    "OOMKilled"
                } else if code == 0 {
                    "Completed"
                } else {
                    "Error"
                };
                exit(&status, fake.now(), code, reason);
            });
        }
        Ok(())
    }

    async fn stop_container(&self, id: &ContainerId, signal: &str, grace: Duration) -> Result<()> {
        let (key, attempt, status, behavior) = self.container(id)?;
        self.record(Call::StopContainer {
            container: key,
            attempt,
            signal: signal.to_string(),
            grace,
        });
        if status.borrow().state != ContainerState::Running {
            exit(&status, self.now(), 0, "Completed");
            return Ok(());
        }
        let kill = signal == "SIGKILL" || signal == "KILL" || signal == "9";
        if !kill && !behavior.ignore_sigterm {
            exit(&status, self.now(), 143, "Error");
            return Ok(());
        }
        if !kill {
            let mut rx = status.subscribe();
            let exited = rx.wait_for(|s| s.state == ContainerState::Exited);
            let _ = tokio::time::timeout(grace, exited).await;
        }
        exit(&status, self.now(), 137, "Error");
        Ok(())
    }

    async fn remove_container(&self, id: &ContainerId) -> Result<()> {
        let now = self.now();
        let mut inner = self.lock();
        if let Some(c) = inner.containers.remove(id) {
            let attempt = c.status.borrow().attempt;
            exit(&c.status, now, 137, "Error");
            inner.calls.push((
                now,
                Call::RemoveContainer {
                    container: c.key,
                    attempt,
                },
            ));
        }
        Ok(())
    }

    async fn container_status(&self, id: &ContainerId) -> Result<ContainerStatus> {
        let (_, _, status, _) = self.container(id)?;
        let s = status.borrow().clone();
        Ok(s)
    }

    async fn wait_container(&self, id: &ContainerId) -> Result<ContainerStatus> {
        let (_, _, status, _) = self.container(id)?;
        let mut rx = status.subscribe();
        let s = rx
            .wait_for(|s| s.state == ContainerState::Exited)
            .await
            .map(|s| s.clone())
            .map_err(|_| Error::ContainerNotFound(id.0.clone()))?;
        Ok(s)
    }

    async fn exec_sync(
        &self,
        id: &ContainerId,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecResult> {
        let _ = timeout;
        let (key, _, status, _) = self.container(id)?;
        self.record(Call::ExecSync {
            container: key,
            command: command.to_vec(),
        });
        if status.borrow().state != ContainerState::Running {
            return Err(Error::ContainerFailed(format!(
                "container {id} is not running"
            )));
        }
        let name = status.borrow().name.clone();
        let handler = self.lock().exec.get(&name).cloned();
        Ok(match handler {
            Some(h) => h(command),
            None => ExecResult {
                exit_code: 0,
                stdout: Vec::new(),
                stderr: Vec::new(),
            },
        })
    }

    async fn list_sandboxes(&self) -> Result<Vec<SandboxState>> {
        let inner = self.lock();
        Ok(inner
            .sandboxes
            .values()
            .map(|s| SandboxState {
                sandbox: s.sandbox.clone(),
                ready: s.ready,
                containers: inner
                    .containers
                    .values()
                    .filter(|c| c.sandbox == s.sandbox.id)
                    .map(|c| c.status.borrow().clone())
                    .collect(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PodRef;

    fn sandbox_config(name: &str) -> SandboxConfig {
        SandboxConfig {
            pod: PodRef {
                namespace: "default".into(),
                name: name.into(),
                uid: "u1".into(),
            },
            ..Default::default()
        }
    }

    fn container(name: &str, attempt: u32) -> ContainerConfig {
        ContainerConfig {
            name: name.into(),
            attempt,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn scripted_container_exits_after_its_delay() {
        let rt = FakeRuntime::new();
        rt.script("a", vec![Behavior::exits(3, Duration::from_millis(50))]);
        let sb = rt.create_sandbox(&sandbox_config("p")).await.unwrap();
        let id = rt
            .create_container(&sb.id, &container("a", 0))
            .await
            .unwrap();
        rt.start_container(&id).await.unwrap();
        let start = rt.now();
        let st = rt.wait_container(&id).await.unwrap();
        assert_eq!(st.exit_code, Some(3));
        assert_eq!(st.reason.as_deref(), Some("Error"));
        assert!(st.finished_at.unwrap() - start >= chrono::Duration::milliseconds(50));
    }

    #[tokio::test]
    async fn sigterm_ignoring_container_is_killed_at_the_end_of_the_grace_period() {
        let rt = FakeRuntime::new();
        rt.script("a", vec![Behavior::runs().ignoring_sigterm()]);
        let sb = rt.create_sandbox(&sandbox_config("p")).await.unwrap();
        let id = rt
            .create_container(&sb.id, &container("a", 0))
            .await
            .unwrap();
        rt.start_container(&id).await.unwrap();
        let start = rt.now();
        rt.stop_container(&id, "SIGTERM", Duration::from_millis(50))
            .await
            .unwrap();
        let st = rt.container_status(&id).await.unwrap();
        assert_eq!(st.exit_code, Some(137));
        assert!(rt.now() - start >= chrono::Duration::milliseconds(50));
    }

    #[tokio::test]
    async fn attempts_follow_the_script_and_failures_are_reported() {
        let rt = FakeRuntime::new();
        rt.script(
            "a",
            vec![
                Behavior::create_fails("no such binary"),
                Behavior::start_fails("exec failed"),
                Behavior::runs(),
            ],
        );
        let sb = rt.create_sandbox(&sandbox_config("p")).await.unwrap();
        assert!(matches!(
            rt.create_container(&sb.id, &container("a", 0)).await,
            Err(Error::ContainerFailed(_))
        ));
        let id = rt
            .create_container(&sb.id, &container("a", 1))
            .await
            .unwrap();
        assert!(rt.start_container(&id).await.is_err());
        assert_eq!(rt.container_status(&id).await.unwrap().exit_code, Some(128));
        let id = rt
            .create_container(&sb.id, &container("a", 2))
            .await
            .unwrap();
        rt.start_container(&id).await.unwrap();
        assert_eq!(
            rt.container_status(&id).await.unwrap().state,
            ContainerState::Running
        );
        let listed = rt.list_sandboxes().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].containers.len(), 2);
        rt.remove_sandbox(&sb.id).await.unwrap();
        assert!(rt.list_sandboxes().await.unwrap().is_empty());
        assert!(rt.calls().contains(&Call::RemoveSandbox {
            pod: "default/p".into()
        }));
    }
}
