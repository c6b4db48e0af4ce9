//! Pod volumes on the node: emptyDir (on disk, or tmpfs for `medium: Memory` with its
//! sizeLimit), hostPath with its type checks, configMap, secret, downwardAPI and projected
//! volumes written as files, and the bind mounts of each container (subPath,
//! subPathExpr, readOnly, propagation). Setup is idempotent: the worker runs it again to
//! refresh file contents; teardown unmounts and removes everything of the pod.
//!
//! Not supported: persistentVolumeClaim and other network/CSI volumes (FailedMount), and
//! `serviceAccountToken` projections (skipped: this platform has no token issuer yet).

pub mod atomic_writer;
pub mod host;
mod host_path;
mod payload;

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use api::quantity::ParsedQuantity;
use k8s_openapi::api::core::v1::{Container, Pod, Volume};
use runtime::Mount;

pub use host::{FakeHost, HostCall, LinuxHost, VolumeHost};

use crate::cluster::PodApi;
use crate::command::expand_with;
use crate::env::{config_map_data, secret_data};
use crate::fieldpath::PodFacts;
use crate::pod_dirs::PodDirs;
use atomic_writer::{write_payload, Payload};
use payload::{downward_payload, key_payload, DEFAULT_MODE};

pub const EMPTY_DIR: &str = "kubernetes.io~empty-dir";
pub const CONFIG_MAP: &str = "kubernetes.io~configmap";
pub const SECRET: &str = "kubernetes.io~secret";
pub const DOWNWARD_API: &str = "kubernetes.io~downward-api";
pub const PROJECTED: &str = "kubernetes.io~projected";

/// A volume ready to be bind-mounted into containers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadyVolume {
    pub path: PathBuf,
    /// Files the agent owns and rewrites (configMap, secret, ...): always read-only.
    pub read_only: bool,
}

/// The pod's volumes by name.
pub type PodVolumes = BTreeMap<String, ReadyVolume>;

/// What setting up volumes needs.
pub struct VolumeContext<'a> {
    pub pod: &'a Pod,
    pub dirs: &'a PodDirs,
    pub facts: &'a PodFacts,
    pub api: &'a dyn PodApi,
    pub host: &'a dyn VolumeHost,
}

fn io_msg(what: &str, path: &Path, e: std::io::Error) -> String {
    format!("{what} {}: {e}", path.display())
}

fn ensure_tmpfs(host: &dyn VolumeHost, path: &Path, size: Option<u64>) -> Result<(), String> {
    std::fs::create_dir_all(path).map_err(|e| io_msg("creating", path, e))?;
    if !host.mounts_under(path).iter().any(|m| m == path) {
        host.mount_tmpfs(path, size)
            .map_err(|e| io_msg("mounting tmpfs at", path, e))?;
    }
    Ok(())
}

