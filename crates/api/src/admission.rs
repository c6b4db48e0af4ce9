//! Admission of objects written through the API: decode into the typed object (dropping
//! unknown fields), default, validate, and hand back the stored form — or field errors
//! shaped like upstream's `field.Error`, which the server turns into a 422 `Status`.

use serde_json::Value;

use crate::resources::Resource;
use crate::strategy;

/// The kind of a field error; `reason` is the `metav1.CauseType` of the status cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Required,
    Invalid,
    Duplicate,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    /// A reference to something that does not exist (e.g. a volume mount naming no volume).
    NotFound,
}

impl ErrorKind {
    /// The `StatusCause.reason` upstream reports.
    pub fn reason(&self) -> &'static str {
        match self {
            ErrorKind::Required => "FieldValueRequired",
            ErrorKind::Invalid => "FieldValueInvalid",
            ErrorKind::Duplicate => "FieldValueDuplicate",
            ErrorKind::NotSupported => "FieldValueNotSupported",
            ErrorKind::Forbidden => "FieldValueForbidden",
            ErrorKind::TooLong => "FieldValueTooLong",
            ErrorKind::TooMany => "FieldValueTooMany",
            ErrorKind::NotFound => "FieldValueNotFound",
        }
    }

    /// The words upstream prints for the kind (`Required value`, `Unsupported value`...).
    pub fn describe(&self) -> &'static str {
        match self {
            ErrorKind::Required => "Required value",
            ErrorKind::Invalid => "Invalid value",
            ErrorKind::Duplicate => "Duplicate value",
            ErrorKind::NotSupported => "Unsupported value",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::TooLong => "Too long",
            ErrorKind::TooMany => "Too many",
            ErrorKind::NotFound => "Not found",
        }
    }
}

/// One validation failure at a field path such as `spec.containers[0].image`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub kind: ErrorKind,
    pub field: String,
    pub detail: String,
    /// The offending value as upstream prints it: strings quoted (`"Bad_Name"`), numbers
    /// and booleans bare, maps and structs in Go syntax. `None` when not shown.
    pub value: Option<String>,
}

/// A value to show in an error, rendered the way Go's `%q`/`%v` would.
#[derive(Clone, Debug)]
pub enum BadValue {
    Str(String),
    Int(i64),
    Bool(bool),
    /// Already rendered (maps, structs).
    Raw(String),
    /// A nil pointer, shown as `"null"`.
    Null,
}

impl From<&str> for BadValue {
    fn from(s: &str) -> Self {
        BadValue::Str(s.to_string())
    }
}
impl From<String> for BadValue {
    fn from(s: String) -> Self {
        BadValue::Str(s)
    }
}
impl From<&String> for BadValue {
    fn from(s: &String) -> Self {
        BadValue::Str(s.clone())
    }
}
impl From<i64> for BadValue {
    fn from(v: i64) -> Self {
        BadValue::Int(v)
    }
}
impl From<i32> for BadValue {
    fn from(v: i32) -> Self {
        BadValue::Int(v as i64)
    }
}
impl From<bool> for BadValue {
    fn from(v: bool) -> Self {
        BadValue::Bool(v)
    }
}
impl<T: Into<BadValue>> From<Option<T>> for BadValue {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(BadValue::Null)
    }
}

/// Go's `strconv.Quote` for the strings that occur in objects.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl BadValue {
    fn render(self) -> String {
        match self {
            BadValue::Str(s) => go_quote(&s),
            BadValue::Int(v) => v.to_string(),
            BadValue::Bool(v) => v.to_string(),
            BadValue::Raw(s) => s,
            BadValue::Null => "\"null\"".to_string(),
        }
    }
}

fn quote_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| go_quote(v))
        .collect::<Vec<_>>()
        .join(", ")
}

impl FieldError {
    fn new(
        kind: ErrorKind,
        field: impl Into<String>,
        value: Option<String>,
        detail: impl Into<String>,
    ) -> Self {
        FieldError {
            kind,
            field: field.into(),
            detail: detail.into(),
            value,
        }
    }

