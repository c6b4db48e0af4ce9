//! Pulling images from OCI distribution registries with oci-client.
//!
//! HTTPS everywhere except registries on this machine (`localhost:PORT`, `127.0.0.1:PORT`),
//! which docker and containerd also reach over plain HTTP. Concurrent pulls of one reference
//! share a single download: the first starts a task, later callers await its result.

use std::time::{Duration, Instant};

use futures::future::{BoxFuture, Shared};
use futures::{FutureExt as _, StreamExt as _, TryStreamExt as _};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::Client;

use crate::archive::image_record;
use crate::error::{Error, IoContext, Result};
use crate::oci::{self, Descriptor, ImageConfig, Manifest};
use crate::reference::Reference;
use crate::store::{lock, ImageStore};
use crate::Image;

/// A pull under way; every caller for the same reference awaits the same one.
pub(crate) type InFlight = Shared<BoxFuture<'static, Result<Image>>>;

/// Blobs downloaded at once per pull.
const PARALLEL_DOWNLOADS: usize = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a registry may go without sending a byte.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

impl ImageStore {
    /// Pulls `reference` from its registry with `auth` (anonymous when `None`) and returns the
    /// stored image, its layers unpacked. The manifest is always fetched (the tag may have
    /// moved); the config and layers only if not already stored. Concurrent pulls of the
    /// same reference happen once: later callers get the first one's result.
    pub async fn pull(&self, reference: &str, auth: Option<RegistryAuth>) -> Result<Image> {
        let r = Reference::parse(reference)?;
        let key = r.to_string();
        let pull = {
            let mut inflight = lock(&self.inner.inflight);
            if let Some(pull) = inflight.get(&key) {
                tracing::debug!(image = %key, "joining the pull under way");
                pull.clone()
            } else {
                let store = self.clone();
                let task_key = key.clone();
                // A task, so that the pull finishes (and is recorded) even if the caller
                // that started it goes away.
                let task = tokio::spawn(async move {
                    let result = store
                        .pull_now(&r, auth.unwrap_or(RegistryAuth::Anonymous))
                        .await;
                    lock(&store.inner.inflight).remove(&task_key);
                    result
                });
                let pull: InFlight = async move {
                    task.await.unwrap_or_else(|e| {
                        Err(Error::io("the pull task failed", std::io::Error::other(e)))
                    })
                }
                .boxed()
                .shared();
                inflight.insert(key, pull.clone());
                pull
            }
        };
        pull.await
    }

    async fn pull_now(&self, r: &Reference, auth: RegistryAuth) -> Result<Image> {
        let started = Instant::now();
        let key = r.to_string();
        let client = client_for(r, &key)?;
        let oref = r.to_oci();

        let (top_bytes, top_digest) = client
            .pull_manifest_raw(&oref, &auth, oci::MANIFEST_TYPES)
            .await
            .map_err(|e| pull_error(&key, e))?;
        let mut lease = self.lease([top_digest.clone()]);
        let mut manifests = vec![top_bytes.to_vec()];
        let (manifest_digest, config, layers) = match Manifest::parse(&top_bytes, &key)? {
            Manifest::Image { config, layers } => (top_digest.clone(), config, layers),
            Manifest::Index { manifests: entries } => {
                let (os, arch) = oci::current_platform();
                let child = oci::pick_platform(&entries).ok_or_else(|| Error::NotFound {
                    reference: key.clone(),
                    message: format!("the image index has no image for {os}/{arch}"),
                })?;
                lease.add([child.digest.clone()]);
                let child_ref = oref.clone_with_digest(child.digest.clone());
                let (bytes, digest) = client
                    .pull_manifest_raw(
                        &child_ref,
                        &auth,
                        &[oci::OCI_MANIFEST, oci::DOCKER_MANIFEST],
                    )
                    .await
                    .map_err(|e| pull_error(&key, e))?;
                let Manifest::Image { config, layers } = Manifest::parse(&bytes, &key)? else {
                    return Err(Error::invalid_image(
                        &key,
                        "an image index points to another index",
                    ));
                };
                manifests.push(bytes.to_vec());
                (digest, config, layers)
            }
        };
        lease.add(
            std::iter::once(config.digest.clone()).chain(layers.iter().map(|l| l.digest.clone())),
        );

        let store = self.clone();
        blocking(move || {
            manifests
                .iter()
                .try_for_each(|m| store.write_blob(m).map(drop))
        })
        .await?;

        let wanted: Vec<Descriptor> = std::iter::once(config.clone())
            .chain(layers.iter().cloned())
            .filter(|d| !self.has_blob(&d.digest))
            .collect();
        let downloaded: u64 = wanted.iter().map(|d| d.size).sum();
        futures::stream::iter(wanted)
            .map(|d| self.fetch_blob(&client, &oref, d, &key))
            .buffer_unordered(PARALLEL_DOWNLOADS)
            .try_collect::<Vec<()>>()
            .await?;

        let config_bytes = self.read_blob(&config.digest)?;
        let image_config = ImageConfig::from_json(&config_bytes).map_err(|e| {
            Error::invalid_image(&key, format!("cannot parse the image config: {e}"))
        })?;
        let repo_digest = Some(format!("{}@{}", r.name(), top_digest));
        let image = image_record(
            key.clone(),
            repo_digest,
            &manifest_digest,
            &config,
            &layers,
            image_config,
        );

        let store = self.clone();
        let record = image.clone();
        blocking(move || {
            store.layer_dirs(&record)?;
            store.write_image(&record)
        })
        .await?;
        drop(lease);
        tracing::info!(
            image = %key,
            id = %image.id,
            downloaded_bytes = downloaded,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "image pulled"
        );
        Ok(image)
    }

