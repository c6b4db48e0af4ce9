//! The OCI runtime spec of one container: overlay rootfs, the sandbox's namespaces
//! joined by path, the standard kernel file systems, the pod-wide /etc files and
//! /dev/shm, volume binds, identity, capabilities, rlimits and cgroup limits. Pure:
//! everything it needs from the host comes in [`SpecInput`].

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use oci_spec::runtime::{
    LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDeviceCgroupBuilder,
    LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType,
    LinuxPidsBuilder, LinuxResourcesBuilder, Mount, MountBuilder, PosixRlimitBuilder,
    PosixRlimitType, ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

use crate::user::ResolvedUser;
use crate::ContainerConfig;

/// The default `PATH` when neither image nor pod sets one.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where the container finds the termination message when the agent does not say.
pub(crate) const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

/// The sandbox's namespaces a container joins, as paths.
#[derive(Clone, Debug, Default)]
pub(crate) struct PodNamespaces {
    /// None with host networking.
    pub(crate) net: Option<PathBuf>,
    pub(crate) ipc: PathBuf,
    pub(crate) uts: PathBuf,
    /// The pod's PID namespace with `share_pid`; None gives the container its own.
    pub(crate) pid: Option<PathBuf>,
}

/// The sandbox's files every container gets.
#[derive(Clone, Debug, Default)]
pub(crate) struct PodFiles {
    pub(crate) hosts: PathBuf,
    pub(crate) resolv_conf: PathBuf,
    pub(crate) hostname: PathBuf,
    pub(crate) shm: PathBuf,
}

/// Everything a container's spec is made of.
#[derive(Clone, Debug)]
pub(crate) struct SpecInput<'a> {
    pub(crate) config: &'a ContainerConfig,
    pub(crate) user: &'a ResolvedUser,
    pub(crate) hostname: &'a str,
    pub(crate) namespaces: &'a PodNamespaces,
    pub(crate) files: &'a PodFiles,
    pub(crate) cgroups_path: &'a str,
    /// Unified cgroup hierarchy: the container also gets its own cgroup namespace.
    pub(crate) cgroup_v2: bool,
    /// Capability names ([`crate::caps::container_caps`]).
    pub(crate) capabilities: &'a BTreeSet<String>,
    /// The current hard limit of open files; the spec never asks for more.
    pub(crate) nofile_hard: u64,
    /// (host file, path in the container) of the termination message.
    pub(crate) termination_message: Option<(PathBuf, String)>,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn mount(
    dest: &str,
    typ: &str,
    source: impl Into<PathBuf>,
    options: &[&str],
) -> Result<Mount, String> {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source.into())
        .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(err)
}

fn ns(typ: LinuxNamespaceType, path: Option<&PathBuf>) -> Result<LinuxNamespace, String> {
    let b = LinuxNamespaceBuilder::default().typ(typ);
    match path {
        Some(p) => b.path(p.clone()).build().map_err(err),
        None => b.build().map_err(err),
    }
}

/// The environment: the agent's, plus `PATH`, `HOSTNAME` and `HOME` when missing.
pub(crate) fn environment(
    config: &ContainerConfig,
    hostname: &str,
    home: Option<&str>,
) -> Vec<String> {
    let mut env = config.env.clone();
    let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    if !has(&env, "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&env, "HOSTNAME") {
        env.push(format!("HOSTNAME={hostname}"));
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={}", home.unwrap_or("/")));
    }
    env
}

/// The kernel file systems, pod files and volumes, in mount order.
pub(crate) fn mounts(input: &SpecInput<'_>) -> Result<Vec<Mount>, String> {
    let c = input.config;
    let privileged = c.security.privileged;
    let ro_or_rw = |ro: bool| if ro { "ro" } else { "rw" };
    let mut v = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
    ];
    // sysfs can only be mounted by the owner of a network namespace.
    if input.namespaces.net.is_some() {
        v.push(mount(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", ro_or_rw(!privileged)],
        )?);
    } else {
        v.push(mount(
            "/sys",
            "bind",
            "/sys",
            &["rbind", "nosuid", "noexec", "nodev", ro_or_rw(!privileged)],
        )?);
    }
    v.push(mount(
        "/sys/fs/cgroup",
        "cgroup",
        "cgroup",
        &[
            "nosuid",
            "noexec",
            "nodev",
            "relatime",
            ro_or_rw(!privileged),
        ],
    )?);
    v.push(mount(
        "/dev/shm",
        "bind",
        &input.files.shm,
        &["rbind", "nosuid", "nodev", "noexec"],
    )?);
    let etc_mode = ro_or_rw(c.security.read_only_root_fs);
    v.push(mount(
        "/etc/hosts",
        "bind",
        &input.files.hosts,
        &["rbind", "rprivate", etc_mode],
    )?);
    v.push(mount(
        "/etc/resolv.conf",
        "bind",
        &input.files.resolv_conf,
        &["rbind", "rprivate", etc_mode],
    )?);
    v.push(mount(
        "/etc/hostname",
        "bind",
        &input.files.hostname,
        &["rbind", "rprivate", etc_mode],
    )?);
    if let Some((host, dest)) = &input.termination_message {
        if !c.mounts.iter().any(|m| &m.host_path == host) {
            v.push(mount(dest, "bind", host, &["rbind", "rprivate", "rw"])?);
        }
    }
    // Parents before children: a volume at /a/b must come after one at /a.
    let mut volumes: Vec<&crate::Mount> = c.mounts.iter().collect();
    volumes.sort_by_key(|m| {
        m.container_path
            .trim_end_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .count()
    });
    for m in volumes {
        if !m.container_path.starts_with('/') {
            return Err(format!(
                "mount path {:?} must be absolute",
                m.container_path
            ));
        }
        let propagation = match m.propagation.as_deref().unwrap_or("private") {
            "private" | "rprivate" | "" => "rprivate",
            "rslave" | "slave" | "HostToContainer" => "rslave",
            "rshared" | "shared" | "Bidirectional" => "rshared",
            other => return Err(format!("unknown mount propagation {other:?}")),
        };
        v.push(mount(
            &m.container_path,
            "bind",
            &m.host_path,
            &["rbind", propagation, ro_or_rw(m.read_only)],
        )?);
    }
    Ok(v)
}

