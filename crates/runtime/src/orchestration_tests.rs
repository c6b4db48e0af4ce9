//! The agent side's bookkeeping on fake kernel boundaries (no root): a sandbox whose
//! creation fails at any step is undone completely, half-created sandboxes found on disk
//! are reported and removable, removing what is gone is fine.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cni::PluginExec;
use crate::linux::{Cgroups, Host};
use crate::mounts::Mounter;
use crate::state::{process_start_time, write_json, SandboxPhase, SandboxRecord};
use crate::{
    ContainerId, Error, LinuxRuntime, PodRef, Result, Runtime, RuntimeConfig, SandboxConfig,
    SandboxId,
};

#[derive(Default)]
struct FakeMounts {
    mounted: Mutex<BTreeSet<PathBuf>>,
    log: Mutex<Vec<String>>,
}

impl Mounter for FakeMounts {
    fn mount_overlay(&self, _: &[PathBuf], _: &Path, _: &Path, target: &Path) -> io::Result<()> {
        self.log
            .lock()
            .unwrap()
            .push(format!("overlay {}", target.display()));
        self.mounted.lock().unwrap().insert(target.to_path_buf());
        Ok(())
    }
    fn mount_tmpfs(&self, target: &Path, _: u64) -> io::Result<()> {
        self.log
            .lock()
            .unwrap()
            .push(format!("tmpfs {}", target.display()));
        self.mounted.lock().unwrap().insert(target.to_path_buf());
        Ok(())
    }
    fn pin_netns(&self, pid: i32, target: &Path) -> io::Result<()> {
        std::fs::File::create(target)?;
        self.log.lock().unwrap().push(format!("netns {pid}"));
        self.mounted.lock().unwrap().insert(target.to_path_buf());
        Ok(())
    }
    fn unmount(&self, target: &Path) -> io::Result<()> {
        self.log
            .lock()
            .unwrap()
            .push(format!("unmount {}", target.display()));
        self.mounted.lock().unwrap().remove(target);
        Ok(())
    }
    fn mounts_under(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        Ok(self
            .mounted
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.starts_with(dir))
            .cloned()
            .collect())
    }
}

#[derive(Default)]
struct FakeCgroups {
    live: Mutex<BTreeSet<String>>,
}

impl Cgroups for FakeCgroups {
    fn create_pod(&self, rel: &str, _: &crate::Resources) -> io::Result<()> {
        self.live.lock().unwrap().insert(rel.to_string());
        Ok(())
    }
    fn remove(&self, rel: &str, _: Duration) -> io::Result<()> {
        self.live
            .lock()
            .unwrap()
            .retain(|c| !c.starts_with(rel.trim_matches('/')));
        Ok(())
    }
    fn unified(&self) -> bool {
        false
    }
}

#[derive(Default)]
struct FakeCni {
    calls: Mutex<Vec<String>>,
    fail_add: bool,
}

