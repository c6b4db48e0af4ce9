//! Creating a sandbox: pod files, `/dev/shm`, the pod cgroup, the shim (which holds the
//! new namespaces), the pinned network namespace and CNI ADD. The record is written
//! before each step, so whatever happens — an error here, or the agent being killed —
//! [`crate::sandbox_remove`] knows everything there is to undo.

use std::time::Instant;

use chrono::Utc;

use crate::cgroups::pod_cgroup;
use crate::cni::{cni_args, pod_networks, NetworkAttachment, NetworkSettings};
use crate::config::{new_id, SandboxPaths};
use crate::etc_files::{hostname_content, hosts_content, resolv_conf_content, HostsFile};
use crate::linux::{io_err, LinuxRuntime};
use crate::shim::ShimConfig;
use crate::state::{write_json, SandboxPhase, SandboxRecord, ShimProcess};
use crate::{Error, Result, Sandbox, SandboxConfig, SandboxId};

/// `/dev/shm` when the pod does not say.
const DEFAULT_SHM_SIZE: u64 = 64 << 20;

impl SandboxRecord {
    pub(crate) fn to_sandbox(&self) -> Sandbox {
        Sandbox {
            id: self.id.clone(),
            pod: self.config.pod.clone(),
            ip: self.ip,
            netns: self.netns.clone(),
            created_at: self.created_at,
        }
    }
}

