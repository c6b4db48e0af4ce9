//! The crate's one error type.

use std::io;
use std::path::Path;
use std::sync::Arc;

/// What went wrong with an image operation.
///
/// The variants separate what the node agent reports differently: a reference that can never
/// work ([`Error::InvalidReference`], `InvalidImageName`), a registry that answered no
/// ([`Error::NotFound`], [`Error::Unauthorized`], [`Error::Registry`]) or could not be reached
/// ([`Error::Network`]) — all `ErrImagePull` — and trouble with local content or disk.
///
/// `Error` is `Clone` so that every caller of a shared in-flight pull gets the same error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The reference is not a valid image name; retrying cannot help.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },

    /// The registry does not have this repository, tag or digest.
    #[error(
        "image {reference} not found in the registry: {message}; check the image name and tag"
    )]
    NotFound { reference: String, message: String },

    /// The registry refused the credentials (or wanted some).
    #[error(
        "pull access denied for {reference}: {message}; check that the image exists and that \
         imagePullSecrets hold valid credentials for its registry"
    )]
    Unauthorized { reference: String, message: String },

    /// The registry could not be reached (DNS, TCP, TLS, timeouts).
    #[error("cannot reach the registry for {reference}: {message}; check the registry address and the node's network")]
    Network { reference: String, message: String },

    /// The registry answered with an error that is none of the above.
    #[error("registry error pulling {reference}: {message}")]
    Registry { reference: String, message: String },

    /// Content that is not a usable Linux container image (a manifest, config or layer that
    /// cannot be parsed, an unsupported media type, no manifest for this platform).
    #[error("invalid image {reference}: {reason}")]
    InvalidImage { reference: String, reason: String },

    /// An archive that is neither a docker-archive nor an OCI layout tar, or is damaged.
    #[error("invalid image archive {path}: {reason}")]
    InvalidArchive { path: String, reason: String },

    /// No local image has this reference.
    #[error("image {reference} is not present on this node; pull, load or import it first")]
    NotPresent { reference: String },

    /// Local content does not hash to the digest it is stored or described under.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },

    /// A filesystem operation on the store failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: Arc<io::Error>,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The Kubernetes container waiting reason this error maps to when it happens while
    /// pulling: `InvalidImageName` for a bad reference, `ErrImagePull` for everything else.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidReference { .. } => "InvalidImageName",
            _ => "ErrImagePull",
        }
    }

    /// Whether retrying later might succeed (network trouble, registry errors, local I/O).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Network { .. } | Error::Registry { .. } | Error::Io { .. }
        )
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source: Arc::new(source),
        }
    }

    pub(crate) fn invalid_reference(reference: &str, reason: impl Into<String>) -> Error {
        Error::InvalidReference {
            reference: reference.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_image(reference: &str, reason: impl Into<String>) -> Error {
        Error::InvalidImage {
            reference: reference.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_archive(path: &Path, reason: impl Into<String>) -> Error {
        Error::InvalidArchive {
            path: path.display().to_string(),
            reason: reason.into(),
        }
    }
}

/// Attaches a lower-case context line to I/O results.
pub(crate) trait IoContext<T> {
    fn ctx<F: FnOnce() -> String>(self, context: F) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx<F: FnOnce() -> String>(self, context: F) -> Result<T> {
        self.map_err(|e| Error::io(context(), e))
    }
}
