//! Pod cgroups on cgroup v1, v2 and hybrid hosts: where they live (kubelet's layout,
//! `kubepods[/burstable|/besteffort]/pod<uid>/<container>`), creating them with the pod's
//! limits, reading the OOM-kill counter, and removing them with whatever still runs in
//! them. Container cgroups below a pod cgroup are created by libcontainer from the OCI
//! spec's `cgroupsPath`.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::mounts::MountInfo;
use crate::Resources;

/// The cgroup path of a pod, relative to each hierarchy's root, as kubelet's cgroupfs
/// driver lays it out: Guaranteed pods sit directly under the parent.
pub(crate) fn pod_cgroup(parent: &str, qos_class: &str, pod_uid: &str) -> String {
    let parent = parent.trim_matches('/');
    match qos_class.to_ascii_lowercase().as_str() {
        "guaranteed" => format!("{parent}/pod{pod_uid}"),
        "burstable" => format!("{parent}/burstable/pod{pod_uid}"),
        _ => format!("{parent}/besteffort/pod{pod_uid}"),
    }
}

/// A container's OCI `cgroupsPath` (absolute, so it is taken relative to the roots of
/// the hierarchies and not to the shim's own cgroup).
pub(crate) fn container_cgroups_path(pod_cgroup: &str, container_id: &str) -> String {
    format!("/{}/{container_id}", pod_cgroup.trim_matches('/'))
}

/// cgroup v2's cpu.weight for v1 cpu.shares (the conversion runc and kubelet use).
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// The cgroup file systems of this host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CgroupHost {
    /// v1 hierarchies (controllers comma separated per mount), and on hybrid hosts the
    /// controller-less cgroup2 mount (ignored for limits, as libcontainer ignores it).
    V1 {
        hierarchies: Vec<V1Hierarchy>,
        unified: Option<PathBuf>,
    },
    /// Unified hierarchy only.
    V2 { root: PathBuf },
}

/// One mounted v1 hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct V1Hierarchy {
    pub(crate) mount: PathBuf,
    /// e.g. ["cpu"], ["memory"], ["name=systemd"].
    pub(crate) controllers: Vec<String>,
}

impl V1Hierarchy {
    fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

impl CgroupHost {
    /// Reads the cgroup mounts from /proc/self/mountinfo.
    pub(crate) fn detect() -> io::Result<Self> {
        let info = std::fs::read_to_string("/proc/self/mountinfo")?;
        Self::from_mounts(&crate::mounts::parse_mountinfo(&info))
            .ok_or_else(|| io::Error::other("no cgroup file system is mounted"))
    }

    pub(crate) fn from_mounts(mounts: &[MountInfo]) -> Option<Self> {
        let mut hierarchies = Vec::new();
        let mut unified = None;
        for m in mounts {
            match m.fs_type.as_str() {
                "cgroup" => {
                    let controllers = m
                        .super_options
                        .split(',')
                        .filter(|o| {
                            !matches!(*o, "rw" | "ro")
                                && !o.starts_with("release_agent")
                                && *o != "clone_children"
                                && *o != "noprefix"
                                && *o != "xattr"
                        })
                        .map(str::to_string)
                        .collect();
                    hierarchies.push(V1Hierarchy {
                        mount: m.mount_point.clone(),
                        controllers,
                    });
                }
                "cgroup2" => unified = Some(m.mount_point.clone()),
                _ => {}
            }
        }
        match (hierarchies.is_empty(), unified) {
            (false, unified) => Some(CgroupHost::V1 {
                hierarchies,
                unified,
            }),
            (true, Some(root)) => Some(CgroupHost::V2 { root }),
            (true, None) => None,
        }
    }

    /// Every directory a cgroup `rel` has (one per hierarchy).
    pub(crate) fn dirs(&self, rel: &str) -> Vec<PathBuf> {
        let rel = rel.trim_matches('/');
        match self {
            CgroupHost::V1 {
                hierarchies,
                unified,
            } => hierarchies
                .iter()
                .map(|h| &h.mount)
                .chain(unified.iter())
                .map(|m| m.join(rel))
                .collect(),
            CgroupHost::V2 { root } => vec![root.join(rel)],
        }
    }

    /// The file holding the OOM-kill counter of cgroup `rel`.
    pub(crate) fn oom_events_file(&self, rel: &str) -> Option<PathBuf> {
        let rel = rel.trim_matches('/');
        match self {
            CgroupHost::V1 { hierarchies, .. } => hierarchies
                .iter()
                .find(|h| h.has("memory"))
                .map(|h| h.mount.join(rel).join("memory.oom_control")),
            CgroupHost::V2 { root } => Some(root.join(rel).join("memory.events")),
        }
    }

    /// How many processes of cgroup `rel` the kernel's OOM killer killed.
    pub(crate) fn oom_kills(&self, rel: &str) -> Option<u64> {
        let text = std::fs::read_to_string(self.oom_events_file(rel)?).ok()?;
        flat_keyed_value(&text, "oom_kill")
    }