#[async_trait::async_trait]
impl PluginExec for FakeCni {
    async fn exec(&self, kind: &str, env: &[(String, String)], _: &[u8]) -> Result<Vec<u8>> {
        let cmd = env
            .iter()
            .find(|(k, _)| k == "CNI_COMMAND")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        self.calls.lock().unwrap().push(format!("{cmd} {kind}"));
        if self.fail_add && cmd == "ADD" && kind == "bridge" {
            return Err(Error::Network("bridge: no more addresses".into()));
        }
        Ok(br#"{"cniVersion":"1.0.0","ips":[{"address":"10.88.0.3/16"}]}"#.to_vec())
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    rt: LinuxRuntime,
    mounts: Arc<FakeMounts>,
    cgroups: Arc<FakeCgroups>,
    cni: Arc<FakeCni>,
}

fn fixture(shim_script: Option<&str>, fail_add: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rt");
    let orca = match shim_script {
        Some(script) => {
            let p = dir.path().join("fake-orca");
            std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
            p
        }
        None => dir.path().join("no-such-orca"),
    };
    let mounts = Arc::new(FakeMounts::default());
    let cgroups = Arc::new(FakeCgroups::default());
    let cni = Arc::new(FakeCni {
        fail_add,
        ..Default::default()
    });
    let host = Host {
        mounts: mounts.clone(),
        cni: cni.clone(),
        cgroups: cgroups.clone(),
        bounding_caps: crate::caps::names_from_mask(u64::MAX),
        nofile_hard: 1024,
    };
    let cfg = RuntimeConfig {
        root_dir: root.clone(),
        orca_binary: orca,
        shim_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let rt = LinuxRuntime::with_host(cfg, host).unwrap();
    Fixture {
        _dir: dir,
        root,
        rt,
        mounts,
        cgroups,
        cni,
    }
}

fn pod() -> SandboxConfig {
    SandboxConfig {
        pod: PodRef {
            namespace: "default".into(),
            name: "web".into(),
            uid: "u1".into(),
        },
        hostname: "web".into(),
        qos_class: "Burstable".into(),
        ..Default::default()
    }
}

fn assert_nothing_left(f: &Fixture) {
    assert!(
        f.mounts.mounted.lock().unwrap().is_empty(),
        "mounts: {:?}",
        f.mounts.mounted.lock().unwrap()
    );
    assert!(
        f.cgroups.live.lock().unwrap().is_empty(),
        "cgroups: {:?}",
        f.cgroups.live.lock().unwrap()
    );
    assert_eq!(
        std::fs::read_dir(f.root.join("sandboxes")).unwrap().count(),
        0,
        "sandbox directories remain"
    );
}

#[tokio::test]
async fn a_sandbox_whose_shim_cannot_be_started_leaves_nothing_behind() {
    let f = fixture(None, false);
    let err = f.rt.create_sandbox(&pod()).await.unwrap_err();
    assert!(matches!(err, Error::Shim(_)), "{err}");
    assert_nothing_left(&f);
    let log = f.mounts.log.lock().unwrap().clone();
    assert!(
        log[0].starts_with("tmpfs ") && log[1].starts_with("unmount "),
        "{log:?}"
    );
    assert!(f.cni.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_shim_that_reports_an_error_is_undone_and_the_error_returned() {
    let f = fixture(
        Some(r#"echo '{"error":"unshare(CLONE_NEWNET): EPERM"}'"#),
        false,
    );
    let err = f.rt.create_sandbox(&pod()).await.unwrap_err();
    assert_eq!(err.to_string(), "shim: unshare(CLONE_NEWNET): EPERM");
    assert_nothing_left(&f);
}

#[tokio::test]
async fn failed_networking_kills_the_shim_and_releases_the_network_and_everything_else() {
    // A stand-in shim: a real process whose pid and start time the fake binary reports.
    let mut stand_in = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let pid = stand_in.id() as i32;
    let start = process_start_time(pid).unwrap();
    let f = fixture(
        Some(&format!(r#"echo '{{"pid":{pid},"start_time":{start}}}'"#)),
        true,
    );
    let err = f.rt.create_sandbox(&pod()).await.unwrap_err();
    assert!(err.to_string().contains("no more addresses"), "{err}");
    // Not answering on its socket, the shim was killed.
    let status = stand_in.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );
    let calls = f.cni.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        vec!["ADD loopback", "ADD bridge", "DEL bridge", "DEL loopback"]
    );
    assert_nothing_left(&f);
    let log = f.mounts.log.lock().unwrap().clone();
    assert!(log.contains(&format!("netns {pid}")), "{log:?}");
}

#[tokio::test]
async fn half_created_sandboxes_on_disk_are_listed_not_ready_and_removable() {
    let f = fixture(None, false);
    let id = SandboxId("0123456789abcdef".into());
    let paths = f.rt.layout.sandbox(&id);
    std::fs::create_dir_all(paths.shm()).unwrap();
    f.mounts.mount_tmpfs(&paths.shm(), 1).unwrap();
    f.cgroups
        .create_pod("kubepods/burstable/podu1", &Default::default())
        .unwrap();
    let rec = SandboxRecord {
        id: id.clone(),
        config: pod(),
        created_at: chrono::Utc::now(),
        phase: SandboxPhase::Creating,
        cgroup: Some("kubepods/burstable/podu1".into()),
        shm_mounted: true,
        shim: None,
        netns: None,
        network: None,
        ip: None,
    };
    write_json(&paths.record(), &rec).unwrap();
    let list = f.rt.list_sandboxes().await.unwrap();
    assert_eq!(list.len(), 1);
    assert!(!list[0].ready);
    assert_eq!(list[0].sandbox.pod.name, "web");
    f.rt.remove_sandbox(&id).await.unwrap();
    assert_nothing_left(&f);
}

#[tokio::test]
async fn removing_what_does_not_exist_is_not_an_error() {
    let f = fixture(None, false);
    f.rt.remove_sandbox(&SandboxId("feedfeedfeedfeed".into()))
        .await
        .unwrap();
    f.rt.remove_container(&ContainerId("beefbeefbeefbeef".into()))
        .await
        .unwrap();
    assert!(matches!(
        f.rt.container_status(&ContainerId("beef".into())).await,
        Err(Error::ContainerNotFound(_))
    ));
    assert!(matches!(
        f.rt.remove_sandbox(&SandboxId("../x".into())).await,
        Err(Error::SandboxNotFound(_))
    ));
    assert!(f.rt.list_sandboxes().await.unwrap().is_empty());
}

#[tokio::test]
async fn containers_cannot_be_created_in_a_sandbox_without_a_shim() {
    let f = fixture(None, false);
    let id = SandboxId("00000000000000aa".into());
    let paths = f.rt.layout.sandbox(&id);
    std::fs::create_dir_all(&paths.dir).unwrap();
    let rec = SandboxRecord {
        id: id.clone(),
        config: pod(),
        created_at: chrono::Utc::now(),
        phase: SandboxPhase::Ready,
        cgroup: None,
        shm_mounted: false,
        shim: Some(crate::state::ShimProcess {
            pid: i32::MAX,
            start_time: 1,
            pause_pid: None,
        }),
        netns: None,
        network: None,
        ip: None,
    };
    write_json(&paths.record(), &rec).unwrap();
    let err =
        f.rt.create_container(&id, &Default::default())
            .await
            .unwrap_err();
    assert!(matches!(err, Error::ContainerFailed(_)), "{err}");
    assert!(!paths.containers().exists());
    f.rt.remove_sandbox(&id).await.unwrap();
    assert_nothing_left(&f);
}
