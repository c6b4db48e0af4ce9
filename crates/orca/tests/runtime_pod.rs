//! Root e2e tests of the Linux runtime: real sandboxes (shim, namespaces, CNI bridge) and
//! real containers (libcontainer) from a busybox image built at test time.

mod runtime_support;

use std::time::{Duration, Instant};

use runtime::{ContainerState, Runtime};
use runtime_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_containers_share_a_volume_and_serve_http_on_the_pod_ip() {
    let _lock = root_test_guard!();
    let dir = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(dir.path().join("runtime"));
    let layer = busybox_layer(dir.path());
    let logs = dir.path().join("logs");
    let shared = dir.path().join("shared-data");
    std::fs::create_dir_all(&shared).unwrap();
    let rt = runtime(dir.path());

    let t = Instant::now();
    let sb = rt
        .create_sandbox(&sandbox_config("two-containers"))
        .await
        .unwrap();
    println!("sandbox create (with CNI): {:?}", t.elapsed());
    let ip = sb.ip.expect("pod IP");

    let mut web = container(
        "nginx-container",
        &layer,
        &logs,
        &["httpd", "-f", "-p", "80", "-h", "/usr/share/nginx/html"],
    );
    web.mounts.push(bind(&shared, "/usr/share/nginx/html"));
    let mut writer = container("debian-container", &layer, &logs, &["/bin/sh", "-c", "echo Hello from the debian container > /pod-data/index.html; echo wrote it; echo to stderr >&2"]);
    writer.mounts.push(bind(&shared, "/pod-data"));

    let web_id = rt.create_container(&sb.id, &web).await.unwrap();
    rt.start_container(&web_id).await.unwrap();
    let writer_id = rt.create_container(&sb.id, &writer).await.unwrap();
    rt.start_container(&writer_id).await.unwrap();
    let done = rt.wait_container(&writer_id).await.unwrap();
    assert_eq!(
        (done.state, done.exit_code, done.reason.as_deref()),
        (ContainerState::Exited, Some(0), Some("Completed"))
    );
    assert_eq!(
        log_lines(&writer.log_path),
        vec![
            "stdout F wrote it".to_string(),
            "stderr F to stderr".to_string()
        ]
    );

    let body = eventually(Duration::from_secs(5), || http_get(ip, 80, "/").ok())
        .await
        .expect("GET http://<pod IP>/");
    assert_eq!(body, "Hello from the debian container\n");
    let st = rt.container_status(&web_id).await.unwrap();
    assert_eq!(st.state, ContainerState::Running);
    assert!(st.pid.is_some());

    // The pod files every container gets.
    let hosts = rt
        .exec_sync(
            &web_id,
            &["cat".into(), "/etc/hosts".into()],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&hosts.stdout).contains(&format!("{ip}\ttwo-containers\n")));
    let resolv = rt
        .exec_sync(
            &web_id,
            &["cat".into(), "/etc/resolv.conf".into()],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&resolv.stdout),
        "nameserver 10.96.0.10\nsearch default.svc.cluster.local\n"
    );
    let hn = rt
        .exec_sync(&web_id, &["hostname".into()], Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&hn.stdout), "two-containers\n");
    let shm = rt
        .exec_sync(
            &web_id,
            &[
                "sh".into(),
                "-c".into(),
                "grep ' /dev/shm ' /proc/mounts".into(),
            ],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&shm.stdout).contains("tmpfs"),
        "{shm:?}"
    );

    rt.stop_container(&web_id, "SIGTERM", Duration::from_secs(1))
        .await
        .unwrap();
    rt.remove_container(&web_id).await.unwrap();
    rt.remove_container(&writer_id).await.unwrap();
    rt.remove_sandbox(&sb.id).await.unwrap();
    assert!(rt.list_sandboxes().await.unwrap().is_empty());
}

/// A network namespace standing for the world outside the node: reached from the host
/// over a veth pair (198.51.100.1 on the host, .2 inside), with no route back to pods.
struct Outside;