    /// Creates the pod cgroup (and its parents) in every hierarchy and writes the pod's
    /// limits.
    pub(crate) fn create_pod(&self, rel: &str, res: &Resources) -> io::Result<()> {
        match self {
            CgroupHost::V1 { hierarchies, .. } => {
                for h in hierarchies {
                    if h.controllers.iter().any(|c| c.starts_with("name=")) {
                        continue;
                    }
                    let dir = mkdir_levels(&h.mount, rel, h.has("cpuset"))?;
                    for (file, value) in v1_limits(h, res) {
                        write_file(&dir.join(file), &value)?;
                    }
                }
                Ok(())
            }
            CgroupHost::V2 { root } => {
                let dir = mkdir_levels_v2(root, rel)?;
                for (file, value) in v2_limits(res) {
                    write_file(&dir.join(file), &value)?;
                }
                Ok(())
            }
        }
    }

    /// The processes in cgroup `rel` and below it.
    pub(crate) fn procs(&self, rel: &str) -> Vec<i32> {
        let mut pids = Vec::new();
        for dir in self.dirs(rel) {
            walk(&dir, &mut |d| {
                if let Ok(s) = std::fs::read_to_string(d.join("cgroup.procs")) {
                    pids.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
                }
            });
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Kills whatever still runs in cgroup `rel` (and below), then removes its directories
    /// in every hierarchy, deepest first. A missing cgroup is fine.
    pub(crate) fn remove(&self, rel: &str, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let pids = self.procs(rel);
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::SIGKILL,
                );
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "processes in cgroup {rel} survive SIGKILL"
                )));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut last_err = None;
        for dir in self.dirs(rel) {
            let mut all = Vec::new();
            walk(&dir, &mut |d| all.push(d.to_path_buf()));
            all.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
            for d in all {
                if let Err(e) = rmdir_retry(&d, deadline) {
                    last_err = Some(e);
                }
            }
        }
        last_err.map_or(Ok(()), Err)
    }
}

/// Value of `key` in a flat-keyed cgroup file (`key value` per line).
pub(crate) fn flat_keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The v1 files and values for a pod's limits in hierarchy `h`.
pub(crate) fn v1_limits(h: &V1Hierarchy, res: &Resources) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    if h.has("memory") {
        if let Some(m) = res.memory_limit.filter(|m| *m > 0) {
            v.push(("memory.limit_in_bytes", m.to_string()));
        }
    }
    if h.has("cpu") {
        if let Some(s) = res.cpu_shares.filter(|s| *s > 0) {
            v.push(("cpu.shares", s.max(2).to_string()));
        }
        if let Some(q) = res.cpu_quota.filter(|q| *q > 0) {
            v.push((
                "cpu.cfs_period_us",
                res.cpu_period.unwrap_or(100_000).to_string(),
            ));
            v.push(("cpu.cfs_quota_us", q.to_string()));
        }
    }
    if h.has("pids") {
        if let Some(p) = res.pids_limit.filter(|p| *p > 0) {
            v.push(("pids.max", p.to_string()));
        }
    }
    v
}

/// The v2 files and values for a pod's limits.
pub(crate) fn v2_limits(res: &Resources) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    if let Some(m) = res.memory_limit.filter(|m| *m > 0) {
        v.push(("memory.max", m.to_string()));
    }
    if let Some(s) = res.cpu_shares.filter(|s| *s > 0) {
        v.push(("cpu.weight", shares_to_weight(s).to_string()));
    }
    if let Some(q) = res.cpu_quota.filter(|q| *q > 0) {
        v.push((
            "cpu.max",
            format!("{q} {}", res.cpu_period.unwrap_or(100_000)),
        ));
    }
    if let Some(p) = res.pids_limit.filter(|p| *p > 0) {
        v.push(("pids.max", p.to_string()));
    }
    v
}

fn write_file(path: &Path, value: &str) -> io::Result<()> {
    std::fs::write(path, value).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("write {value:?} to {}: {e}", path.display()),
        )
    })
}

/// Creates each level of `rel` below `mount`; cpuset levels inherit cpus and mems from
/// their parent (an empty cpuset refuses tasks).
fn mkdir_levels(mount: &Path, rel: &str, cpuset: bool) -> io::Result<PathBuf> {
    let mut dir = mount.to_path_buf();
    for part in rel.trim_matches('/').split('/').filter(|p| !p.is_empty()) {
        let parent = dir.clone();
        dir.push(part);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("mkdir {}: {e}", dir.display()),
                ))
            }
        }
        if cpuset {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                let own = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
                if own.trim().is_empty() {
                    let from_parent = std::fs::read_to_string(parent.join(f))?;
                    write_file(&dir.join(f), from_parent.trim())?;
                }
            }
        }
    }
    Ok(dir)
}

