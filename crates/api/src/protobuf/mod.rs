//! Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`)
//! into the JSON the client would have sent.
//!
//! client-go's typed clients (kubectl 1.33 among them) send built-in objects as protobuf. The
//! body is the magic `k8s\0` followed by a `runtime.Unknown` envelope whose `raw` is the
//! object's message. This module walks the wire format against a table of message types
//! generated from the upstream `generated.proto` files and Go struct tags
//! (`scripts/gen-proto-schema.py` writes `schema.json`), so the result has the JSON field
//! names, inlined embedded structs, omitted `omitempty` zero values, and the JSON forms of
//! the well-known types (times, quantities, int-or-strings, raw extensions).

mod decode;
mod schema;
mod well_known;
mod wire;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use decode::DecodeError;
use wire::{Reader, WireValue};

/// The prefix of every Kubernetes protobuf body.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Decodes a Kubernetes protobuf request body: the 4-byte magic "k8s\0", then a
/// runtime.Unknown message {typeMeta{apiVersion=1, kind=2}=1, raw=2, contentEncoding=3,
/// contentType=4}, whose `raw` is the object's message. Returns the object as Kubernetes JSON
/// (camelCase field names as in the JSON API, apiVersion/kind set from typeMeta), or an error
/// message saying what was wrong.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    decode_at_depth(body, 0).map_err(|e| e.to_string())
}

/// The envelope of a protobuf body, before the object inside it is decoded.
#[derive(Debug, Default)]
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

/// Decodes a body, counting nesting through raw extensions that hold protobuf objects.
pub(crate) fn decode_at_depth(body: &[u8], depth: usize) -> Result<Value, DecodeError> {
    let rest = body.strip_prefix(MAGIC.as_slice()).ok_or_else(|| {
        DecodeError::new(
            "the body does not start with the kubernetes protobuf prefix \"k8s\\0\"; \
             send application/json or a body encoded by client-go",
        )
    })?;
    let envelope = parse_envelope(rest)?;
    if !envelope.content_encoding.is_empty() {
        return Err(DecodeError::new(format!(
            "content encoding {:?} of the protobuf envelope is not supported",
            envelope.content_encoding
        )));
    }
    if !envelope.content_type.is_empty() && envelope.content_type != CONTENT_TYPE {
        return Err(DecodeError::new(format!(
            "the protobuf envelope holds {:?}, not {CONTENT_TYPE}",
            envelope.content_type
        )));
    }
    if envelope.kind.is_empty() || envelope.api_version.is_empty() {
        return Err(DecodeError::new(
            "the protobuf envelope has no apiVersion or kind",
        ));
    }
    let schema = schema::get();
    let message = schema
        .message_for_kind(&envelope.api_version, &envelope.kind)
        .ok_or_else(|| {
            DecodeError::new(format!(
                "no protobuf schema for kind {} in {}; send it as application/json",
                envelope.kind, envelope.api_version
            ))
        })?;
    let object = decode::message(schema, message, envelope.raw, depth)?;
    let Value::Object(fields) = object else {
        return Err(DecodeError::new(format!(
            "kind {} does not decode to a JSON object",
            envelope.kind
        )));
    };
    let mut out = Map::with_capacity(fields.len() + 2);
    out.insert("kind".into(), Value::String(envelope.kind));
    out.insert("apiVersion".into(), Value::String(envelope.api_version));
    out.extend(fields);
    Ok(Value::Object(out))
}

fn parse_envelope(bytes: &[u8]) -> Result<Envelope<'_>, DecodeError> {
    let mut envelope = Envelope::default();
    let mut reader = Reader::new(bytes);
    while let Some((number, value)) = reader.next_field()? {
        match (number, value) {
            (1, WireValue::Bytes(type_meta)) => {
                let mut inner = Reader::new(type_meta);
                while let Some((number, value)) = inner.next_field()? {
                    match (number, value) {
                        (1, WireValue::Bytes(b)) => envelope.api_version = wire::string(b),
                        (2, WireValue::Bytes(b)) => envelope.kind = wire::string(b),
                        (1 | 2, other) => return Err(wrong_wire("typeMeta", other)),
                        _ => {}
                    }
                }
            }
            (2, WireValue::Bytes(b)) => envelope.raw = b,
            (3, WireValue::Bytes(b)) => envelope.content_encoding = wire::string(b),
            (4, WireValue::Bytes(b)) => envelope.content_type = wire::string(b),
            (1..=4, other) => return Err(wrong_wire("envelope", other)),
            _ => {}
        }
    }
    Ok(envelope)
}

fn wrong_wire(what: &str, value: WireValue<'_>) -> DecodeError {
    DecodeError::new(format!(
        "{what}: expected a length-delimited field, found {}",
        value.describe()
    ))
}
