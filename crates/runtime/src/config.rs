//! The Linux runtime's node-level configuration and where it keeps its state on disk.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{ContainerId, SandboxId};

/// How [`crate::LinuxRuntime`] is set up on this node.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Where sandboxes, containers, logs of the shims and CNI state live
    /// (e.g. `<data-dir>/runtime`). Keep it short: unix socket paths below it must fit
    /// in 108 bytes.
    pub root_dir: PathBuf,
    /// The binary re-executed as the per-pod shim (`orca`, which calls
    /// [`crate::reexec_main`] first thing).
    pub orca_binary: PathBuf,
    /// Where CNI plugins are looked up, in order (Debian: `/usr/lib/cni`).
    pub cni_bin_dirs: Vec<PathBuf>,
    /// The pod network handed to host-local IPAM.
    pub pod_cidr: String,
    /// The Linux bridge the pods' veths attach to.
    pub bridge: String,
    /// The CNI network name (also names the IPAM state directory and iptables chains).
    pub network_name: String,
    /// The cgroup every pod cgroup is created under, as kubelet's `kubepods`.
    pub cgroup_parent: String,
    /// The cluster domain for the pod's FQDN in /etc/hosts (with a subdomain).
    pub cluster_domain: String,
    /// A container log file is rotated when it would grow past this size.
    pub log_max_bytes: u64,
    /// How many log files per container are kept, the live one included.
    pub log_max_files: u32,
    /// The upper bound for one call to a shim (`wait`/`exec` have their own).
    pub shim_timeout: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            root_dir: PathBuf::from("/var/lib/orca/runtime"),
            orca_binary: PathBuf::from("/usr/local/bin/orca"),
            cni_bin_dirs: vec![PathBuf::from("/usr/lib/cni"), PathBuf::from("/opt/cni/bin")],
            pod_cidr: "10.88.0.0/16".into(),
            bridge: "orca0".into(),
            network_name: "orca".into(),
            cgroup_parent: "kubepods".into(),
            cluster_domain: "cluster.local".into(),
            log_max_bytes: 10 * 1024 * 1024,
            log_max_files: 5,
            shim_timeout: Duration::from_secs(30),
        }
    }
}

/// The on-disk layout below [`RuntimeConfig::root_dir`].
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub(crate) fn sandboxes(&self) -> PathBuf {
        self.root.join("sandboxes")
    }

    /// host-local IPAM's data directory.
    pub(crate) fn cni_state(&self) -> PathBuf {
        self.root.join("cni")
    }

    pub(crate) fn sandbox(&self, id: &SandboxId) -> SandboxPaths {
        SandboxPaths {
            dir: self.sandboxes().join(&id.0),
        }
    }
}

/// Files of one sandbox.
#[derive(Clone, Debug)]
pub(crate) struct SandboxPaths {
    pub(crate) dir: PathBuf,
}

impl SandboxPaths {
    /// The agent's record of the sandbox ([`crate::state::SandboxRecord`]).
    pub(crate) fn record(&self) -> PathBuf {
        self.dir.join("sandbox.json")
    }
    /// What the shim reads at start ([`crate::shim::ShimConfig`]).
    pub(crate) fn shim_config(&self) -> PathBuf {
        self.dir.join("shim.json")
    }
    pub(crate) fn socket(&self) -> PathBuf {
        self.dir.join("shim.sock")
    }
    pub(crate) fn shim_log(&self) -> PathBuf {
        self.dir.join("shim.log")
    }
    pub(crate) fn hosts(&self) -> PathBuf {
        self.dir.join("hosts")
    }
    pub(crate) fn resolv_conf(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }
    pub(crate) fn hostname(&self) -> PathBuf {
        self.dir.join("hostname")
    }
    /// The pod-wide `/dev/shm` tmpfs mount point.
    pub(crate) fn shm(&self) -> PathBuf {
        self.dir.join("shm")
    }
    /// The network namespace pinned by a bind mount, so CNI DEL works even after the
    /// shim died.
    pub(crate) fn netns(&self) -> PathBuf {
        self.dir.join("netns")
    }
    /// libcontainer's state root.
    pub(crate) fn lc_root(&self) -> PathBuf {
        self.dir.join("lc")
    }
    pub(crate) fn containers(&self) -> PathBuf {
        self.dir.join("containers")
    }
    pub(crate) fn container(&self, id: &ContainerId) -> ContainerPaths {
        ContainerPaths {
            dir: self.containers().join(&id.0),
        }
    }
}

/// Files of one container (its directory is also its OCI bundle).
#[derive(Clone, Debug)]
pub(crate) struct ContainerPaths {
    pub(crate) dir: PathBuf,
}

impl ContainerPaths {
    /// The agent's record ([`crate::state::ContainerRecord`]).
    pub(crate) fn record(&self) -> PathBuf {
        self.dir.join("container.json")
    }
    /// The shim's record of the process ([`crate::state::ProcessStatus`]).
    pub(crate) fn status(&self) -> PathBuf {
        self.dir.join("status.json")
    }
    /// The OCI runtime spec.
    pub(crate) fn spec(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    pub(crate) fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    pub(crate) fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }
    pub(crate) fn work(&self) -> PathBuf {
        self.dir.join("work")
    }
    /// An empty lower layer for images without layers.
    pub(crate) fn empty_lower(&self) -> PathBuf {
        self.dir.join("empty")
    }
}

/// A fresh random id of 16 hex digits (sandbox and container ids).
pub(crate) fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_and_container_paths_nest_under_the_root() {
        let layout = Layout::new(Path::new("/r"));
        let sb = layout.sandbox(&SandboxId("abc".into()));
        assert_eq!(sb.socket(), Path::new("/r/sandboxes/abc/shim.sock"));
        let c = sb.container(&ContainerId("c1".into()));
        assert_eq!(
            c.rootfs(),
            Path::new("/r/sandboxes/abc/containers/c1/rootfs")
        );
        assert_eq!(
            c.spec(),
            Path::new("/r/sandboxes/abc/containers/c1/config.json")
        );
    }

    #[test]
    fn ids_are_sixteen_hex_digits() {
        let id = new_id();
        assert_eq!(id.len(), 16);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
