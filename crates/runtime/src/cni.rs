//! Pod networking through the standard CNI plugins, invoked as the CNI spec says
//! (`CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME`, `CNI_PATH`, `CNI_ARGS`
//! in the environment, the network configuration on stdin, the result on stdout):
//! `loopback` for `lo`, then the chain `bridge` (with host-local IPAM, gateway and
//! masquerading) and, when the pod has host ports, `portmap` for `eth0`.
//!
//! Everything sent at ADD is recorded ([`NetworkAttachment`]) so DEL replays the same
//! configuration with the cached result, in reverse order.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{Error, PortMapping, Result};

/// The CNI spec version the configurations declare.
pub(crate) const CNI_VERSION: &str = "1.0.0";

/// One network (a configuration list) attached to one interface.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct NetworkStep {
    pub(crate) name: String,
    pub(crate) ifname: String,
    /// Plugin configurations in chain order, `runtimeConfig` included.
    pub(crate) plugins: Vec<Value>,
    /// The last plugin's ADD result (the `prevResult` for DEL).
    #[serde(default)]
    pub(crate) result: Option<Value>,
}

/// What a sandbox was attached with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct NetworkAttachment {
    pub(crate) container_id: String,
    pub(crate) netns: PathBuf,
    pub(crate) cni_args: String,
    pub(crate) networks: Vec<NetworkStep>,
}

/// The node's pod network settings.
#[derive(Clone, Debug)]
pub(crate) struct NetworkSettings {
    pub(crate) network_name: String,
    pub(crate) bridge: String,
    pub(crate) pod_cidr: String,
    pub(crate) ipam_data_dir: PathBuf,
}

/// The pod metadata CNI plugins get in `CNI_ARGS`, as containerd passes it.
pub(crate) fn cni_args(namespace: &str, name: &str, uid: &str, sandbox_id: &str) -> String {
    format!(
        "IgnoreUnknown=1;K8S_POD_NAMESPACE={namespace};K8S_POD_NAME={name};K8S_POD_INFRA_CONTAINER_ID={sandbox_id};K8S_POD_UID={uid}"
    )
}

/// The networks a pod is attached to: loopback, then bridge (+ portmap with host ports).
pub(crate) fn pod_networks(s: &NetworkSettings, ports: &[PortMapping]) -> Vec<NetworkStep> {
    let loopback = NetworkStep {
        name: "cni-loopback".into(),
        ifname: "lo".into(),
        plugins: vec![json!({ "type": "loopback" })],
        result: None,
    };
    let mut plugins = vec![json!({
        "type": "bridge",
        "bridge": s.bridge,
        "isGateway": true,
        // Masquerading is one node-level rule set (`masquerade`), not a chain per pod.
        "ipMasq": false,
        "hairpinMode": true,
        "ipam": {
            "type": "host-local",
            "ranges": [[{ "subnet": s.pod_cidr }]],
            "routes": [{ "dst": "0.0.0.0/0" }],
            "dataDir": s.ipam_data_dir,
        },
    })];
    if !ports.is_empty() {
        let maps: Vec<Value> = ports
            .iter()
            .map(|p| {
                let mut m = json!({
                    "hostPort": p.host_port,
                    "containerPort": p.container_port,
                    "protocol": p.protocol.to_ascii_lowercase(),
                });
                if let Some(ip) = p.host_ip.as_deref().filter(|ip| !ip.is_empty()) {
                    m["hostIP"] = json!(ip);
                }
                m
            })
            .collect();
        plugins.push(json!({
            "type": "portmap",
            "capabilities": { "portMappings": true },
            "snat": true,
            "runtimeConfig": { "portMappings": maps },
        }));
    }
    vec![
        loopback,
        NetworkStep {
            name: s.network_name.clone(),
            ifname: "eth0".into(),
            plugins,
            result: None,
        },
    ]
}

