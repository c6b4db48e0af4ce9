//! The node agent's one error type.

use std::path::PathBuf;

/// What can go wrong in the node agent.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("api: {0}")]
    Api(#[from] kube::Error),
    /// The container runtime failed.
    #[error("runtime: {0}")]
    Runtime(#[from] runtime::Error),
    /// A file or directory operation failed.
    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A volume could not be set up (the message is shown in a FailedMount event).
    #[error("{0}")]
    Volume(String),
    /// A container's configuration cannot be built (CreateContainerConfigError).
    #[error("{0}")]
    ContainerConfig(String),
    /// The node's own facts could not be read.
    #[error("node: {0}")]
    Node(String),
}

impl Error {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Error {
        Error::Io {
            context,
            path: path.into(),
            source,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
