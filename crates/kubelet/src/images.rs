//! The agent's view of the node's image store: pull, resolve, layer directories. The
//! [`ImageService`] trait keeps pod logic independent of the `image` crate's internals and
//! lets unit tests use [`FakeImages`].

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the container runtime needs from an image's config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// `NAME=value`.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub stop_signal: Option<String>,
}

/// An image present on the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// `sha256:<config digest>`.
    pub id: String,
    /// The normalised reference (`docker.io/library/busybox:1.36`).
    pub reference: String,
    /// `name@sha256:...` when pulled from a registry.
    pub repo_digest: Option<String>,
    pub config: ImageConfig,
    /// Stored size in bytes.
    pub size: u64,
}

impl ImageInfo {
    /// What a container status reports as `imageID`.
    pub fn image_id(&self) -> String {
        self.repo_digest.clone().unwrap_or_else(|| self.id.clone())
    }
}

/// Why an image could not be made available.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The reference can never work (`InvalidImageName`).
    #[error("{0}")]
    InvalidName(String),
    /// The registry could not deliver it (`ErrImagePull`); the registry's message.
    #[error("{0}")]
    Pull(String),
    /// Local storage failed.
    #[error("{0}")]
    Store(String),
}

/// The `.dockerconfigjson` bytes of one `kubernetes.io/dockerconfigjson` pull secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullSecret(pub Vec<u8>);

/// The node's image store, as the agent uses it.
#[async_trait::async_trait]
pub trait ImageService: Send + Sync + 'static {
    /// Pulls `reference` from its registry, with the first of `secrets` that has
    /// credentials for that registry. Concurrent pulls of one image share one download.
    async fn pull(&self, reference: &str, secrets: &[PullSecret]) -> Result<ImageInfo, ImageError>;
    /// The local image `reference` names, if present; `Err(InvalidName)` for a reference
    /// that cannot be parsed.
    fn resolve(&self, reference: &str) -> Result<Option<ImageInfo>, ImageError>;
    /// The image's unpacked layer directories, lowest first.
    fn layer_dirs(&self, image: &ImageInfo) -> Result<Vec<PathBuf>, ImageError>;
}

#[derive(Default)]
struct FakeInner {
    local: BTreeMap<String, ImageInfo>,
    registry: BTreeMap<String, ImageInfo>,
    failures: HashMap<String, ImageError>,
    pulls: Vec<(String, usize)>,
    pull_delay: Duration,
}

/// An image store in memory: images are "local" or "in the registry"; pulls are recorded.
#[derive(Clone, Default)]
pub struct FakeImages {
    inner: Arc<Mutex<FakeInner>>,
}

impl FakeImages {
    pub fn new() -> FakeImages {
        FakeImages::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A test image named `reference` with the given entrypoint and cmd.
    pub fn image(reference: &str, entrypoint: &[&str], cmd: &[&str]) -> ImageInfo {
        let to = |v: &[&str]| (!v.is_empty()).then(|| v.iter().map(|s| s.to_string()).collect());
        ImageInfo {
            id: format!("sha256:{:0>64}", reference.len()),
            reference: reference.to_string(),
            repo_digest: None,
            config: ImageConfig {
                entrypoint: to(entrypoint),
                cmd: to(cmd),
                env: vec![
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                ],
                ..Default::default()
            },
            size: 1000,
        }
    }

    /// Makes `image` present on the node under `reference`.
    pub fn add_local(&self, reference: &str, image: ImageInfo) {
        self.lock().local.insert(reference.to_string(), image);
    }

    /// Makes `image` pullable as `reference`.
    pub fn add_remote(&self, reference: &str, image: ImageInfo) {
        let mut image = image;
        image.repo_digest = Some(format!("{reference}@sha256:{:0>64}", 7));
        self.lock().registry.insert(reference.to_string(), image);
    }

    /// Pulls of `reference` fail with `error`.
    pub fn fail_pull(&self, reference: &str, error: ImageError) {
        self.lock().failures.insert(reference.to_string(), error);
    }

    /// Pulls of `reference` succeed again.
    pub fn heal(&self, reference: &str) {
        self.lock().failures.remove(reference);
    }

    /// Every pull so far: reference and number of secrets offered.
    pub fn pulls(&self) -> Vec<(String, usize)> {
        self.lock().pulls.clone()
    }

    /// Each pull takes this long.
    pub fn set_pull_delay(&self, d: Duration) {
        self.lock().pull_delay = d;
    }
}

fn valid(reference: &str) -> bool {
    !reference.is_empty()
        && !reference
            .chars()
            .any(|c| c.is_whitespace() || c.is_ascii_uppercase())
}

#[async_trait::async_trait]
impl ImageService for FakeImages {
    async fn pull(&self, reference: &str, secrets: &[PullSecret]) -> Result<ImageInfo, ImageError> {
        if !valid(reference) {
            return Err(ImageError::InvalidName(format!(
                "invalid image reference {reference:?}"
            )));
        }
        let delay = {
            let mut inner = self.lock();
            inner.pulls.push((reference.to_string(), secrets.len()));
            inner.pull_delay
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut inner = self.lock();
        if let Some(e) = inner.failures.get(reference) {
            return Err(e.clone());
        }
        let image = inner.registry.get(reference).cloned().ok_or_else(|| {
            ImageError::Pull(format!(
                "image {reference} not found in the registry: manifest unknown"
            ))
        })?;
        inner.local.insert(reference.to_string(), image.clone());
        Ok(image)
    }

    fn resolve(&self, reference: &str) -> Result<Option<ImageInfo>, ImageError> {
        if !valid(reference) {
            return Err(ImageError::InvalidName(format!(
                "invalid image reference {reference:?}"
            )));
        }
        Ok(self.lock().local.get(reference).cloned())
    }

    fn layer_dirs(&self, image: &ImageInfo) -> Result<Vec<PathBuf>, ImageError> {
        Ok(vec![PathBuf::from(format!("/fake/layers/{}", image.id))])
    }
}
