//! A pod's sandbox configuration: hostname, DNS (resolv.conf by dnsPolicy and dnsConfig),
//! host aliases, hostPorts, namespaces to share and the pod cgroup's limits.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;
use runtime::{PodRef, PortMapping, SandboxConfig};

use crate::cluster::PodKey;
use crate::resources::pod_resources;

const MAX_NAMESERVERS: usize = 3;
const MAX_SEARCHES: usize = 32;

/// What the node contributes to DNS settings.
#[derive(Clone, Debug, Default)]
pub struct DnsSettings {
    pub cluster_dns: Vec<IpAddr>,
    pub cluster_domain: String,
    /// The node's own resolv.conf content (for `dnsPolicy: Default`).
    pub host_resolv_conf: String,
}

#[derive(Default)]
struct Resolv {
    nameservers: Vec<String>,
    searches: Vec<String>,
    options: Vec<(String, Option<String>)>,
}

impl Resolv {
    fn parse(text: &str) -> Resolv {
        let mut r = Resolv::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => r.nameservers.extend(words.next().map(str::to_string)),
                Some("search") | Some("domain") => r.searches = words.map(str::to_string).collect(),
                Some("options") => {
                    for o in words {
                        r.set_option(o);
                    }
                }
                _ => {}
            }
        }
        r
    }

    fn set_option(&mut self, o: &str) {
        let (name, value) = match o.split_once(':') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (o.to_string(), None),
        };
        match self.options.iter_mut().find(|(n, _)| *n == name) {
            Some(existing) => existing.1 = value,
            None => self.options.push((name, value)),
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        let mut servers: Vec<&String> = Vec::new();
        for s in &self.nameservers {
            if !servers.contains(&s) {
                servers.push(s);
            }
        }
        for s in servers.into_iter().take(MAX_NAMESERVERS) {
            out.push_str(&format!("nameserver {s}\n"));
        }
        let mut searches: Vec<&String> = Vec::new();
        for s in &self.searches {
            if !searches.contains(&s) {
                searches.push(s);
            }
        }
        if !searches.is_empty() {
            let list: Vec<&str> = searches
                .into_iter()
                .take(MAX_SEARCHES)
                .map(String::as_str)
                .collect();
            out.push_str(&format!("search {}\n", list.join(" ")));
        }
        if !self.options.is_empty() {
            let opts: Vec<String> = self
                .options
                .iter()
                .map(|(n, v)| match v {
                    Some(v) => format!("{n}:{v}"),
                    None => n.clone(),
                })
                .collect();
            out.push_str(&format!("options {}\n", opts.join(" ")));
        }
        out
    }
}

/// The pod's resolv.conf content.
pub fn resolv_conf(pod: &Pod, dns: &DnsSettings) -> String {
    let spec = pod.spec.as_ref();
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let mut policy = spec
        .and_then(|s| s.dns_policy.clone())
        .unwrap_or_else(|| "ClusterFirst".into());
    if policy == "ClusterFirst" && host_network {
        policy = "Default".into();
    }
    if (policy == "ClusterFirst" || policy == "ClusterFirstWithHostNet")
        && dns.cluster_dns.is_empty()
    {
        policy = "Default".into();
    }
    let mut r = match policy.as_str() {
        "None" => Resolv::default(),
        "Default" => Resolv::parse(&dns.host_resolv_conf),
        _ => {
            let host = Resolv::parse(&dns.host_resolv_conf);
            let d = &dns.cluster_domain;
            let mut searches = vec![format!("{ns}.svc.{d}"), format!("svc.{d}"), d.clone()];
            searches.extend(host.searches);
            Resolv {
                nameservers: dns.cluster_dns.iter().map(|ip| ip.to_string()).collect(),
                searches,
                options: vec![("ndots".into(), Some("5".into()))],
            }
        }
    };
    if let Some(cfg) = spec.and_then(|s| s.dns_config.as_ref()) {
        r.nameservers
            .extend(cfg.nameservers.iter().flatten().cloned());
        r.searches.extend(cfg.searches.iter().flatten().cloned());
        for o in cfg.options.iter().flatten() {
            let text = match &o.value {
                Some(v) => format!("{}:{v}", o.name.as_deref().unwrap_or("")),
                None => o.name.clone().unwrap_or_default(),
            };
            r.set_option(&text);
        }
    }
    r.render()
}

