//! Validation of pod volumes: unique DNS-label names, exactly one source each, and the
//! rules of the sources a single-node platform serves (emptyDir, hostPath, secret,
//! configMap, downwardAPI, projected, persistentVolumeClaim, nfs, image).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, KeyToPath, Volume};

use crate::admission::FieldError;
use crate::names;
use crate::quantity::ParsedQuantity;
use crate::validation_container::{
    validate_local_descending_path, validate_object_field_selector, validate_path_no_backsteps,
    validate_resource_field_selector, VOLUME_FIELD_PATHS,
};
use crate::validation_meta::{child, index, Errors};

const FILE_MODE_ERROR: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// The sources a volume names, as their JSON field names.
fn sources(v: &Volume) -> Vec<String> {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::Object(o)) => o
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| k != "name")
            .collect(),
        _ => vec![],
    }
}

fn validate_mode(mode: Option<i32>, path: &str) -> Errors {
    match mode {
        Some(m) if !(0..=0o777).contains(&m) => vec![FieldError::invalid(path, m, FILE_MODE_ERROR)],
        _ => vec![],
    }
}

/// `ValidateLocalNonReservedPath`.
fn validate_local_non_reserved_path(target: &str, path: &str) -> Errors {
    let mut errs = validate_local_descending_path(target, path);
    if target.starts_with("..") && !target.starts_with("../") {
        errs.push(FieldError::invalid(
            path,
            target,
            "must not start with '..'",
        ));
    }
    errs
}

fn validate_key_to_path(kp: &KeyToPath, path: &str) -> Errors {
    let mut errs = Errors::new();
    if kp.key.is_empty() {
        errs.push(FieldError::required(child(path, "key"), ""));
    }
    if kp.path.is_empty() {
        errs.push(FieldError::required(child(path, "path"), ""));
    }
    errs.extend(validate_local_non_reserved_path(
        &kp.path,
        &child(path, "path"),
    ));
    errs.extend(validate_mode(kp.mode, &child(path, "mode")));
    errs
}

fn validate_downward_file(f: &DownwardAPIVolumeFile, path: &str) -> Errors {
    let mut errs = Errors::new();
    if f.path.is_empty() {
        errs.push(FieldError::required(child(path, "path"), ""));
    }
    errs.extend(validate_local_non_reserved_path(
        &f.path,
        &child(path, "path"),
    ));
    match (&f.field_ref, &f.resource_field_ref) {
        (Some(fr), rr) => {
            errs.extend(validate_object_field_selector(
                fr,
                VOLUME_FIELD_PATHS,
                &child(path, "fieldRef"),
            ));
            if rr.is_some() {
                errs.push(FieldError::invalid(
                    path,
                    "resource",
                    "fieldRef and resourceFieldRef can not be specified simultaneously",
                ));
            }
        }
        (None, Some(rr)) => errs.extend(validate_resource_field_selector(
            rr,
            true,
            &child(path, "resourceFieldRef"),
        )),
        (None, None) => errs.push(FieldError::required(
            path,
            "one of fieldRef and resourceFieldRef is required",
        )),
    }
    errs.extend(validate_mode(f.mode, &child(path, "mode")));
    errs
}

const HOST_PATH_TYPES: &[&str] = &[
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
];

