//! Bodies built with a small encoder of our own, and real kubectl request bodies.

use serde_json::Value;

mod encoding;
mod objects;

use super::{decode, MAGIC};

/// A message under construction, encoded the way client-go's generated marshallers do.
#[derive(Default, Clone)]
struct Msg(Vec<u8>);

impl Msg {
    fn new() -> Self {
        Msg::default()
    }

    fn raw_varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.raw_varint(u64::from(field) << 3 | u64::from(wire));
    }

    fn varint(mut self, field: u32, v: u64) -> Self {
        self.key(field, 0);
        self.raw_varint(v);
        self
    }

    fn int(self, field: u32, v: i64) -> Self {
        self.varint(field, v as u64)
    }

    fn boolean(self, field: u32, b: bool) -> Self {
        self.varint(field, u64::from(b))
    }

    fn bytes(mut self, field: u32, b: &[u8]) -> Self {
        self.key(field, 2);
        self.raw_varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }

    fn string(self, field: u32, s: &str) -> Self {
        self.bytes(field, s.as_bytes())
    }

    fn message(self, field: u32, m: Msg) -> Self {
        self.bytes(field, &m.0)
    }

    fn entry(self, field: u32, key: &str, value: Msg) -> Self {
        self.message(field, Msg::new().string(1, key).message(2, value))
    }

    fn string_entry(self, field: u32, key: &str, value: &str) -> Self {
        self.message(field, Msg::new().string(1, key).string(2, value))
    }

    fn fixed32(mut self, field: u32, v: u32) -> Self {
        self.key(field, 5);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn fixed64(mut self, field: u32, v: u64) -> Self {
        self.key(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
}

/// A whole request body: magic, then the runtime.Unknown envelope.
fn body(api_version: &str, kind: &str, object: Msg) -> Vec<u8> {
    let envelope = Msg::new()
        .message(1, Msg::new().string(1, api_version).string(2, kind))
        .message(2, object)
        .string(3, "")
        .string(4, "");
    [MAGIC.as_slice(), &envelope.0].concat()
}

/// ObjectMeta as client-go writes it: every non-pointer field, empty or not.
fn meta(name: &str, namespace: &str) -> Msg {
    Msg::new()
        .string(1, name)
        .string(2, "")
        .string(3, namespace)
        .string(4, "")
        .string(5, "")
        .string(6, "")
        .int(7, 0)
        .message(8, Msg::new())
}

fn time(seconds: i64, nanos: i32) -> Msg {
    Msg::new().int(1, seconds).int(2, i64::from(nanos))
}

fn quantity(s: &str) -> Msg {
    Msg::new().string(1, s)
}

fn int_or_string_int(i: i32) -> Msg {
    Msg::new().int(1, 0).int(2, i64::from(i)).string(3, "")
}

fn int_or_string_str(s: &str) -> Msg {
    Msg::new().int(1, 1).int(2, 0).string(3, s)
}

fn decode_ok(bytes: &[u8]) -> Value {
    decode(bytes).unwrap_or_else(|e| panic!("decode failed: {e}"))
}

fn decode_err(bytes: &[u8]) -> String {
    match decode(bytes) {
        Ok(v) => panic!("decode succeeded: {v}"),
        Err(e) => e,
    }
}
