//! A created container's life: start, stop (signal, grace, SIGKILL), wait, status and
//! exec — all requests to the pod's shim; status comes from the records on disk, so it
//! is there even while the shim is busy or after the agent restarted.

use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use nix::sys::signal::Signal;

use crate::linux::LinuxRuntime;
use crate::shim::{client, Request, Response};
use crate::state::{read_json, ContainerRecord, ProcessStatus};
use crate::{ContainerId, ContainerState, ContainerStatus, Error, ExecResult, Result};

/// A signal given by name ("SIGTERM", "TERM") or number ("15").
pub(crate) fn parse_signal(s: &str) -> Result<Signal> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n)
            .map_err(|_| Error::ContainerFailed(format!("unknown signal {s}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    Signal::from_str(&name).map_err(|_| Error::ContainerFailed(format!("unknown signal {s}")))
}

/// A container's status from the agent's record and the shim's; `shim_alive` false turns
/// a container the shim would still own into `Unknown` (nobody can observe its end).
pub(crate) fn merge_status(
    rec: &ContainerRecord,
    proc: Option<&ProcessStatus>,
    shim_alive: bool,
) -> ContainerStatus {
    let c = &rec.config;
    let mut st = ContainerStatus {
        id: rec.id.clone(),
        name: c.name.clone(),
        attempt: c.attempt,
        state: ContainerState::Unknown,
        pid: None,
        created_at: rec.created_at,
        started_at: None,
        finished_at: None,
        exit_code: None,
        reason: None,
        message: None,
        image: c.image.clone(),
        image_id: c.image_id.clone(),
        log_path: c.log_path.clone(),
    };
    if let Some(p) = proc {
        st.state = p.state;
        st.pid = p.pid.and_then(|p| u32::try_from(p).ok());
        st.started_at = p.started_at;
        st.finished_at = p.finished_at;
        st.exit_code = p.exit_code;
        st.reason = p.reason.clone();
        st.message = p.message.clone();
    }
    if st.state != ContainerState::Exited && !shim_alive {
        st.state = ContainerState::Unknown;
        st.pid = None;
    }
    if st.state == ContainerState::Exited {
        st.pid = None;
    }
    st
}

impl LinuxRuntime {
    fn status_from_disk(
        &self,
        id: &ContainerId,
    ) -> Result<(ContainerStatus, Option<std::path::PathBuf>)> {
        let (spaths, srec, crec) = self.load_container(id)?;
        let proc = read_json::<ProcessStatus>(&spaths.container(id).status())
            .ok()
            .flatten();
        let socket = self.live_socket(&spaths, &srec);
        Ok((merge_status(&crec, proc.as_ref(), socket.is_some()), socket))
    }

    async fn call_shim(
        &self,
        id: &ContainerId,
        req: Request,
        timeout: Option<Duration>,
    ) -> Result<Response> {
        let (_, socket) = self.status_from_disk(id)?;
        let socket =
            socket.ok_or_else(|| Error::Shim(format!("the shim of container {id} is gone")))?;
        client::call(&socket, &req, timeout).await
    }

    pub(crate) async fn start_container_impl(&self, id: &ContainerId) -> Result<()> {
        let resp = self
            .call_shim(
                id,
                Request::Start { id: id.0.clone() },
                Some(self.cfg.shim_timeout),
            )
            .await?;
        match resp.error {
            Some(e) => Err(Error::ContainerFailed(e)),
            None => Ok(()),
        }
    }

    pub(crate) async fn container_status_impl(&self, id: &ContainerId) -> Result<ContainerStatus> {
        self.status_from_disk(id).map(|(s, _)| s)
    }

    async fn kill(&self, id: &ContainerId, signal: Signal, all: bool) -> Result<()> {
        let resp = self
            .call_shim(
                id,
                Request::Kill {
                    id: id.0.clone(),
                    signal: signal as i32,
                    all,
                },
                Some(self.cfg.shim_timeout),
            )
            .await?;
        resp.error.map_or(Ok(()), |e| Err(Error::Shim(e)))
    }

    /// Waits for the exit; Ok(None) when `timeout` passed first.
    async fn wait_for_exit(
        &self,
        id: &ContainerId,
        timeout: Option<Duration>,
    ) -> Result<Option<ContainerStatus>> {
        let (st, socket) = self.status_from_disk(id)?;
        if st.state == ContainerState::Exited {
            return Ok(Some(st));
        }
        let Some(socket) = socket else {
            return Ok(Some(st));
        };
        let req = Request::Wait { id: id.0.clone() };
        let call = client::call(&socket, &req, None);
        let resp = match timeout {
            Some(t) => match tokio::time::timeout(t, call).await {
                Ok(r) => r,
                Err(_) => return Ok(None),
            },
            None => call.await,
        };
        match resp {
            Ok(Response { error: Some(e), .. }) => Err(Error::Shim(e)),
            // Whatever the shim said or whether it died meanwhile, the records tell.
            _ => self.status_from_disk(id).map(|(s, _)| Some(s)),
        }
    }

    pub(crate) async fn stop_container_impl(
        &self,
        id: &ContainerId,
        signal: &str,
        grace: Duration,
    ) -> Result<()> {
        let (st, socket) = self.status_from_disk(id)?;
        if st.state == ContainerState::Exited {
            return Ok(());
        }
        if socket.is_none() {
            // Its shim is gone: nobody can deliver a signal gracefully or see the exit;
            // whatever still runs in the container's cgroup is killed.
            let (_, _, crec) = self.load_container(id)?;
            return self
                .host
                .cgroups
                .remove(&crec.cgroups_path, Duration::from_secs(10))
                .map_err(|e| Error::Cgroup(e.to_string()));
        }
        let sig = parse_signal(if signal.is_empty() { "SIGTERM" } else { signal })?;
        if sig != Signal::SIGKILL && st.state == ContainerState::Running {
            self.kill(id, sig, false).await?;
            if self.wait_for_exit(id, Some(grace)).await?.is_some() {
                return Ok(());
            }
            tracing::info!(container = %id, ?grace, "grace period over, killing");
        }
        self.kill(id, Signal::SIGKILL, true).await?;
        match self
            .wait_for_exit(id, Some(Duration::from_secs(30)))
            .await?
        {
            Some(_) => Ok(()),
            None => Err(Error::Shim(format!("container {id} survives SIGKILL"))),
        }
    }

    pub(crate) async fn wait_container_impl(&self, id: &ContainerId) -> Result<ContainerStatus> {
        Ok(self.wait_for_exit(id, None).await?.expect("no timeout"))
    }

    pub(crate) async fn exec_sync_impl(
        &self,
        id: &ContainerId,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecResult> {
        let timeout = if timeout.is_zero() {
            Duration::from_secs(3600)
        } else {
            timeout
        };
        let req = Request::Exec {
            id: id.0.clone(),
            args: command.to_vec(),
            timeout_ms: timeout.as_millis() as u64,
        };
        let resp = self
            .call_shim(id, req, Some(timeout + Duration::from_secs(10)))
            .await?;
        if let Some(e) = resp.error {
            return Err(Error::ContainerFailed(e));
        }
        let out = resp
            .exec
            .ok_or_else(|| Error::Shim("exec answered without output".into()))?;
        if out.timed_out {
            return Err(Error::Io {
                context: format!(
                    "command {command:?} in container {id} timed out after {timeout:?}"
                ),
                source: std::io::ErrorKind::TimedOut.into(),
            });
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        Ok(ExecResult {
            exit_code: out.exit_code,
            stdout: b64.decode(out.stdout).unwrap_or_default(),
            stderr: b64.decode(out.stderr).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ContainerConfig, SandboxId};
    use chrono::Utc;

    #[test]
    fn signals_parse_by_name_or_number() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("term").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("SIGQUIT").unwrap(), Signal::SIGQUIT);
        assert!(parse_signal("SIGNOPE").is_err());
    }

    fn record() -> ContainerRecord {
        ContainerRecord {
            id: ContainerId("c1".into()),
            sandbox: SandboxId("s1".into()),
            config: ContainerConfig {
                name: "web".into(),
                attempt: 2,
                image: "nginx:1.27".into(),
                log_path: "/l/0.log".into(),
                ..Default::default()
            },
            created_at: Utc::now(),
            cgroups_path: "/kubepods/besteffort/podu/c1".into(),
            rootfs_mounted: true,
        }
    }

    #[test]
    fn exited_status_survives_a_dead_shim() {
        let proc = ProcessStatus {
            state: ContainerState::Exited,
            pid: Some(42),
            started_at: Some(Utc::now()),
            finished_at: Some(Utc::now()),
            exit_code: Some(137),
            reason: Some("OOMKilled".into()),
            message: None,
        };
        let st = merge_status(&record(), Some(&proc), false);
        assert_eq!(
            (st.state, st.exit_code, st.reason.as_deref(), st.pid),
            (ContainerState::Exited, Some(137), Some("OOMKilled"), None)
        );
        assert_eq!(
            (st.name.as_str(), st.attempt, st.image.as_str()),
            ("web", 2, "nginx:1.27")
        );
    }

    #[test]
    fn running_without_a_shim_is_unknown() {
        let mut proc = ProcessStatus::created(42);
        proc.state = ContainerState::Running;
        assert_eq!(
            merge_status(&record(), Some(&proc), true).state,
            ContainerState::Running
        );
        assert_eq!(merge_status(&record(), Some(&proc), true).pid, Some(42));
        assert_eq!(
            merge_status(&record(), Some(&proc), false).state,
            ContainerState::Unknown
        );
        assert_eq!(
            merge_status(&record(), None, true).state,
            ContainerState::Unknown
        );
    }
}
