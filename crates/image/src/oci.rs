//! The OCI image-spec and docker v2 documents this crate reads and writes: descriptors,
//! manifests, indexes and the image config (only the parts a container runtime needs).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Manifest media types a pull accepts, most preferred first.
pub const MANIFEST_TYPES: &[&str] = &[
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
];

/// Whether a layer of this media type is a (possibly compressed) tar this crate can unpack.
pub fn is_layer_media_type(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    )
}

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: String, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
        }
    }
}

/// The platform of an index entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// Either half of the manifest/index pair, as read from the wire or disk.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnyManifest {
    #[serde(default)]
    schema_version: u32,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// A parsed manifest document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// One image: its config and its layers, lowest first.
    Image {
        config: Descriptor,
        layers: Vec<Descriptor>,
    },
    /// A list of manifests, one per platform.
    Index { manifests: Vec<Descriptor> },
}

impl Manifest {
    /// Parses an image manifest or index (OCI or docker v2 schema 2).
    pub fn parse(bytes: &[u8], reference: &str) -> Result<Manifest> {
        let m: AnyManifest = serde_json::from_slice(bytes)
            .map_err(|e| Error::invalid_image(reference, format!("cannot parse manifest: {e}")))?;
        if m.schema_version != 2 {
            return Err(Error::invalid_image(
                reference,
                format!(
                    "manifest schema version {} is not supported (only 2); re-push the image with a current client",
                    m.schema_version
                ),
            ));
        }
        let is_index = match m.media_type.as_deref() {
            Some(OCI_INDEX | DOCKER_MANIFEST_LIST) => true,
            Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
            Some(other) => {
                return Err(Error::invalid_image(
                    reference,
                    format!("unsupported manifest media type {other:?}"),
                ))
            }
            None => m.manifests.is_some(),
        };
        if is_index {
            return Ok(Manifest::Index {
                manifests: m.manifests.unwrap_or_default(),
            });
        }
        let config = m
            .config
            .ok_or_else(|| Error::invalid_image(reference, "the manifest has no config"))?;
        if config.media_type != OCI_CONFIG
            && config.media_type != DOCKER_CONFIG
            && !config.media_type.is_empty()
        {
            return Err(Error::invalid_image(
                reference,
                format!(
                    "config media type {:?} is not a container image config (an artifact, not an image?)",
                    config.media_type
                ),
            ));
        }
        let layers = m.layers.unwrap_or_default();
        for layer in &layers {
            if !is_layer_media_type(&layer.media_type) {
                return Err(Error::invalid_image(
                    reference,
                    format!(
                        "layer {} has unsupported media type {:?}",
                        layer.digest, layer.media_type
                    ),
                ));
            }
            crate::reference::validate_digest(&layer.digest)
                .map_err(|why| Error::invalid_image(reference, why))?;
        }
        crate::reference::validate_digest(&config.digest)
            .map_err(|why| Error::invalid_image(reference, why))?;
        Ok(Manifest::Image { config, layers })
    }
}

/// Serialises an OCI image manifest for `config` and `layers`.
pub fn oci_manifest_json(config: &Descriptor, layers: &[Descriptor]) -> Vec<u8> {
    let value = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config,
        "layers": layers,
    });
    serde_json::to_vec(&value).expect("a manifest always serialises")
}

/// This machine's platform in OCI terms (`GOARCH` names).
pub fn current_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    };
    ("linux", arch)
}

/// The index entry for this machine's platform. Attestation entries are skipped; an index
/// whose only image entry has no platform yields that entry.
pub fn pick_platform(manifests: &[Descriptor]) -> Option<&Descriptor> {
    let (os, arch) = current_platform();
    let images: Vec<&Descriptor> = manifests
        .iter()
        .filter(|d| {
            d.annotations
                .get("vnd.docker.reference.type")
                .map(String::as_str)
                != Some("attestation-manifest")
        })
        .filter(|d| {
            d.platform
                .as_ref()
                .is_none_or(|p| p.os != "unknown" && p.architecture != "unknown")
        })
        .collect();
    images
        .iter()
        .find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == os && p.architecture == arch)
        })
        .copied()
        .or_else(|| match images.as_slice() {
            [only] if only.platform.is_none() => Some(*only),
            _ => None,
        })
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The parts of an image config a container runtime uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `ENTRYPOINT`.
    pub entrypoint: Option<Vec<String>>,
    /// `CMD`.
    pub cmd: Option<Vec<String>>,
    /// `ENV`, as `NAME=value`.
    pub env: Vec<String>,
    /// `WORKDIR`; `None` when empty.
    pub working_dir: Option<String>,
    /// `USER` (`name`, `uid`, `uid:gid`, ...); `None` when empty.
    pub user: Option<String>,
    /// `STOPSIGNAL` (`SIGTERM`, `15`); `None` when empty.
    pub stop_signal: Option<String>,
}

/// The image config's `config` object, docker's capitalised field names.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ContainerConfig {
    #[serde(
        rename = "Entrypoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    cmd: Option<Vec<String>>,
    #[serde(rename = "Env", default, skip_serializing_if = "Option::is_none")]
    env: Option<Vec<String>>,
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    working_dir: Option<String>,
    #[serde(rename = "User", default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(
        rename = "StopSignal",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    stop_signal: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    config: Option<ContainerConfig>,
    #[serde(default)]
    rootfs: Option<RootFs>,
}

#[derive(Debug, Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

