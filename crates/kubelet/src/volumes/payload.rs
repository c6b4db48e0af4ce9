//! The files of configMap, secret, downwardAPI and projected volumes, from their sources
//! (upstream's `MakePayload` of each plugin).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, KeyToPath, Pod};

use super::atomic_writer::{FileContent, Payload};
use crate::fieldpath::{field_value, resource_value, PodFacts};

/// The default file mode of these volumes (0644).
pub const DEFAULT_MODE: i32 = 0o644;

/// Files for `data` (a ConfigMap's or Secret's), limited to and renamed by `items` when
/// given. `kind` names the source in messages ("configmap", "secret").
pub fn key_payload(
    kind: &str,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    default_mode: i32,
    optional: bool,
) -> Result<Payload, String> {
    let mut out = Payload::new();
    match items.filter(|i| !i.is_empty()) {
        None => {
            for (k, v) in data {
                out.insert(
                    k.clone(),
                    FileContent {
                        data: v.clone(),
                        mode: default_mode as u32,
                    },
                );
            }
        }
        Some(items) => {
            for item in items {
                match data.get(&item.key) {
                    Some(v) => {
                        let mode = item.mode.unwrap_or(default_mode) as u32;
                        out.insert(
                            item.path.clone(),
                            FileContent {
                                data: v.clone(),
                                mode,
                            },
                        );
                    }
                    None if optional => continue,
                    None => {
                        return Err(format!(
                            "{kind} references non-existent config key: {}",
                            item.key
                        ))
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Files of downwardAPI items.
pub fn downward_payload(
    pod: &Pod,
    facts: &PodFacts,
    items: &[DownwardAPIVolumeFile],
    default_mode: i32,
) -> Result<Payload, String> {
    let mut out = Payload::new();
    for item in items {
        let value = if let Some(f) = &item.field_ref {
            field_value(pod, facts, &f.field_path)?
        } else if let Some(r) = &item.resource_field_ref {
            let spec = pod.spec.as_ref().ok_or("pod has no spec")?;
            let name = r.container_name.as_deref().unwrap_or("");
            let c = spec
                .containers
                .iter()
                .chain(spec.init_containers.iter().flatten())
                .find(|c| c.name == name)
                .ok_or_else(|| format!("container {name:?} not found for resourceFieldRef"))?;
            resource_value(c, &r.resource, r.divisor.as_ref(), facts)?
        } else {
            continue;
        };
        let mode = item.mode.unwrap_or(default_mode) as u32;
        out.insert(
            item.path.clone(),
            FileContent {
                data: value.into_bytes(),
                mode,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn keys_become_files_or_only_the_listed_items() {
        let d = data(&[("a", "1"), ("b", "2")]);
        let all = key_payload("configmap", &d, None, DEFAULT_MODE, false).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all["a"].mode, 0o644);
        let items: Vec<KeyToPath> =
            serde_json::from_value(json!([{"key": "b", "path": "dir/b.txt", "mode": 256}]))
                .unwrap();
        let some = key_payload("configmap", &d, Some(&items), 0o600, false).unwrap();
        assert_eq!(some.keys().collect::<Vec<_>>(), vec!["dir/b.txt"]);
        assert_eq!(some["dir/b.txt"].mode, 0o400);
        let missing: Vec<KeyToPath> =
            serde_json::from_value(json!([{"key": "zz", "path": "z"}])).unwrap();
        assert_eq!(
            key_payload("configmap", &d, Some(&missing), DEFAULT_MODE, false).unwrap_err(),
            "configmap references non-existent config key: zz"
        );
        assert!(
            key_payload("configmap", &d, Some(&missing), DEFAULT_MODE, true)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn downward_items_hold_pod_fields() {
        // 14-projected-volumes.yaml's podinfo volume.
        let pod: Pod = serde_json::from_value(
            json!({"metadata": {"name": "projected", "labels": {"app": "projected"}},
            "spec": {"containers": [{"name": "app", "resources": {"limits": {"cpu": "500m"}}}]}}),
        )
        .unwrap();
        let items: Vec<DownwardAPIVolumeFile> = serde_json::from_value(json!([
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "cpu", "resourceFieldRef": {"containerName": "app", "resource": "limits.cpu", "divisor": "1m"}}])).unwrap();
        let p = downward_payload(&pod, &PodFacts::default(), &items, DEFAULT_MODE).unwrap();
        assert_eq!(p["name"].data, b"projected");
        assert_eq!(p["labels"].data, b"app=\"projected\"");
        assert_eq!(p["cpu"].data, b"500");
    }
}