/// The sandbox of a pod.
pub fn sandbox_config(pod: &Pod, key: &PodKey, dns: &DnsSettings) -> SandboxConfig {
    let default_spec = Default::default();
    let spec = pod.spec.as_ref().unwrap_or(&default_spec);
    let hostname = spec
        .hostname
        .clone()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| {
            let mut h: String = key.name.chars().take(63).collect();
            while h.ends_with(['-', '.']) {
                h.pop();
            }
            h
        });
    let mut port_mappings = Vec::new();
    for c in spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
    {
        for p in c.ports.iter().flatten() {
            if let Some(hp) = p.host_port.filter(|hp| *hp > 0) {
                port_mappings.push(PortMapping {
                    host_port: hp as u16,
                    container_port: p.container_port as u16,
                    protocol: p
                        .protocol
                        .clone()
                        .unwrap_or_else(|| "TCP".into())
                        .to_lowercase(),
                    host_ip: p.host_ip.clone().filter(|h| !h.is_empty()),
                });
            }
        }
    }
    SandboxConfig {
        pod: PodRef {
            namespace: key.namespace.clone(),
            name: key.name.clone(),
            uid: key.uid.clone(),
        },
        hostname,
        subdomain: spec.subdomain.clone().filter(|s| !s.is_empty()),
        host_network: spec.host_network.unwrap_or(false),
        share_pid: spec.share_process_namespace.unwrap_or(false),
        host_aliases: spec
            .host_aliases
            .iter()
            .flatten()
            .map(|a| (a.ip.clone(), a.hostnames.clone().unwrap_or_default()))
            .collect(),
        resolv_conf: resolv_conf(pod, dns),
        port_mappings,
        resources: pod_resources(spec),
        qos_class: api::pod::qos_class(spec).to_string(),
        shm_size: None,
        // A RuntimeClass's handler is taken to be its name (no RuntimeClass lookup yet).
        runtime_handler: spec.runtime_class_name.clone().filter(|r| !r.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": "web", "namespace": "shop", "uid": "u"}, "spec": spec}),
        )
        .unwrap()
    }

    fn key() -> PodKey {
        PodKey {
            namespace: "shop".into(),
            name: "web".into(),
            uid: "u".into(),
        }
    }

    const HOST: &str =
        "# host\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch corp.example\noptions edns0\n";

    #[test]
    fn dns_policies_build_resolv_conf() {
        let host_only = DnsSettings {
            host_resolv_conf: HOST.into(),
            cluster_domain: "cluster.local".into(),
            ..Default::default()
        };
        let p = pod(json!({"containers": [{"name": "c"}]}));
        assert_eq!(
            resolv_conf(&p, &host_only),
            "nameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch corp.example\noptions edns0\n"
        );
        let cluster = DnsSettings {
            cluster_dns: vec!["10.96.0.10".parse().unwrap()],
            ..host_only.clone()
        };
        assert_eq!(
            resolv_conf(&p, &cluster),
            "nameserver 10.96.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n"
        );
        let hostnet = pod(json!({"hostNetwork": true, "containers": [{"name": "c"}]}));
        assert!(resolv_conf(&hostnet, &cluster).starts_with("nameserver 10.0.0.2"));
        let none = pod(
            json!({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["a.b"],
            "options": [{"name": "ndots", "value": "2"}, {"name": "rotate"}]}, "containers": [{"name": "c"}]}),
        );
        assert_eq!(
            resolv_conf(&none, &cluster),
            "nameserver 1.1.1.1\nsearch a.b\noptions ndots:2 rotate\n"
        );
        let merged = pod(
            json!({"dnsConfig": {"options": [{"name": "ndots", "value": "1"}]}, "containers": [{"name": "c"}]}),
        );
        assert!(resolv_conf(&merged, &cluster).ends_with("options ndots:1\n"));
    }

    #[test]
    fn sandbox_config_carries_host_ports_hostname_and_namespaces() {
        // 02-init-war.yaml: hostPort 8001 -> 8080.
        let p = pod(
            json!({"hostname": "h1", "subdomain": "sub", "shareProcessNamespace": true,
            "hostAliases": [{"ip": "10.1.1.1", "hostnames": ["foo", "bar"]}],
            "containers": [{"name": "c", "ports": [{"containerPort": 8080, "hostPort": 8001}, {"containerPort": 9}]}]}),
        );
        let cfg = sandbox_config(&p, &key(), &DnsSettings::default());
        assert_eq!(cfg.hostname, "h1");
        assert_eq!(cfg.subdomain.as_deref(), Some("sub"));
        assert!(cfg.share_pid && !cfg.host_network);
        assert_eq!(
            cfg.host_aliases,
            vec![(
                "10.1.1.1".to_string(),
                vec!["foo".to_string(), "bar".to_string()]
            )]
        );
        assert_eq!(
            cfg.port_mappings,
            vec![PortMapping {
                host_port: 8001,
                container_port: 8080,
                protocol: "tcp".into(),
                host_ip: None
            }]
        );
        assert_eq!(cfg.qos_class, "BestEffort");
        assert_eq!(cfg.pod.uid, "u");
        let plain = pod(json!({"containers": [{"name": "c"}]}));
        assert_eq!(
            sandbox_config(&plain, &key(), &DnsSettings::default()).hostname,
            "web"
        );
    }
}