    /// Downloads one blob into `tmp/` and moves it into place once complete (oci-client
    /// checks its digest while it streams).
    async fn fetch_blob(
        &self,
        client: &Client,
        oref: &oci_client::Reference,
        desc: Descriptor,
        key: &str,
    ) -> Result<()> {
        let (file, path) = self.tmp_file()?.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let descriptor = OciDescriptor {
            media_type: desc.media_type.clone(),
            digest: desc.digest.clone(),
            size: desc.size as i64,
            urls: (!desc.urls.is_empty()).then(|| desc.urls.clone()),
            ..OciDescriptor::default()
        };
        client
            .pull_blob(oref, &descriptor, &mut file)
            .await
            .map_err(|e| pull_error(key, e))?;
        file.sync_all()
            .await
            .ctx(|| format!("cannot write blob {} of {key}", desc.digest))?;
        drop(file);
        let store = self.clone();
        blocking(move || store.commit_blob(path, &desc.digest)).await
    }
}

/// Runs blocking store work off the async executor.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(Error::io(
            "image store task failed",
            std::io::Error::other(e),
        ))
    })
}

/// An oci-client for the registry of `r`.
fn client_for(r: &Reference, key: &str) -> Result<Client> {
    // reqwest is built without a crypto provider; use ring, as the rest of orca does. Fails
    // harmlessly when a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = ClientConfig {
        protocol: if r.is_local_registry() {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        connect_timeout: Some(CONNECT_TIMEOUT),
        read_timeout: Some(READ_TIMEOUT),
        ..ClientConfig::default()
    };
    Client::try_from(config).map_err(|e| Error::Network {
        reference: key.to_string(),
        message: format!("cannot create an HTTP client: {e}"),
    })
}

/// Sorts an oci-client error into not found / unauthorized / network / other, keeping the
/// registry's own message.
pub(crate) fn pull_error(reference: &str, e: OciDistributionError) -> Error {
    let reference = reference.to_string();
    match e {
        OciDistributionError::RegistryError { envelope, .. } => {
            let message = envelope
                .errors
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            let codes =
                |wanted: &[OciErrorCode]| envelope.errors.iter().any(|e| wanted.contains(&e.code));
            if codes(&[
                OciErrorCode::ManifestUnknown,
                OciErrorCode::NameUnknown,
                OciErrorCode::BlobUnknown,
                OciErrorCode::NotFound,
            ]) {
                Error::NotFound { reference, message }
            } else if codes(&[OciErrorCode::Unauthorized, OciErrorCode::Denied]) {
                Error::Unauthorized { reference, message }
            } else {
                Error::Registry { reference, message }
            }
        }
        OciDistributionError::ServerError { code, message, .. } => {
            let message = if message.trim().is_empty() {
                format!("HTTP status {code}")
            } else {
                format!("HTTP status {code}: {}", message.trim())
            };
            match code {
                404 => Error::NotFound { reference, message },
                401 | 403 => Error::Unauthorized { reference, message },
                _ => Error::Registry { reference, message },
            }
        }
        OciDistributionError::UnauthorizedError { url } => Error::Unauthorized {
            reference,
            message: format!("the registry answered 401 Unauthorized for {url}"),
        },
        OciDistributionError::AuthenticationFailure(message) => {
            Error::Unauthorized { reference, message }
        }
        OciDistributionError::ImageManifestNotFoundError(message) => {
            Error::NotFound { reference, message }
        }
        OciDistributionError::RequestError(e) => Error::Network {
            reference,
            message: error_chain(&e),
        },
        OciDistributionError::IoError(e) => {
            Error::io(format!("cannot store content of {reference}"), e)
        }
        other => Error::Registry {
            reference,
            message: error_chain(&other),
        },
    }
}

/// An error and its sources on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(json: &str) -> OciDistributionError {
        OciDistributionError::RegistryError {
            envelope: serde_json::from_str(json).unwrap(),
            url: "http://x/v2/a/manifests/b".into(),
        }
    }

    #[test]
    fn registry_errors_are_sorted_with_their_message() {
        let e = pull_error(
            "r",
            envelope(r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#),
        );
        assert!(
            matches!(&e, Error::NotFound { message, .. } if message == "manifest unknown"),
            "{e}"
        );
        assert_eq!(e.reason(), "ErrImagePull");
        let e = pull_error(
            "r",
            envelope(r#"{"errors":[{"code":"DENIED","message":"no way"}]}"#),
        );
        assert!(
            matches!(&e, Error::Unauthorized { message, .. } if message == "no way"),
            "{e}"
        );
        let e = pull_error(
            "r",
            envelope(r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#),
        );
        assert!(
            matches!(&e, Error::Registry { .. }) && e.is_retryable(),
            "{e}"
        );
        let e = pull_error(
            "r",
            OciDistributionError::ServerError {
                code: 404,
                url: "u".into(),
                message: "gone".into(),
            },
        );
        assert!(matches!(e, Error::NotFound { .. }));
        let e = pull_error(
            "r",
            OciDistributionError::UnauthorizedError { url: "u".into() },
        );
        assert!(matches!(e, Error::Unauthorized { .. }));
    }
}