const OUTSIDE_NS: &str = "orca-test-outside";

impl Outside {
    fn create() -> Outside {
        Outside::remove();
        let ip = |args: &str| {
            let ok = std::process::Command::new("ip")
                .args(args.split_whitespace())
                .status()
                .unwrap()
                .success();
            assert!(ok, "ip {args}");
        };
        ip(&format!("netns add {OUTSIDE_NS}"));
        ip("link add orca-tout0 type veth peer name orca-tout1");
        ip(&format!("link set orca-tout1 netns {OUTSIDE_NS}"));
        ip("addr add 198.51.100.1/24 dev orca-tout0");
        ip("link set orca-tout0 up");
        ip(&format!(
            "netns exec {OUTSIDE_NS} ip addr add 198.51.100.2/24 dev orca-tout1"
        ));
        ip(&format!(
            "netns exec {OUTSIDE_NS} ip link set orca-tout1 up"
        ));
        ip(&format!("netns exec {OUTSIDE_NS} ip link set lo up"));
        Outside
    }

    fn remove() {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", "orca-tout0"])
            .output();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", OUTSIDE_NS])
            .output();
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        Outside::remove();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_reach_the_outside_with_the_nodes_address_and_add_no_nat_rules_of_their_own() {
    let _lock = root_test_guard!();
    let dir = tempfile::tempdir().unwrap();
    let _cleanup = Cleanup(dir.path().join("runtime"));
    let layer = busybox_layer(dir.path());
    let logs = dir.path().join("logs");
    let rt = runtime(dir.path());
    // A second runtime on the same network finds the masquerade rules in place.
    drop(runtime(dir.path()));
    let chain = nat_rules(Some("ORCA-MASQ-ORCA"));
    assert!(
        chain.contains("-A ORCA-MASQ-ORCA -d 10.88.0.0/16 -j RETURN")
            && chain.contains("-A ORCA-MASQ-ORCA -j MASQUERADE"),
        "{chain}"
    );
    let jumps = |rules: &str| {
        rules
            .lines()
            .filter(|l| l.starts_with("-A POSTROUTING") && l.ends_with("-j ORCA-MASQ-ORCA"))
            .count()
    };
    let before = nat_rules(None);
    assert_eq!(
        jumps(&before),
        1,
        "one jump to the pod network's chain: {before}"
    );

    // A web server outside the node that answers with the address it sees.
    let _outside = Outside::create();
    let www = dir.path().join("outside-www");
    std::fs::create_dir_all(www.join("cgi-bin")).unwrap();
    let script = www.join("cgi-bin/addr");
    std::fs::write(
        &script,
        "#!/bin/sh\necho Content-Type: text/plain\necho\necho \"$REMOTE_ADDR\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut server = std::process::Command::new("ip")
        .args(["netns", "exec", OUTSIDE_NS])
        .arg(busybox().unwrap())
        .args(["httpd", "-f", "-p", "198.51.100.2:8099", "-h"])
        .arg(&www)
        .spawn()
        .unwrap();

    let sb = rt.create_sandbox(&sandbox_config("egress")).await.unwrap();
    let during = nat_rules(None);
    let client = container(
        "client",
        &layer,
        &logs,
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://198.51.100.2:8099/cgi-bin/addr && exit 0; sleep 0.3; done; exit 1",
        ],
    );
    let id = rt.create_container(&sb.id, &client).await.unwrap();
    rt.start_container(&id).await.unwrap();
    let done = rt.wait_container(&id).await.unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let out = log_lines(&client.log_path);
    assert_eq!(
        done.exit_code,
        Some(0),
        "the pod reached the outside: {out:?}"
    );
    assert_eq!(
        out,
        vec!["stdout F 198.51.100.1".to_string()],
        "the outside saw the node's address, not the pod's {:?}",
        sb.ip
    );
    rt.remove_sandbox(&sb.id).await.unwrap();
    assert_eq!(during, before, "a pod adds no NAT rules of its own");
}
