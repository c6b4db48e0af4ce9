//! Unit tests of the OCI spec a container gets.

use super::*;
use crate::{Mount as VolumeMount, Resources, Security};

struct Fixture {
    config: ContainerConfig,
    user: ResolvedUser,
    ns: PodNamespaces,
    files: PodFiles,
    caps: BTreeSet<String>,
}

fn fixture() -> Fixture {
    Fixture {
        config: ContainerConfig {
            name: "web".into(),
            args: vec!["httpd".into(), "-f".into()],
            env: vec!["A=1".into()],
            ..Default::default()
        },
        user: ResolvedUser {
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            home: Some("/root".into()),
        },
        ns: PodNamespaces {
            net: Some("/r/sb/netns".into()),
            ipc: "/proc/7/ns/ipc".into(),
            uts: "/proc/7/ns/uts".into(),
            pid: None,
        },
        files: PodFiles {
            hosts: "/r/sb/hosts".into(),
            resolv_conf: "/r/sb/resolv.conf".into(),
            hostname: "/r/sb/hostname".into(),
            shm: "/r/sb/shm".into(),
        },
        caps: crate::caps::DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect(),
    }
}

fn build(f: &Fixture) -> Spec {
    build_spec(&SpecInput {
        config: &f.config,
        user: &f.user,
        hostname: "pod-a",
        namespaces: &f.ns,
        files: &f.files,
        cgroups_path: "/kubepods/besteffort/podu/c1",
        cgroup_v2: false,
        capabilities: &f.caps,
        nofile_hard: 20000,
        termination_message: Some(("/var/log/pods/t".into(), "/dev/termination-log".into())),
    })
    .unwrap()
}

fn dests(spec: &Spec) -> Vec<String> {
    spec.mounts()
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.destination().display().to_string())
        .collect()
}

#[test]
fn joins_the_sandbox_namespaces_by_path_with_its_own_mount_and_pid() {
    let spec = build(&fixture());
    let nss = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
    let find = |t| nss.iter().find(|n| n.typ() == t).map(|n| n.path().clone());
    assert_eq!(
        find(LinuxNamespaceType::Network),
        Some(Some("/r/sb/netns".into()))
    );
    assert_eq!(
        find(LinuxNamespaceType::Ipc),
        Some(Some("/proc/7/ns/ipc".into()))
    );
    assert_eq!(
        find(LinuxNamespaceType::Uts),
        Some(Some("/proc/7/ns/uts".into()))
    );
    assert_eq!(find(LinuxNamespaceType::Pid), Some(None));
    assert_eq!(find(LinuxNamespaceType::Mount), Some(None));
    assert_eq!(find(LinuxNamespaceType::Cgroup), None);
}

#[test]
fn shared_pid_and_host_network_change_the_namespaces_and_sysfs() {
    let mut f = fixture();
    f.ns.pid = Some("/proc/9/ns/pid".into());
    f.ns.net = None;
    let spec = build(&f);
    let nss = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
    assert!(nss.iter().all(|n| n.typ() != LinuxNamespaceType::Network));
    let pid = nss
        .iter()
        .find(|n| n.typ() == LinuxNamespaceType::Pid)
        .unwrap();
    assert_eq!(
        pid.path().as_deref(),
        Some(std::path::Path::new("/proc/9/ns/pid"))
    );
    let sys = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.destination() == std::path::Path::new("/sys"))
        .unwrap();
    assert_eq!(
        sys.typ().as_deref(),
        Some("bind"),
        "no sysfs mount without an own netns"
    );
}

#[test]
fn pod_files_shm_and_termination_log_are_bound_before_volumes_in_depth_order() {
    let mut f = fixture();
    f.config.mounts = vec![
        VolumeMount {
            host_path: "/v/b".into(),
            container_path: "/data/sub".into(),
            read_only: true,
            propagation: None,
        },
        VolumeMount {
            host_path: "/v/a".into(),
            container_path: "/data".into(),
            read_only: false,
            propagation: Some("rslave".into()),
        },
    ];
    let spec = build(&f);
    let d = dests(&spec);
    assert_eq!(
        &d[..6],
        [
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/mqueue",
            "/sys",
            "/sys/fs/cgroup"
        ]
    );
    assert_eq!(
        &d[6..],
        [
            "/dev/shm",
            "/etc/hosts",
            "/etc/resolv.conf",
            "/etc/hostname",
            "/dev/termination-log",
            "/data",
            "/data/sub"
        ]
    );
    let ms = spec.mounts().as_ref().unwrap();
    assert_eq!(
        ms[6].source().as_deref(),
        Some(std::path::Path::new("/r/sb/shm"))
    );
    assert_eq!(
        ms[11].options().as_ref().unwrap(),
        &vec!["rbind".to_string(), "rslave".into(), "rw".into()]
    );
    assert_eq!(
        ms[12].options().as_ref().unwrap(),
        &vec!["rbind".to_string(), "rprivate".into(), "ro".into()]
    );
    assert_eq!(
        spec.linux()
            .as_ref()
            .unwrap()
            .rootfs_propagation()
            .as_deref(),
        Some("rslave")
    );
}