    /// `field.Required`.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Required, field, None, detail)
    }

    /// `field.Invalid`.
    pub fn invalid(
        field: impl Into<String>,
        value: impl Into<BadValue>,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(
            ErrorKind::Invalid,
            field,
            Some(value.into().render()),
            detail,
        )
    }

    /// `field.Duplicate`.
    pub fn duplicate(field: impl Into<String>, value: impl Into<BadValue>) -> Self {
        Self::new(ErrorKind::Duplicate, field, Some(value.into().render()), "")
    }

    /// `field.NotFound`.
    pub fn not_found(field: impl Into<String>, value: impl Into<BadValue>) -> Self {
        Self::new(ErrorKind::NotFound, field, Some(value.into().render()), "")
    }

    /// `field.NotSupported`, listing the supported values in the order given.
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<BadValue>,
        supported: &[&str],
    ) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            format!("supported values: {}", quote_list(supported))
        };
        Self::new(
            ErrorKind::NotSupported,
            field,
            Some(value.into().render()),
            detail,
        )
    }

    /// `field.Forbidden`.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, field, None, detail)
    }

    /// `field.TooLong` with a byte limit.
    pub fn too_long(field: impl Into<String>, max_bytes: usize) -> Self {
        let unit = if max_bytes == 1 { "byte" } else { "bytes" };
        Self::new(
            ErrorKind::TooLong,
            field,
            None,
            format!("may not be more than {max_bytes} {unit}"),
        )
    }

    /// `field.TooMany`.
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        let unit = if max == 1 { "item" } else { "items" };
        Self::new(
            ErrorKind::TooMany,
            field,
            Some(actual.to_string()),
            format!("must have at most {max} {unit}"),
        )
    }

    /// The message without the field: upstream `ErrorBody()`, used as a status cause message.
    pub fn body(&self) -> String {
        let mut s = match (self.kind, &self.value) {
            (ErrorKind::Required | ErrorKind::Forbidden | ErrorKind::TooLong, _) | (_, None) => {
                self.kind.describe().to_string()
            }
            (_, Some(v)) => format!("{}: {}", self.kind.describe(), v),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    /// upstream `field.Error.Error()`: `spec.containers[0].image: Required value`.
    pub fn message(&self) -> String {
        format!("{}: {}", self.field, self.body())
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

/// upstream `ErrorList.ToAggregate().Error()`: one message, or `[a, b]` (duplicates dropped).
pub fn aggregate(errs: &[FieldError]) -> String {
    let mut seen = Vec::<String>::new();
    for e in errs {
        let m = e.message();
        if !seen.contains(&m) {
            seen.push(m);
        }
    }
    match seen.len() {
        1 => seen.remove(0),
        _ => format!("[{}]", seen.join(", ")),
    }
}

/// Why an object was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AdmitError {
    /// The body does not fit the type (HTTP 400).
    #[error("{0}")]
    Decode(String),
    /// The object is well-formed but invalid (HTTP 422).
    #[error("{}", aggregate(.0))]
    Invalid(Vec<FieldError>),
}

/// Defaults then validates a new object of `resource`. The server has already filled
/// `metadata.name` (from `generateName` if needed), `metadata.namespace` for namespaced kinds
/// and, ideally, `metadata.uid`. Returns the object as it should be stored.
pub fn admit_create(resource: &Resource, obj: Value) -> Result<Value, AdmitError> {
    strategy::create(resource, obj)
}

/// Defaults and validates an update of `old` (the stored object) to `new`, including the
/// immutability rules of the kind. Status is taken from `new` as given: for the main
/// resource of kinds with a status subresource use [`prepare_for_update`] first.
pub fn admit_update(resource: &Resource, new: Value, old: &Value) -> Result<Value, AdmitError> {
    strategy::update(resource, new, old)
}

/// What upstream's update strategies do before validation of a write to the main resource:
/// keep the stored `status` (and, for namespaces, `spec.finalizers`), which only their
/// subresources may change.
pub fn prepare_for_update(resource: &Resource, new: &mut Value, old: &Value) {
    strategy::prepare_for_update(resource, new, old)
}

/// The object a write to the `status` subresource produces: the stored object with the
/// status (and labels/annotations, as upstream allows) of `new`. Pass the result to
/// [`admit_update`].
pub fn prepare_status_update(resource: &Resource, new: &Value, old: &Value) -> Value {
    strategy::prepare_status_update(resource, new, old)
}

pub use crate::defaults_workloads::generate_job_selector;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_follow_upstream_field_errors() {
        let e = FieldError::required("spec.containers[0].image", "");
        assert_eq!(e.message(), "spec.containers[0].image: Required value");
        let e = FieldError::not_supported(
            "spec.restartPolicy",
            "Sometimes",
            &["Always", "OnFailure", "Never"],
        );
        assert_eq!(
            e.message(),
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
        );
        let e = FieldError::invalid(
            "spec.containers[0].ports[0].containerPort",
            0,
            "must be between 1 and 65535, inclusive",
        );
        assert_eq!(
            e.message(),
            "spec.containers[0].ports[0].containerPort: Invalid value: 0: must be between 1 and 65535, inclusive"
        );
        let e = FieldError::forbidden("spec", "pod updates may not change fields");
        assert_eq!(e.body(), "Forbidden: pod updates may not change fields");
        assert_eq!(
            FieldError::duplicate("spec.containers[1].name", "a").message(),
            "spec.containers[1].name: Duplicate value: \"a\""
        );
        assert_eq!(FieldError::not_found("x", "v").body(), "Not found: \"v\"");
        assert_eq!(
            FieldError::too_long("metadata.annotations", 262144).body(),
            "Too long: may not be more than 262144 bytes"
        );
        assert_eq!(
            FieldError::too_many("x", 5, 4).body(),
            "Too many: 5: must have at most 4 items"
        );
        assert_eq!(
            FieldError::invalid("x", None::<i64>, "gone").body(),
            "Invalid value: \"null\": gone"
        );
    }

    #[test]
    fn reasons_are_cause_types() {
        assert_eq!(ErrorKind::Required.reason(), "FieldValueRequired");
        assert_eq!(ErrorKind::NotSupported.reason(), "FieldValueNotSupported");
        assert_eq!(ErrorKind::TooMany.reason(), "FieldValueTooMany");
        assert_eq!(ErrorKind::NotFound.reason(), "FieldValueNotFound");
    }

    #[test]
    fn go_quoting_escapes_like_strconv() {
        assert_eq!(go_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(go_quote("\u{1}"), "\"\\x01\"");
        assert_eq!(go_quote("héllo"), "\"héllo\"");
    }

    #[test]
    fn aggregate_brackets_several_errors() {
        let a = FieldError::required("a", "");
        let b = FieldError::required("b", "");
        assert_eq!(aggregate(std::slice::from_ref(&a)), "a: Required value");
        assert_eq!(
            aggregate(&[a.clone(), b, a]),
            "[a: Required value, b: Required value]"
        );
    }
}
