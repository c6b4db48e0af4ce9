//! Removing a sandbox releases everything its record says was set up, in the reverse
//! order: the shim (which kills and deletes the containers), CNI DEL (IP, veth, iptables
//! rules) on the still-pinned network namespace, every mount below the sandbox
//! directory, the pod cgroup in every hierarchy (killing stragglers), the directory.
//! Every step runs even when one fails; the record stays until all of them succeeded,
//! so removing again retries what is left.

use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::config::SandboxPaths;
use crate::linux::{exists, remove_tree, LinuxRuntime};
use crate::shim::{client, Request};
use crate::state::{SandboxPhase, SandboxRecord, ShimProcess};
use crate::{Error, Result, SandboxId};

impl LinuxRuntime {
    pub(crate) async fn remove_sandbox_impl(&self, id: &SandboxId) -> Result<()> {
        if id.0.is_empty() || id.0.contains('/') || id.0.starts_with('.') {
            return Err(Error::SandboxNotFound(id.0.clone()));
        }
        match self.load_sandbox(id) {
            Ok((paths, mut rec)) => self.teardown_sandbox(&paths, &mut rec).await,
            Err(Error::SandboxNotFound(_)) => {
                // No record: nothing was set up but maybe the directory.
                let paths = self.layout.sandbox(id);
                if exists(&paths.dir) {
                    self.release_mounts(&paths)?;
                    remove_tree(paths.dir.clone()).await?;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Undoes whatever `rec` says exists (also used when creation fails half way).
    pub(crate) async fn teardown_sandbox(
        &self,
        paths: &SandboxPaths,
        rec: &mut SandboxRecord,
    ) -> Result<()> {
        let started = Instant::now();
        let mut first_err: Option<Error> = None;
        let mut note = |r: Result<()>| {
            if let Err(e) = r {
                tracing::warn!(sandbox = %rec.id, error = %e, "sandbox removal step failed");
                first_err.get_or_insert(e);
            }
        };
        rec.phase = SandboxPhase::Removing;
        if exists(&paths.dir) {
            note(self.save_sandbox(paths, rec));
        }
        if let Some(shim) = rec.shim.clone() {
            note(self.stop_shim(paths, &shim).await);
            tracing::debug!(sandbox = %rec.id, elapsed = ?started.elapsed(), "shim stopped");
        }
        if let Some(att) = &rec.network {
            // The pinned namespace outlives the shim, so the plugins can delete the veth
            // and the masquerading rules; without it they still release the IP.
            let netns = rec
                .netns
                .as_deref()
                .filter(|p| self.is_mount_point(paths, p));
            note(crate::cni::del(self.host.cni.as_ref(), &self.cni_path(), att, netns).await);
            tracing::debug!(sandbox = %rec.id, elapsed = ?started.elapsed(), "network released");
        }
        note(self.release_mounts(paths));
        if let Some(cg) = &rec.cgroup {
            note(
                self.host
                    .cgroups
                    .remove(cg, Duration::from_secs(10))
                    .map_err(|e| Error::Cgroup(e.to_string())),
            );
            tracing::debug!(sandbox = %rec.id, elapsed = ?started.elapsed(), "mounts and cgroup released");
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        if let Ok(rd) = std::fs::read_dir(paths.containers()) {
            for e in rd.flatten() {
                self.forget(&crate::ContainerId(
                    e.file_name().to_string_lossy().into_owned(),
                ));
            }
        }
        remove_tree(paths.dir.clone()).await?;
        tracing::info!(sandbox = %rec.id, elapsed = ?started.elapsed(), "sandbox removed");
        Ok(())
    }

    fn is_mount_point(&self, paths: &SandboxPaths, p: &std::path::Path) -> bool {
        self.host
            .mounts
            .mounts_under(&paths.dir)
            .map(|m| m.iter().any(|m| m == p))
            .unwrap_or(false)
    }

    /// Unmounts everything below the sandbox directory (shm, the pinned netns, container
    /// root file systems left by failed removals).
    pub(crate) fn release_mounts(&self, paths: &SandboxPaths) -> Result<()> {
        let mounts = self
            .host
            .mounts
            .mounts_under(&paths.dir)
            .map_err(|e| Error::Io {
                context: "reading mountinfo".into(),
                source: e,
            })?;
        let mut first_err = None;
        for m in mounts {
            if let Err(e) = self.host.mounts.unmount(&m) {
                first_err.get_or_insert(Error::Io {
                    context: format!("unmounting {}", m.display()),
                    source: e,
                });
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Asks the shim to kill and delete its containers and exit; kills it if it does
    /// not answer. Returns once it is gone.
    async fn stop_shim(&self, paths: &SandboxPaths, shim: &ShimProcess) -> Result<()> {
        if !shim.alive() {
            return Ok(());
        }
        let asked = client::call(
            &paths.socket(),
            &Request::Shutdown,
            Some(self.cfg.shim_timeout),
        )
        .await;
        if let Err(e) = &asked {
            tracing::warn!(pid = shim.pid, error = %e, "the shim did not shut down cleanly, killing it");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while shim.alive() {
            if asked.is_err() || Instant::now() > deadline {
                let _ = kill(Pid::from_raw(shim.pid), Signal::SIGKILL);
            }
            if Instant::now() > deadline + Duration::from_secs(5) {
                return Err(Error::Shim(format!("shim {} does not exit", shim.pid)));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(())
    }
}
