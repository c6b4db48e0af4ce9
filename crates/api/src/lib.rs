//! The object model: the resource table, defaulting, validation and pure helpers on
//! Kubernetes objects. No I/O.

pub mod admission;
pub mod names;
pub mod patch_meta;
pub mod pod;
pub mod protobuf;
pub mod quantity;
pub mod resources;
pub mod scheduling;
pub mod selectors;
pub mod strict;
pub mod table;

mod defaults_pod;
mod defaults_workloads;
mod strategy;
mod validation_apps;
mod validation_container;
mod validation_core;
mod validation_meta;
mod validation_pod;
mod validation_pod_update;
mod validation_probes;
mod validation_resources;
mod validation_scheduling;
mod validation_security;
mod validation_volumes;

pub use admission::{
    admit_create, admit_update, generate_job_selector, AdmitError, ErrorKind, FieldError,
};
pub use resources::{Resource, RESOURCES};
