//! Creating a container: its directory (the OCI bundle), the overlay root file system
//! over the image layers, the identity resolved from the image's /etc/passwd, the OCI
//! spec, then libcontainer's create in the pod's shim. Anything done is undone when a
//! later step fails.

use std::path::PathBuf;

use chrono::Utc;

use crate::caps::container_caps;
use crate::cgroups::container_cgroups_path;
use crate::config::{new_id, ContainerPaths, SandboxPaths};
use crate::linux::{io_err, LinuxRuntime};
use crate::shim::{client, Request};
use crate::spec::{
    build_spec, PodFiles, PodNamespaces, SpecInput, DEFAULT_TERMINATION_MESSAGE_PATH,
};
use crate::state::{write_json, ContainerRecord, SandboxPhase, SandboxRecord};
use crate::user::{read_rootfs_file, resolve_user};
use crate::{ContainerConfig, ContainerId, Error, Result, SandboxId};

impl LinuxRuntime {
    pub(crate) async fn create_container_impl(
        &self,
        sandbox: &SandboxId,
        config: &ContainerConfig,
    ) -> Result<ContainerId> {
        let (spaths, srec) = self.load_sandbox(sandbox)?;
        let socket = self
            .live_socket(&spaths, &srec)
            .filter(|_| srec.phase == SandboxPhase::Ready)
            .ok_or_else(|| {
                Error::ContainerFailed(format!("sandbox {sandbox} is not ready (its shim is gone)"))
            })?;
        let id = ContainerId(new_id());
        let cpaths = spaths.container(&id);
        for dir in [
            &cpaths.dir,
            &cpaths.rootfs(),
            &cpaths.upper(),
            &cpaths.work(),
        ] {
            std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
        }
        let cgroup = srec.cgroup.clone().unwrap_or_default();
        let mut crec = ContainerRecord {
            id: id.clone(),
            sandbox: sandbox.clone(),
            config: config.clone(),
            created_at: Utc::now(),
            cgroups_path: container_cgroups_path(&cgroup, &id.0),
            rootfs_mounted: false,
        };
        self.remember(&id, sandbox);
        let result =
            match write_json(&cpaths.record(), &crec).map_err(io_err("writing container.json")) {
                Ok(()) => {
                    self.prepare_container(&spaths, &srec, &cpaths, &mut crec, &socket)
                        .await
                }
                Err(e) => Err(e),
            };
        match result {
            Ok(()) => Ok(id),
            Err(e) => {
                tracing::warn!(container = %id, name = %config.name, error = %e, "container creation failed, undoing");
                if let Err(undo) = self.release_container(&spaths, &srec, &crec).await {
                    tracing::error!(container = %id, error = %undo, "undoing a failed container left something behind");
                }
                Err(e)
            }
        }
    }

    async fn prepare_container(
        &self,
        spaths: &SandboxPaths,
        srec: &SandboxRecord,
        cpaths: &ContainerPaths,
        crec: &mut ContainerRecord,
        socket: &std::path::Path,
    ) -> Result<()> {
        let config = &crec.config;
        let started = std::time::Instant::now();
        let termination_message = match &config.termination_message_path {
            Some(host) => {
                if let Some(dir) = host.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(io_err(format!("creating {}", dir.display())))?;
                }
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(host)
                    .map_err(io_err(format!("creating {}", host.display())))?;
                let dest = config
                    .termination_message_container_path
                    .clone()
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| DEFAULT_TERMINATION_MESSAGE_PATH.to_string());
                Some((host.clone(), dest))
            }
            None => None,
        };

        let mut lower: Vec<PathBuf> = config.image_layers.clone();
        if lower.is_empty() {
            std::fs::create_dir_all(cpaths.empty_lower())
                .map_err(io_err("creating an empty layer"))?;
            lower.push(cpaths.empty_lower());
        }
        crec.rootfs_mounted = true;
        write_json(&cpaths.record(), &*crec).map_err(io_err("writing container.json"))?;
        self.host
            .mounts
            .mount_overlay(&lower, &cpaths.upper(), &cpaths.work(), &cpaths.rootfs())
            .map_err(|e| Error::ContainerFailed(format!("mounting the root file system: {e}")))?;

        tracing::debug!(container = %crec.id, elapsed = ?started.elapsed(), "rootfs mounted");
        let rootfs = cpaths.rootfs();
        let passwd = read_rootfs_file(&rootfs, "etc/passwd");
        let group = read_rootfs_file(&rootfs, "etc/group");
        let user = resolve_user(
            config.image_user.as_deref(),
            &config.security,
            passwd.as_deref(),
            group.as_deref(),
        )
        .map_err(Error::ContainerFailed)?;
        if let Some(wd) = config.working_dir.as_deref().filter(|w| !w.is_empty()) {
            ensure_working_dir(&rootfs, wd, user.uid, user.gid);
        }
        let capabilities = container_caps(&config.security, &self.host.bounding_caps)
            .map_err(Error::ContainerFailed)?;
        let shim = srec
            .shim
            .as_ref()
            .ok_or_else(|| Error::ContainerFailed("the sandbox has no shim".into()))?;
        let namespaces = PodNamespaces {
            net: srec.netns.clone(),
            ipc: format!("/proc/{}/ns/ipc", shim.pid).into(),
            uts: format!("/proc/{}/ns/uts", shim.pid).into(),
            pid: shim.pause_pid.map(|p| format!("/proc/{p}/ns/pid").into()),
        };
        let files = PodFiles {
            hosts: spaths.hosts(),
            resolv_conf: spaths.resolv_conf(),
            hostname: spaths.hostname(),
            shm: spaths.shm(),
        };
        let hostname = std::fs::read_to_string(spaths.hostname()).unwrap_or_default();
        let spec = build_spec(&SpecInput {
            config,
            user: &user,
            hostname: hostname.trim(),
            namespaces: &namespaces,
            files: &files,
            cgroups_path: &crec.cgroups_path,
            cgroup_v2: self.host.cgroups.unified(),
            capabilities: &capabilities,
            nofile_hard: self.host.nofile_hard,
            termination_message,
        })
        .map_err(Error::ContainerFailed)?;
        spec.save(cpaths.spec())
            .map_err(|e| Error::ContainerFailed(format!("writing the OCI spec: {e}")))?;

        tracing::debug!(container = %crec.id, elapsed = ?started.elapsed(), "spec written");
        let resp = client::call(
            socket,
            &Request::Create {
                id: crec.id.0.clone(),
                log_path: config.log_path.clone(),
            },
            Some(self.cfg.shim_timeout),
        )
        .await?;
        match resp.error {
            Some(e) => Err(Error::ContainerFailed(e)),
            None => {
                tracing::info!(container = %crec.id, name = %config.name, pid = ?resp.pid, elapsed = ?started.elapsed(), "container created");
                Ok(())
            }
        }
    }
}

/// Creates the working directory when the image lacks it, owned by the container's
/// user (as runc does). Goes through the merged root file system one component at a
/// time and gives up at a symlink (the container is not running yet, so nothing races).
fn ensure_working_dir(rootfs: &std::path::Path, wd: &str, uid: u32, gid: u32) {
    let mut path = rootfs.to_path_buf();
    for part in wd.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if part == ".." {
            return;
        }
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => return,
            Err(_) => {
                if std::fs::create_dir(&path).is_err() {
                    return;
                }
                let _ = nix::unistd::chown(
                    &path,
                    Some(nix::unistd::Uid::from_raw(uid)),
                    Some(nix::unistd::Gid::from_raw(gid)),
                );
            }
        }
    }
}
