//! The scheduler's errors.

/// What can stop the scheduler or fail one API call it makes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the API server failed.
    #[error("api request failed: {0}")]
    Kube(#[from] kube::Error),
    /// An object could not be encoded for the API.
    #[error("encoding a request failed: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The scheduler's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