impl LinuxRuntime {
    pub(crate) async fn create_sandbox_impl(&self, config: &SandboxConfig) -> Result<Sandbox> {
        if let Some(h) = config.runtime_handler.as_deref().filter(|h| !h.is_empty()) {
            return Err(Error::ContainerFailed(format!(
                "runtime handler {h:?} is not supported by this node"
            )));
        }
        let started = Instant::now();
        let id = SandboxId(new_id());
        let paths = self.layout.sandbox(&id);
        std::fs::create_dir_all(&paths.dir)
            .map_err(io_err(format!("creating {}", paths.dir.display())))?;
        let mut rec = SandboxRecord {
            id: id.clone(),
            config: config.clone(),
            created_at: Utc::now(),
            phase: SandboxPhase::Creating,
            cgroup: None,
            shm_mounted: false,
            shim: None,
            netns: None,
            network: None,
            ip: None,
        };
        let result = match self.save_sandbox(&paths, &rec) {
            Ok(()) => self.setup_sandbox(&paths, &mut rec).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                tracing::info!(sandbox = %id, pod = %config.pod.name, ip = ?rec.ip, elapsed = ?started.elapsed(), "sandbox ready");
                Ok(rec.to_sandbox())
            }
            Err(e) => {
                tracing::warn!(sandbox = %id, pod = %config.pod.name, error = %e, "sandbox creation failed, undoing");
                if let Err(undo) = self.teardown_sandbox(&paths, &mut rec).await {
                    tracing::error!(sandbox = %id, error = %undo, "undoing a failed sandbox left something behind");
                }
                Err(e)
            }
        }
    }

    async fn setup_sandbox(&self, paths: &SandboxPaths, rec: &mut SandboxRecord) -> Result<()> {
        let started = Instant::now();
        let config = rec.config.clone();
        let hostname = if config.hostname.is_empty() {
            config.pod.name.clone()
        } else {
            config.hostname.clone()
        };
        write_file(
            &paths.resolv_conf(),
            &resolv_conf_content(&config.resolv_conf),
        )?;
        write_file(&paths.hostname(), &hostname_content(&hostname))?;
        self.write_hosts(paths, rec, &hostname)?;

        std::fs::create_dir_all(paths.shm()).map_err(io_err("creating the shm directory"))?;
        rec.shm_mounted = true;
        self.save_sandbox(paths, rec)?;
        self.host
            .mounts
            .mount_tmpfs(
                &paths.shm(),
                config
                    .shm_size
                    .filter(|s| *s > 0)
                    .unwrap_or(DEFAULT_SHM_SIZE),
            )
            .map_err(io_err("mounting /dev/shm"))?;

        let uid = if config.pod.uid.is_empty() {
            rec.id.0.clone()
        } else {
            config.pod.uid.clone()
        };
        let cgroup = pod_cgroup(&self.cfg.cgroup_parent, &config.qos_class, &uid);
        rec.cgroup = Some(cgroup.clone());
        self.save_sandbox(paths, rec)?;
        self.host
            .cgroups
            .create_pod(&cgroup, &config.resources)
            .map_err(|e| Error::Cgroup(e.to_string()))?;

        let shim_cfg = ShimConfig {
            hostname: hostname.clone(),
            host_network: config.host_network,
            share_pid: config.share_pid,
            log_max_bytes: self.cfg.log_max_bytes,
            log_max_files: self.cfg.log_max_files,
        };
        write_json(&paths.shim_config(), &shim_cfg).map_err(io_err("writing shim.json"))?;
        let ready =
            crate::shim::client::launch(&self.cfg.orca_binary, paths, self.cfg.shim_timeout)
                .await?;
        rec.shim = Some(ShimProcess {
            pid: ready.pid,
            start_time: ready.start_time,
            pause_pid: ready.pause_pid,
        });
        self.save_sandbox(paths, rec)?;
        tracing::debug!(sandbox = %rec.id, elapsed = ?started.elapsed(), shim = ready.pid, "shim ready");

        if !config.host_network {
            let netns = paths.netns();
            rec.netns = Some(netns.clone());
            self.save_sandbox(paths, rec)?;
            self.host
                .mounts
                .pin_netns(ready.pid, &netns)
                .map_err(io_err("pinning the network namespace"))?;
            let settings = NetworkSettings {
                network_name: self.cfg.network_name.clone(),
                bridge: self.cfg.bridge.clone(),
                pod_cidr: self.cfg.pod_cidr.clone(),
                ipam_data_dir: self.layout.cni_state().join("networks"),
            };
            let mut att = NetworkAttachment {
                container_id: rec.id.0.clone(),
                netns,
                cni_args: cni_args(
                    &config.pod.namespace,
                    &config.pod.name,
                    &config.pod.uid,
                    &rec.id.0,
                ),
                networks: pod_networks(&settings, &config.port_mappings),
            };
            rec.network = Some(att.clone());
            self.save_sandbox(paths, rec)?;
            let added = crate::cni::add(self.host.cni.as_ref(), &self.cni_path(), &mut att).await;
            rec.network = Some(att);
            tracing::debug!(sandbox = %rec.id, elapsed = ?started.elapsed(), "CNI ADD done");
            let ip = added?;
            rec.ip =
                Some(ip.ok_or_else(|| Error::Network("the CNI result has no IP address".into()))?);
            self.save_sandbox(paths, rec)?;
            self.write_hosts(paths, rec, &hostname)?;
        }
        rec.phase = SandboxPhase::Ready;
        self.save_sandbox(paths, rec)
    }

    fn write_hosts(&self, paths: &SandboxPaths, rec: &SandboxRecord, hostname: &str) -> Result<()> {
        let c = &rec.config;
        let host_base = c
            .host_network
            .then(|| std::fs::read_to_string("/etc/hosts").unwrap_or_default());
        let content = hosts_content(&HostsFile {
            ip: rec.ip,
            hostname,
            subdomain: c.subdomain.as_deref(),
            namespace: &c.pod.namespace,
            cluster_domain: &self.cfg.cluster_domain,
            aliases: &c.host_aliases,
            host_base: host_base.as_deref(),
        });
        write_file(&paths.hosts(), &content)
    }
}

fn write_file(path: &std::path::Path, content: &str) -> Result<()> {
    std::fs::write(path, content).map_err(io_err(format!("writing {}", path.display())))
}
