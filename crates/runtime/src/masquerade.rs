//! Outbound NAT for the pod network, set up once per node: traffic from the pod CIDR to
//! anywhere outside it (and not multicast) leaves with the node's address.
//!
//! The bridge plugin can do this itself (`ipMasq`), but then every pod ADD and DEL creates
//! or removes a chain of its own with several `iptables` calls under the xtables lock —
//! about 25 ms of a pod's start on this machine, serialised across pods starting at once.
//! One chain for the whole CIDR, as flannel and podman's netavark do, costs nothing per pod.

use std::process::Command;

/// The nat-table chain holding the rules for one pod network.
pub(crate) fn chain_name(network: &str) -> String {
    let mut name = format!("ORCA-MASQ-{}", network.to_ascii_uppercase());
    // iptables chain names are at most 28 characters.
    name.truncate(28);
    name
}

/// The rules of the chain, in order, as `iptables -S` prints them.
fn chain_rules(chain: &str, pod_cidr: &str) -> Vec<Vec<String>> {
    let rule = |args: &[&str]| {
        let mut r = vec!["-A".to_string(), chain.to_string()];
        r.extend(args.iter().map(|a| a.to_string()));
        r
    };
    vec![
        rule(&["-d", pod_cidr, "-j", "RETURN"]),
        rule(&["-d", "224.0.0.0/4", "-j", "RETURN"]),
        rule(&["-j", "MASQUERADE"]),
    ]
}

/// The POSTROUTING rule sending the pod network's traffic to its chain.
fn jump_rule(chain: &str, pod_cidr: &str, network: &str) -> Vec<String> {
    [
        "POSTROUTING",
        "-s",
        pod_cidr,
        "-m",
        "comment",
        "--comment",
        &format!("orca {network}: pod egress"),
        "-j",
        chain,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn iptables(args: &[String]) -> std::io::Result<std::process::Output> {
    Command::new("iptables")
        .args(["-w", "-t", "nat"])
        .args(args)
        .output()
}

fn run(args: &[String]) -> Result<(), String> {
    let out = iptables(args).map_err(|e| format!("running iptables: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "iptables -t nat {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// Makes sure the pod network's masquerade chain and the jump to it exist, exactly once.
/// Concurrent callers (several runtimes on one host, as in tests) take turns on a lock
/// file, so the check-then-add below never duplicates a rule.
pub(crate) fn ensure(pod_cidr: &str, network: &str) -> Result<(), String> {
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/run/orca-iptables.lock")
        .map_err(|e| format!("opening /run/orca-iptables.lock: {e}"))?;
    // Released when `lock` is dropped, at the end.
    lock.lock()
        .map_err(|e| format!("locking /run/orca-iptables.lock: {e}"))?;

    let chain = chain_name(network);
    let want = chain_rules(&chain, pod_cidr);
    let listed = iptables(&["-S".to_string(), chain.clone()]).ok();
    let have: Vec<Vec<String>> = listed
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.starts_with("-A "))
                .map(|l| l.split_whitespace().map(String::from).collect())
                .collect()
        })
        .unwrap_or_default();
    if have != want {
        // Missing, or left half-written: (re)create it whole.
        let _ = run(&["-N".to_string(), chain.clone()]);
        run(&["-F".to_string(), chain.clone()])?;
        for rule in &want {
            run(rule)?;
        }
    }
    let jump = jump_rule(&chain, pod_cidr, network);
    let mut check = vec!["-C".to_string()];
    check.extend(jump.iter().cloned());
    if run(&check).is_err() {
        let mut add = vec!["-A".to_string()];
        add.extend(jump);
        run(&add)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_fit_iptables() {
        assert_eq!(chain_name("orca"), "ORCA-MASQ-ORCA");
        assert_eq!(chain_name(&"n".repeat(40)).len(), 28);
    }

    #[test]
    fn pod_to_pod_and_multicast_traffic_is_not_masqueraded() {
        let rules = chain_rules("C", "10.88.0.0/16");
        let text: Vec<String> = rules.iter().map(|r| r.join(" ")).collect();
        assert_eq!(
            text,
            [
                "-A C -d 10.88.0.0/16 -j RETURN",
                "-A C -d 224.0.0.0/4 -j RETURN",
                "-A C -j MASQUERADE"
            ]
        );
    }
}
