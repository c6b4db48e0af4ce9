//! The message table: every protobuf message of the served API groups, with its fields' numbers,
//! JSON names and types. Generated into `schema.json` by `scripts/gen-proto-schema.py` and
//! loaded once.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

const SCHEMA_JSON: &str = include_str!("schema.json");

const META_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";

/// The loaded message table.
#[derive(Debug)]
pub(crate) struct Schema {
    /// apiVersion ("v1", "apps/v1") → proto package.
    groups: HashMap<String, String>,
    /// Full message name → index into `messages`.
    by_name: HashMap<String, usize>,
    pub(crate) messages: Vec<Message>,
}

/// One message type.
#[derive(Debug)]
pub(crate) struct Message {
    /// The full proto name, e.g. `k8s.io.api.core.v1.Pod`.
    pub(crate) name: String,
    pub(crate) shape: Shape,
    /// Sorted by field number.
    pub(crate) fields: Vec<Field>,
}

/// How a message turns into JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A JSON object with one member per field present on the wire.
    Object,
    /// A wrapper around one repeated field that is a plain JSON array (`Verbs`, `ExtraValue`).
    List,
    /// `meta/v1.Time`: an RFC 3339 string with second precision, or null when zero.
    Time,
    /// `meta/v1.MicroTime`: an RFC 3339 string with microseconds, or null when zero.
    MicroTime,
    /// `meta/v1.Duration`: a Go duration string such as "1h0m0s".
    Duration,
    /// `meta/v1.FieldsV1`: the embedded JSON document.
    FieldsV1,
    /// `meta/v1.GroupVersion`: "group/version".
    GroupVersion,
    /// `resource.Quantity`: its canonical string.
    Quantity,
    /// `intstr.IntOrString`: a number or a string.
    IntOrString,
    /// `runtime.RawExtension`: the embedded JSON (or protobuf) object.
    RawExtension,
}

/// One field of a message.
#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) number: u32,
    /// The JSON member name.
    pub(crate) name: String,
    pub(crate) ty: FieldType,
    pub(crate) cardinality: Cardinality,
    /// An embedded Go struct whose fields are merged into the parent's JSON object.
    pub(crate) inline: bool,
    /// A non-pointer `omitempty` scalar: its zero value is left out of the JSON.
    pub(crate) omit_zero: bool,
    /// Not part of the JSON form (`json:"-"`).
    pub(crate) skip: bool,
}

/// A field's value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    String,
    Bool,
    Int32,
    Int64,
    Bytes,
    /// Index into `Schema::messages`.
    Message(usize),
}

/// Whether a field holds one value, a list or a string-keyed map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cardinality {
    Single,
    Repeated,
    Map,
}

/// The table as stored in `schema.json`.
#[derive(Deserialize)]
struct RawSchema {
    groups: HashMap<String, String>,
    lists: Vec<String>,
    /// Message name → [number, JSON name, type, flags].
    messages: HashMap<String, Vec<(u32, String, String, String)>>,
}

/// The table, parsed on first use.
pub(crate) fn get() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| parse(SCHEMA_JSON).expect("the embedded protobuf schema is valid"))
}

impl Schema {
    /// The message of a kind in an apiVersion. Kinds every group version registers from
    /// meta/v1 (DeleteOptions, Status, ...) fall back to the meta/v1 message.
    pub(crate) fn message_for_kind(&self, api_version: &str, kind: &str) -> Option<usize> {
        let package = self.groups.get(api_version)?;
        self.message(&format!("{package}.{kind}"))
            .or_else(|| self.message(&format!("{META_V1}.{kind}")))
            .filter(|&i| self.messages[i].shape == Shape::Object)
    }

    /// The index of a message by full name.
    pub(crate) fn message(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
}

impl Message {
    /// The field with a number, if the table knows it.
    pub(crate) fn field(&self, number: u32) -> Option<&Field> {
        self.fields
            .binary_search_by_key(&number, |f| f.number)
            .ok()
            .map(|i| &self.fields[i])
    }
}

fn well_known_shape(name: &str) -> Option<Shape> {
    Some(match name {
        "k8s.io.apimachinery.pkg.apis.meta.v1.Time" => Shape::Time,
        "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime" => Shape::MicroTime,
        "k8s.io.apimachinery.pkg.apis.meta.v1.Duration" => Shape::Duration,
        "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1" => Shape::FieldsV1,
        "k8s.io.apimachinery.pkg.apis.meta.v1.GroupVersion" => Shape::GroupVersion,
        "k8s.io.apimachinery.pkg.api.resource.Quantity"
        | "k8s.io.apimachinery.pkg.api.resource.QuantityValue" => Shape::Quantity,
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => Shape::IntOrString,
        "k8s.io.apimachinery.pkg.runtime.RawExtension" => Shape::RawExtension,
        _ => return None,
    })
}

fn parse(json: &str) -> Result<Schema, String> {
    let raw: RawSchema = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let mut names: Vec<&String> = raw.messages.keys().collect();
    names.sort();
    let by_name: HashMap<String, usize> = names
        .iter()
        .enumerate()
        .map(|(i, name)| ((*name).clone(), i))
        .collect();
    let mut messages = Vec::with_capacity(names.len());
    for name in names {
        let shape = if raw.lists.contains(name) {
            Shape::List
        } else {
            well_known_shape(name).unwrap_or(Shape::Object)
        };
        let mut fields = Vec::new();
        for (number, json_name, ty, flags) in &raw.messages[name] {
            let ty = match ty.as_str() {
                "string" => FieldType::String,
                "bool" => FieldType::Bool,
                "int32" => FieldType::Int32,
                "int64" => FieldType::Int64,
                "bytes" => FieldType::Bytes,
                other => FieldType::Message(
                    *by_name
                        .get(other)
                        .ok_or_else(|| format!("{name}.{json_name}: unknown type {other}"))?,
                ),
            };
            let cardinality = if flags.contains('m') {
                Cardinality::Map
            } else if flags.contains('r') {
                Cardinality::Repeated
            } else {
                Cardinality::Single
            };
            fields.push(Field {
                number: *number,
                name: json_name.clone(),
                ty,
                cardinality,
                inline: flags.contains('i'),
                omit_zero: flags.contains('z'),
                skip: flags.contains('-'),
            });
        }
        fields.sort_by_key(|f| f.number);
        if shape == Shape::List
            && !(fields.len() == 1 && fields[0].cardinality == Cardinality::Repeated)
        {
            return Err(format!("{name}: a list wrapper needs one repeated field"));
        }
        messages.push(Message {
            name: name.clone(),
            shape,
            fields,
        });
    }
    for (api_version, package) in &raw.groups {
        if !messages
            .iter()
            .any(|m| m.name.starts_with(&format!("{package}.")))
        {
            return Err(format!("{api_version}: no messages in package {package}"));
        }
    }
    Ok(Schema {
        groups: raw.groups,
        by_name,
        messages,
    })
}
