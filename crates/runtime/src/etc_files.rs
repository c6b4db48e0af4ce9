//! The pod-wide `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`, written once per
//! sandbox and bind-mounted into every container, as kubelet does.

use std::net::IpAddr;

/// What goes into a pod's /etc/hosts.
#[derive(Clone, Debug, Default)]
pub(crate) struct HostsFile<'a> {
    pub(crate) ip: Option<IpAddr>,
    pub(crate) hostname: &'a str,
    pub(crate) subdomain: Option<&'a str>,
    pub(crate) namespace: &'a str,
    pub(crate) cluster_domain: &'a str,
    pub(crate) aliases: &'a [(String, Vec<String>)],
    /// For host-network pods: the node's own /etc/hosts, kept as the base.
    pub(crate) host_base: Option<&'a str>,
}

/// kubelet's managed hosts file: localhost entries, the pod IP with the hostname (and
/// the FQDN with a subdomain), then the host aliases.
pub(crate) fn hosts_content(h: &HostsFile<'_>) -> String {
    let mut out = String::new();
    match h.host_base {
        Some(base) => {
            out.push_str(base);
            if !base.is_empty() && !base.ends_with('\n') {
                out.push('\n');
            }
        }
        None => {
            out.push_str("# Kubernetes-managed hosts file.\n");
            out.push_str("127.0.0.1\tlocalhost\n");
            out.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
            out.push_str("fe00::0\tip6-localnet\n");
            out.push_str("fe00::0\tip6-mcastprefix\n");
            out.push_str("fe00::1\tip6-allnodes\n");
            out.push_str("fe00::2\tip6-allrouters\n");
            if let Some(ip) = h.ip {
                match h.subdomain.filter(|s| !s.is_empty()) {
                    Some(sub) => out.push_str(&format!(
                        "{ip}\t{}.{sub}.{}.svc.{}\t{}\n",
                        h.hostname, h.namespace, h.cluster_domain, h.hostname
                    )),
                    None => out.push_str(&format!("{ip}\t{}\n", h.hostname)),
                }
            }
        }
    }
    if !h.aliases.is_empty() {
        out.push_str("\n# Entries added by HostAliases.\n");
        for (ip, names) in h.aliases {
            out.push_str(&format!("{ip}\t{}\n", names.join("\t")));
        }
    }
    out
}

/// The resolv.conf the agent computed, newline-terminated.
pub(crate) fn resolv_conf_content(resolv: &str) -> String {
    let mut s = resolv.to_string();
    if !s.is_empty() && !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

pub(crate) fn hostname_content(hostname: &str) -> String {
    format!("{hostname}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_file_has_localhost_pod_ip_and_aliases() {
        let aliases = vec![(
            "10.1.2.3".to_string(),
            vec!["foo.local".to_string(), "bar.local".to_string()],
        )];
        let s = hosts_content(&HostsFile {
            ip: Some("10.88.0.7".parse().unwrap()),
            hostname: "web-0",
            namespace: "default",
            cluster_domain: "cluster.local",
            aliases: &aliases,
            ..Default::default()
        });
        assert!(s.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(s.contains("\n10.88.0.7\tweb-0\n"));
        assert!(s.ends_with("# Entries added by HostAliases.\n10.1.2.3\tfoo.local\tbar.local\n"));
    }

    #[test]
    fn subdomain_adds_the_fqdn_before_the_short_name() {
        let s = hosts_content(&HostsFile {
            ip: Some("10.88.0.7".parse().unwrap()),
            hostname: "web-0",
            subdomain: Some("web"),
            namespace: "prod",
            cluster_domain: "cluster.local",
            ..Default::default()
        });
        assert!(s.contains("\n10.88.0.7\tweb-0.web.prod.svc.cluster.local\tweb-0\n"));
    }

    #[test]
    fn host_network_keeps_the_node_hosts_file() {
        let aliases = vec![("1.2.3.4".to_string(), vec!["a".to_string()])];
        let s = hosts_content(&HostsFile {
            hostname: "n",
            host_base: Some("127.0.0.1 localhost"),
            aliases: &aliases,
            ..Default::default()
        });
        assert_eq!(
            s,
            "127.0.0.1 localhost\n\n# Entries added by HostAliases.\n1.2.3.4\ta\n"
        );
    }

    #[test]
    fn resolv_conf_and_hostname_end_with_newline() {
        assert_eq!(
            resolv_conf_content("nameserver 10.96.0.10"),
            "nameserver 10.96.0.10\n"
        );
        assert_eq!(resolv_conf_content(""), "");
        assert_eq!(hostname_content("p"), "p\n");
    }
}