#[test]
fn process_gets_env_defaults_user_caps_and_rlimits_within_the_hard_limit() {
    let mut f = fixture();
    f.config.security = Security {
        allow_privilege_escalation: Some(false),
        ..Default::default()
    };
    f.config.working_dir = Some("/srv".into());
    let spec = build(&f);
    let p = spec.process().as_ref().unwrap();
    assert_eq!(
        p.args().as_ref().unwrap(),
        &vec!["httpd".to_string(), "-f".into()]
    );
    let env = p.env().as_ref().unwrap();
    assert_eq!(env[0], "A=1");
    assert!(env.contains(&format!("PATH={DEFAULT_PATH}")));
    assert!(env.contains(&"HOSTNAME=pod-a".to_string()));
    assert!(env.contains(&"HOME=/root".to_string()));
    assert_eq!(p.cwd(), std::path::Path::new("/srv"));
    assert_eq!(p.no_new_privileges(), Some(true));
    let rl = &p.rlimits().as_ref().unwrap()[0];
    assert_eq!((rl.hard(), rl.soft()), (20000, 20000));
    let caps = p.capabilities().as_ref().unwrap();
    assert_eq!(caps.bounding().as_ref().unwrap().len(), 14);
    assert_eq!(caps.effective().as_ref().unwrap().len(), 14);
}

#[test]
fn non_root_users_start_without_effective_capabilities() {
    let mut f = fixture();
    f.user = ResolvedUser {
        uid: 1000,
        gid: 1000,
        additional_gids: vec![10],
        home: None,
    };
    let spec = build(&f);
    let p = spec.process().as_ref().unwrap();
    assert_eq!((p.user().uid(), p.user().gid()), (1000, 1000));
    assert_eq!(p.user().additional_gids().as_ref().unwrap(), &vec![10]);
    let caps = p.capabilities().as_ref().unwrap();
    assert!(caps.effective().as_ref().unwrap().is_empty());
    assert_eq!(caps.bounding().as_ref().unwrap().len(), 14);
}

#[test]
fn cgroup_limits_and_device_rules_are_set() {
    let mut f = fixture();
    f.config.resources = Resources {
        cpu_shares: Some(256),
        cpu_quota: Some(50_000),
        cpu_period: None,
        memory_limit: Some(64 << 20),
        pids_limit: Some(50),
    };
    let spec = build(&f);
    let linux = spec.linux().as_ref().unwrap();
    assert_eq!(
        linux.cgroups_path().as_deref(),
        Some(std::path::Path::new("/kubepods/besteffort/podu/c1"))
    );
    let r = linux.resources().as_ref().unwrap();
    assert_eq!(r.memory().unwrap().limit(), Some(64 << 20));
    assert_eq!(r.cpu().as_ref().unwrap().shares(), Some(256));
    assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(50_000));
    assert_eq!(r.cpu().as_ref().unwrap().period(), Some(100_000));
    assert_eq!(r.pids().unwrap().limit(), 50);
    let dev = &r.devices().as_ref().unwrap()[0];
    assert!(!dev.allow());
    assert!(linux
        .masked_paths()
        .as_ref()
        .unwrap()
        .contains(&"/proc/kcore".to_string()));
}

#[test]
fn privileged_allows_all_devices_and_unmasks_proc() {
    let mut f = fixture();
    f.config.security.privileged = true;
    let spec = build(&f);
    let linux = spec.linux().as_ref().unwrap();
    assert!(linux
        .resources()
        .as_ref()
        .unwrap()
        .devices()
        .as_ref()
        .unwrap()[0]
        .allow());
    assert!(linux.masked_paths().is_none());
    let sys = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.destination() == std::path::Path::new("/sys"))
        .unwrap();
    assert!(sys.options().as_ref().unwrap().contains(&"rw".to_string()));
}

#[test]
fn readonly_rootfs_makes_root_and_etc_files_read_only() {
    let mut f = fixture();
    f.config.security.read_only_root_fs = true;
    let spec = build(&f);
    assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
    let hosts = spec
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.destination() == std::path::Path::new("/etc/hosts"))
        .unwrap();
    assert!(hosts
        .options()
        .as_ref()
        .unwrap()
        .contains(&"ro".to_string()));
}

#[test]
fn empty_command_and_relative_mounts_are_refused() {
    let mut f = fixture();
    f.config.args.clear();
    let input = |f: &Fixture| {
        build_spec(&SpecInput {
            config: &f.config,
            user: &f.user,
            hostname: "h",
            namespaces: &f.ns,
            files: &f.files,
            cgroups_path: "/x",
            cgroup_v2: true,
            capabilities: &f.caps,
            nofile_hard: 1024,
            termination_message: None,
        })
    };
    assert!(input(&f).unwrap_err().contains("no command"));
    f.config.args = vec!["true".into()];
    f.config.mounts = vec![VolumeMount {
        host_path: "/v".into(),
        container_path: "data".into(),
        read_only: false,
        propagation: None,
    }];
    assert!(input(&f).unwrap_err().contains("must be absolute"));
    f.config.mounts[0].container_path = "/data".into();
    let spec = input(&f).unwrap();
    let cgroup_ns = spec.linux().as_ref().unwrap().namespaces().clone().unwrap();
    assert!(
        cgroup_ns
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::Cgroup),
        "v2 hosts get a cgroup namespace"
    );
}