impl ImageConfig {
    /// Reads the runtime-relevant fields of an image config blob (OCI or docker).
    pub fn from_json(bytes: &[u8]) -> std::result::Result<ImageConfig, serde_json::Error> {
        let file: ConfigFile = serde_json::from_slice(bytes)?;
        let c = file.config.unwrap_or_default();
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        Ok(ImageConfig {
            entrypoint: c.entrypoint,
            cmd: c.cmd,
            env: c.env.unwrap_or_default(),
            working_dir: non_empty(c.working_dir),
            user: non_empty(c.user),
            stop_signal: non_empty(c.stop_signal),
        })
    }

    /// A complete OCI image config for a single-platform image with these `diff_ids`. It
    /// has no creation time, so the same content always gets the same image id.
    pub(crate) fn to_oci_config_json(&self, diff_ids: &[String]) -> Vec<u8> {
        let (os, arch) = current_platform();
        let config = ContainerConfig {
            entrypoint: self.entrypoint.clone(),
            cmd: self.cmd.clone(),
            env: (!self.env.is_empty()).then(|| self.env.clone()),
            working_dir: self.working_dir.clone(),
            user: self.user.clone(),
            stop_signal: self.stop_signal.clone(),
        };
        let value = serde_json::json!({
            "architecture": arch,
            "os": os,
            "config": config,
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
            "history": [{ "created_by": "orca import" }],
        });
        serde_json::to_vec(&value).expect("a config always serialises")
    }
}

/// The `rootfs.diff_ids` of a config blob (uncompressed layer digests).
pub fn config_diff_ids(bytes: &[u8]) -> Vec<String> {
    serde_json::from_slice::<ConfigFile>(bytes)
        .ok()
        .and_then(|f| f.rootfs)
        .map(|r| r.diff_ids)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_fields_are_read_and_empty_strings_are_none() {
        let json = br#"{
            "architecture": "amd64", "os": "linux",
            "config": {
                "Entrypoint": ["/docker-entrypoint.sh"],
                "Cmd": ["nginx", "-g", "daemon off;"],
                "Env": ["PATH=/usr/bin:/bin", "NGINX_VERSION=1.27"],
                "WorkingDir": "",
                "User": "101:101",
                "StopSignal": "SIGQUIT",
                "ExposedPorts": {"80/tcp": {}}
            },
            "rootfs": {"type": "layers", "diff_ids": ["sha256:aa"]}
        }"#;
        let c = ImageConfig::from_json(json).unwrap();
        assert_eq!(
            c.entrypoint,
            Some(vec!["/docker-entrypoint.sh".to_string()])
        );
        assert_eq!(c.cmd.as_deref().map(<[String]>::len), Some(3));
        assert_eq!(c.env.len(), 2);
        assert_eq!(c.working_dir, None);
        assert_eq!(c.user.as_deref(), Some("101:101"));
        assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(config_diff_ids(json), vec!["sha256:aa".to_string()]);
    }

    #[test]
    fn null_and_missing_config_give_defaults() {
        let c = ImageConfig::from_json(
            br#"{"config": {"Entrypoint": null, "Cmd": null, "Env": null}}"#,
        )
        .unwrap();
        assert_eq!(c, ImageConfig::default());
        assert_eq!(
            ImageConfig::from_json(b"{}").unwrap(),
            ImageConfig::default()
        );
        assert!(ImageConfig::from_json(b"[").is_err());
    }

    #[test]
    fn generated_config_round_trips() {
        let c = ImageConfig {
            entrypoint: None,
            cmd: Some(vec!["sh".into()]),
            env: vec!["PATH=/bin".into()],
            working_dir: Some("/srv".into()),
            user: Some("1000".into()),
            stop_signal: Some("SIGINT".into()),
        };
        let json = c.to_oci_config_json(&["sha256:bb".to_string()]);
        assert_eq!(ImageConfig::from_json(&json).unwrap(), c);
        assert_eq!(config_diff_ids(&json), vec!["sha256:bb".to_string()]);
    }

    #[test]
    fn manifests_and_indexes_are_told_apart() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "digest": d('a'), "size": 3},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": d('b'), "size": 4}]
        });
        match Manifest::parse(manifest.to_string().as_bytes(), "x").unwrap() {
            Manifest::Image { config, layers } => {
                assert_eq!(config.digest, d('a'));
                assert_eq!(layers.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": d('c'), "size": 1,
             "platform": {"os": "linux", "architecture": "s390x-not-here"}},
            {"mediaType": OCI_MANIFEST, "digest": d('d'), "size": 1,
             "platform": {"os": "linux", "architecture": current_platform().1}},
            {"mediaType": OCI_MANIFEST, "digest": d('e'), "size": 1,
             "platform": {"os": "unknown", "architecture": "unknown"}}
        ]});
        let Manifest::Index { manifests } =
            Manifest::parse(index.to_string().as_bytes(), "x").unwrap()
        else {
            panic!("not an index")
        };
        assert_eq!(pick_platform(&manifests).unwrap().digest, d('d'));
        assert_eq!(pick_platform(&manifests[..1]), None);
    }

    #[test]
    fn artifacts_and_schema1_are_not_images() {
        let d = format!("sha256:{}", "a".repeat(64));
        let wasm = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.wasm.config.v1+json", "digest": d, "size": 1},
            "layers": []});
        assert!(matches!(
            Manifest::parse(wasm.to_string().as_bytes(), "x"),
            Err(Error::InvalidImage { .. })
        ));
        let bad_layer = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": d, "size": 1},
            "layers": [{"mediaType": OCI_LAYER_TAR, "digest": "sha256:../../etc", "size": 1}]});
        assert!(Manifest::parse(bad_layer.to_string().as_bytes(), "x").is_err());
        assert!(Manifest::parse(br#"{"schemaVersion": 1}"#, "x").is_err());
    }
}
