//! Hollow node errors.

/// What can stop hollow nodes from starting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("api request failed: {0}")]
    Kube(#[from] kube::Error),
    /// A capacity quantity did not parse as JSON.
    #[error("building the node object failed: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The hollow crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