/// Creates each level of `rel` below the v2 root, enabling the root's controllers in
/// every ancestor's `cgroup.subtree_control`.
fn mkdir_levels_v2(root: &Path, rel: &str) -> io::Result<PathBuf> {
    let available = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
    let enable: String = available
        .split_whitespace()
        .map(|c| format!("+{c} "))
        .collect();
    let mut dir = root.to_path_buf();
    for part in rel.trim_matches('/').split('/').filter(|p| !p.is_empty()) {
        if !enable.is_empty() {
            let _ = std::fs::write(dir.join("cgroup.subtree_control"), enable.trim());
        }
        dir.push(part);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("mkdir {}: {e}", dir.display()),
                ))
            }
        }
    }
    if !enable.is_empty() {
        let _ = std::fs::write(dir.join("cgroup.subtree_control"), enable.trim());
    }
    Ok(dir)
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    if !dir.is_dir() {
        return;
    }
    f(dir);
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(&e.path(), f);
            }
        }
    }
}

fn rmdir_retry(dir: &Path, deadline: Instant) -> io::Result<()> {
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(dir = %dir.display(), error = %e, "cgroup busy, retrying");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("rmdir {}: {e}", dir.display()),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mounts::parse_mountinfo;

    #[test]
    fn pod_cgroups_follow_kubelets_qos_layout() {
        assert_eq!(pod_cgroup("kubepods", "Guaranteed", "u1"), "kubepods/podu1");
        assert_eq!(
            pod_cgroup("/kubepods/", "Burstable", "u1"),
            "kubepods/burstable/podu1"
        );
        assert_eq!(
            pod_cgroup("kubepods", "BestEffort", "u1"),
            "kubepods/besteffort/podu1"
        );
        assert_eq!(
            pod_cgroup("kubepods", "", "u1"),
            "kubepods/besteffort/podu1"
        );
        assert_eq!(
            container_cgroups_path("kubepods/besteffort/podu1", "c1"),
            "/kubepods/besteffort/podu1/c1"
        );
    }

    #[test]
    fn hybrid_host_is_v1_with_a_unified_mount() {
        let m = parse_mountinfo(
            "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
             35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
             40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
        );
        let host = CgroupHost::from_mounts(&m).unwrap();
        let CgroupHost::V1 {
            hierarchies,
            unified,
        } = &host
        else {
            panic!("{host:?}")
        };
        assert_eq!(hierarchies.len(), 3);
        assert_eq!(hierarchies[2].controllers, vec!["name=systemd".to_string()]);
        assert_eq!(
            unified.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
        assert_eq!(
            host.oom_events_file("/kubepods/podu/c"),
            Some(PathBuf::from(
                "/sys/fs/cgroup/memory/kubepods/podu/c/memory.oom_control"
            ))
        );
        assert_eq!(host.dirs("kubepods/podu").len(), 4);
    }

    #[test]
    fn pure_v2_host_uses_memory_events() {
        let m = parse_mountinfo("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
        let host = CgroupHost::from_mounts(&m).unwrap();
        assert_eq!(
            host,
            CgroupHost::V2 {
                root: PathBuf::from("/sys/fs/cgroup")
            }
        );
        assert_eq!(
            host.oom_events_file("a/b"),
            Some(PathBuf::from("/sys/fs/cgroup/a/b/memory.events"))
        );
    }

    #[test]
    fn limits_map_to_v1_and_v2_files() {
        let res = Resources {
            cpu_shares: Some(512),
            cpu_quota: Some(50_000),
            cpu_period: None,
            memory_limit: Some(128 << 20),
            pids_limit: Some(100),
        };
        let cpu = V1Hierarchy {
            mount: "/c".into(),
            controllers: vec!["cpu".into()],
        };
        assert_eq!(
            v1_limits(&cpu, &res),
            vec![
                ("cpu.shares", "512".into()),
                ("cpu.cfs_period_us", "100000".into()),
                ("cpu.cfs_quota_us", "50000".into())
            ]
        );
        let mem = V1Hierarchy {
            mount: "/m".into(),
            controllers: vec!["memory".into()],
        };
        assert_eq!(
            v1_limits(&mem, &res),
            vec![("memory.limit_in_bytes", (128u64 << 20).to_string())]
        );
        let v2 = v2_limits(&res);
        assert!(v2.contains(&("cpu.max", "50000 100000".into())));
        assert!(v2.contains(&("cpu.weight", shares_to_weight(512).to_string())));
        assert!(v2.contains(&("pids.max", "100".into())));
    }

    #[test]
    fn shares_convert_to_weight_like_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn oom_kill_counter_is_read_from_flat_keyed_files() {
        assert_eq!(
            flat_keyed_value("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", "oom_kill"),
            Some(2)
        );
        assert_eq!(
            flat_keyed_value("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n", "oom_kill"),
            Some(1)
        );
        assert_eq!(flat_keyed_value("oom 1\n", "oom_kill"), None);
    }
}
