//! Decoding one message against the table into the JSON Go's encoder would print for it.
//!
//! client-go writes every non-pointer field, zero or not, so the JSON side's `omitempty`
//! is applied here: a zero scalar marked `omit_zero` is dropped. Pointer fields travel only
//! when set and keep their zero values. Fields the table does not know are skipped, as a Go
//! server skips them.

use std::fmt;

use serde_json::{Map, Value};

use super::schema::{Cardinality, Field, FieldType, Message, Schema, Shape};
use super::well_known;
use super::wire::{self, Reader, WireValue};

/// How deep messages may nest before the body is refused (the API's real objects stay far
/// below this; it bounds the recursion on hostile input).
pub(crate) const MAX_DEPTH: usize = 64;

/// What was wrong with a body, and where in the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError {
    /// JSON member names from the innermost outwards.
    path: Vec<String>,
    message: String,
}

impl DecodeError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        DecodeError {
            path: Vec::new(),
            message: message.into(),
        }
    }

    /// The same error, one level further out, inside the member `name`.
    pub(crate) fn at(mut self, name: &str) -> Self {
        self.path.push(name.to_string());
        self
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid protobuf body: ")?;
        if !self.path.is_empty() {
            let path: Vec<&str> = self.path.iter().rev().map(String::as_str).collect();
            write!(f, "{}: ", path.join("."))?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for DecodeError {}

/// The JSON form of message `index` encoded in `bytes`.
pub(crate) fn message(
    schema: &Schema,
    index: usize,
    bytes: &[u8],
    depth: usize,
) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::new(format!(
            "messages nest more than {MAX_DEPTH} levels deep"
        )));
    }
    let message = &schema.messages[index];
    match message.shape {
        Shape::Object => object(schema, message, bytes, depth).map(Value::Object),
        Shape::List => list(schema, message, bytes, depth),
        shape => well_known::decode(shape, bytes, depth),
    }
}

fn object(
    schema: &Schema,
    message: &Message,
    bytes: &[u8],
    depth: usize,
) -> Result<Map<String, Value>, DecodeError> {
    let mut out = Map::new();
    // Singular messages are decoded once all their occurrences are known: one sent more
    // than once merges, as in proto, and the concatenated occurrences decode to the merge.
    let mut messages: Vec<(&Field, Vec<&[u8]>)> = Vec::new();
    let mut reader = Reader::new(bytes);
    while let Some((number, wire)) = reader.next_field()? {
        let Some(field) = message.field(number) else {
            continue;
        };
        if field.skip {
            continue;
        }
        let result = match (field.cardinality, field.ty, wire) {
            (Cardinality::Single, FieldType::Message(_), WireValue::Bytes(b)) => {
                match messages.iter_mut().find(|(f, _)| f.number == number) {
                    Some((_, parts)) => parts.push(b),
                    None => {
                        if !field.inline {
                            // Holds the member's place in wire order.
                            out.insert(field.name.clone(), Value::Null);
                        }
                        messages.push((field, vec![b]));
                    }
                }
                Ok(())
            }
            (Cardinality::Single, _, _) => single(schema, field, wire, depth, &mut out),
            (Cardinality::Repeated, _, _) => repeated(schema, field, wire, depth, &mut out),
            (Cardinality::Map, _, _) => map_entry(schema, field, wire, depth, &mut out),
        };
        result.map_err(|e| at_field(e, field))?;
    }
    for (field, parts) in messages {
        let merged;
        let bytes = match parts.as_slice() {
            [only] => *only,
            _ => {
                merged = parts.concat();
                merged.as_slice()
            }
        };
        single(schema, field, WireValue::Bytes(bytes), depth, &mut out)
            .map_err(|e| at_field(e, field))?;
    }
    Ok(out)
}

/// A wrapper message that is a bare array in JSON.
fn list(
    schema: &Schema,
    message: &Message,
    bytes: &[u8],
    depth: usize,
) -> Result<Value, DecodeError> {
    let field = &message.fields[0];
    let mut items = Vec::new();
    let mut reader = Reader::new(bytes);
    while let Some((number, wire)) = reader.next_field()? {
        if number == field.number {
            push_items(schema, field.ty, wire, depth, &mut items)?;
        }
    }
    Ok(Value::Array(items))
}

fn single(
    schema: &Schema,
    field: &Field,
    wire: WireValue<'_>,
    depth: usize,
    out: &mut Map<String, Value>,
) -> Result<(), DecodeError> {
    let value = scalar_or_message(schema, field.ty, wire, depth)?;
    if field.inline {
        let Value::Object(members) = value else {
            return Err(DecodeError::new(
                "an inlined field must decode to an object",
            ));
        };
        for (name, value) in members {
            out.insert(name, value);
        }
        return Ok(());
    }
    if field.omit_zero && is_zero(&value) {
        // The last occurrence wins, and a zero is what Go's encoder leaves out.
        out.remove(&field.name);
        return Ok(());
    }
    out.insert(field.name.clone(), value);
    Ok(())
}

