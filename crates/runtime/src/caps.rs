//! Linux capabilities of a container: Docker's default set, adjusted by the security
//! context's add/drop lists the way containerd's CRI plugin does it, never more than
//! the host's bounding set (this host lacks CAP_SYS_RESOURCE, and asking for a missing
//! capability makes the container fail to start).

use std::collections::BTreeSet;

use oci_spec::runtime::Capability;

use crate::Security;

/// Docker's (and containerd's) default capabilities.
pub(crate) const DEFAULT_CAPS: [&str; 14] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// Capability names by kernel bit number.
const BY_BIT: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// A capability name without the `CAP_` prefix, upper case.
pub(crate) fn normalize(name: &str) -> String {
    let up = name.trim().to_ascii_uppercase();
    up.strip_prefix("CAP_").map(str::to_string).unwrap_or(up)
}

/// The capability names of a `CapBnd:` hex mask from /proc/self/status.
pub(crate) fn names_from_mask(mask: u64) -> Vec<String> {
    BY_BIT
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1u64 << bit) != 0)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// The calling process's capability bounding set, as names.
pub(crate) fn host_bounding_set() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(u64::MAX >> (64 - BY_BIT.len()));
    names_from_mask(mask)
}

/// The container's capability names: the host's bounding set when privileged, else the
/// defaults with "ALL" handled first and then individual adds and drops; always within
/// `host`.
pub(crate) fn container_caps(sec: &Security, host: &[String]) -> Result<BTreeSet<String>, String> {
    let host: BTreeSet<String> = host.iter().cloned().collect();
    if sec.privileged {
        return Ok(host);
    }
    let adds: Vec<String> = sec.capabilities_add.iter().map(|c| normalize(c)).collect();
    let drops: Vec<String> = sec.capabilities_drop.iter().map(|c| normalize(c)).collect();
    let mut caps: BTreeSet<String> = DEFAULT_CAPS.iter().map(|c| c.to_string()).collect();
    if adds.iter().any(|c| c == "ALL") {
        caps = BY_BIT.iter().map(|c| c.to_string()).collect();
    }
    if drops.iter().any(|c| c == "ALL") {
        caps.clear();
    }
    for c in adds.iter().filter(|c| *c != "ALL") {
        if !BY_BIT.contains(&c.as_str()) {
            return Err(format!("unknown capability {c:?} in capabilities.add"));
        }
        caps.insert(c.clone());
    }
    for c in drops.iter().filter(|c| *c != "ALL") {
        caps.remove(c);
    }
    let missing: Vec<&String> = caps.iter().filter(|c| !host.contains(*c)).collect();
    if !missing.is_empty() {
        tracing::warn!(
            ?missing,
            "capabilities not in the host's bounding set are left out"
        );
    }
    Ok(caps.intersection(&host).cloned().collect())
}

/// The oci-spec values of capability names.
pub(crate) fn to_spec(names: &BTreeSet<String>) -> Result<oci_spec::runtime::Capabilities, String> {
    names
        .iter()
        .map(|n| {
            n.parse::<Capability>()
                .map_err(|_| format!("capability {n} is not known to the OCI runtime"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_without_sys_resource() -> Vec<String> {
        names_from_mask(0x0000_01ff_feff_ffff)
    }

    fn sec(add: &[&str], drop: &[&str]) -> Security {
        Security {
            capabilities_add: add.iter().map(|s| s.to_string()).collect(),
            capabilities_drop: drop.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn bounding_mask_maps_bits_to_names() {
        let host = host_without_sys_resource();
        assert_eq!(host.len(), 40);
        assert!(!host.contains(&"SYS_RESOURCE".to_string()));
        assert!(host.contains(&"CHECKPOINT_RESTORE".to_string()));
    }

    #[test]
    fn defaults_are_dockers_fourteen() {
        let caps = container_caps(&Security::default(), &host_without_sys_resource()).unwrap();
        assert_eq!(caps.len(), 14);
        assert!(caps.contains("NET_BIND_SERVICE"));
        assert!(!caps.contains("NET_ADMIN"));
    }

    #[test]
    fn add_and_drop_accept_cap_prefixes_and_all() {
        let host = host_without_sys_resource();
        let caps = container_caps(&sec(&["cap_net_admin"], &["KILL"]), &host).unwrap();
        assert!(caps.contains("NET_ADMIN") && !caps.contains("KILL"));
        let caps = container_caps(&sec(&["NET_BIND_SERVICE"], &["ALL"]), &host).unwrap();
        assert_eq!(
            caps.into_iter().collect::<Vec<_>>(),
            vec!["NET_BIND_SERVICE".to_string()]
        );
        let caps = container_caps(&sec(&["ALL"], &["CHOWN"]), &host).unwrap();
        assert_eq!(
            caps.len(),
            39,
            "all but CHOWN and the host's missing SYS_RESOURCE"
        );
        assert!(container_caps(&sec(&["FLY"], &[]), &host).is_err());
    }

    #[test]
    fn privileged_gets_the_host_bounding_set_not_everything() {
        let host = host_without_sys_resource();
        let caps = container_caps(
            &Security {
                privileged: true,
                ..Default::default()
            },
            &host,
        )
        .unwrap();
        assert_eq!(caps.len(), 40);
        assert!(!caps.contains("SYS_RESOURCE"));
        assert_eq!(to_spec(&caps).unwrap().len(), 40);
    }
}
