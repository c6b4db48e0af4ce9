//! One pod sandbox and its containers on Linux: namespaces, the infra process, the OCI
//! runtime spec, cgroups, CNI, log files and exec. The node agent drives it through the
//! [`Runtime`] trait; it never talks to the API.
//!
//! [`fake::FakeRuntime`] records every call for the agent's unit tests;
//! [`LinuxRuntime`] runs pods as real Linux containers (see DESIGN.md, "Runtime shape").

mod caps;
mod cgroups;
mod cni;
mod config;
mod container_create;
mod container_lifecycle;
mod container_remove;
mod etc_files;
pub mod fake;
mod linux;
mod masquerade;
mod mounts;
#[cfg(test)]
mod orchestration_tests;
mod sandbox_create;
mod sandbox_list;
mod sandbox_remove;
mod shim;
mod spec;
mod state;
mod sys;
mod types;
mod user;

pub use config::RuntimeConfig;
pub use linux::LinuxRuntime;
pub use sys::ProcessAllocator;
pub use types::*;

/// What can go wrong in the runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("sandbox {0} not found")]
    SandboxNotFound(String),
    #[error("container {0} not found")]
    ContainerNotFound(String),
    /// The container could not be created or started (bad command, missing binary, bad
    /// mount...): the message is what the user sees in the container's waiting/terminated
    /// reason message, as kubelet's `CreateContainerError`/`RunContainerError`.
    #[error("{0}")]
    ContainerFailed(String),
    #[error("network setup failed: {0}")]
    Network(String),
    #[error("cgroup: {0}")]
    Cgroup(String),
    #[error("shim: {0}")]
    Shim(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether this is `exec_sync`'s command running past its timeout (the exec probe's
    /// "command timed out").
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::TimedOut)
    }
}

/// The runtime's re-executed modes of the `orca` binary (the per-pod shim, the infra
/// process): `Some(exit code)` when `args` (argv without argv[0]) name one, after running
/// it; `None` otherwise. The binary calls this first, before starting any threads.
pub fn reexec_main(args: &[String]) -> Option<i32> {
    match args.first().map(String::as_str) {
        Some(shim::MODE) => Some(shim::main(&args[1..])),
        _ => None,
    }
}

/// A pod sandbox runtime. Every method is idempotent where it can be (removing what is
/// already gone is not an error), and everything it creates is released by
/// `remove_container`/`remove_sandbox`, also after a failure half way.
#[async_trait::async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// Creates the pod's sandbox: infra process holding new network, IPC and UTS
    /// namespaces (only IPC/UTS with `host_network`), the pod cgroup, CNI networking
    /// (pod IP), and the pod-wide `/etc/hosts`, `/etc/resolv.conf`, `/etc/hostname` and
    /// `/dev/shm` every container gets.
    async fn create_sandbox(&self, config: &SandboxConfig) -> Result<Sandbox>;

    /// Stops every container of the sandbox (SIGKILL), releases CNI (IP, veth), kills
    /// the infra process, removes the cgroup, mounts and state files.
    async fn remove_sandbox(&self, id: &SandboxId) -> Result<()>;

    /// Creates (does not start) a container in a sandbox.
    async fn create_container(
        &self,
        sandbox: &SandboxId,
        config: &ContainerConfig,
    ) -> Result<ContainerId>;

    /// Starts a created container.
    async fn start_container(&self, id: &ContainerId) -> Result<()>;

    /// Sends `signal` (e.g. "SIGTERM" or the image's STOPSIGNAL), waits up to `grace`,
    /// then SIGKILLs. Returns once the container has exited.
    async fn stop_container(
        &self,
        id: &ContainerId,
        signal: &str,
        grace: std::time::Duration,
    ) -> Result<()>;

    /// Removes an exited container: its rootfs snapshot mount, cgroup and state (not its
    /// log file, which belongs to the agent).
    async fn remove_container(&self, id: &ContainerId) -> Result<()>;

    /// The container's current state.
    async fn container_status(&self, id: &ContainerId) -> Result<ContainerStatus>;

    /// Resolves when the container has exited, with its final status.
    async fn wait_container(&self, id: &ContainerId) -> Result<ContainerStatus>;

    /// Runs a command in a running container (exec probes, `kubectl exec` without a TTY),
    /// killing it after `timeout`.
    async fn exec_sync(
        &self,
        id: &ContainerId,
        command: &[String],
        timeout: std::time::Duration,
    ) -> Result<ExecResult>;

    /// Every sandbox found on disk, with its containers, for re-adoption after a restart
    /// of the agent and for cleaning up pods that no longer exist.
    async fn list_sandboxes(&self) -> Result<Vec<SandboxState>>;
}
