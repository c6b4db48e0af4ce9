use super::*;
use crate::cluster::fake::FakeApi;
use crate::cluster::PodKey;
use serde_json::json;

struct Fixture {
    _tmp: tempfile::TempDir,
    dirs: PodDirs,
    api: FakeApi,
    host: FakeHost,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let key = PodKey {
        namespace: "default".into(),
        name: "p".into(),
        uid: "u1".into(),
    };
    let dirs = PodDirs::new(tmp.path(), &key);
    Fixture {
        _tmp: tmp,
        dirs,
        api: FakeApi::default(),
        host: FakeHost::new(),
    }
}

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(
        json!({"metadata": {"name": "projected", "namespace": "default", "uid": "u1",
        "labels": {"app": "projected"}}, "spec": spec}),
    )
    .unwrap()
}

async fn run_setup(f: &Fixture, pod: &Pod) -> Result<PodVolumes, String> {
    let facts = PodFacts::default();
    let ctx = VolumeContext {
        pod,
        dirs: &f.dirs,
        facts: &facts,
        api: &f.api,
        host: &f.host,
    };
    setup(&ctx).await
}

#[tokio::test]
async fn empty_dirs_live_under_the_pod_dir_and_memory_ones_are_tmpfs_with_their_size_limit() {
    let f = fixture();
    let p = pod(
        json!({"securityContext": {"fsGroup": 2000}, "containers": [{"name": "c"}], "volumes": [
        {"name": "disk", "emptyDir": {}},
        {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}]}),
    );
    let vols = run_setup(&f, &p).await.unwrap();
    let disk = &vols["disk"];
    assert_eq!(disk.path, f.dirs.volume(EMPTY_DIR, "disk"));
    assert!(disk.path.is_dir() && !disk.read_only);
    let mode = std::fs::metadata(&disk.path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(
        mode, 0o2777,
        "fsGroup sets the setgid bit so new files get the group"
    );
    let calls = f.host.calls();
    assert!(calls.contains(&HostCall::MountTmpfs {
        path: f.dirs.volume(EMPTY_DIR, "mem"),
        size: Some(64 << 20)
    }));
    assert!(calls.contains(&HostCall::Chown {
        path: disk.path.clone(),
        uid: None,
        gid: Some(2000)
    }));
    // Setting up again (a refresh) keeps the content and does not mount twice.
    std::fs::write(disk.path.join("keep"), "x").unwrap();
    run_setup(&f, &p).await.unwrap();
    assert!(disk.path.join("keep").exists());
    let mounts = f
        .host
        .calls()
        .iter()
        .filter(|c| matches!(c, HostCall::MountTmpfs { .. }))
        .count();
    assert_eq!(mounts, 1);
}

#[tokio::test]
async fn secret_config_map_and_downward_api_volumes_hold_their_files() {
    // 14-projected-volumes.yaml.
    let f = fixture();
    f.api.add_secret("default", json!({"metadata": {"name": "db-creds"}, "data": {"username": "YWRtaW4=", "password": "czNjcjN0"}}));
    f.api.add_config_map(
        "default",
        json!({"metadata": {"name": "app-config"}, "data": {"db-url": "localhost"}}),
    );
    let p = pod(json!({"containers": [{"name": "app"}], "volumes": [
        {"name": "creds", "secret": {"secretName": "db-creds"}},
        {"name": "config", "configMap": {"name": "app-config"}},
        {"name": "podinfo", "downwardAPI": {"items": [
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
        {"name": "all", "projected": {"sources": [
            {"secret": {"name": "db-creds", "items": [{"key": "username", "path": "user"}]}},
            {"configMap": {"name": "app-config"}},
            {"serviceAccountToken": {"path": "token"}}]}}]}));
    let vols = run_setup(&f, &p).await.unwrap();
    let read = |v: &str, file: &str| std::fs::read_to_string(vols[v].path.join(file)).unwrap();
    assert_eq!(read("creds", "username"), "admin");
    assert_eq!(read("config", "db-url"), "localhost");
    assert_eq!(read("podinfo", "name"), "projected");
    assert_eq!(read("podinfo", "labels"), "app=\"projected\"");
    assert_eq!(read("all", "user"), "admin");
    assert_eq!(read("all", "db-url"), "localhost");
    assert!(!vols["all"].path.join("token").exists());
    assert!(vols.values().all(|v| v.read_only));
    let tmpfs: Vec<PathBuf> = f.host.mounted();
    assert!(
        tmpfs.contains(&f.dirs.volume(SECRET, "creds")),
        "secrets are kept in memory"
    );
    assert!(tmpfs.contains(&f.dirs.volume(PROJECTED, "all")));
}

#[tokio::test]
async fn a_missing_config_map_fails_the_mount_unless_optional() {
    let f = fixture();
    let p = pod(
        json!({"containers": [{"name": "c"}], "volumes": [{"name": "cfg", "configMap": {"name": "nope"}}]}),
    );
    let e = run_setup(&f, &p).await.unwrap_err();
    assert_eq!(
        e,
        "MountVolume.SetUp failed for volume \"cfg\": configmap \"nope\" not found"
    );
    let p = pod(
        json!({"containers": [{"name": "c"}], "volumes": [{"name": "cfg", "configMap": {"name": "nope", "optional": true}}]}),
    );
    let vols = run_setup(&f, &p).await.unwrap();
    assert!(vols["cfg"].path.is_dir());
    let p = pod(
        json!({"containers": [{"name": "c"}], "volumes": [{"name": "pvc", "persistentVolumeClaim": {"claimName": "x"}}]}),
    );
    assert!(run_setup(&f, &p)
        .await
        .unwrap_err()
        .contains("not supported"));
}

#[tokio::test]
async fn container_mounts_honour_sub_paths_and_read_only() {
    let f = fixture();
    let host_dir = f.dirs.root().parent().unwrap().join("hostdata");
    let p = pod(json!({"containers": [{"name": "c",
        "env": [{"name": "POD", "value": "p1"}],
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": "data", "mountPath": "/sub", "subPath": "a/b", "readOnly": true},
            {"name": "data", "mountPath": "/expr", "subPathExpr": "logs/$(POD)"},
            {"name": "host", "mountPath": "/host", "mountPropagation": "HostToContainer"}]}],
        "volumes": [{"name": "data", "emptyDir": {}},
                    {"name": "host", "hostPath": {"path": host_dir.to_str().unwrap(), "type": "DirectoryOrCreate"}}]}));
    let vols = run_setup(&f, &p).await.unwrap();
    let env: HashMap<String, String> = [("POD".to_string(), "p1".to_string())].into();
    let c = &p.spec.as_ref().unwrap().containers[0];
    let mounts = container_mounts(c, &vols, &env).unwrap();
    let base = std::fs::canonicalize(&vols["data"].path).unwrap();
    assert_eq!(mounts[0].host_path, vols["data"].path);
    assert_eq!(mounts[1].host_path, base.join("a/b"));
    assert!(mounts[1].read_only && !mounts[0].read_only);
    assert_eq!(mounts[2].host_path, base.join("logs/p1"));
    assert!(
        base.join("logs/p1").is_dir(),
        "a missing subPath directory is created"
    );
    assert_eq!(mounts[3].host_path, host_dir);
    assert_eq!(mounts[3].propagation.as_deref(), Some("rslave"));

    let bad: Container = serde_json::from_value(json!({"name": "c", "volumeMounts": [{"name": "data", "mountPath": "/x", "subPath": "../../etc"}]})).unwrap();
    assert!(container_mounts(&bad, &vols, &env).is_err());
    std::os::unix::fs::symlink("/etc", vols["data"].path.join("link")).unwrap();
    let escape: Container = serde_json::from_value(json!({"name": "c", "volumeMounts": [{"name": "data", "mountPath": "/x", "subPath": "link"}]})).unwrap();
    assert!(container_mounts(&escape, &vols, &env)
        .unwrap_err()
        .contains("outside of volume"));
    let unknown: Container = serde_json::from_value(
        json!({"name": "c", "volumeMounts": [{"name": "nope", "mountPath": "/x"}]}),
    )
    .unwrap();
    assert!(container_mounts(&unknown, &vols, &env).is_err());
}

#[tokio::test]
async fn teardown_unmounts_and_removes_the_volumes() {
    let f = fixture();
    f.api.add_secret(
        "default",
        json!({"metadata": {"name": "s"}, "data": {"k": "dg=="}}),
    );
    let p = pod(json!({"containers": [{"name": "c"}], "volumes": [
        {"name": "mem", "emptyDir": {"medium": "Memory"}}, {"name": "s", "secret": {"secretName": "s"}}]}));
    run_setup(&f, &p).await.unwrap();
    std::fs::create_dir_all(f.dirs.root().join("c")).unwrap();
    std::fs::write(f.dirs.log_path("c", 0), "log").unwrap();
    teardown(&f.dirs, &f.host).unwrap();
    assert!(f.host.mounted().is_empty());
    assert!(!f.dirs.volumes().exists());
    assert!(
        f.dirs.log_path("c", 0).exists(),
        "logs stay until the pod is removed"
    );
    remove_pod_dir(&f.dirs, &f.host).unwrap();
    assert!(!f.dirs.root().exists());
}