/// The configuration one plugin of a list gets on stdin.
pub(crate) fn plugin_stdin(
    network: &NetworkStep,
    plugin: &Value,
    prev_result: Option<&Value>,
) -> Value {
    let mut cfg = plugin.clone();
    cfg["cniVersion"] = json!(CNI_VERSION);
    cfg["name"] = json!(network.name);
    if let Some(prev) = prev_result {
        cfg["prevResult"] = prev.clone();
    }
    cfg
}

/// The pod IP of an ADD result: its first IPv4 address, else its first address.
pub(crate) fn result_ip(result: &Value) -> Option<IpAddr> {
    let ips: Vec<IpAddr> = result["ips"]
        .as_array()?
        .iter()
        .filter_map(|ip| ip["address"].as_str()?.split('/').next()?.parse().ok())
        .collect();
    ips.iter().find(|ip| ip.is_ipv4()).or(ips.first()).copied()
}

/// The message of a CNI error result (`{"code", "msg", "details"}`), or the raw output.
pub(crate) fn error_message(stdout: &[u8], stderr: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(stdout) {
        if let Some(msg) = v["msg"].as_str() {
            return match v["details"].as_str().filter(|d| !d.is_empty()) {
                Some(d) => format!("{msg}: {d}"),
                None => msg.to_string(),
            };
        }
    }
    let out = String::from_utf8_lossy(if stdout.is_empty() { stderr } else { stdout });
    out.trim().to_string()
}

/// Runs one CNI plugin binary.
#[async_trait::async_trait]
pub(crate) trait PluginExec: Send + Sync + 'static {
    /// Runs plugin `kind` with the CNI environment `env` and `stdin`; returns its stdout,
    /// or the plugin's error message.
    async fn exec(&self, kind: &str, env: &[(String, String)], stdin: &[u8]) -> Result<Vec<u8>>;
}

/// Plugins found in directories, run as child processes.
#[derive(Clone, Debug)]
pub(crate) struct PluginDirs {
    pub(crate) dirs: Vec<PathBuf>,
    pub(crate) timeout: Duration,
}

impl PluginDirs {
    fn find(&self, kind: &str) -> Option<PathBuf> {
        if kind.contains('/') {
            return None;
        }
        self.dirs.iter().map(|d| d.join(kind)).find(|p| p.is_file())
    }

    pub(crate) fn cni_path(&self) -> String {
        self.dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    }
}

#[async_trait::async_trait]
impl PluginExec for PluginDirs {
    async fn exec(&self, kind: &str, env: &[(String, String)], stdin: &[u8]) -> Result<Vec<u8>> {
        use tokio::io::AsyncWriteExt;
        let bin = self.find(kind).ok_or_else(|| {
            Error::Network(format!(
                "CNI plugin {kind:?} not found in {}: install containernetworking-plugins",
                self.cni_path()
            ))
        })?;
        let mut cmd = tokio::process::Command::new(&bin);
        cmd.env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::Network(format!("running {}: {e}", bin.display())))?;
        let mut child_stdin = child.stdin.take().expect("stdin is piped");
        let input = stdin.to_vec();
        let writer = tokio::spawn(async move {
            let _ = child_stdin.write_all(&input).await;
        });
        let out = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| {
                Error::Network(format!(
                    "CNI plugin {kind} timed out after {:?}",
                    self.timeout
                ))
            })?
            .map_err(|e| Error::Network(format!("running {}: {e}", bin.display())))?;
        let _ = writer.await;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(Error::Network(format!(
                "{kind}: {}",
                error_message(&out.stdout, &out.stderr)
            )))
        }
    }
}

