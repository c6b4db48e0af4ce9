//! The object model: the resource table, defaulting, validation and pure helpers on
//! Kubernetes objects. No I/O.

pub mod patch_meta;
pub mod resources;
pub mod table;

pub use resources::{Resource, RESOURCES};