async fn setup_one(
    ctx: &VolumeContext<'_>,
    v: &Volume,
    fs_group: Option<u32>,
) -> Result<ReadyVolume, String> {
    let ns = ctx.pod.metadata.namespace.as_deref().unwrap_or("default");
    if let Some(ed) = &v.empty_dir {
        let path = ctx.dirs.volume(EMPTY_DIR, &v.name);
        if ed.medium.as_deref() == Some("Memory") {
            let size = ed
                .size_limit
                .as_ref()
                .and_then(|q| ParsedQuantity::parse(&q.0).ok())
                .map(|q| q.value().max(0) as u64);
            ensure_tmpfs(ctx.host, &path, size.filter(|s| *s > 0))?;
        } else {
            std::fs::create_dir_all(&path).map_err(|e| io_msg("creating", &path, e))?;
        }
        let mut mode = 0o777;
        if let Some(gid) = fs_group {
            ctx.host
                .chown(&path, None, Some(gid))
                .map_err(|e| io_msg("setting the group of", &path, e))?;
            mode |= 0o2000;
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| io_msg("chmod", &path, e))?;
        return Ok(ReadyVolume {
            path,
            read_only: false,
        });
    }
    if let Some(hp) = &v.host_path {
        let path = PathBuf::from(&hp.path);
        host_path::check(&path, hp.type_.as_deref())?;
        return Ok(ReadyVolume {
            path,
            read_only: false,
        });
    }
    let (plugin, files, tmpfs) = if let Some(cm) = &v.config_map {
        let optional = cm.optional == Some(true);
        let data = match ctx
            .api
            .config_map(ns, &cm.name)
            .await
            .map_err(|e| e.to_string())?
        {
            Some(obj) => config_map_data(&obj),
            None if optional => BTreeMap::new(),
            None => return Err(format!("configmap \"{}\" not found", cm.name)),
        };
        let mode = cm.default_mode.unwrap_or(DEFAULT_MODE);
        (
            CONFIG_MAP,
            key_payload("configmap", &data, cm.items.as_ref(), mode, optional)?,
            false,
        )
    } else if let Some(s) = &v.secret {
        let name = s.secret_name.clone().unwrap_or_default();
        let optional = s.optional == Some(true);
        let data = match ctx.api.secret(ns, &name).await.map_err(|e| e.to_string())? {
            Some(obj) => secret_data(&obj),
            None if optional => BTreeMap::new(),
            None => return Err(format!("secret \"{name}\" not found")),
        };
        let mode = s.default_mode.unwrap_or(DEFAULT_MODE);
        (
            SECRET,
            key_payload("secret", &data, s.items.as_ref(), mode, optional)?,
            true,
        )
    } else if let Some(d) = &v.downward_api {
        let mode = d.default_mode.unwrap_or(DEFAULT_MODE);
        (
            DOWNWARD_API,
            downward_payload(
                ctx.pod,
                ctx.facts,
                d.items.as_deref().unwrap_or_default(),
                mode,
            )?,
            false,
        )
    } else if let Some(p) = &v.projected {
        let mode = p.default_mode.unwrap_or(DEFAULT_MODE);
        let mut all = Payload::new();
        for source in p.sources.iter().flatten() {
            let part = if let Some(cm) = &source.config_map {
                let optional = cm.optional == Some(true);
                match ctx
                    .api
                    .config_map(ns, &cm.name)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    Some(obj) => key_payload(
                        "configmap",
                        &config_map_data(&obj),
                        cm.items.as_ref(),
                        mode,
                        optional,
                    )?,
                    None if optional => continue,
                    None => return Err(format!("configmap \"{}\" not found", cm.name)),
                }
            } else if let Some(s) = &source.secret {
                let optional = s.optional == Some(true);
                match ctx
                    .api
                    .secret(ns, &s.name)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    Some(obj) => key_payload(
                        "secret",
                        &secret_data(&obj),
                        s.items.as_ref(),
                        mode,
                        optional,
                    )?,
                    None if optional => continue,
                    None => return Err(format!("secret \"{}\" not found", s.name)),
                }
            } else if let Some(d) = &source.downward_api {
                downward_payload(
                    ctx.pod,
                    ctx.facts,
                    d.items.as_deref().unwrap_or_default(),
                    mode,
                )?
            } else {
                // serviceAccountToken and clusterTrustBundle: no issuer on this platform yet.
                continue;
            };
            all.extend(part);
        }
        (PROJECTED, all, true)
    } else {
        return Err(format!(
            "volume {:?}: this volume type is not supported on this node",
            v.name
        ));
    };
    let path = ctx.dirs.volume(plugin, &v.name);
    if tmpfs {
        ensure_tmpfs(ctx.host, &path, None)?;
    }
    write_payload(&path, &files, fs_group, ctx.host)
        .map_err(|e| io_msg("writing volume", &path, e))?;
    Ok(ReadyVolume {
        path,
        read_only: true,
    })
}

