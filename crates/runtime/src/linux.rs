//! [`LinuxRuntime`]: the [`Runtime`] on real Linux containers. The agent side lives here
//! (it prepares mounts, cgroups, networking and specs, and keeps the on-disk records);
//! containers themselves are run by each pod's shim ([`crate::shim`]).

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cgroups::CgroupHost;
use crate::cni::{PluginDirs, PluginExec};
use crate::config::{Layout, RuntimeConfig, SandboxPaths};
use crate::mounts::{HostMounter, Mounter};
use crate::state::{read_json, write_json, ContainerRecord, SandboxRecord};
use crate::{
    ContainerConfig, ContainerId, ContainerStatus, Error, ExecResult, Result, Runtime, Sandbox,
    SandboxConfig, SandboxId, SandboxState,
};

/// The cgroup operations the agent needs, so orchestration can be tested without root.
pub(crate) trait Cgroups: Send + Sync + 'static {
    fn create_pod(&self, rel: &str, res: &crate::Resources) -> io::Result<()>;
    /// Kills what runs in `rel` and removes it in every hierarchy.
    fn remove(&self, rel: &str, timeout: Duration) -> io::Result<()>;
    /// Whether the host is cgroup v2 only.
    fn unified(&self) -> bool;
}

impl Cgroups for CgroupHost {
    fn create_pod(&self, rel: &str, res: &crate::Resources) -> io::Result<()> {
        CgroupHost::create_pod(self, rel, res)
    }
    fn remove(&self, rel: &str, timeout: Duration) -> io::Result<()> {
        CgroupHost::remove(self, rel, timeout)
    }
    fn unified(&self) -> bool {
        matches!(self, CgroupHost::V2 { .. })
    }
}

/// The kernel and external boundaries of the agent side.
#[derive(Clone)]
pub(crate) struct Host {
    pub(crate) mounts: Arc<dyn Mounter>,
    pub(crate) cni: Arc<dyn PluginExec>,
    pub(crate) cgroups: Arc<dyn Cgroups>,
    /// The capability bounding set containers may draw from.
    pub(crate) bounding_caps: Vec<String>,
    /// The hard limit of open files a container may ask for.
    pub(crate) nofile_hard: u64,
}

/// Pods as real Linux containers: libcontainer in a per-pod shim, CNI networking,
/// overlay root file systems, cgroups on v1, v2 and hybrid hosts. All state is on disk
/// below [`RuntimeConfig::root_dir`]: a new `LinuxRuntime` over the same directory
/// re-adopts every sandbox and container (they keep running while no agent is there).
pub struct LinuxRuntime {
    pub(crate) cfg: RuntimeConfig,
    pub(crate) layout: Layout,
    pub(crate) host: Host,
    /// Which sandbox a container is in (filled lazily from disk).
    index: Mutex<HashMap<ContainerId, SandboxId>>,
}

impl std::fmt::Debug for LinuxRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinuxRuntime")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

