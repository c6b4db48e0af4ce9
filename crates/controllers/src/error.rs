//! The controllers' errors.

/// What can fail a reconcile or stop the controllers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("api request failed: {0}")]
    Kube(#[from] kube::Error),
    /// A watch feeding a controller failed.
    #[error("watch failed: {0}")]
    Watch(#[from] kube::runtime::watcher::Error),
}

/// The controllers' result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