/// Sets up (or refreshes) every volume of the pod. The error is the FailedMount message.
pub async fn setup(ctx: &VolumeContext<'_>) -> Result<PodVolumes, String> {
    let spec = ctx.pod.spec.as_ref().ok_or("pod has no spec")?;
    let fs_group = spec
        .security_context
        .as_ref()
        .and_then(|s| s.fs_group)
        .map(|g| g as u32);
    let mut out = PodVolumes::new();
    for v in spec.volumes.iter().flatten() {
        let ready = setup_one(ctx, v, fs_group)
            .await
            .map_err(|e| format!("MountVolume.SetUp failed for volume {:?}: {e}", v.name))?;
        out.insert(v.name.clone(), ready);
    }
    Ok(out)
}

/// Unmounts everything below the pod's directory and removes its volumes.
pub fn teardown(dirs: &PodDirs, host: &dyn VolumeHost) -> Result<(), String> {
    for m in host.mounts_under(dirs.root()) {
        host.unmount(&m).map_err(|e| io_msg("unmounting", &m, e))?;
    }
    match std::fs::remove_dir_all(dirs.volumes()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_msg("removing", &dirs.volumes(), e)),
    }
}

/// Removes the pod's directory (volumes and logs) for good.
pub fn remove_pod_dir(dirs: &PodDirs, host: &dyn VolumeHost) -> Result<(), String> {
    teardown(dirs, host)?;
    match std::fs::remove_dir_all(dirs.root()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_msg("removing", dirs.root(), e)),
    }
}

fn propagation(mode: Option<&str>) -> Option<String> {
    match mode {
        Some("HostToContainer") => Some("rslave".into()),
        Some("Bidirectional") => Some("rshared".into()),
        _ => None,
    }
}

/// The bind mounts of a container. The error is a CreateContainerConfigError message.
pub fn container_mounts(
    c: &Container,
    volumes: &PodVolumes,
    env: &HashMap<String, String>,
) -> Result<Vec<Mount>, String> {
    let mut out = Vec::new();
    for vm in c.volume_mounts.iter().flatten() {
        let vol = volumes.get(&vm.name).ok_or_else(|| {
            format!(
                "cannot find volume {:?} to mount into container {:?}",
                vm.name, c.name
            )
        })?;
        let sub = match (vm.sub_path.as_deref(), vm.sub_path_expr.as_deref()) {
            (Some(p), _) if !p.is_empty() => Some(p.to_string()),
            (_, Some(e)) if !e.is_empty() => Some(expand_with(e, env)),
            _ => None,
        };
        let host_path = match sub {
            None => vol.path.clone(),
            Some(sub) => {
                if !atomic_writer::valid_relative_path(&sub) {
                    return Err(format!(
                        "invalid subPath {sub:?}: must be a relative path inside the volume"
                    ));
                }
                let p = vol.path.join(&sub);
                if std::fs::symlink_metadata(&p).is_err() {
                    if vol.read_only {
                        return Err(format!(
                            "subPath {sub:?} does not exist in volume {:?}",
                            vm.name
                        ));
                    }
                    std::fs::create_dir_all(&p).map_err(|e| io_msg("creating subPath", &p, e))?;
                    let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777));
                }
                let resolved =
                    std::fs::canonicalize(&p).map_err(|e| io_msg("resolving subPath", &p, e))?;
                let base = std::fs::canonicalize(&vol.path)
                    .map_err(|e| io_msg("resolving volume", &vol.path, e))?;
                if !resolved.starts_with(&base) {
                    return Err(format!(
                        "subPath {sub:?} resolves outside of volume {:?}",
                        vm.name
                    ));
                }
                resolved
            }
        };
        out.push(Mount {
            host_path,
            container_path: vm.mount_path.clone(),
            read_only: vm.read_only.unwrap_or(false) || vol.read_only,
            propagation: propagation(vm.mount_propagation.as_deref()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