impl LinuxRuntime {
    /// Sets up the runtime on this host: its directories, IP forwarding for the pod
    /// network and the QoS parent cgroups. Needs root.
    pub fn new(cfg: RuntimeConfig) -> Result<Self> {
        let cgroups = CgroupHost::detect().map_err(|e| Error::Cgroup(e.to_string()))?;
        if let Err(e) = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1") {
            tracing::warn!(error = %e, "cannot enable net.ipv4.ip_forward: pods get no outbound traffic");
        }
        if let Err(e) = crate::masquerade::ensure(&cfg.pod_cidr, &cfg.network_name) {
            tracing::warn!(error = %e, "cannot set up masquerading for the pod network: pods get no outbound traffic");
        }
        let parent = cfg.cgroup_parent.trim_matches('/').to_string();
        for qos in ["burstable", "besteffort"] {
            cgroups
                .create_pod(&format!("{parent}/{qos}"), &Default::default())
                .map_err(|e| Error::Cgroup(format!("creating {parent}/{qos}: {e}")))?;
        }
        let nofile_hard =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .map(|(_, hard)| hard)
                .unwrap_or(1024);
        let host = Host {
            mounts: Arc::new(HostMounter),
            cni: Arc::new(PluginDirs {
                dirs: cfg.cni_bin_dirs.clone(),
                timeout: Duration::from_secs(60),
            }),
            cgroups: Arc::new(cgroups),
            bounding_caps: crate::caps::host_bounding_set(),
            nofile_hard,
        };
        Self::with_host(cfg, host)
    }

    pub(crate) fn with_host(cfg: RuntimeConfig, host: Host) -> Result<Self> {
        let layout = Layout::new(&cfg.root_dir);
        for dir in [layout.sandboxes(), layout.cni_state()] {
            std::fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        }
        if !cfg.orca_binary.is_file() {
            tracing::warn!(binary = %cfg.orca_binary.display(), "the shim binary does not exist: sandboxes cannot start");
        }
        Ok(Self {
            cfg,
            layout,
            host,
            index: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn cni_path(&self) -> String {
        self.cfg
            .cni_bin_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    }

    pub(crate) fn save_sandbox(&self, paths: &SandboxPaths, rec: &SandboxRecord) -> Result<()> {
        write_json(&paths.record(), rec)
            .map_err(io_err(format!("writing {}", paths.record().display())))
    }

    pub(crate) fn load_sandbox(&self, id: &SandboxId) -> Result<(SandboxPaths, SandboxRecord)> {
        let paths = self.layout.sandbox(id);
        match read_json::<SandboxRecord>(&paths.record()) {
            Ok(Some(rec)) => Ok((paths, rec)),
            Ok(None) => Err(Error::SandboxNotFound(id.0.clone())),
            Err(e) => Err(Error::Io {
                context: format!("reading {}", paths.record().display()),
                source: e,
            }),
        }
    }

    pub(crate) fn remember(&self, c: &ContainerId, s: &SandboxId) {
        self.index
            .lock()
            .expect("index lock")
            .insert(c.clone(), s.clone());
    }

    pub(crate) fn forget(&self, c: &ContainerId) {
        self.index.lock().expect("index lock").remove(c);
    }

    /// The sandbox a container belongs to, from the index or by looking on disk.
    pub(crate) fn sandbox_of(&self, c: &ContainerId) -> Option<SandboxId> {
        if let Some(s) = self.index.lock().expect("index lock").get(c) {
            return Some(s.clone());
        }
        if c.0.is_empty() || c.0.contains('/') || c.0.starts_with('.') {
            return None;
        }
        let found = std::fs::read_dir(self.layout.sandboxes())
            .ok()?
            .flatten()
            .find_map(|e| {
                let sid = SandboxId(e.file_name().to_string_lossy().into_owned());
                self.layout
                    .sandbox(&sid)
                    .container(c)
                    .record()
                    .is_file()
                    .then_some(sid)
            })?;
        self.remember(c, &found);
        Some(found)
    }

    /// A container's sandbox record and its own record.
    pub(crate) fn load_container(
        &self,
        c: &ContainerId,
    ) -> Result<(SandboxPaths, SandboxRecord, ContainerRecord)> {
        let sid = self
            .sandbox_of(c)
            .ok_or_else(|| Error::ContainerNotFound(c.0.clone()))?;
        let (paths, rec) = self
            .load_sandbox(&sid)
            .map_err(|_| Error::ContainerNotFound(c.0.clone()))?;
        let cpath = paths.container(c).record();
        match read_json::<ContainerRecord>(&cpath) {
            Ok(Some(crec)) => Ok((paths, rec, crec)),
            Ok(None) => {
                self.forget(c);
                Err(Error::ContainerNotFound(c.0.clone()))
            }
            Err(e) => Err(Error::Io {
                context: format!("reading {}", cpath.display()),
                source: e,
            }),
        }
    }

    /// The shim's socket, if the sandbox's shim is alive.
    pub(crate) fn live_socket(
        &self,
        paths: &SandboxPaths,
        rec: &SandboxRecord,
    ) -> Option<std::path::PathBuf> {
        rec.shim
            .as_ref()
            .filter(|s| s.alive())
            .map(|_| paths.socket())
    }
}

/// Removes a directory tree (never across a mount) on a blocking thread: an upper
/// layer can hold a lot, and deleting is slow on file systems mounted with `discard`.
pub(crate) async fn remove_tree(dir: std::path::PathBuf) -> Result<()> {
    let d = dir.clone();
    tokio::task::spawn_blocking(move || crate::mounts::remove_dir_all_on_one_fs(&d))
        .await
        .map_err(|e| Error::Io {
            context: format!("removing {}", dir.display()),
            source: io::Error::other(e),
        })?
        .map_err(io_err(format!("removing {}", dir.display())))
}

/// Whether `path` exists (without following a final symlink).
pub(crate) fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

#[async_trait::async_trait]
impl Runtime for LinuxRuntime {
    async fn create_sandbox(&self, config: &SandboxConfig) -> Result<Sandbox> {
        self.create_sandbox_impl(config).await
    }

    async fn remove_sandbox(&self, id: &SandboxId) -> Result<()> {
        self.remove_sandbox_impl(id).await
    }

    async fn create_container(
        &self,
        sandbox: &SandboxId,
        config: &ContainerConfig,
    ) -> Result<ContainerId> {
        self.create_container_impl(sandbox, config).await
    }

    async fn start_container(&self, id: &ContainerId) -> Result<()> {
        self.start_container_impl(id).await
    }

    async fn stop_container(&self, id: &ContainerId, signal: &str, grace: Duration) -> Result<()> {
        self.stop_container_impl(id, signal, grace).await
    }

    async fn remove_container(&self, id: &ContainerId) -> Result<()> {
        self.remove_container_impl(id).await
    }

    async fn container_status(&self, id: &ContainerId) -> Result<ContainerStatus> {
        self.container_status_impl(id).await
    }

    async fn wait_container(&self, id: &ContainerId) -> Result<ContainerStatus> {
        self.wait_container_impl(id).await
    }

    async fn exec_sync(
        &self,
        id: &ContainerId,
        command: &[String],
        timeout: Duration,
    ) -> Result<ExecResult> {
        self.exec_sync_impl(id, command, timeout).await
    }

    async fn list_sandboxes(&self) -> Result<Vec<SandboxState>> {
        self.list_sandboxes_impl().await
    }
}
