//! Removing a container: libcontainer's delete in the shim (cgroup and state; a
//! container still running is killed first), then its root file system mount and
//! directory. The log file stays: it belongs to the agent.

use std::time::Duration;

use crate::config::SandboxPaths;
use crate::linux::{remove_tree, LinuxRuntime};
use crate::shim::{client, Request};
use crate::state::{ContainerRecord, SandboxRecord};
use crate::{ContainerId, Error, Result};

impl LinuxRuntime {
    pub(crate) async fn remove_container_impl(&self, id: &ContainerId) -> Result<()> {
        match self.load_container(id) {
            Ok((spaths, srec, crec)) => self.release_container(&spaths, &srec, &crec).await,
            Err(Error::ContainerNotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Releases everything of a container (also a half-created one).
    pub(crate) async fn release_container(
        &self,
        spaths: &SandboxPaths,
        srec: &SandboxRecord,
        crec: &ContainerRecord,
    ) -> Result<()> {
        let cpaths = spaths.container(&crec.id);
        let started = std::time::Instant::now();
        match self.live_socket(spaths, srec) {
            Some(socket) => {
                let resp = client::call(
                    &socket,
                    &Request::Delete {
                        id: crec.id.0.clone(),
                    },
                    Some(self.cfg.shim_timeout),
                )
                .await?;
                if let Some(e) = resp.error {
                    return Err(Error::Shim(format!("deleting container {}: {e}", crec.id)));
                }
            }
            None => {
                // Without its shim, whatever still runs in the container's cgroup is
                // killed and the cgroup removed here.
                self.host
                    .cgroups
                    .remove(&crec.cgroups_path, Duration::from_secs(10))
                    .map_err(|e| Error::Cgroup(e.to_string()))?;
            }
        }
        tracing::debug!(container = %crec.id, elapsed = ?started.elapsed(), "deleted by the shim");
        let mounts = self
            .host
            .mounts
            .mounts_under(&cpaths.dir)
            .map_err(|e| Error::Io {
                context: "reading mountinfo".into(),
                source: e,
            })?;
        for m in mounts {
            self.host.mounts.unmount(&m).map_err(|e| Error::Io {
                context: format!("unmounting {}", m.display()),
                source: e,
            })?;
        }
        tracing::debug!(container = %crec.id, elapsed = ?started.elapsed(), "unmounted");
        remove_tree(cpaths.dir.clone()).await?;
        self.forget(&crec.id);
        tracing::info!(container = %crec.id, name = %crec.config.name, elapsed = ?started.elapsed(), "container removed");
        Ok(())
    }
}