fn repeated(
    schema: &Schema,
    field: &Field,
    wire: WireValue<'_>,
    depth: usize,
    out: &mut Map<String, Value>,
) -> Result<(), DecodeError> {
    let entry = out
        .entry(field.name.clone())
        .or_insert_with(|| Value::Array(Vec::new()));
    let Value::Array(items) = entry else {
        return Err(DecodeError::new("a list collides with an inlined member"));
    };
    push_items(schema, field.ty, wire, depth, items)
}

/// Appends one wire record of a repeated field: one element, or a packed run of scalars.
fn push_items(
    schema: &Schema,
    ty: FieldType,
    wire: WireValue<'_>,
    depth: usize,
    items: &mut Vec<Value>,
) -> Result<(), DecodeError> {
    match (ty, wire) {
        (FieldType::Bool | FieldType::Int32 | FieldType::Int64, WireValue::Bytes(packed)) => {
            let mut reader = Reader::new(packed);
            while !reader.is_empty() {
                let v = reader.varint()?;
                items.push(scalar_or_message(schema, ty, WireValue::Varint(v), depth)?);
            }
        }
        _ => items.push(scalar_or_message(schema, ty, wire, depth)?),
    }
    Ok(())
}

/// One entry {key = 1, value = 2} of a string-keyed map.
fn map_entry(
    schema: &Schema,
    field: &Field,
    wire: WireValue<'_>,
    depth: usize,
    out: &mut Map<String, Value>,
) -> Result<(), DecodeError> {
    let WireValue::Bytes(entry) = wire else {
        return Err(wrong_wire("a map entry", wire));
    };
    let mut key = String::new();
    let mut value = None;
    let mut reader = Reader::new(entry);
    while let Some((number, wire)) = reader.next_field()? {
        match (number, wire) {
            (1, WireValue::Bytes(b)) => key = wire::string(b),
            (1, other) => return Err(wrong_wire("a map key", other)),
            (2, wire) => value = Some(scalar_or_message(schema, field.ty, wire, depth)?),
            _ => {}
        }
    }
    let value = match value {
        Some(value) => value,
        None => zero_value(schema, field.ty, depth).map_err(|e| e.at(&key))?,
    };
    let entry = out
        .entry(field.name.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(map) = entry else {
        return Err(DecodeError::new("a map collides with an inlined member"));
    };
    map.insert(key, value);
    Ok(())
}

fn scalar_or_message(
    schema: &Schema,
    ty: FieldType,
    wire: WireValue<'_>,
    depth: usize,
) -> Result<Value, DecodeError> {
    Ok(match (ty, wire) {
        (FieldType::String, WireValue::Bytes(b)) => Value::String(wire::string(b)),
        (FieldType::Bytes, WireValue::Bytes(b)) => Value::String(wire::base64(b)),
        (FieldType::Bool, WireValue::Varint(v)) => Value::Bool(v != 0),
        // Go truncates to the field's width, which restores negative int32s.
        (FieldType::Int32, WireValue::Varint(v)) => Value::from(v as i32),
        (FieldType::Int64, WireValue::Varint(v)) => Value::from(v as i64),
        (FieldType::Message(index), WireValue::Bytes(b)) => message(schema, index, b, depth + 1)?,
        (FieldType::String | FieldType::Bytes | FieldType::Message(_), other) => {
            return Err(wrong_wire("a length-delimited value", other))
        }
        (FieldType::Bool | FieldType::Int32 | FieldType::Int64, other) => {
            return Err(wrong_wire("a varint", other))
        }
    })
}

/// The value of a map entry whose value is absent on the wire.
fn zero_value(schema: &Schema, ty: FieldType, depth: usize) -> Result<Value, DecodeError> {
    Ok(match ty {
        FieldType::String | FieldType::Bytes => Value::String(String::new()),
        FieldType::Bool => Value::Bool(false),
        FieldType::Int32 | FieldType::Int64 => Value::from(0),
        FieldType::Message(index) => message(schema, index, &[], depth + 1)?,
    })
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        _ => false,
    }
}

/// An error inside a field, with the field's name on its path (inlined fields have none).
fn at_field(e: DecodeError, field: &Field) -> DecodeError {
    if field.inline {
        e
    } else {
        e.at(&field.name)
    }
}

fn wrong_wire(expected: &str, found: WireValue<'_>) -> DecodeError {
    DecodeError::new(format!("expected {expected}, found {}", found.describe()))
}
