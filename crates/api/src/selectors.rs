//! Label and field selectors as clients send them (`?labelSelector=app=web,tier in (a,b)`,
//! `?fieldSelector=spec.nodeName=n1`), and `metav1.LabelSelector` as objects carry them,
//! with upstream's parsing, validation and matching rules.

mod field;
mod label;

pub use field::{FieldOperator, FieldRequirement, FieldSelector};
pub use label::{LabelSelector, Operator, Requirement};