/// The rootfs propagation the volumes need: rshared or rslave volumes require at least
/// as much on the root mount.
fn rootfs_propagation(c: &ContainerConfig) -> Option<&'static str> {
    let props: Vec<&str> = c
        .mounts
        .iter()
        .filter_map(|m| m.propagation.as_deref())
        .collect();
    if props
        .iter()
        .any(|p| matches!(*p, "rshared" | "shared" | "Bidirectional"))
    {
        Some("rshared")
    } else if props
        .iter()
        .any(|p| matches!(*p, "rslave" | "slave" | "HostToContainer"))
    {
        Some("rslave")
    } else {
        None
    }
}

/// Docker's masked paths.
const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths.
const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Builds the container's OCI runtime spec; the error is a message for the user
/// (kubelet's `CreateContainerConfigError`).
pub(crate) fn build_spec(input: &SpecInput<'_>) -> Result<Spec, String> {
    let c = input.config;
    if c.args.is_empty() {
        return Err(
            "no command specified: the image has no entrypoint and the pod no command".into(),
        );
    }
    let sec = &c.security;
    let caps = crate::caps::to_spec(input.capabilities)?;
    // Like Docker: a non-root user starts with empty effective and permitted sets.
    let (effective, permitted) = if input.user.uid == 0 {
        (caps.clone(), caps.clone())
    } else {
        Default::default()
    };
    let mut capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(effective)
        .permitted(permitted)
        .build()
        .map_err(err)?;
    capabilities.set_inheritable(None);
    capabilities.set_ambient(None);

    let mut user = UserBuilder::default()
        .uid(input.user.uid)
        .gid(input.user.gid);
    if !input.user.additional_gids.is_empty() {
        user = user.additional_gids(input.user.additional_gids.clone());
    }
    let nofile = input.nofile_hard.min(1 << 20);
    let process = ProcessBuilder::default()
        .terminal(false)
        .user(user.build().map_err(err)?)
        .args(c.args.clone())
        .env(environment(c, input.hostname, input.user.home.as_deref()))
        .cwd(
            c.working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into()),
        )
        .capabilities(capabilities)
        .rlimits(vec![PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitNofile)
            .hard(nofile)
            .soft(nofile)
            .build()
            .map_err(err)?])
        .no_new_privileges(sec.allow_privilege_escalation == Some(false))
        .build()
        .map_err(err)?;

    let mut namespaces = vec![
        ns(LinuxNamespaceType::Pid, input.namespaces.pid.as_ref())?,
        ns(LinuxNamespaceType::Mount, None)?,
        ns(LinuxNamespaceType::Ipc, Some(&input.namespaces.ipc))?,
        ns(LinuxNamespaceType::Uts, Some(&input.namespaces.uts))?,
    ];
    if let Some(net) = &input.namespaces.net {
        namespaces.push(ns(LinuxNamespaceType::Network, Some(net))?);
    }
    if input.cgroup_v2 {
        namespaces.push(ns(LinuxNamespaceType::Cgroup, None)?);
    }

    let r = &c.resources;
    let mut resources =
        LinuxResourcesBuilder::default().devices(vec![LinuxDeviceCgroupBuilder::default()
            .allow(sec.privileged)
            .access("rwm")
            .build()
            .map_err(err)?]);
    if let Some(limit) = r.memory_limit.filter(|m| *m > 0) {
        resources = resources.memory(
            LinuxMemoryBuilder::default()
                .limit(limit)
                .build()
                .map_err(err)?,
        );
    }
    if r.cpu_shares.is_some() || r.cpu_quota.is_some() {
        let mut cpu = LinuxCpuBuilder::default();
        if let Some(s) = r.cpu_shares.filter(|s| *s > 0) {
            cpu = cpu.shares(s.max(2));
        }
        if let Some(q) = r.cpu_quota.filter(|q| *q > 0) {
            cpu = cpu.quota(q).period(r.cpu_period.unwrap_or(100_000));
        }
        resources = resources.cpu(cpu.build().map_err(err)?);
    }
    if let Some(p) = r.pids_limit.filter(|p| *p > 0) {
        resources = resources.pids(LinuxPidsBuilder::default().limit(p).build().map_err(err)?);
    }

    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .cgroups_path(PathBuf::from(input.cgroups_path))
        .resources(resources.build().map_err(err)?)
        .sysctl(
            sec.sysctls
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        );
    if !sec.privileged {
        linux = linux
            .masked_paths(
                MASKED_PATHS
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
            )
            .readonly_paths(
                READONLY_PATHS
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
            );
    }
    if let Some(p) = rootfs_propagation(c) {
        linux = linux.rootfs_propagation(p);
    }
    let mut linux = linux.build().map_err(err)?;
    if sec.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    }

    SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(sec.read_only_root_fs)
                .build()
                .map_err(err)?,
        )
        .mounts(mounts(input)?)
        .process(process)
        .linux(linux)
        .build()
        .map_err(err)
}

#[cfg(test)]
mod tests;
