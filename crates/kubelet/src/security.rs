//! A container's Linux security settings from the pod's and the container's
//! securityContext (the container's wins), and the runAsNonRoot check.

use k8s_openapi::api::core::v1::{Container, PodSpec};
use runtime::Security;

/// The runtime security settings of `c` in a pod with `spec`.
pub fn container_security(spec: &PodSpec, c: &Container) -> Security {
    let pod = spec.security_context.as_ref();
    let sc = c.security_context.as_ref();
    let mut groups: Vec<u32> = pod
        .and_then(|p| p.supplemental_groups.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|g| g as u32)
        .collect();
    // fsGroup joins the supplemental groups, so files in volumes it owns are writable.
    if let Some(fs) = pod.and_then(|p| p.fs_group) {
        if !groups.contains(&(fs as u32)) {
            groups.push(fs as u32);
        }
    }
    let caps = sc.and_then(|s| s.capabilities.as_ref());
    let privileged = sc.and_then(|s| s.privileged).unwrap_or(false);
    Security {
        run_as_user: sc
            .and_then(|s| s.run_as_user)
            .or(pod.and_then(|p| p.run_as_user))
            .map(|u| u as u32),
        run_as_group: sc
            .and_then(|s| s.run_as_group)
            .or(pod.and_then(|p| p.run_as_group))
            .map(|g| g as u32),
        supplemental_groups: groups,
        privileged,
        read_only_root_fs: sc
            .and_then(|s| s.read_only_root_filesystem)
            .unwrap_or(false),
        allow_privilege_escalation: if privileged {
            Some(true)
        } else {
            sc.and_then(|s| s.allow_privilege_escalation)
        },
        capabilities_add: caps.and_then(|c| c.add.clone()).unwrap_or_default(),
        capabilities_drop: caps.and_then(|c| c.drop.clone()).unwrap_or_default(),
        sysctls: pod
            .and_then(|p| p.sysctls.as_ref())
            .into_iter()
            .flatten()
            .map(|s| (s.name.clone(), s.value.clone()))
            .collect(),
    }
}

/// With `runAsNonRoot`, the CreateContainerConfigError message when the container would
/// run as root (or as a user name that cannot be verified), as upstream's
/// `verifyRunAsNonRoot`.
pub fn verify_run_as_non_root(
    spec: &PodSpec,
    c: &Container,
    security: &Security,
    image_user: Option<&str>,
) -> Result<(), String> {
    let non_root = c
        .security_context
        .as_ref()
        .and_then(|s| s.run_as_non_root)
        .or(spec
            .security_context
            .as_ref()
            .and_then(|p| p.run_as_non_root))
        .unwrap_or(false);
    if !non_root {
        return Ok(());
    }
    if let Some(uid) = security.run_as_user {
        if uid == 0 {
            return Err("container's runAsUser breaks non-root policy".to_string());
        }
        return Ok(());
    }
    let user = image_user.unwrap_or("").split(':').next().unwrap_or("");
    match user.parse::<u32>() {
        Ok(0) => Err("container has runAsNonRoot and image will run as root".to_string()),
        Ok(_) => Ok(()),
        Err(_) if user.is_empty() || user == "root" => {
            Err("container has runAsNonRoot and image will run as root".to_string())
        }
        Err(_) => Err(format!("container has runAsNonRoot and image has non-numeric user ({user}), cannot verify user is non-root")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn pod_security_context_applies_and_the_container_overrides_it() {
        // 08-security-context.yaml.
        let s = spec(
            json!({"securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000},
            "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": false}}]}),
        );
        let sec = container_security(&s, &s.containers[0]);
        assert_eq!(sec.run_as_user, Some(1000));
        assert_eq!(sec.run_as_group, Some(3000));
        assert_eq!(sec.supplemental_groups, vec![2000]);
        assert_eq!(sec.allow_privilege_escalation, Some(false));
        let s = spec(
            json!({"securityContext": {"runAsUser": 1000, "supplementalGroups": [5], "sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]},
            "containers": [{"name": "c", "securityContext": {"runAsUser": 7, "readOnlyRootFilesystem": true, "privileged": true,
                "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}}]}),
        );
        let sec = container_security(&s, &s.containers[0]);
        assert_eq!(sec.run_as_user, Some(7));
        assert_eq!(sec.supplemental_groups, vec![5]);
        assert!(sec.privileged && sec.read_only_root_fs);
        assert_eq!(sec.allow_privilege_escalation, Some(true));
        assert_eq!(sec.capabilities_add, vec!["NET_ADMIN"]);
        assert_eq!(sec.capabilities_drop, vec!["ALL"]);
        assert_eq!(
            sec.sysctls.get("net.core.somaxconn").map(String::as_str),
            Some("1024")
        );
    }

    #[test]
    fn run_as_non_root_rejects_root_and_unverifiable_users() {
        let s =
            spec(json!({"securityContext": {"runAsNonRoot": true}, "containers": [{"name": "c"}]}));
        let c = &s.containers[0];
        let sec = container_security(&s, c);
        assert!(verify_run_as_non_root(&s, c, &sec, None).is_err());
        assert!(verify_run_as_non_root(&s, c, &sec, Some("0:0")).is_err());
        assert!(verify_run_as_non_root(&s, c, &sec, Some("nobody"))
            .unwrap_err()
            .contains("non-numeric user (nobody)"));
        assert!(verify_run_as_non_root(&s, c, &sec, Some("1000")).is_ok());
        let sec = Security {
            run_as_user: Some(0),
            ..Default::default()
        };
        assert!(verify_run_as_non_root(&s, c, &sec, Some("1000")).is_err());
        let plain = spec(json!({"containers": [{"name": "c"}]}));
        assert!(
            verify_run_as_non_root(&plain, &plain.containers[0], &Security::default(), None)
                .is_ok()
        );
    }
}