fn validate_source(v: &Volume, path: &str) -> Errors {
    let mut errs = Errors::new();
    if let Some(e) = &v.empty_dir {
        if e.size_limit
            .as_ref()
            .and_then(|q| ParsedQuantity::parse(&q.0).ok())
            .is_some_and(|q| q.is_negative())
        {
            errs.push(FieldError::forbidden(
                child(&child(path, "emptyDir"), "sizeLimit"),
                "SizeLimit field must be a valid resource quantity",
            ));
        }
    }
    if let Some(h) = &v.host_path {
        let p = child(path, "hostPath");
        if h.path.is_empty() {
            errs.push(FieldError::required(child(&p, "path"), ""));
        } else {
            errs.extend(validate_path_no_backsteps(&h.path, &child(&p, "path")));
            let t = h.type_.as_deref().unwrap_or("");
            if !HOST_PATH_TYPES.contains(&t) {
                errs.push(FieldError::not_supported(
                    child(&p, "type"),
                    t,
                    HOST_PATH_TYPES,
                ));
            }
        }
    }
    if let Some(s) = &v.secret {
        let p = child(path, "secret");
        if s.secret_name.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required(child(&p, "secretName"), ""));
        }
        errs.extend(validate_mode(s.default_mode, &child(&p, "defaultMode")));
        for (i, kp) in s.items.iter().flatten().enumerate() {
            errs.extend(validate_key_to_path(kp, &index(&child(&p, "items"), i)));
        }
    }
    if let Some(c) = &v.config_map {
        let p = child(path, "configMap");
        if c.name.is_empty() {
            errs.push(FieldError::required(child(&p, "name"), ""));
        }
        errs.extend(validate_mode(c.default_mode, &child(&p, "defaultMode")));
        for (i, kp) in c.items.iter().flatten().enumerate() {
            errs.extend(validate_key_to_path(kp, &index(&child(&p, "items"), i)));
        }
    }
    if let Some(d) = &v.downward_api {
        let p = child(path, "downwardAPI");
        errs.extend(validate_mode(d.default_mode, &child(&p, "defaultMode")));
        for f in d.items.iter().flatten() {
            errs.extend(validate_downward_file(f, &p));
        }
    }
    if let Some(pr) = &v.projected {
        errs.extend(validate_projected(pr, &child(path, "projected")));
    }
    if let Some(c) = &v.persistent_volume_claim {
        if c.claim_name.is_empty() {
            errs.push(FieldError::required(
                child(&child(path, "persistentVolumeClaim"), "claimName"),
                "",
            ));
        }
    }
    if let Some(n) = &v.nfs {
        let p = child(path, "nfs");
        if n.server.is_empty() {
            errs.push(FieldError::required(child(&p, "server"), ""));
        }
        if n.path.is_empty() {
            errs.push(FieldError::required(child(&p, "path"), ""));
        }
        if !n.path.starts_with('/') {
            errs.push(FieldError::invalid(
                child(&p, "path"),
                &n.path,
                "must be an absolute path",
            ));
        }
    }
    if let Some(img) = &v.image {
        let p = child(path, "image");
        if img.reference.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required(child(&p, "reference"), ""));
        }
        if let Some(pp) = img.pull_policy.as_deref() {
            if !matches!(pp, "Always" | "IfNotPresent" | "Never") {
                errs.push(FieldError::not_supported(
                    child(&p, "pullPolicy"),
                    pp,
                    &["Always", "IfNotPresent", "Never"],
                ));
            }
        }
    }
    errs
}

fn validate_projected(
    pr: &k8s_openapi::api::core::v1::ProjectedVolumeSource,
    path: &str,
) -> Errors {
    let mut errs = validate_mode(pr.default_mode, &child(path, "defaultMode"));
    let mut all_paths = BTreeSet::new();
    for (i, s) in pr.sources.iter().flatten().enumerate() {
        let sp = index(&child(path, "sources"), i);
        let mut count = 0;
        let mut check_items =
            |errs: &mut Errors, owner: &str, items: Option<&Vec<KeyToPath>>, p: &str| {
                for (j, kp) in items.into_iter().flatten().enumerate() {
                    errs.extend(validate_key_to_path(kp, &index(&child(p, "items"), j)));
                    if !kp.path.is_empty() && !all_paths.insert(kp.path.clone()) {
                        errs.push(FieldError::invalid(
                            path,
                            owner,
                            "conflicting duplicate paths",
                        ));
                    }
                }
            };
        if let Some(sec) = &s.secret {
            count += 1;
            let p = child(&sp, "secret");
            if sec.name.is_empty() {
                errs.push(FieldError::required(child(&p, "name"), ""));
            }
            check_items(&mut errs, &sec.name, sec.items.as_ref(), &p);
        }
        if let Some(cm) = &s.config_map {
            count += 1;
            let p = child(&sp, "configMap");
            if cm.name.is_empty() {
                errs.push(FieldError::required(child(&p, "name"), ""));
            }
            check_items(&mut errs, &cm.name, cm.items.as_ref(), &p);
        }
        if let Some(d) = &s.downward_api {
            count += 1;
            let p = child(&sp, "downwardAPI");
            for f in d.items.iter().flatten() {
                errs.extend(validate_downward_file(f, &p));
                if !f.path.is_empty() && !all_paths.insert(f.path.clone()) {
                    errs.push(FieldError::invalid(
                        path,
                        f.path.as_str(),
                        "conflicting duplicate paths",
                    ));
                }
            }
        }
        if let Some(t) = &s.service_account_token {
            count += 1;
            let p = child(&sp, "serviceAccountToken");
            let exp = t.expiration_seconds.unwrap_or(0);
            if exp < 600 {
                errs.push(FieldError::invalid(
                    child(&p, "expirationSeconds"),
                    exp,
                    "may not specify a duration less than 10 minutes",
                ));
            }
            if exp > 1 << 32 {
                errs.push(FieldError::invalid(
                    child(&p, "expirationSeconds"),
                    exp,
                    "may not specify a duration larger than 2^32 seconds",
                ));
            }
            if t.path.is_empty() {
                errs.push(FieldError::required(child(&p, "path"), ""));
            }
        }
        if s.cluster_trust_bundle.is_some() {
            count += 1;
        }
        if count > 1 {
            errs.push(FieldError::forbidden(
                &sp,
                "may not specify more than 1 volume type per source",
            ));
        }
    }
    errs
}