/// The CNI environment for one invocation.
fn plugin_env(
    command: &str,
    att: &NetworkAttachment,
    netns: Option<&Path>,
    ifname: &str,
    cni_path: &str,
) -> Vec<(String, String)> {
    vec![
        ("CNI_COMMAND".into(), command.into()),
        ("CNI_CONTAINERID".into(), att.container_id.clone()),
        (
            "CNI_NETNS".into(),
            netns.map(|p| p.display().to_string()).unwrap_or_default(),
        ),
        ("CNI_IFNAME".into(), ifname.into()),
        ("CNI_PATH".into(), cni_path.into()),
        ("CNI_ARGS".into(), att.cni_args.clone()),
    ]
}

/// ADDs the networks of `att` — concurrently, as containerd's go-cni does (each is its
/// own interface) — each network's plugins in chain order, recording every list's
/// result in `att` (so a failure half way can be undone with [`del`]). Returns the
/// pod IP, from the `eth0` network.
pub(crate) async fn add(
    exec: &dyn PluginExec,
    cni_path: &str,
    att: &mut NetworkAttachment,
) -> Result<Option<IpAddr>> {
    let shared: &NetworkAttachment = att;
    let chains = shared
        .networks
        .iter()
        .map(|net| add_chain(exec, cni_path, shared, net));
    let outcomes = futures::future::join_all(chains).await;
    let mut ip = None;
    let mut first_err = None;
    for (i, (result, err)) in outcomes.into_iter().enumerate() {
        if att.networks[i].ifname == "eth0" {
            ip = result.as_ref().and_then(result_ip);
        }
        att.networks[i].result = result;
        if let Some(e) = err {
            first_err.get_or_insert(e);
        }
    }
    first_err.map_or(Ok(ip), Err)
}

/// Runs one network's plugins in order; the last result obtained and the error, if any.
async fn add_chain(
    exec: &dyn PluginExec,
    cni_path: &str,
    att: &NetworkAttachment,
    net: &NetworkStep,
) -> (Option<Value>, Option<Error>) {
    let mut prev: Option<Value> = None;
    for plugin in &net.plugins {
        let kind = plugin["type"].as_str().unwrap_or_default().to_string();
        let stdin = match serde_json::to_vec(&plugin_stdin(net, plugin, prev.as_ref())) {
            Ok(s) => s,
            Err(e) => return (prev, Some(Error::Network(e.to_string()))),
        };
        let env = plugin_env("ADD", att, Some(&att.netns), &net.ifname, cni_path);
        let out = match exec.exec(&kind, &env, &stdin).await {
            Ok(out) => out,
            Err(e) => return (prev, Some(e)),
        };
        match serde_json::from_slice::<Value>(&out) {
            Ok(result) => prev = Some(result),
            Err(e) => {
                return (
                    prev,
                    Some(Error::Network(format!(
                        "{kind} returned an unreadable result: {e}"
                    ))),
                )
            }
        }
    }
    (prev, None)
}

/// DELs the networks of `att` (concurrently, like ADD), each network's plugins last
/// first, with the cached ADD results. Every plugin is called even when one fails; the
/// first error is returned. `netns` is None when the namespace is gone (plugins then
/// only release IPAM and host-side rules).
pub(crate) async fn del(
    exec: &dyn PluginExec,
    cni_path: &str,
    att: &NetworkAttachment,
    netns: Option<&Path>,
) -> Result<()> {
    let chains = att
        .networks
        .iter()
        .rev()
        .map(|net| del_chain(exec, cni_path, att, net, netns));
    let errors = futures::future::join_all(chains).await;
    errors.into_iter().flatten().next().map_or(Ok(()), Err)
}

