//! Where a pod's node-local files live:
//!
//! ```text
//! <data-dir>/pods/<namespace>_<name>_<uid>/
//!   <container>/<restartCount>.log               CRI-format log of one container incarnation
//!   <container>/<restartCount>.termination-log   its terminationMessagePath, bind-mounted
//!   .volumes/<plugin>/<volume>/                  emptyDir, configMap, secret, ... contents
//! ```
//!
//! Names and namespaces are DNS labels/subdomains (no `_`) and container names cannot start
//! with `.`, so these never collide. The directory is removed with the pod.

use std::path::{Path, PathBuf};

use crate::cluster::PodKey;

/// `<data-dir>/pods`.
pub fn pods_root(data_dir: &Path) -> PathBuf {
    data_dir.join("pods")
}

/// The directory name of a pod.
pub fn pod_dir_name(pod: &PodKey) -> String {
    format!("{}_{}_{}", pod.namespace, pod.name, pod.uid)
}

/// The pod a directory name stands for.
pub fn parse_pod_dir_name(name: &str) -> Option<PodKey> {
    let mut parts = name.splitn(3, '_');
    let namespace = parts.next()?.to_string();
    let pod = parts.next()?.to_string();
    let uid = parts.next()?.to_string();
    (!namespace.is_empty() && !pod.is_empty() && !uid.is_empty()).then_some(PodKey {
        namespace,
        name: pod,
        uid,
    })
}

/// The files of one pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodDirs {
    root: PathBuf,
}

impl PodDirs {
    pub fn new(data_dir: &Path, pod: &PodKey) -> PodDirs {
        PodDirs {
            root: pods_root(data_dir).join(pod_dir_name(pod)),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The log file of one container incarnation.
    pub fn log_path(&self, container: &str, attempt: u32) -> PathBuf {
        self.root.join(container).join(format!("{attempt}.log"))
    }

    /// The host file behind a container incarnation's terminationMessagePath.
    pub fn termination_path(&self, container: &str, attempt: u32) -> PathBuf {
        self.root
            .join(container)
            .join(format!("{attempt}.termination-log"))
    }

    /// All volumes of the pod.
    pub fn volumes(&self) -> PathBuf {
        self.root.join(".volumes")
    }

    /// One volume's directory, by plugin (`kubernetes.io~empty-dir`) and volume name.
    pub fn volume(&self, plugin: &str, name: &str) -> PathBuf {
        self.volumes().join(plugin).join(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_directories_are_named_by_namespace_name_and_uid() {
        let key = PodKey {
            namespace: "default".into(),
            name: "web".into(),
            uid: "1-2-3".into(),
        };
        let dirs = PodDirs::new(Path::new("/data"), &key);
        assert_eq!(
            dirs.log_path("app", 2),
            Path::new("/data/pods/default_web_1-2-3/app/2.log")
        );
        assert_eq!(
            dirs.termination_path("app", 0),
            Path::new("/data/pods/default_web_1-2-3/app/0.termination-log")
        );
        assert_eq!(
            dirs.volume("kubernetes.io~empty-dir", "cache"),
            Path::new("/data/pods/default_web_1-2-3/.volumes/kubernetes.io~empty-dir/cache")
        );
        assert_eq!(parse_pod_dir_name("default_web_1-2-3"), Some(key));
        assert_eq!(parse_pod_dir_name("junk"), None);
    }
}