/// `ValidateVolumes`: returns the valid volumes by name, and the errors.
pub(crate) fn validate_volumes<'a>(
    volumes: &'a [Volume],
    path: &str,
) -> (BTreeMap<&'a str, &'a Volume>, Errors) {
    let mut all = Errors::new();
    let mut valid = BTreeMap::new();
    for (i, v) in volumes.iter().enumerate() {
        let idx = index(path, i);
        let name_path = child(&idx, "name");
        let mut errs = Errors::new();
        let srcs = sources(v);
        match srcs.len() {
            0 => errs.push(FieldError::required(&idx, "must specify a volume type")),
            1 => {}
            _ => {
                for extra in &srcs[1..] {
                    errs.push(FieldError::forbidden(
                        child(&idx, extra),
                        "may not specify more than 1 volume type",
                    ));
                }
            }
        }
        errs.extend(validate_source(v, &idx));
        if v.name.is_empty() {
            errs.push(FieldError::required(&name_path, ""));
        } else {
            for m in names::is_dns1123_label(&v.name) {
                errs.push(FieldError::invalid(&name_path, &v.name, m));
            }
        }
        if valid.contains_key(v.name.as_str()) {
            errs.push(FieldError::duplicate(&name_path, &v.name));
        }
        if errs.is_empty() {
            valid.insert(v.name.as_str(), v);
        } else {
            all.extend(errs);
        }
    }
    (valid, all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        EmptyDirVolumeSource, HostPathVolumeSource, SecretVolumeSource,
    };

    fn empty_dir(name: &str) -> Volume {
        Volume {
            name: name.into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        }
    }

    fn messages(errs: &Errors) -> Vec<String> {
        errs.iter().map(|e| e.message()).collect()
    }

    #[test]
    fn names_are_unique_labels() {
        let vols = vec![empty_dir("data"), empty_dir("data"), empty_dir("Bad_Name")];
        let (valid, errs) = validate_volumes(&vols, "spec.volumes");
        assert_eq!(valid.len(), 1);
        let m = messages(&errs);
        assert_eq!(m[0], "spec.volumes[1].name: Duplicate value: \"data\"");
        assert!(m[1].starts_with(
            "spec.volumes[2].name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label"
        ));
    }

    #[test]
    fn exactly_one_source() {
        let none = Volume {
            name: "x".into(),
            ..Default::default()
        };
        let two = Volume {
            name: "y".into(),
            empty_dir: Some(Default::default()),
            host_path: Some(HostPathVolumeSource {
                path: "/tmp".into(),
                type_: Some("".into()),
            }),
            ..Default::default()
        };
        let (_, errs) = validate_volumes(&[none, two], "spec.volumes");
        let m = messages(&errs);
        assert_eq!(
            m[0],
            "spec.volumes[0]: Required value: must specify a volume type"
        );
        assert_eq!(
            m[1],
            "spec.volumes[1].hostPath: Forbidden: may not specify more than 1 volume type"
        );
    }

    #[test]
    fn source_rules() {
        let vols = vec![
            Volume {
                name: "s".into(),
                secret: Some(SecretVolumeSource {
                    default_mode: Some(0o1000),
                    ..Default::default()
                }),
                ..Default::default()
            },
            Volume {
                name: "h".into(),
                host_path: Some(HostPathVolumeSource {
                    path: "/a/../b".into(),
                    type_: Some("Weird".into()),
                }),
                ..Default::default()
            },
        ];
        let (_, errs) = validate_volumes(&vols, "spec.volumes");
        let m = messages(&errs);
        assert_eq!(m[0], "spec.volumes[0].secret.secretName: Required value");
        assert_eq!(m[1], "spec.volumes[0].secret.defaultMode: Invalid value: 512: must be a number between 0 and 0777 (octal), both inclusive");
        assert_eq!(
            m[2],
            "spec.volumes[1].hostPath.path: Invalid value: \"/a/../b\": must not contain '..'"
        );
        assert!(m[3].starts_with("spec.volumes[1].hostPath.type: Unsupported value: \"Weird\": supported values: \"\", \"BlockDevice\""));
    }
}