async fn del_chain(
    exec: &dyn PluginExec,
    cni_path: &str,
    att: &NetworkAttachment,
    net: &NetworkStep,
    netns: Option<&Path>,
) -> Option<Error> {
    let mut first_err = None;
    for plugin in net.plugins.iter().rev() {
        let kind = plugin["type"].as_str().unwrap_or_default();
        let stdin = match serde_json::to_vec(&plugin_stdin(net, plugin, net.result.as_ref())) {
            Ok(s) => s,
            Err(e) => {
                first_err.get_or_insert(Error::Network(e.to_string()));
                continue;
            }
        };
        let env = plugin_env("DEL", att, netns, &net.ifname, cni_path);
        if let Err(e) = exec.exec(kind, &env, &stdin).await {
            tracing::warn!(plugin = kind, error = %e, "CNI DEL failed");
            first_err.get_or_insert(e);
        }
    }
    first_err
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn settings() -> NetworkSettings {
        NetworkSettings {
            network_name: "orca".into(),
            bridge: "orca0".into(),
            pod_cidr: "10.88.0.0/16".into(),
            ipam_data_dir: "/r/cni".into(),
        }
    }

    #[test]
    fn pod_networks_are_loopback_then_bridge_with_host_local() {
        let nets = pod_networks(&settings(), &[]);
        assert_eq!(nets.len(), 2);
        assert_eq!(nets[0].ifname, "lo");
        assert_eq!(nets[0].plugins[0]["type"], "loopback");
        let bridge = &nets[1].plugins[0];
        assert_eq!(nets[1].plugins.len(), 1, "no portmap without host ports");
        assert_eq!(bridge["bridge"], "orca0");
        assert_eq!(bridge["isGateway"], true);
        assert_eq!(bridge["ipMasq"], false, "masquerading is node-level");
        assert_eq!(bridge["ipam"]["type"], "host-local");
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], "10.88.0.0/16");
        assert_eq!(bridge["ipam"]["dataDir"], "/r/cni");
    }

    #[test]
    fn host_ports_add_portmap_with_runtime_config() {
        let ports = [PortMapping {
            host_port: 8001,
            container_port: 8080,
            protocol: "TCP".into(),
            host_ip: None,
        }];
        let nets = pod_networks(&settings(), &ports);
        let pm = &nets[1].plugins[1];
        assert_eq!(pm["type"], "portmap");
        assert_eq!(pm["capabilities"]["portMappings"], true);
        assert_eq!(
            pm["runtimeConfig"]["portMappings"][0],
            json!({"hostPort": 8001, "containerPort": 8080, "protocol": "tcp"})
        );
    }

    #[test]
    fn plugin_stdin_carries_name_version_and_prev_result() {
        let nets = pod_networks(&settings(), &[]);
        let prev = json!({"cniVersion": "1.0.0", "ips": []});
        let cfg = plugin_stdin(&nets[1], &nets[1].plugins[0], Some(&prev));
        assert_eq!(cfg["name"], "orca");
        assert_eq!(cfg["cniVersion"], CNI_VERSION);
        assert_eq!(cfg["prevResult"], prev);
        assert!(plugin_stdin(&nets[0], &nets[0].plugins[0], None)
            .get("prevResult")
            .is_none());
    }

    #[test]
    fn result_ip_prefers_ipv4() {
        let r = json!({
            "cniVersion": "1.0.0",
            "interfaces": [{"name": "orca0"}, {"name": "veth1"}, {"name": "eth0", "sandbox": "/x"}],
            "ips": [{"interface": 2, "address": "fd00::5/64"}, {"interface": 2, "address": "10.88.0.5/16", "gateway": "10.88.0.1"}]
        });
        assert_eq!(result_ip(&r), Some("10.88.0.5".parse().unwrap()));
        assert_eq!(result_ip(&json!({"ips": []})), None);
    }

    #[test]
    fn error_results_give_their_message() {
        let out =
            br#"{"cniVersion":"1.0.0","code":7,"msg":"failed to allocate","details":"range full"}"#;
        assert_eq!(error_message(out, b""), "failed to allocate: range full");
        assert_eq!(error_message(b"", b"boom\n"), "boom");
    }

    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<(String, String, String, Value)>>,
        fail: Option<&'static str>,
    }

    #[async_trait::async_trait]
    impl PluginExec for Recorder {
        async fn exec(
            &self,
            kind: &str,
            env: &[(String, String)],
            stdin: &[u8],
        ) -> Result<Vec<u8>> {
            let get = |k: &str| {
                env.iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let cfg: Value = serde_json::from_slice(stdin).unwrap();
            self.calls.lock().unwrap().push((
                kind.into(),
                get("CNI_COMMAND"),
                get("CNI_IFNAME"),
                cfg.clone(),
            ));
            if self.fail == Some(kind) {
                return Err(Error::Network(format!("{kind}: boom")));
            }
            // Like the real plugins: chained ones pass the previous result on.
            let ip = if kind == "bridge" {
                "10.88.0.9/16"
            } else {
                "127.0.0.1/8"
            };
            let mut result = match cfg.get("prevResult") {
                Some(prev) => prev.clone(),
                None => json!({"cniVersion": "1.0.0", "ips": [{"address": ip}]}),
            };
            result["by"] = json!(kind);
            Ok(serde_json::to_vec(&result).unwrap())
        }
    }

    fn attachment(ports: &[PortMapping]) -> NetworkAttachment {
        NetworkAttachment {
            container_id: "sb1".into(),
            netns: "/r/sandboxes/sb1/netns".into(),
            cni_args: cni_args("default", "p", "u", "sb1"),
            networks: pod_networks(&settings(), ports),
        }
    }

    #[tokio::test]
    async fn add_chains_prev_results_and_del_replays_in_reverse() {
        let rec = Recorder::default();
        let ports = [PortMapping {
            host_port: 80,
            container_port: 80,
            protocol: "tcp".into(),
            host_ip: None,
        }];
        let mut att = attachment(&ports);
        let ip = add(&rec, "/usr/lib/cni", &mut att).await.unwrap();
        assert_eq!(ip, Some("10.88.0.9".parse().unwrap()));
        {
            let calls = rec.calls.lock().unwrap();
            let kinds: Vec<_> = calls
                .iter()
                .map(|c| (c.0.as_str(), c.1.as_str(), c.2.as_str()))
                .collect();
            assert_eq!(
                kinds,
                vec![
                    ("loopback", "ADD", "lo"),
                    ("bridge", "ADD", "eth0"),
                    ("portmap", "ADD", "eth0")
                ]
            );
            let find = |k: &str| calls.iter().find(|c| c.0 == k).unwrap().3.clone();
            assert_eq!(find("portmap")["prevResult"]["by"], "bridge");
            assert!(find("bridge").get("prevResult").is_none());
        }
        rec.calls.lock().unwrap().clear();
        del(&rec, "/usr/lib/cni", &att, None).await.unwrap();
        let calls = rec.calls.lock().unwrap();
        let kinds: Vec<_> = calls.iter().map(|c| (c.0.as_str(), c.1.as_str())).collect();
        assert_eq!(
            kinds,
            vec![("portmap", "DEL"), ("bridge", "DEL"), ("loopback", "DEL")]
        );
        assert_eq!(calls[0].3["prevResult"]["by"], "portmap");
        assert_eq!(
            calls[0].3["runtimeConfig"]["portMappings"][0]["hostPort"],
            80
        );
    }

    #[tokio::test]
    async fn del_calls_every_plugin_even_after_a_failure() {
        let rec = Recorder {
            fail: Some("bridge"),
            ..Default::default()
        };
        let att = attachment(&[]);
        let err = del(&rec, "/x", &att, None).await.unwrap_err();
        assert!(err.to_string().contains("bridge: boom"));
        assert_eq!(rec.calls.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_failed_add_keeps_the_results_it_got() {
        let rec = Recorder {
            fail: Some("bridge"),
            ..Default::default()
        };
        let mut att = attachment(&[]);
        assert!(add(&rec, "/x", &mut att).await.is_err());
        assert!(att.networks[0].result.is_some());
        assert!(att.networks[1].result.is_none());
    }
}
